"""A reseller's storefront: its alias, branding and prices, the rules that price its catalog, and the gapless
invoice series of its sales.

A reseller's plan is a subscription (portal/subscriptions) to a product of basis `reseller` (Free, Standard); the
storefront row holds what the reseller set up and outlives the plan for the retention period (`purge_on`), after
which the purge job deletes it and its alias is free again.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

ALIAS_LENGTH = 30


class Storefront(db.Model):
    __tablename__ = "storefront"
    __table_args__ = (
        CheckConstraint("default_markup_bp IS NULL OR default_markup_bp >= -10000", name="default_markup_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), unique=True)  # the reseller
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH), unique=True)  # /s/<alias>; unique even under races
    display_name: Mapped[str] = mapped_column(String(200), default="")
    accent_colour: Mapped[str] = mapped_column(String(7), default="#1f6feb")  # #rrggbb
    logo_path: Mapped[str | None] = mapped_column(String(255))  # relative to the instance folder (portal/storage)
    logo_type: Mapped[str | None] = mapped_column(String(32))  # image/png, image/jpeg, image/webp
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_address: Mapped[str] = mapped_column(Text, default="")
    # The reseller as the seller on its invoices to its customers (BT-31/BT-32 and BT-30): its legal name and
    # address are the organization's.
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    registration_id: Mapped[str] = mapped_column(String(64), default="")
    # Markup over the vendor's list price (basis points; may be negative: below list) when no rule is more specific.
    default_markup_bp: Mapped[int | None] = mapped_column(Integer)
    # Extra recipients of the storefront's notifications (the welcome email…), beside the chain's managers.
    notify_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)  # the plan ended: nobody signs in or buys
    purge_on: Mapped[date | None] = mapped_column(Date)  # closed_on + STOREFRONT_RETENTION_DAYS
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship()

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


class StorefrontPrice(db.Model):
    """One pricing rule of a storefront: a markup in % over the vendor's list price of a product (or of one of its
    editions), or a special price per unit, for everyone or for one customer (a special price only). The most
    specific rule wins (portal/pricing.py storefront_price)."""

    __tablename__ = "storefront_price"
    __table_args__ = (
        CheckConstraint("(markup_bp IS NULL) <> (special_minor IS NULL)", name="markup_or_special"),
        CheckConstraint("customer_id IS NULL OR special_minor IS NOT NULL", name="customer_special_only"),
        CheckConstraint("markup_bp IS NULL OR markup_bp >= -10000", name="markup_range"),
        CheckConstraint("special_minor IS NULL OR special_minor >= 0", name="special_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    storefront_id: Mapped[int] = mapped_column(ForeignKey("storefront.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("edition.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)  # a sub-chain
    markup_bp: Mapped[int | None] = mapped_column(Integer)
    special_minor: Mapped[int | None] = mapped_column(BigInteger)  # price per unit (device, mailbox…) per period
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# One rule per product, edition and customer (none counts as 0, since NULLs never collide in a plain unique).
Index("uq_storefront_price_rule", StorefrontPrice.storefront_id, StorefrontPrice.product_id,
      func.coalesce(StorefrontPrice.edition_id, 0), func.coalesce(StorefrontPrice.customer_id, 0), unique=True)


class StorefrontProduct(db.Model):
    """How a reseller shows one of the vendor's license products on its own storefront: its own name and
    description (blank: the vendor's), or not at all. Its prices are StorefrontPrice rules; the vendor's fee on
    the product is the vendor's (portal/reseller_fees), never the reseller's to change."""

    __tablename__ = "storefront_product"
    __table_args__ = (UniqueConstraint("storefront_id", "product_id", name="uq_storefront_product"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    storefront_id: Mapped[int] = mapped_column(ForeignKey("storefront.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    name: Mapped[str] = mapped_column(String(120), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StorefrontSeries(db.Model):
    """The counter of a reseller's gapless invoice series (locked by the issuing transaction, like the vendor's)."""

    __tablename__ = "storefront_series"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class EmailTemplate(db.Model):
    """An email text staff edit at /admin/notifications (named placeholders, rendered sandboxed)."""

    __tablename__ = "email_template"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
