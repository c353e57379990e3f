"""Shipments and their units, and return requests (RMA).

A hardware order line ships to one location; an order makes one shipment per location. A shipment moves
awaiting shipment → shipped (carrier, tracking) → delivered, or is cancelled before it ships (portal/hardware/
shipping.py holds the state machine). Each unit it carries has a serial number; a delivered unit waits at its
location until someone installs it, when it becomes a device (devices.models.Device) that counts towards the
plans. An approved return ships a replacement unit, which takes the returned device's place once installed.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.db_types import UTCDateTime, str_enum, utcnow
from portal.devices.models import Device, Location
from portal.extensions import db


class ShipmentState(enum.StrEnum):
    AWAITING_SHIPMENT = "awaiting_shipment"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {ShipmentState.AWAITING_SHIPMENT: "Awaiting shipment", ShipmentState.SHIPPED: "Shipped",
                ShipmentState.DELIVERED: "Delivered", ShipmentState.CANCELLED: "Cancelled"}[self]


class ReturnState(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {ReturnState.REQUESTED: "Requested", ReturnState.APPROVED: "Approved",
                ReturnState.REFUSED: "Refused"}[self]


class Shipment(db.Model):
    """What one order (or one approved return) ships to one location."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("order_id", "location_id", name="uq_shipment_order_location"),
        # a chain's shipments, newest first; staff's queue by state
        Index("ix_shipment_organization_created", "organization_id", "created_at"),
        Index("ix_shipment_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # SHP- and ten base32 symbols
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"))  # None: an RMA replacement
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))  # the location's organization
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    ship_to: Mapped[dict] = mapped_column(JSON)  # the location's name and street address when it was ordered
    state: Mapped[ShipmentState] = mapped_column(str_enum(ShipmentState, "shipment_state"),
                                                 default=ShipmentState.AWAITING_SHIPMENT)
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(60), default="")
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    location: Mapped[Location] = relationship()
    units: Mapped[list[ShipmentUnit]] = relationship(back_populates="shipment", order_by="ShipmentUnit.id")


class ShipmentUnit(db.Model):
    """One box: a unit of a hardware product with its serial number; once installed, the device it became."""

    __tablename__ = "shipment_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_line.id"))
    serial_number: Mapped[str] = mapped_column(String(80), unique=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), unique=True)
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    installed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # the device an RMA replacement replaces once installed (it then stops counting)
    replaces_device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))

    shipment: Mapped[Shipment] = relationship(back_populates="units")
    product: Mapped[Product] = relationship()
    device: Mapped[Device | None] = relationship(foreign_keys=[device_id])


class ReturnRequest(db.Model):
    """A request to return a device under RMA; staff approve it (a replacement ships) or refuse it."""

    __tablename__ = "return_request"
    __table_args__ = (Index("ix_return_request_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ReturnState] = mapped_column(str_enum(ReturnState, "return_state"), default=ReturnState.REQUESTED)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    replacement_shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[Device] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
