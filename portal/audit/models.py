"""The audit log: who did what to which object, in which organization, when and from where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, User
from portal.api_keys.models import ApiKey
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_org_at", "organization_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    # An API call's entry names the key that made it (its creator is the actor).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
    api_key: Mapped[ApiKey | None] = relationship()
