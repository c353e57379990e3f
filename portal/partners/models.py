"""Partner grants (customer main chain -> partner organization) and the partner users who exercise them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, Role, User
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class GrantState(enum.StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {GrantState.REQUESTED: "Waiting for approval"}.get(self, self.value.title())


OPEN_STATES = (GrantState.REQUESTED, GrantState.ACTIVE)


class PartnerGrant(db.Model):
    """Access to a customer's main chain (and its sub-chains) for the roles listed, given to a partner
    organization until `expires_on` (exclusive). A partner's request names the customer by a manager's address
    (`requested_email`); `customer_id` is set only when that address is a manager of a main chain, and the
    partner sees the customer's name only once the grant is active (no enumeration of addresses)."""

    __tablename__ = "partner_grant"
    __table_args__ = (
        Index("ix_partner_grant_customer_state", "customer_id", "state"),
        Index("ix_partner_grant_partner_state", "partner_id", "state"),
        # At most one open (requested or active) grant between a customer and a partner.
        Index("uq_partner_grant_open", "customer_id", "partner_id", unique=True,
              postgresql_where=text("state IN ('requested', 'active')"),
              sqlite_where=text("state IN ('requested', 'active')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    requested_email: Mapped[str] = mapped_column(String(254), default="")
    roles: Mapped[str] = mapped_column(String(100), default=Role.INSTALLER.value)  # comma-separated Role values
    state: Mapped[GrantState] = mapped_column(str_enum(GrantState, "partner_grant_state"))
    starts_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # approved or declined
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # withdrawn, revoked or expired

    customer: Mapped[Organization | None] = relationship(foreign_keys=[customer_id])
    partner: Mapped[Organization] = relationship(foreign_keys=[partner_id])
    assignments: Mapped[list[PartnerAssignment]] = relationship(back_populates="grant",
                                                                 cascade="all, delete-orphan")

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles.split(",") if r)

    @property
    def role_labels(self) -> str:
        return ", ".join(sorted(r.label for r in self.role_set))

    def in_force(self, today: date) -> bool:
        """Whether the grant gives access on `today` (active, started, not past its expiry date)."""
        return (self.state is GrantState.ACTIVE and self.starts_on is not None and self.starts_on <= today
                < self.expires_on)


class PartnerAssignment(db.Model):
    """A partner user chosen by the partner's managers to exercise a grant (while a member of the partner)."""

    __tablename__ = "partner_assignment"
    __table_args__ = (UniqueConstraint("grant_id", "user_id", name="uq_partner_assignment_grant_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("partner_grant.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grant: Mapped[PartnerGrant] = relationship(back_populates="assignments")
    user: Mapped[User] = relationship(back_populates="partner_assignments")
