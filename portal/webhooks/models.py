"""Webhook endpoints of a main chain and the deliveries of events to them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.extensions import db


class EventType(enum.StrEnum):
    """What an endpoint may subscribe to; each is emitted by the one service where it happens."""

    ORDER_PLACED = "order.placed"
    LICENSE_ASSIGNED = "license.assigned"
    LICENSE_MODIFIED = "license.modified"
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAID = "invoice.paid"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    DEVICE_ADDED = "device.added"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # its endpoint was disabled (or deleted) before it got through; Resend queues it again


class WebhookEndpoint(db.Model):
    """A URL of a main chain that receives the events it subscribes to, signed with its own secret (stored
    Fernet-encrypted: managers may read it again). `failing_since` is the first failure of the current streak."""

    __tablename__ = "webhook_endpoint"
    # emit() reads a main chain's endpoints on every event; the page lists them oldest first.
    __table_args__ = (Index("ix_webhook_endpoint_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in (self.event_types or ())


class WebhookDelivery(db.Model):
    """One event for one endpoint: its id (`msg_…`, the same on every attempt), its body as sent, and how its
    attempts went."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # the worker's due query: pending deliveries whose time has come
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        # an endpoint's deliveries, newest first (keyset on id)
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"))
    event_id: Mapped[str] = mapped_column(String(40))  # one event sent to two endpoints has one id
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, "webhook_delivery_status"),
                                                  default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()
