"""Standard Webhooks signatures (https://www.standardwebhooks.com) and the endpoints' secrets at rest.

A secret is `whsec_` and the base64 of 24 random bytes; the key is those bytes. A message is signed as
`v1,` + base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")). Secrets are stored Fernet-encrypted under a key
derived from SECRET_KEY (HKDF, info "portal webhook secret"), as two-step sign-in stores TOTP secrets: changing
SECRET_KEY makes them unreadable, and the managers add their endpoints again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from portal import encryption

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60


def new_secret() -> str:
    """A fresh signing secret, as managers copy it into their receiver."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value of a message."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt (the timestamp is the attempt's, the id the event's)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def verify(secret: str, sent: dict[str, str], body: str, now: int | None = None) -> bool:
    """Whether a message's headers carry a valid signature of `body`, sent within the tolerance: what a receiver
    does (the docs show it; the tests use it)."""
    lowered = {k.lower(): v for k, v in sent.items()}
    try:
        timestamp = int(lowered["webhook-timestamp"])
        msg_id = lowered["webhook-id"]
    except (KeyError, ValueError):
        return False
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    # The header may carry several space-separated signatures (a secret being rolled).
    return any(hmac.compare_digest(expected, candidate)
               for candidate in lowered.get("webhook-signature", "").split())


PURPOSE = b"portal webhook secret"


def encrypt(secret: str) -> str:
    return encryption.encrypt(secret, PURPOSE)


def decrypt(token: str) -> str | None:
    """The stored secret, or None when SECRET_KEY changed since it was stored."""
    return encryption.decrypt(token, PURPOSE)
