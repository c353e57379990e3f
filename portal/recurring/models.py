"""What the renewal run billed, once per plan (or license) and period, and how each renewal invoice is collected.

`Renewal` is the exactly-once record: one row per subscription and period start (or license and period start),
unique, written in the transaction that issues the invoice line for it. `RenewalCollection` follows the renewal
invoice's money: charged to the saved card (with the dunning retries), invoiced net 30, or gathered into the
monthly summary.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.billing.models import Invoice
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class Renewal(db.Model):
    """One period of one plan, or one year of one license's M&S, billed on one renewal invoice line."""

    __tablename__ = "renewal"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start", name="uq_renewal_subscription_period"),
        UniqueConstraint("license_id", "period_start", name="uq_renewal_license_period"),
        CheckConstraint("(subscription_id IS NULL) <> (license_id IS NULL)", name="one_item"),
        CheckConstraint("period_end >= period_start", name="period_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)  # the billed chain
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    license_id: Mapped[int | None] = mapped_column(ForeignKey("license.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # last day included
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the invoice line it is billed on
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    invoice: Mapped[Invoice] = relationship()


class CollectionMethod(enum.StrEnum):
    CARD = "card"  # a pay-on-order account's saved default card, charged by the run
    INVOICE = "invoice"  # due in 30 days (no saved card, or paying by wire, ACH or check)
    SUMMARY = "summary"  # a monthly-invoiced account: the monthly summary gathers it


class CollectionState(enum.StrEnum):
    CHARGING = "charging"  # the card is to be charged on next_attempt_on (first attempt or a dunning retry)
    AWAITING_PAYMENT = "awaiting_payment"  # invoiced: the buyer pays it from the Invoices page
    SUMMARIZED = "summarized"  # left to the monthly summary
    PAID = "paid"
    PAST_DUE = "past_due"  # every retry failed: the plans on it are past due until the invoice is paid


class RenewalCollection(db.Model):
    """How the money of one renewal invoice is collected."""

    __tablename__ = "renewal_collection"
    __table_args__ = (Index("ix_renewal_collection_state_next", "state", "next_attempt_on"),)

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    method: Mapped[CollectionMethod] = mapped_column(str_enum(CollectionMethod, "collection_method"))
    state: Mapped[CollectionState] = mapped_column(str_enum(CollectionState, "collection_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_on: Mapped[date | None] = mapped_column(Date)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message: Mapped[str] = mapped_column(Text, default="")
    past_due_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    invoice: Mapped[Invoice] = relationship()
