"""Password hashing with argon2id. Tests select the cheap profile; production uses the library's defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

_PROFILES = {
    "production": PasswordHasher(),  # argon2id, RFC 9106 low-memory profile
    "test": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}
MIN_LENGTH = 10


def _hasher() -> PasswordHasher:
    return _PROFILES[current_app.config["ARGON2_PROFILE"]]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check, so response time does not tell which accounts exist.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
