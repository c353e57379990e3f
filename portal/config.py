"""Configuration: the only module that reads os.environ.

Defaults make `make run` work on a fresh machine (SQLite and a mail folder under instance/).
Production sets DATABASE_URL, SECRET_KEY and MAIL_URL; create_app refuses a development secret there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HSTS_MAX_AGE = 31536000  # one year
DEV_SECRET = "dev-only-secret-not-for-production"  # noqa: S105 - the value production refuses
PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("PORTAL_INSTANCE_PATH", PROJECT_ROOT / "instance"))


class ConfigError(RuntimeError):
    """The configuration cannot run safely (for example a development secret in production)."""


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _positive_int(name: str, default: int, unit: str = "bytes") -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of {unit} above 0, not {raw!r}.")
    return int(raw)


def _whole_number(name: str, default: int | None, unit: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise ConfigError(f"{name} must be a whole number of {unit} (0 or more), not {raw!r}.")
    return int(raw)


STORAGE_BACKENDS = ("filesystem", "database")


def storage_backend() -> str:
    """STORAGE_BACKEND: where stored files (invoice PDFs, logos, uploads) live: "filesystem" (the instance folder,
    the default, one node) or "database" (the stored_file table: every node sharing the database reads them)."""
    raw = os.environ.get("STORAGE_BACKEND", "").strip().lower() or "filesystem"
    if raw not in STORAGE_BACKENDS:
        raise ConfigError(f"STORAGE_BACKEND must be one of {', '.join(STORAGE_BACKENDS)}, not {raw!r}.")
    return raw


PAYMENT_GATEWAYS = ("sandbox", "stripe")
STRIPE_SETTINGS = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")


def payment_gateway() -> tuple[str, dict[str, str]]:
    """PAYMENT_GATEWAY ("sandbox", the embedded default, or "stripe") and the Stripe keys, which "stripe" requires.
    The error names a missing key, never a value."""
    gateway = os.environ.get("PAYMENT_GATEWAY", "").strip().lower() or "sandbox"
    if gateway not in PAYMENT_GATEWAYS:
        raise ConfigError(f"PAYMENT_GATEWAY must be one of {', '.join(PAYMENT_GATEWAYS)}, not {gateway!r}.")
    keys = {name: os.environ.get(name, "").strip() for name in STRIPE_SETTINGS}
    missing = [name for name, value in keys.items() if not value]
    if gateway == "stripe" and missing:
        raise ConfigError(f"PAYMENT_GATEWAY=stripe needs {', '.join(missing)} (from the Stripe dashboard's API keys "
                          "and the webhook endpoint's signing secret).")
    return gateway, keys


def normalize_database_url(raw: str) -> str:
    # Heroku-style postgres:// URLs and bare postgresql:// use the psycopg 3 driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def public_url() -> str:
    """The base of the links in emails: PUBLIC_URL, else the local server on PORT (what `make run PORT=8000`
    serves on; 5000 by default), so that a local run's emails link to the port it is served on."""
    raw = os.environ.get("PUBLIC_URL", "").strip()
    if raw:
        return raw.rstrip("/")
    port = os.environ.get("PORT", "").strip() or "5000"
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"PORT must be a port number (1 to 65535), not {port!r}.")
    return f"http://127.0.0.1:{int(port)}"


LOG_FORMATS = ("text", "json")


def log_format(debug: bool) -> str:
    """LOG_FORMAT: "json" (one JSON object per line, for production's log collector) or "text"; by default text in
    debug and JSON otherwise."""
    raw = os.environ.get("LOG_FORMAT", "").strip().lower() or ("text" if debug else "json")
    if raw not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {raw!r}.")
    return raw


def _port(default: int) -> int:
    raw = os.environ.get("PORT", "").strip() or str(default)
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 65536):
        raise ConfigError(f"PORT must be a port number (1 to 65535), not {raw!r}.")
    return int(raw)


def web_server() -> dict:
    """What gunicorn.conf.py serves with: PORT (8000), WEB_CONCURRENCY workers (4), WEB_THREADS threads each (4),
    WEB_TIMEOUT seconds a request may take (60), LOG_FORMAT, PROMETHEUS_MULTIPROC_DIR."""
    return {
        "port": _port(8000),
        "workers": _positive_int("WEB_CONCURRENCY", 4, "workers"),
        "threads": _positive_int("WEB_THREADS", 4, "threads"),
        "timeout": _positive_int("WEB_TIMEOUT", 60, "seconds"),
        "log_format": log_format(_flag("PORTAL_DEBUG", _flag("FLASK_DEBUG", False))),
        "prometheus_multiproc_dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip(),
    }


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment, turned into Flask config by `as_flask_config`."""

    debug: bool
    secret_key: str
    database_url: str
    mail_url: str
    mail_from: str
    support_email: str
    public_url: str
    ratelimit_storage_uri: str
    ratelimit_key_prefix: str
    login_limit_per_ip: str
    login_limit_per_account: str
    api_limit_per_ip: str
    api_key_limit: str
    outbox_send_after_commit: bool
    transfer_max_upload_bytes: int
    payment_reconcile_grace_minutes: int
    proxy_count: int
    hsts_max_age: int | None
    storefront_retention_days: int = 90
    payment_gateway: str = "sandbox"
    storage_backend: str = "filesystem"
    sandbox_card_limit: str = "30 per minute"
    log_format: str = "text"
    # prometheus_client reads it too (at import): several processes (gunicorn workers, jobs) count in its files.
    prometheus_multiproc_dir: str = ""
    # Secrets: kept out of the settings' repr (and so out of logs and tracebacks).
    stripe_secret_key: str = field(default="", repr=False)
    stripe_publishable_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    metrics_token: str = field(default="", repr=False)

    @classmethod
    def from_environ(cls) -> Settings:
        gateway, stripe_keys = payment_gateway()
        debug = _flag("PORTAL_DEBUG", _flag("FLASK_DEBUG", False))
        return cls(
            debug=debug,
            secret_key=os.environ.get("SECRET_KEY", ""),
            database_url=normalize_database_url(
                os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'portal.db'}")
            ),
            mail_url=os.environ.get("MAIL_URL", str(INSTANCE / "mail")),
            mail_from=os.environ.get("MAIL_FROM", "Partner Portal <portal@vendor.example.com>"),
            support_email=os.environ.get("SUPPORT_EMAIL", ""),
            public_url=public_url(),
            ratelimit_storage_uri=os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
            ratelimit_key_prefix=os.environ.get("RATELIMIT_KEY_PREFIX", ""),
            login_limit_per_ip=os.environ.get("LOGIN_LIMIT_PER_IP", DEFAULTS["LOGIN_LIMIT_PER_IP"]),
            login_limit_per_account=os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", DEFAULTS["LOGIN_LIMIT_PER_ACCOUNT"]),
            api_limit_per_ip=os.environ.get("API_LIMIT_PER_IP", DEFAULTS["API_LIMIT_PER_IP"]),
            api_key_limit=os.environ.get("API_KEY_LIMIT", DEFAULTS["API_KEY_LIMIT"]),
            outbox_send_after_commit=_flag("OUTBOX_SEND_AFTER_COMMIT", True),
            transfer_max_upload_bytes=_positive_int("TRANSFER_MAX_UPLOAD_BYTES",
                                                    DEFAULTS["TRANSFER_MAX_UPLOAD_BYTES"]),
            payment_reconcile_grace_minutes=_positive_int("PAYMENT_RECONCILE_GRACE_MINUTES",
                                                          DEFAULTS["PAYMENT_RECONCILE_GRACE_MINUTES"], "minutes"),
            proxy_count=_whole_number("PROXY_COUNT", 0, "proxies"),
            hsts_max_age=_whole_number("HSTS_MAX_AGE", None, "seconds"),
            storefront_retention_days=_positive_int("STOREFRONT_RETENTION_DAYS", 90, "days"),
            payment_gateway=gateway,
            storage_backend=storage_backend(),
            sandbox_card_limit=os.environ.get("SANDBOX_CARD_LIMIT", DEFAULTS["SANDBOX_CARD_LIMIT"]),
            stripe_secret_key=stripe_keys["STRIPE_SECRET_KEY"],
            stripe_publishable_key=stripe_keys["STRIPE_PUBLISHABLE_KEY"],
            stripe_webhook_secret=stripe_keys["STRIPE_WEBHOOK_SECRET"],
            log_format=log_format(debug),
            prometheus_multiproc_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip(),
            metrics_token=os.environ.get("METRICS_TOKEN", "").strip(),
        )

    def as_flask_config(self) -> dict:
        secret = self.secret_key
        if not secret:
            if not self.debug:
                raise ConfigError(
                    "SECRET_KEY is not set. Set a long random SECRET_KEY, or PORTAL_DEBUG=1 for local use."
                )
            secret = DEV_SECRET
        if secret == DEV_SECRET and not self.debug:
            raise ConfigError("SECRET_KEY is the development secret; production needs its own.")
        return {
            "DEBUG": self.debug,
            "SECRET_KEY": secret,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "MAIL_URL": self.mail_url,
            "MAIL_FROM": self.mail_from,
            "SUPPORT_EMAIL": self.support_email,
            "PUBLIC_URL": self.public_url,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_uri,
            "RATELIMIT_KEY_PREFIX": self.ratelimit_key_prefix,
            "LOGIN_LIMIT_PER_IP": self.login_limit_per_ip,
            "LOGIN_LIMIT_PER_ACCOUNT": self.login_limit_per_account,
            "API_LIMIT_PER_IP": self.api_limit_per_ip,
            "API_KEY_LIMIT": self.api_key_limit,
            "OUTBOX_SEND_AFTER_COMMIT": self.outbox_send_after_commit,
            "TRANSFER_MAX_UPLOAD_BYTES": self.transfer_max_upload_bytes,
            "PAYMENT_RECONCILE_GRACE_MINUTES": self.payment_reconcile_grace_minutes,
            "PROXY_COUNT": self.proxy_count,
            "STOREFRONT_RETENTION_DAYS": self.storefront_retention_days,
            # Which card processor the portal uses (not switched over yet: checkout still uses the sandbox gateway).
            "PAYMENT_GATEWAY": self.payment_gateway,
            "STORAGE_BACKEND": self.storage_backend,
            "SANDBOX_CARD_LIMIT": self.sandbox_card_limit,
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_PUBLISHABLE_KEY": self.stripe_publishable_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "LOG_FORMAT": self.log_format,
            "PROMETHEUS_MULTIPROC_DIR": self.prometheus_multiproc_dir,
            "METRICS_TOKEN": self.metrics_token,
            # HSTS outside debug (a year unless set); a local debug server over plain HTTP sends it only if asked.
            "HSTS_MAX_AGE": self.hsts_max_age if self.hsts_max_age is not None else (
                0 if self.debug else DEFAULT_HSTS_MAX_AGE),
            # A request must be able to carry the largest authorization a transfer accepts, and its form fields.
            "MAX_CONTENT_LENGTH": max(DEFAULTS["MAX_CONTENT_LENGTH"], self.transfer_max_upload_bytes + 1024 * 1024),
            "SESSION_COOKIE_SECURE": not self.debug,
        }


# Settings every environment shares; tests override some through create_app(config=...).
DEFAULTS: dict = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "RATELIMIT_HEADERS_ENABLED": True,
    "LOGIN_LIMIT_PER_IP": "20 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute",
    "INVOICE_EMAIL_LIMIT": "20 per hour",  # invoices a user may email: a typed address must not make a mailer
    "API_LIMIT_PER_IP": "60 per minute",  # the activation API: every request of one client address, together
    "API_KEY_LIMIT": "600 per minute",  # the automation API: every request made with one API key, together
    # Cards the sandbox processor takes per client address (its API and hosted page together): stops card testing.
    "SANDBOX_CARD_LIMIT": "30 per minute",
    "PASSWORD_TOKEN_HOURS": 48,
    "ARGON2_PROFILE": "production",
    "OUTBOX_MAX_ATTEMPTS": 8,
    "FORBID_LAZY_LOADS": False,
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "TRANSFER_MAX_UPLOAD_BYTES": 5 * 1024 * 1024,  # a transfer's written authorization (PDF)
    # How long a card payment attempt may stay open before `payments reconcile` voids its charge: longer than any
    # checkout takes to commit, short enough that a buyer's card is not held for long.
    "PAYMENT_RECONCILE_GRACE_MINUTES": 15,
    # Proxies in front of the portal that append to X-Forwarded-For (0: none, the header is ignored).
    "PROXY_COUNT": 0,
    # Days a closed storefront's alias, prices and settings are kept before `storefronts purge` deletes them.
    "STOREFRONT_RETENTION_DAYS": 90,
    # "text" or "json" (portal/observability/logs.py); Settings makes it JSON outside debug unless LOG_FORMAT says.
    "LOG_FORMAT": "text",
    # Who may read /metrics besides loopback: `Authorization: Bearer <METRICS_TOKEN>` (empty: loopback only).
    "METRICS_TOKEN": "",
    "PROMETHEUS_MULTIPROC_DIR": "",  # several processes count in files there (prometheus_client's multiprocess mode)
    "STORAGE_BACKEND": "filesystem",  # or "database" (portal/storage.py): several nodes share the stored files
    "HSTS_MAX_AGE": 0,  # no Strict-Transport-Security unless configured (Settings turns it on outside debug)
}
