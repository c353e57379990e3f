"""Recording and reading the audit log. Entries are added to the caller's transaction, never committed here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.extensions import db


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; views build it from the request, the CLI passes system()."""

    user_id: int | None
    ip: str | None = None
    api_key_id: int | None = None  # the API key a request came with (its creator is the user)

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, ip=None)


def record(actor: Actor, action: str, obj: object, organization_id: int | None, **details) -> AuditEntry:
    """Write one audit entry for `action` on `obj` in the current transaction."""
    db.session.flush()  # so that a freshly created object has its id
    entry = audit_entry(actor, action, obj, organization_id, **details)
    db.session.add(entry)
    return entry


def audit_entry(actor: Actor, action: str, obj: object, organization_id: int | None, **details) -> AuditEntry:
    """The audit entry for `action` on `obj` (which has its id), for a caller that writes it in a transaction of
    its own (a payment voided outside the request's transaction); everything else calls `record`."""
    return AuditEntry(
        actor_id=actor.user_id,
        ip=actor.ip,
        api_key_id=actor.api_key_id,
        organization_id=organization_id,
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "id", obj)),
        details={k: v for k, v in details.items() if v is not None},
    )


def audit_query(*, organization_ids: Select | list[int] | None, action: str = "", actor_email: str = "") -> Select:
    """Newest-first audit entries, optionally limited to some organizations, an action prefix, an actor."""
    # The API key an entry's call came with is shown beside its actor: loaded in the same statement.
    stmt = select(AuditEntry).options(joinedload(AuditEntry.actor), joinedload(AuditEntry.organization),
                                      joinedload(AuditEntry.api_key))
    if organization_ids is not None:
        stmt = stmt.where(AuditEntry.organization_id.in_(organization_ids))
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor_email:
        stmt = stmt.join(User, AuditEntry.actor_id == User.id).where(User.email == actor_email.strip().lower())
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
