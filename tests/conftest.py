"""Test harness: one migrated database per run (SQLite, or PostgreSQL with TEST_DATABASE_URL), emptied after
every test; a real SMTP server on loopback; clients that sign in and submit forms as a browser does (tests/forms.py)."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import text
from werkzeug.datastructures import MultiDict

from portal import create_app
from portal.extensions import db, limiter
from portal.outbox.background import wait_for_outbox
from tests.forms import Page, fill, htmx_params

# Property tests check what is computed, never how fast: no per-example deadline, which a busy CI machine (two
# suites side by side on two cores) would trip at random.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
CI = os.environ.get("PORTAL_CI") == "1"
DEMO_PASSWORD = "portal-demo-2026"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


# ---------------------------------------------------------------- SMTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """What the loopback SMTP server received. Reading it first waits for the emails that requests handed to the
    outbox's delivery thread (portal/outbox/background.py), as a person waits for their mail to arrive."""

    received: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list:
        assert wait_for_outbox(), "the outbox's delivery thread did not finish within its timeout"
        return self.received

    def receive(self, content: bytes) -> None:
        from email import message_from_bytes
        from email.policy import default

        with self.lock:
            self.received.append(message_from_bytes(content, policy=default))

    def to(self, address: str) -> list:
        messages = self.messages  # waits for the delivery thread, which needs the lock to hand over its mail
        with self.lock:
            return [m for m in messages if address in m["To"]]

    def clear(self) -> None:
        wait_for_outbox()
        with self.lock:
            self.received.clear()


@dataclass
class _SMTPHandler:
    """aiosmtpd's handler: it looks the mailbox's attributes up on its own thread, so it gets only this."""

    mailbox: Mailbox

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.mailbox.receive(envelope.content)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(_SMTPHandler(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    return smtp_server[0]


# ---------------------------------------------------------------- app and database


def _database_url(tmp_dir: Path) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{tmp_dir / 'test.db'}"


def test_config(database_url: str, mail_url: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "DEBUG": False,
        "SECRET_KEY": "test-secret-key-only-for-the-suite",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_URL": mail_url,
        "MAIL_FROM": "Partner Portal <portal@vendor.example.com>",
        "PUBLIC_URL": "http://portal.test",
        "RATELIMIT_STORAGE_URI": "memory://",
        "OUTBOX_SEND_AFTER_COMMIT": True,
        "SESSION_COOKIE_SECURE": False,
        "ARGON2_PROFILE": "test",
        "FORBID_LAZY_LOADS": True,
    }
    config.update(overrides)
    return config


test_config.__test__ = False  # a builder, not a test


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def app(database_url, smtp_server, tmp_path_factory) -> Iterator[Flask]:
    app = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}",
                                 INSTANCE_PATH=str(tmp_path_factory.mktemp("instance"))))
    app.test_client_class = PortalClient
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        db.engine.dispose()


def empty_database() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")  # licenses and order lines refer to each other
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - table names from our metadata
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        conn.commit()


@pytest.fixture(autouse=True)
def _clean_state(request, mailbox):
    yield
    wait_for_outbox()  # no delivery of this test's emails may run into the next test
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        with app.app_context():
            db.session.remove()
            empty_database()
        limiter.reset()
    mailbox.clear()


@pytest.fixture
def ctx(app) -> Iterator[None]:
    """An application context for calling services directly."""
    with app.app_context():
        yield
        db.session.rollback()


# ---------------------------------------------------------------- demo data and clients


@pytest.fixture
def demo(app):
    """The demo organizations and users of `flask seed-demo`, as plain ids."""
    from tests.factories import DemoIds

    with app.app_context():
        from portal.demo import seed_demo

        seed_demo()
        db.session.commit()
        ids = DemoIds.load()
        db.session.remove()
    return ids


APPROVED_CARD = "4242 4242 4242 4242"


class PortalClient(FlaskClient):
    """A test client that submits forms as a browser does: `submit` opens the page, finds the form and posts the
    fields it contains (its CSRF token among them) with the values a user would type. `post` sends exactly what it
    is given and nothing else, for requests no page's form makes (tampering, API calls)."""

    def csrf_token(self) -> str:
        """The session's token, as the page's meta tag carries it: for tests that forge a request on purpose."""
        page = self.get("/help").get_data(as_text=True)
        return _CSRF_META.search(page).group(1)

    def page(self, url: str, **kwargs) -> Page:
        response = self.get(url, **kwargs)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        return Page.parse(url, response.get_data(as_text=True))

    def submit(self, page: str | Page, data: dict | None = None, *, action: str | None = None,
               button: str | None = None, fields=(), htmx: bool = False, headers: dict | None = None,
               follow_redirects: bool = False):
        """Open `page` (a URL, or a Page already opened), find its one form that matches (`action` path, the
        `button` clicked, fields it must have: those of `data` by default), fill in `data` and send it as the
        browser would, to the form's action with its method. With `htmx`, as htmx sends it: to the form's hx-post
        (or hx-get), with the HX-Request header and the page's hx-headers."""
        if not isinstance(page, Page):
            page = self.page(page)
        form, clicked = page.find(action, button, tuple(fields) or tuple(data or ()))
        pairs = fill(form, clicked, data)
        target, method = page.action_of(form, clicked), page.method_of(form, clicked)
        sent = dict(headers or {})
        if htmx:
            # The clicked button's own hx-post (or hx-get) wins over the form's, as in htmx.
            owner = clicked if clicked is not None and ({"hx-post", "hx-get"} & set(clicked.attrs)) else form
            for verb in ("post", "get"):
                if owner.attrs.get(f"hx-{verb}") is not None:
                    target, method = urljoin(page.url, owner.attrs[f"hx-{verb}"] or page.url), verb
            sent = {"HX-Request": "true", "HX-Current-URL": page.url, **page.htmx_headers(), **sent}
            pairs = htmx_params(pairs, form, clicked)
        path = urlsplit(target)
        if method == "get":
            return self.get(path.path, query_string=MultiDict(pairs), headers=sent,
                            follow_redirects=follow_redirects)
        url = path.path + (f"?{path.query}" if path.query else "")
        return super().post(url, data=MultiDict(pairs), headers=sent, follow_redirects=follow_redirects)

    def at_processor(self, response, card: str | None = APPROVED_CARD, *, authenticate: bool = True,
                     exp: str = "12/2031", cvc: str | None = None, name: str = "Frank Fischer"):
        """Follow a payment form's answer to the card processor as a browser without JavaScript does: on its
        hosted page, type `card` (None: leave without paying); if the bank asks for 3-D Secure, complete it (or
        cancel, `authenticate=False`); then back to the portal. Returns the portal's answer to the return, or the
        processor's page when it refused the card (the buyer stays there)."""
        assert response.status_code in (302, 303), f"expected a redirect to the processor, got {response.status_code}"
        location = urlsplit(response.headers["Location"])
        assert location.path.startswith("/sandbox-processor/"), f"not sent to the processor: {location.path}"
        if location.path.startswith("/sandbox-processor/pay/"):
            if card is None:
                return response
            month, year = exp.split("/")
            digits = card.replace(" ", "")
            response = self.submit(location.path, {
                "holder_name": name, "number": card, "exp_month": month, "exp_year": year,
                "cvc": cvc or ("1234" if digits.startswith(("34", "37")) else "123")})
            if response.status_code not in (302, 303):
                return response  # the processor's page refused the card (declined, mistyped): the buyer is there
            location = urlsplit(response.headers["Location"])
        if location.path.startswith("/sandbox-processor/authenticate/"):
            button = "Complete authentication" if authenticate else "Cancel"
            response = self.submit(location.path, button=button)
            assert response.status_code in (302, 303), f"3-D Secure answered {response.status_code}"
            location = urlsplit(response.headers["Location"])
        assert not location.path.startswith("/sandbox-processor/"), f"still at the processor: {location.path}"
        return self.get(location.path + (f"?{location.query}" if location.query else ""))

    def checkout_form(self) -> dict:
        """What the checkout page would post: its cart signature and total, and the prefilled billing details."""
        page = self.get("/checkout").get_data(as_text=True)
        hidden = dict(re.findall(r'name="(cart_signature|expected_total)" value="([^"]*)"', page))
        billing = dict(re.findall(r'name="(legal_name|address_line1|city|region|postal_code|country|invoice_email'
                                  r'|phone)"[^>]*? value="([^"]*)"', page))
        return {**hidden, **billing}

    def login(self, email: str, password: str = DEMO_PASSWORD):
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 302, f"{email} could not sign in ({response.status_code})"
        if response.headers["Location"].endswith("/login/two-step"):  # staff (ops) use two-step sign-in
            from tests.factories import two_step_code

            with self.application.app_context():
                code = two_step_code(email)
            response = self.submit("/login/two-step", {"code": code})
            assert response.status_code == 302 and "/login" not in response.headers["Location"], (
                f"{email} could not complete two-step sign-in ({response.status_code})")
        return response


@pytest.fixture
def client(app) -> PortalClient:
    return app.test_client()


@pytest.fixture
def login(app):
    """login("alice") -> a client signed in as alice@… from the demo."""
    from tests.factories import DEMO_EMAILS

    def _login(name: str) -> PortalClient:
        c = app.test_client()
        c.login(DEMO_EMAILS[name])
        return c

    return _login


# ---------------------------------------------------------------- CI: nothing important may be skipped


def pytest_collection_modifyitems(config, items):
    on_postgres = TEST_DATABASE_URL.startswith("postgresql")
    for item in items:
        if "postgres_only" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)"))


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if not CI or exitstatus != 0:
        return
    on_postgres = TEST_DATABASE_URL.startswith("postgresql")
    items = {item.nodeid: item for item in session.items}

    def may_skip(nodeid: str) -> bool:  # only PostgreSQL-only tests, and only on the SQLite run
        return not on_postgres and nodeid in items and "postgres_only" in items[nodeid].keywords

    forbidden = [nodeid for nodeid in _skipped if not may_skip(nodeid)]
    if forbidden:
        print("\nCI forbids these skips:\n  " + "\n  ".join(forbidden))
        session.exitstatus = 1

