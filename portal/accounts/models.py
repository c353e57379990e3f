"""Organizations (main chains and sub-chains), users, memberships, contacts and password tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db

if TYPE_CHECKING:
    from portal.partners.models import PartnerAssignment


class Role(enum.StrEnum):
    MANAGER = "manager"
    MEMBER = "member"
    INSTALLER = "installer"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return {
            Role.MANAGER: "Chain & User Manager",
            Role.MEMBER: "Master user",
            Role.INSTALLER: "Installation Partner",
            Role.VIEWER: "Viewer",
        }[self]


class BillingMode(enum.StrEnum):
    PAY_ON_ORDER = "pay_on_order"
    MONTHLY_INVOICE = "monthly_invoice"

    @property
    def label(self) -> str:
        return {BillingMode.PAY_ON_ORDER: "Pay on order", BillingMode.MONTHLY_INVOICE: "Invoiced monthly"}[self]


class PartnerTier(enum.StrEnum):
    NONE = "none"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"

    @property
    def label(self) -> str:
        return "No tier" if self is PartnerTier.NONE else self.value.title()


class Organization(db.Model):
    """A chain: a main chain (no parent, has billing) or a sub-chain one level under a main chain."""

    __tablename__ = "organization"
    __table_args__ = (CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
                      # lists of organizations by name (a reseller's customers) read in order, never sorted whole
                      Index("ix_organization_name", "name", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="US")
    invoice_email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    billing_mode: Mapped[BillingMode] = mapped_column(
        str_enum(BillingMode, "billing_mode"), default=BillingMode.PAY_ON_ORDER
    )
    partner_tier: Mapped[PartnerTier] = mapped_column(str_enum(PartnerTier, "partner_tier"), default=PartnerTier.NONE)
    grandfathered_payment_methods: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # resale exemption
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], back_populates="sub_chains")
    sub_chains: Mapped[list[Organization]] = relationship(back_populates="parent", order_by="Organization.name")

    @property
    def is_main_chain(self) -> bool:
        return self.parent_id is None

    @property
    def is_reseller(self) -> bool:
        """A reseller: a main chain with a partner tier. Only a reseller may hold a reseller plan and a storefront
        (DOMAIN §8)."""
        return self.is_main_chain and self.partner_tier is not PartnerTier.NONE

    @property
    def main_chain_id(self) -> int:
        return self.parent_id if self.parent_id is not None else self.id

    @property
    def billing_address(self) -> list[str]:
        """The postal address as printed lines, blank parts left out."""
        city_line = " ".join(p for p in (self.city, self.region, self.postal_code) if p)
        return [p for p in (self.address_line1, self.address_line2, city_line, self.country) if p]


class User(UserMixin, db.Model):
    """A person who logs in. Each sign-in is a row of portal/signin (UserSession) that the cookie names."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")
    # The partner grants this user exercises (portal/partners), read by authz with the memberships.
    partner_assignments: Mapped[list[PartnerAssignment]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    # The key of the sign-in this request runs in, set by portal.signin.sessions (start_session, load_user): what
    # Flask-Login keeps in the cookie. Ending that session (a row) makes the cookie worthless.
    session_key = None

    def get_id(self) -> str | None:
        return self.session_key

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Membership(db.Model):
    """A user's role in an organization; it covers that organization and its sub-chains."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organization_id", name="uq_membership_user_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship()


class Contact(db.Model):
    """An additional contact of an organization: receives mail, has no login."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordTokenPurpose(enum.StrEnum):
    SET = "set"
    RESET = "reset"


class PasswordToken(db.Model):
    """A single-use, expiring link to set or reset a password. Only its SHA-256 is stored."""

    __tablename__ = "password_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[PasswordTokenPurpose] = mapped_column(str_enum(PasswordTokenPurpose, "password_token_purpose"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
