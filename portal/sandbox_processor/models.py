"""The sandbox processor's own records: what a processor keeps on its side (never a card number or CVC)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db
from portal.payments.processor import IntentState


class SandboxPaymentMethod(db.Model):
    """A card entered on the processor's side: brand, last four, expiry and how the test card behaves."""

    __tablename__ = "sandbox_payment_method"
    __table_args__ = (CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_range"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    holder_name: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(24))  # approve | decline | insufficient_funds | authenticate
    customer_id: Mapped[str | None] = mapped_column(String(128))  # set once a setup intent saved it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxIntent(db.Model):
    """A payment intent (kind "payment") or a setup intent (kind "setup") and where it stands."""

    __tablename__ = "sandbox_intent"
    __table_args__ = (CheckConstraint("kind IN ('payment', 'setup')", name="kind"),
                      CheckConstraint("amount_minor >= 0 AND amount_refunded_minor >= 0 AND "
                                      "amount_refunded_minor <= amount_minor", name="amounts"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[IntentState] = mapped_column(str_enum(IntentState, "sandbox_intent_state"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    client_secret: Mapped[str] = mapped_column(String(128))
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("sandbox_payment_method.id"))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    off_session: Mapped[bool] = mapped_column(Boolean, default=False)
    return_url: Mapped[str | None] = mapped_column(Text)
    next_action_url: Mapped[str | None] = mapped_column(Text)
    decline_message: Mapped[str | None] = mapped_column(Text)
    charge_id: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxRefund(db.Model):
    __tablename__ = "sandbox_refund"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="positive"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("sandbox_intent.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxIdempotency(db.Model):
    """The first answer given under an idempotency key (None while the first request is still at work)."""

    __tablename__ = "sandbox_idempotency"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(40))
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxEvent(db.Model):
    """A webhook event: its payload as sent (JSON text), signed when delivered (`signed_request`)."""

    __tablename__ = "sandbox_event"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    intent_id: Mapped[str] = mapped_column(ForeignKey("sandbox_intent.id"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
