"""The seller's settings: its legal and bank details (one row) and the sales tax rates it charges per billing
country and region, both set by staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class TaxRate(db.Model):
    """The tax of a billing country (and region where needed), set by staff."""

    __tablename__ = "tax_rate"
    __table_args__ = (UniqueConstraint("country", "region", name="uq_tax_rate_country_region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(100), default="")  # "" = the whole country
    label: Mapped[str] = mapped_column(String(80))
    rate_bp: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(2), default="S")  # EN 16931 VAT category code


class SellerSettings(db.Model):
    """Who issues the invoices and where payments go, set by staff at /admin/settings (one row). Each invoice
    keeps a copy of these details as they were when it was issued (`Invoice.seller`)."""

    __tablename__ = "seller_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="US")
    email: Mapped[str] = mapped_column(String(254), default="")
    tax_id: Mapped[str] = mapped_column(String(64), default="")  # sales tax / VAT registration (BT-31/BT-32)
    registration_id: Mapped[str] = mapped_column(String(64), default="")  # company registration, e.g. EIN (BT-30)
    bank_name: Mapped[str] = mapped_column(String(200), default="")
    account_name: Mapped[str] = mapped_column(String(200), default="")
    account_number: Mapped[str] = mapped_column(String(64), default="")
    routing_number: Mapped[str] = mapped_column(String(32), default="")  # ABA routing number (wires, ACH)
    swift_bic: Mapped[str] = mapped_column(String(11), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
