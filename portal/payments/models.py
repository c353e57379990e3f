"""Saved cards of a main chain: brand, last four digits, expiry and the gateway's token, never the number."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
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


class SandboxCard(db.Model):
    """The sandbox gateway's own records (a real gateway keeps these on its side)."""

    __tablename__ = "sandbox_card"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # approve | decline
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxCharge(db.Model):
    __tablename__ = "sandbox_charge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    token: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # approved | declined | voided
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
