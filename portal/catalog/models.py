"""The catalog: products sold as perpetual licenses (editions, quantities, add-ons, yearly M&S) or as device and
location subscriptions, and the discount of each partner tier. Prices are list prices in minor units of USD."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import PartnerTier
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class ProductKind(enum.StrEnum):
    LICENSE = "license"
    SUBSCRIPTION = "subscription"
    HARDWARE = "hardware"  # units shipped to a location (portal/hardware)


class SubscriptionBasis(enum.StrEnum):
    DEVICE = "device"
    LOCATION = "location"
    RESELLER = "reseller"  # a reseller plan (Free, Standard): one per reseller main chain, with its storefront


class PurchaseKind(enum.StrEnum):
    """What a cart item or order line buys: something new, or a change to a license the buyer has."""

    NEW = "new"
    UPGRADE = "upgrade"  # edition, quantity or add-ons of an existing license
    RENEWAL = "renewal"  # one more year of Maintenance & Support
    REINSTATEMENT = "reinstatement"  # lapsed M&S: renewal plus the reinstatement charge

    @property
    def label(self) -> str:
        return {PurchaseKind.NEW: "New", PurchaseKind.UPGRADE: "Upgrade", PurchaseKind.RENEWAL: "M&S renewal",
                PurchaseKind.REINSTATEMENT: "M&S reinstatement"}[self]


class BillingInterval(enum.StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is BillingInterval.MONTHLY else 12


def singular_unit(label: str) -> str:
    """One of a product's units: "mailboxes" -> "mailbox", "devices" -> "device", "sites" -> "site"."""
    if label.endswith(("xes", "ches", "shes", "sses")):
        return label[:-2]
    return label[:-1] if label.endswith("s") and not label.endswith("ss") else label


class Product(db.Model):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("ms_rate_bp >= 0 AND ms_rate_bp <= 10000", name="ms_rate_range"),
        CheckConstraint("unit_price_minor IS NULL OR unit_price_minor >= 0", name="unit_price_not_negative"),
        CheckConstraint("reseller_fee_minor IS NULL OR reseller_fee_minor >= 0", name="reseller_fee_not_negative"),
        CheckConstraint(
            "(kind = 'license' AND basis IS NULL AND interval IS NULL AND unit_price_minor IS NULL) OR "
            "(kind = 'subscription' AND basis IS NOT NULL AND interval IS NOT NULL AND unit_price_minor IS NOT NULL)"
            " OR (kind = 'hardware' AND basis IS NULL AND interval IS NULL AND unit_price_minor IS NOT NULL)",
            name="kind_fields",
        ),
        CheckConstraint("(shipping_per_order_minor IS NULL OR shipping_per_order_minor >= 0) AND "
                        "(shipping_per_unit_minor IS NULL OR shipping_per_unit_minor >= 0)",
                        name="shipping_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind, "product_kind"))
    unit_label: Mapped[str] = mapped_column(String(40))  # "mailboxes", "agents", "sites", "devices", "locations"
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Perpetual licenses: the quantities offered, and yearly M&S as a share of the list price (basis points).
    quantities: Mapped[list[int]] = mapped_column(JSON, default=list)
    ms_rate_bp: Mapped[int] = mapped_column(Integer, default=2000)
    reinstatement_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Subscriptions: per device or per location, billed monthly or annually, at a list price per unit.
    basis: Mapped[SubscriptionBasis | None] = mapped_column(str_enum(SubscriptionBasis, "subscription_basis"))
    interval: Mapped[BillingInterval | None] = mapped_column(str_enum(BillingInterval, "billing_interval"))
    unit_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    # What the vendor charges a reseller per month for every customer account holding a license of this product
    # (DOMAIN §8; portal/reseller_fees): None for no fee. Staff may set another fee for one reseller
    # (reseller_fees.models.ResellerFeeOverride). License products only.
    reseller_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    # Hardware (issue 20): a stock-keeping unit, a unit price (unit_price_minor), shipping per order and/or per
    # unit, the countries it ships to (ISO 3166 alpha-2), and whether each unit becomes a counting device once
    # installed at its location.
    sku: Mapped[str | None] = mapped_column(String(40), unique=True)
    shipping_per_order_minor: Mapped[int | None] = mapped_column(BigInteger)
    shipping_per_unit_minor: Mapped[int | None] = mapped_column(BigInteger)
    ships_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    becomes_device: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    editions: Mapped[list[Edition]] = relationship(back_populates="product", order_by="Edition.position, Edition.id")
    addons: Mapped[list[AddOn]] = relationship(back_populates="product", order_by="AddOn.position, AddOn.id")

    @property
    def is_license(self) -> bool:
        return self.kind is ProductKind.LICENSE

    @property
    def is_hardware(self) -> bool:
        return self.kind is ProductKind.HARDWARE


class Edition(db.Model):
    """A license edition; its list price for a quantity is base + unit price x quantity."""

    __tablename__ = "edition"
    __table_args__ = (
        UniqueConstraint("product_id", "name", name="uq_edition_product_name"),
        CheckConstraint("base_price_minor >= 0 AND unit_price_minor >= 0", name="prices_not_negative"),
        CheckConstraint("rrp_unit_minor IS NULL OR rrp_unit_minor >= 0", name="rrp_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)
    base_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The vendor's recommended retail price per unit (DOMAIN §8), which a reseller may follow, exceed or undercut:
    # a storefront sells at it when the reseller set no price of its own (pricing.storefront_price). None: none.
    rrp_unit_minor: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product: Mapped[Product] = relationship(back_populates="editions")


class AddOn(db.Model):
    """A related product bought with a license or later, at a flat list price per license."""

    __tablename__ = "addon"
    __table_args__ = (
        UniqueConstraint("product_id", "slug", name="uq_addon_product_slug"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product: Mapped[Product] = relationship(back_populates="addons")


class TierDiscount(db.Model):
    """The reseller discount of a partner tier, in basis points of the list price (2500 = 25 %)."""

    __tablename__ = "tier_discount"
    __table_args__ = (CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount_range"),)

    tier: Mapped[PartnerTier] = mapped_column(str_enum(PartnerTier, "partner_tier"), primary_key=True)
    discount_bp: Mapped[int] = mapped_column(Integer, default=0)
