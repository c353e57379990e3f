"""Receipts: each payment received, numbered RCP-… from the gapless series, with the invoices it paid
(`InvoicePayment.receipt_id`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Receipt(db.Model):
    """A payment received, as the payer's receipt: numbered (RCP-…), with its method, amount and the invoices it
    paid (`InvoicePayment.receipt_id`)."""

    __tablename__ = "receipt"
    __table_args__ = (Index("ix_receipt_org_received", "organization_id", "received_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    method: Mapped[str] = mapped_column(String(8))  # card | wire | ach | check
    method_label: Mapped[str] = mapped_column(String(120))  # "Visa ending 4242", "Wire transfer, ref …"
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    payer: Mapped[dict] = mapped_column(JSON, default=dict)  # the payer's billing details at the time
    payer_email: Mapped[str] = mapped_column(String(254), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    pdf_path: Mapped[str | None] = mapped_column(String(255))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))

    @property
    def pdf_filename(self) -> str:
        return f"{self.number}.pdf"
