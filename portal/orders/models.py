"""Orders: immutable snapshots of what was bought, at which price, by whom, paid how."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.catalog.models import BillingInterval, ProductKind, PurchaseKind
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class PaymentKind(enum.StrEnum):
    CARD = "card"
    INVOICE = "invoice"  # gathered into the monthly summary invoice
    WIRE = "wire"
    ACH = "ach"
    CHECK = "check"

    @property
    def label(self) -> str:
        return {PaymentKind.CARD: "Card", PaymentKind.INVOICE: "Invoiced monthly", PaymentKind.WIRE: "Wire transfer",
                PaymentKind.ACH: "ACH", PaymentKind.CHECK: "Check"}[self]


class Order(db.Model):
    __tablename__ = "purchase_order"
    __table_args__ = (UniqueConstraint("organization_id", "idempotency_key", name="uq_order_idempotency"),
                      # an organization's orders, newest first (the orders list), read from the index
                      Index("ix_purchase_order_org_created", "organization_id", "created_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))  # ix_purchase_order_org_created
    placed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payment_kind: Mapped[PaymentKind] = mapped_column(str_enum(PaymentKind, "payment_kind"))
    card_label: Mapped[str | None] = mapped_column(String(80))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    discount_bp: Mapped[int] = mapped_column(Integer)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # The buyer's own reference for the purchase, printed on the invoice (Factur-X BT-10, buyer reference).
    purchase_order_number: Mapped[str] = mapped_column(String(64), default="")
    billing: Mapped[dict] = mapped_column(JSON)  # legal name, address lines, invoice email, phone at the time
    # A storefront sale: the reseller that sold it (None: the vendor sold it).
    seller_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    # The vendor's wholesale order to the reseller made by a storefront sale: the customer's order it supplies.
    supplies_order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.position")


class OrderLine(db.Model):
    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind, "product_kind"))
    purchase: Mapped[PurchaseKind] = mapped_column(str_enum(PurchaseKind, "purchase_kind"), default=PurchaseKind.NEW,
                                                  server_default=PurchaseKind.NEW.value)
    # The license a modification changed (licenses also point at the line that created them: a cycle, so this
    # side is added after both tables exist).
    license_id: Mapped[int | None] = mapped_column(ForeignKey("license.id", use_alter=True))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("edition.id"))
    product_name: Mapped[str] = mapped_column(String(120))
    edition_name: Mapped[str | None] = mapped_column(String(80))
    unit_label: Mapped[str] = mapped_column(String(40))
    interval: Mapped[BillingInterval | None] = mapped_column(str_enum(BillingInterval, "billing_interval"))
    quantity: Mapped[int] = mapped_column(Integer)
    copies: Mapped[int] = mapped_column(Integer, default=1)
    addons: Mapped[list[dict]] = mapped_column(JSON, default=list)  # [{"id", "name", "price_minor"}]
    unit_list_minor: Mapped[int] = mapped_column(BigInteger)  # list price of one copy as configured
    list_minor: Mapped[int] = mapped_column(BigInteger)  # unit_list_minor x copies
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_category: Mapped[str] = mapped_column(String(2), default="S", server_default="S")  # EN 16931 VAT category
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # Hardware: where the line ships (the location, and its address when ordered) and what shipping costs.
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    ship_to: Mapped[dict | None] = mapped_column(JSON)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="lines")


class ImmutableRecord(RuntimeError):
    """An order or issued invoice cannot be changed; corrections are new records."""


@event.listens_for(Order, "before_update")
@event.listens_for(OrderLine, "before_update")
def _refuse_changes(mapper, connection, target):
    raise ImmutableRecord(f"{type(target).__name__} {target.id} is immutable")
