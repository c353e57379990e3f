"""Text kept encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY by
HKDF-SHA256, one key per purpose (its `info`): changing SECRET_KEY makes what was stored unreadable."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def fernet(purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(text: str, purpose: bytes) -> str:
    return fernet(purpose).encrypt(text.encode()).decode()


def decrypt(token: str, purpose: bytes) -> str | None:
    """The stored text, or None when it cannot be read (SECRET_KEY changed since it was stored)."""
    try:
        return fernet(purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
