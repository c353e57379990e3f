"""Refunds to the card: a credit note's credit given back to the card that paid the invoice it corrects
(portal/credits/refunds.py)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, the processor not yet (or not surely) asked: `payments reconcile` retries it
    SUCCEEDED = "succeeded"  # the processor gave the money back
    FAILED = "failed"  # the processor refused: the credit went back to the credit note

    @property
    def label(self) -> str:
        return {"pending": "Pending", "succeeded": "Refunded", "failed": "Refused"}[self.value]


class CreditRefund(db.Model):
    """A credit note's credit refunded to the card that paid the corrected invoice: recorded (pending) and
    committed before the processor is asked, under the idempotency key `credit-refund-<id>`, so that a retry
    never refunds twice. One per credit note."""

    __tablename__ = "credit_refund"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),
                      Index("ix_credit_refund_status_created", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), unique=True)
    charge_id: Mapped[str] = mapped_column(String(64), index=True)  # the processor's payment intent refunded
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, "credit_refund_status"),
                                                 default=RefundStatus.PENDING)
    refund_id: Mapped[str | None] = mapped_column(String(64))  # the processor's refund, once it succeeded
    message: Mapped[str] = mapped_column(Text, default="")  # why the processor refused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def idempotency_key(self) -> str:
        return f"credit-refund-{self.id}"
