"""Imports every feature's models so that the metadata (and Alembic) sees them all."""

from portal.accounts.models import Contact, Membership, Organization, PasswordToken, User  # noqa: F401
from portal.audit.models import AuditEntry  # noqa: F401
from portal.outbox.models import OutboxMessage  # noqa: F401
