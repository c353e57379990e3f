"""Reseller fees: staff's fee for one reseller on one product, and the record of every account charged.

`ResellerFeeCharge` is the exactly-once record: one row per reseller, month, product and customer account,
unique, written in the transaction that issues the invoice line charging it; it is also the list of accounts the
invoice's annex and its CSV print.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class ResellerFeeOverride(db.Model):
    """The fee one reseller pays on one product, set by staff in place of the product's fee for all resellers
    (Product.reseller_fee_minor). `fee_minor` None: this reseller pays no fee on it."""

    __tablename__ = "reseller_fee_override"
    __table_args__ = (
        UniqueConstraint("product_id", "reseller_id", name="uq_reseller_fee_override"),
        CheckConstraint("fee_minor IS NULL OR fee_minor >= 0", name="fee_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    reseller_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ResellerFeeCharge(db.Model):
    """One customer account charged one product's fee for one month, on one line of one invoice."""

    __tablename__ = "reseller_fee_charge"
    __table_args__ = (
        UniqueConstraint("reseller_id", "period", "product_id", "customer_id", name="uq_reseller_fee_charge_once"),
        Index("ix_reseller_fee_charge_invoice", "invoice_id", "position"),
        CheckConstraint("fee_minor >= 0", name="fee_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, counted on its last day
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    fee_minor: Mapped[int] = mapped_column(BigInteger)  # the fee per account charged for it
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    position: Mapped[int] = mapped_column(Integer)  # the invoice line it is charged on
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
