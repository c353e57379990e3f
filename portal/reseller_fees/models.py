"""Reseller fees: staff's fee for one reseller on one product, and the record of every account charged.

`ResellerFeeMonth` is the exactly-once record: one row per reseller and month, written in the transaction that
issues the invoice charging it; `ResellerFeeCharge` lists the accounts each fee line charged, for the invoice's
annex, its CSV and its page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
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


class ResellerFeeMonth(db.Model):
    """A reseller's fees of one month, billed on one invoice: the primary key makes a month billed exactly once."""

    __tablename__ = "reseller_fee_month"

    reseller_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, counted on its last day
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    accounts: Mapped[int] = mapped_column(Integer)  # accounts charged, an account once per product
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResellerFeeCharge(db.Model):
    """One customer account charged on one fee line (one product) of an invoice: the accounts its annex, CSV and
    page list.

    Nothing but its key, without a row id, and without foreign keys: a month of 10,000 accounts is ONE INSERT …
    SELECT into one b-tree (reseller_fees.invoicing), where the database checking two foreign keys per row would
    double its cost. The rows are copied from licenses' customer_id (a foreign key) for the invoice just
    inserted, in the transaction that issues it; neither organizations nor invoices are ever deleted. The
    month's row (ResellerFeeMonth) keeps its foreign keys."""

    __tablename__ = "reseller_fee_charge"
    __table_args__ = ({"sqlite_with_rowid": False},)

    invoice_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # an invoice's id (see above)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # the invoice line (its product)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # an organization's id (see above)
