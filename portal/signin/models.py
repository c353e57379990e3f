"""Server-side sign-in sessions and two-step sign-in: TOTP secrets, recovery codes, chains that require it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class UserSession(db.Model):
    """One sign-in: the cookie carries a random key whose SHA-256 is stored here. Live until ended (sign-out,
    the security page, a password change, deactivation) or idle for longer than a session lasts."""

    __tablename__ = "user_session"
    # The security page lists a user's live sessions, most recently seen first.
    __table_args__ = (Index("ix_user_session_user_live", "user_id", "ended_at", "last_seen_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    device: Mapped[str] = mapped_column(String(100), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TwoStepCredential(db.Model):
    """A user's authenticator (TOTP) secret, Fernet-encrypted; in use once confirmed with a code."""

    __tablename__ = "two_step_credential"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The time step of the last code accepted: a code is never accepted twice, nor one older than it.
    last_counter: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(db.Model):
    """A single-use code that replaces an authenticator code once; only its SHA-256 is stored."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TwoStepRequirement(db.Model):
    """A main chain whose managers require two-step sign-in of every user of the chain and its sub-chains."""

    __tablename__ = "two_step_requirement"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    required_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
