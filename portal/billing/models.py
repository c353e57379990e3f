"""Invoices: an order invoice per order, gathered monthly into summary invoices for invoiced organizations.

Numbers come from a gapless sequence per series (`invoice_series`): the counter row is incremented inside the
issuing transaction, so a rollback gives the number back and concurrent issuers queue on the row lock.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db
from portal.orders.models import Order


class InvoiceSeries(enum.StrEnum):
    ORDER = "order"
    SUMMARY = "summary"

    @property
    def prefix(self) -> str:
        return {InvoiceSeries.ORDER: "INV", InvoiceSeries.SUMMARY: "SUM"}[self]


class InvoiceStatus(enum.StrEnum):
    PAID = "paid"
    UNPAID = "unpaid"
    TO_BE_SUMMARIZED = "to_be_summarized"  # an invoiced order waiting for its monthly summary

    @property
    def label(self) -> str:
        return {InvoiceStatus.PAID: "Paid", InvoiceStatus.UNPAID: "Unpaid",
                InvoiceStatus.TO_BE_SUMMARIZED: "To be summarized"}[self]


SUMMARIZED_NOTE = ("This invoice will be summarized in the monthly summarized invoice and does not need to be "
                   "paid immediately.")


class SeriesCounter(db.Model):
    __tablename__ = "invoice_series"

    series: Mapped[InvoiceSeries] = mapped_column(str_enum(InvoiceSeries, "invoice_series_name"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(db.Model):
    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("series", "sequence", name="uq_invoice_series_sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[InvoiceSeries] = mapped_column(str_enum(InvoiceSeries, "invoice_series_name"))
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(Integer)
    discount_minor: Mapped[int] = mapped_column(Integer)
    tax_minor: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column()
    due_on: Mapped[date | None] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order | None] = relationship()
