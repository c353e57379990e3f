"""Invoices: an order invoice per order, gathered monthly into summary invoices for invoiced organizations.

Numbers come from a gapless sequence per series (`invoice_series`): the counter row is incremented inside the
issuing transaction, so a rollback gives the number back and concurrent issuers queue on the row lock.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db
from portal.orders.models import ImmutableRecord, Order

if TYPE_CHECKING:
    from portal.receipts.models import Receipt


class InvoiceSeries(enum.StrEnum):
    ORDER = "order"
    SUMMARY = "summary"
    RECEIPT = "receipt"  # numbers receipts (portal/receipts), never an invoice
    CREDIT = "credit"  # credit notes (portal/credits): Factur-X type 381, each referencing the invoice it corrects
    # A reseller's invoices to its storefront customers: one gapless series per reseller (Invoice.issuer_id), numbered
    # by portal/storefronts (its prefix is the reseller's, not this one).
    STOREFRONT = "storefront"

    @property
    def prefix(self) -> str:
        return {InvoiceSeries.ORDER: "INV", InvoiceSeries.SUMMARY: "SUM", InvoiceSeries.RECEIPT: "RCP",
                InvoiceSeries.CREDIT: "CRN", InvoiceSeries.STOREFRONT: "SF"}[self]


class InvoiceStatus(enum.StrEnum):
    PAID = "paid"
    UNPAID = "unpaid"
    PAYMENT_PENDING = "payment_pending"  # wire, ACH or check announced; staff record it when it arrives
    TO_BE_SUMMARIZED = "to_be_summarized"  # an invoiced order waiting for its monthly summary
    SUMMARIZED = "summarized"  # gathered into a summary invoice, which is what gets paid
    CREDIT_AVAILABLE = "credit_available"  # a credit note with credit left for the next invoices to consume
    CREDIT_USED = "credit_used"  # a credit note wholly consumed

    @property
    def label(self) -> str:
        return {InvoiceStatus.PAID: "Paid", InvoiceStatus.UNPAID: "Unpaid",
                InvoiceStatus.PAYMENT_PENDING: "Payment pending",
                InvoiceStatus.TO_BE_SUMMARIZED: "To be summarized", InvoiceStatus.SUMMARIZED: "Summarized",
                InvoiceStatus.CREDIT_AVAILABLE: "Credit available", InvoiceStatus.CREDIT_USED: "Credit used"}[self]


SUMMARIZED_NOTE = ("This invoice will be summarized in the monthly summarized invoice and does not need to be "
                   "paid immediately.")


class SeriesCounter(db.Model):
    __tablename__ = "invoice_series"

    series: Mapped[InvoiceSeries] = mapped_column(str_enum(InvoiceSeries, "invoice_series_name"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(db.Model):
    __tablename__ = "invoice"
    __table_args__ = (
        # The vendor's series are gapless and unique per series; each reseller's storefront series per reseller.
        Index("uq_invoice_series_sequence", "series", "sequence", unique=True,
              postgresql_where=text("issuer_id IS NULL"), sqlite_where=text("issuer_id IS NULL")),
        Index("uq_invoice_issuer_sequence", "issuer_id", "series", "sequence", unique=True,
              postgresql_where=text("issuer_id IS NOT NULL"), sqlite_where=text("issuer_id IS NOT NULL")),
        # An organization's invoices of one series and status: the summary's order invoices waiting for it, the
        # credit notes with credit left (read for every summary and renewal invoice), the unpaid ones.
        # an organization's invoices in a state (unpaid, waiting for the summary, credit left), of a series: status
        # before series, so that the unpaid ones of every series are one range
        Index("ix_invoice_org_status_series", "organization_id", "status", "series"),
        # an organization's invoices from the vendor, newest first (the invoices list), read from the index
        Index("ix_invoice_org_issued", "organization_id", "issued_on", "id",
              postgresql_where=text("issuer_id IS NULL"), sqlite_where=text("issuer_id IS NULL")),
        # the API's invoices of one status, newest first (GET /api/v1/invoices?status=), read from the index
        Index("ix_invoice_org_status_issued", "organization_id", "status", "issued_on", "id",
              postgresql_where=text("issuer_id IS NULL"), sqlite_where=text("issuer_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[InvoiceSeries] = mapped_column(str_enum(InvoiceSeries, "invoice_series_name"))
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(48), unique=True)
    # Who issues it: None for the vendor; a reseller for its storefront sales (the seller on the document).
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))  # ix_invoice_org_status_series
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), unique=True)
    summary_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)  # order invoice -> summary
    period: Mapped[str | None] = mapped_column(String(7))  # "YYYY-MM" of a summary invoice
    buyer: Mapped[dict] = mapped_column(JSON, default=dict)  # billing details as issued
    seller: Mapped[dict] = mapped_column(JSON, default=dict)  # the seller and bank details as issued
    pdf_path: Mapped[str | None] = mapped_column(String(255))  # rendered once, relative to the instance folder
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[date] = mapped_column()
    due_on: Mapped[date | None] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    # A credit note's corrected invoice (BT-25).
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    # Credit consumed when the invoice was issued: printed as the prepaid amount (BT-113), part of the document.
    prepaid_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Credit applied to this invoice so far, at issue (prepaid_minor) and by credit notes against it since:
    # what is owed is the total less this.
    credit_applied_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A credit note's credit consumed so far by later invoices (or by the invoice it corrects).
    credit_used_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order | None] = relationship()
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice", order_by="InvoiceLine.position",
                                                    foreign_keys="InvoiceLine.invoice_id")
    summary: Mapped[Invoice | None] = relationship(remote_side=[id], foreign_keys=[summary_id],
                                                   back_populates="parts")
    parts: Mapped[list[Invoice]] = relationship(foreign_keys=[summary_id], back_populates="summary",
                                                order_by="Invoice.sequence")
    payment: Mapped[InvoicePayment | None] = relationship(viewonly=True)

    @property
    def is_summary(self) -> bool:
        return self.series is InvoiceSeries.SUMMARY

    @property
    def is_credit_note(self) -> bool:
        return self.series is InvoiceSeries.CREDIT

    @property
    def credit_left_minor(self) -> int:
        """A credit note's credit not consumed yet."""
        return self.total_minor - self.credit_used_minor if self.is_credit_note else 0

    @property
    def is_open(self) -> bool:
        """Money is still owed on it (a summarized order invoice is owed through its summary)."""
        return self.status in (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)

    @property
    def amount_due_minor(self) -> int:
        return self.total_minor - self.credit_applied_minor if self.is_open else 0

    @property
    def pdf_filename(self) -> str:
        return f"{self.number}.pdf"

    def is_overdue(self, today: date) -> bool:
        return self.is_open and self.due_on is not None and self.due_on < today


# What may still change on an issued invoice: its payment status, the summary it joins, and its stored PDF.
# Everything else is the document as issued; corrections are credit notes, never edits (DOMAIN §6).
INVOICE_MUTABLE_FIELDS = frozenset({"status", "paid_at", "summary_id", "pdf_path", "pdf_sha256",
                                    "credit_applied_minor", "credit_used_minor"})


@event.listens_for(Invoice, "before_update")
def _refuse_content_changes(mapper, connection, target: Invoice) -> None:
    state = inspect(target)
    changed = {attr.key for attr in mapper.column_attrs if state.attrs[attr.key].history.has_changes()}
    refused = sorted(changed - INVOICE_MUTABLE_FIELDS)
    if refused:
        raise ImmutableRecord(f"invoice {target.number} is issued: {', '.join(refused)} cannot change")


class InvoiceLine(db.Model):
    """A line as issued: what was sold, at which price, with which tax category (carried into Factur-X)."""

    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    list_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_category: Mapped[str] = mapped_column(String(2), default="S")
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    order_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))  # a summary's part
    # The service period the line pays for (an M&S year, a subscription's term), first and last day included:
    # printed with the line and carried into Factur-X (BG-26).
    service_start: Mapped[date | None] = mapped_column()
    service_end: Mapped[date | None] = mapped_column()

    invoice: Mapped[Invoice] = relationship(back_populates="lines", foreign_keys=[invoice_id])


@event.listens_for(InvoiceLine, "before_update")
def _refuse_line_changes(mapper, connection, target: InvoiceLine) -> None:
    raise ImmutableRecord(f"invoice line {target.id} is issued and cannot change")


class PaymentMethodKind(enum.StrEnum):
    CARD = "card"
    WIRE = "wire"
    ACH = "ach"
    CHECK = "check"

    @property
    def label(self) -> str:
        return {PaymentMethodKind.CARD: "Card", PaymentMethodKind.WIRE: "Wire transfer",
                PaymentMethodKind.ACH: "ACH", PaymentMethodKind.CHECK: "Check"}[self]


class InvoicePayment(db.Model):
    """A payment of an invoice; one per invoice (the database refuses a second)."""

    __tablename__ = "invoice_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[PaymentMethodKind] = mapped_column(str_enum(PaymentMethodKind, "invoice_payment_method"))
    reference: Mapped[str] = mapped_column(String(120), default="")
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"), index=True)

    receipt: Mapped[Receipt | None] = relationship()


class CreditAllocation(db.Model):
    """Credit of a credit note consumed by an invoice: the invoice it corrects (while still owed), or the next
    invoice issued to the organization (portal/credits)."""

    __tablename__ = "credit_allocation"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RenewalNotice(db.Model):
    """A renewal notice sent once per item and window, however often the job runs."""

    __tablename__ = "renewal_notice"
    __table_args__ = (UniqueConstraint("kind", "item_id", "window", name="uq_renewal_notice_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "maintenance" | "subscription"
    item_id: Mapped[int] = mapped_column(Integer)
    window: Mapped[str] = mapped_column(String(32))  # the expiry or renewal date the notice is about
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
