"""Locations of an organization and the devices installed at them.

A device carries its location's organization (`organization_id`) as well, so that scoped queries and the plan
counts of a chain need no join; moving a device keeps the two equal (a CHECK cannot see another table, the
services do it, and `tests/devices` checks it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization, User
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Location(db.Model):
    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_location_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200), default="")
    # The street address hardware ships to (issue 20); a location without one receives no shipment.
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship()

    @property
    def ships_here(self) -> bool:
        """Whether hardware can ship here: a street address with its city, postal code and country."""
        return bool(self.street and self.city and self.postal_code and self.country)

    @property
    def shipping_address(self) -> dict:
        """The address a shipment keeps (as it was when ordered)."""
        return {"name": self.name, "street": self.street, "city": self.city, "region": self.region,
                "postal_code": self.postal_code, "country": self.country}


class Device(db.Model):
    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_device_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    serial_number: Mapped[str] = mapped_column(String(80), default="")
    # A spare kept on the shelf is listed but does not count towards a plan (DOMAIN §5 "counting devices").
    counts: Mapped[bool] = mapped_column(Boolean, default=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # A replacement under RMA: the device it replaces (which stops counting), so it is never counted twice and
    # sends no new-device email.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    location: Mapped[Location] = relationship()
    added_by: Mapped[User | None] = relationship()
