"""Saved cards of a main chain: brand, last four digits, expiry and the gateway's token, never the number."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class CardBrand(enum.StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"

    @property
    def label(self) -> str:
        return {CardBrand.VISA: "Visa", CardBrand.MASTERCARD: "Mastercard", CardBrand.AMEX: "American Express"}[self]


class PaymentMethod(db.Model):
    __tablename__ = "payment_method"
    __table_args__ = (CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    brand: Mapped[CardBrand] = mapped_column(str_enum(CardBrand, "card_brand"))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    holder_name: Mapped[str] = mapped_column(String(200), default="")
    gateway_token: Mapped[str] = mapped_column(String(128))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.brand.label} ending {self.last4}, expires {self.exp_month:02d}/{self.exp_year}"


class IntentStatus(enum.StrEnum):
    """Where a payment attempt stands. It is written, and committed on its own, before the gateway is asked."""

    PENDING = "pending"  # about to ask the gateway, waiting for the buyer (3-D Secure, the hosted page), or the
    #                      answer was lost with the process
    CHARGED = "charged"  # the gateway approved; the order or invoice payment is not committed yet
    SUCCEEDED = "succeeded"  # committed behind an order or an invoice payment
    DECLINED = "declined"
    VOIDING = "voiding"  # claimed for voiding: no order may commit on it any more; the gateway void follows
    VOIDED = "voided"  # the charge was given back (its order never committed), or nothing was ever charged


class PaymentIntent(db.Model):
    """One attempt to take money for a purpose (a checkout's cart, an invoice), recorded durably before the
    charge so that a charge whose order never committed can be found and voided."""

    __tablename__ = "payment_intent"
    __table_args__ = (Index("ix_payment_intent_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # intents.Purpose
    purpose_key: Mapped[str] = mapped_column(String(128), index=True)  # the cart signature, the invoice number
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)  # the gateway's key for this charge
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[IntentStatus] = mapped_column(str_enum(IntentStatus, "intent_status"), default=IntentStatus.PENDING)
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the processor's payment intent
    # What completes the purchase when the buyer comes back from the processor, or its webhook arrives first:
    # who buys, the checkout's details, whether to save the card (portal/payments/completion.py).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
