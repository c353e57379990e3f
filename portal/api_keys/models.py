"""API keys and the stored answers of idempotent API requests."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, User
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Scope(enum.StrEnum):
    """What a key may do; each API operation names the one scope it needs."""

    CATALOG_READ = "catalog:read"
    ORDERS_WRITE = "orders:write"
    LICENSES_READ = "licenses:read"
    LICENSES_WRITE = "licenses:write"
    INVOICES_READ = "invoices:read"
    SUBSCRIPTIONS_READ = "subscriptions:read"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    WEBHOOKS_WRITE = "webhooks:write"


class ApiKey(db.Model):
    """A key acts for its organization (a main chain, or one of its sub-chains when the key is limited to it)
    with its scopes, and never with more than its creator may do there at the time of the request. Only the
    SHA-256 of the secret is stored; the prefix (shown in lists and logs) identifies it."""

    __tablename__ = "api_key"
    # The keys page lists an organization's keys, newest first.
    __table_args__ = (Index("ix_api_key_org_created", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(String(45))

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])

    @property
    def scope_set(self) -> frozenset[Scope]:
        return frozenset(Scope(s) for s in self.scopes if s in Scope._value2member_map_)

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotentRequest(db.Model):
    """A POST sent with an Idempotency-Key: claimed (no status yet) when it starts, then its answer, replayed
    for 24 hours to any request with the same key. The unique constraint makes concurrent requests with one key
    wait for a single answer."""

    __tablename__ = "api_idempotent_request"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key", name="uq_api_idempotent_request_key"),
                      Index("ix_api_idempotent_request_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # What a request whose work commits on its own (a checkout, a card payment) had started, written before that
    # commit: a retry that takes over an unanswered claim finds that work by it instead of doing it again.
    recovery_point: Mapped[str | None] = mapped_column(String(255))
