"""Licenses: bought unassigned by an organization, assigned once to a customer, modified through the cart."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization
from portal.catalog.models import AddOn, Edition, Product
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

license_addon = Table(
    "license_addon",
    db.metadata,
    Column("license_id", ForeignKey("license.id"), primary_key=True),
    Column("addon_id", ForeignKey("addon.id"), primary_key=True),
)


class License(db.Model):
    __tablename__ = "license"
    __table_args__ = (
        # The renewal run's question: which auto-renewing M&S is due by a date.
        Index("ix_license_auto_renew_ms_expires_on", "ms_expires_on",
              postgresql_where=text("auto_renew"), sqlite_where=text("auto_renew")),
        # The reseller fee count (portal/reseller_fees/counting.py): a reseller's assigned licenses by product and
        # customer, read from the index alone.
        Index("ix_license_owner_product_customer", "owner_id", "product_id", "customer_id", "assigned_at"),
        # The reselling page's lists in their default order, read from an index whatever the size of the book
        # (issue 18): the stock to assign by M&S end, resold licenses newest assignment first, the licenses one
        # organization holds by M&S end.
        Index("ix_license_unassigned_ms", "owner_id", "ms_expires_on", "id",
              postgresql_where=text("customer_id IS NULL"), sqlite_where=text("customer_id IS NULL")),
        Index("ix_license_resold_assigned", "owner_id", "assigned_at", "id",
              postgresql_where=text("customer_id IS NOT NULL"), sqlite_where=text("customer_id IS NOT NULL")),
        Index("ix_license_customer_ms", "customer_id", "ms_expires_on", "id",
              postgresql_where=text("customer_id IS NOT NULL"), sqlite_where=text("customer_id IS NOT NULL")),
        # A reseller's M&S by date (the renewals window, the home page's renewals ahead), read from the index alone,
        # and its whole book in the API's order (ms_expires_on, id); it also serves every lookup by owner.
        Index("ix_license_owner_ms_id", "owner_id", "ms_expires_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))  # the buyer; ix_license_owner_ms_id
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))  # ix_license_customer_ms
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_line.id"), index=True)  # an order's licenses
    ms_expires_on: Mapped[date] = mapped_column(Date)
    # Maintenance & Support renews by itself on its expiry date (the renewal run bills it); off by default.
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    reactivation_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship()
    edition: Mapped[Edition] = relationship()
    owner: Mapped[Organization] = relationship(foreign_keys=[owner_id])
    customer: Mapped[Organization | None] = relationship(foreign_keys=[customer_id])
    addons: Mapped[list[AddOn]] = relationship(secondary=license_addon, order_by="AddOn.position")


class Activation(db.Model):
    """A license activated on one installation; at most one active activation per license (a partial unique
    index: the database refuses a second)."""

    __tablename__ = "activation"
    __table_args__ = (
        Index("uq_activation_active_license", "license_id", unique=True,
              postgresql_where=text("deactivated_at IS NULL"), sqlite_where=text("deactivated_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("license.id"), index=True)
    installation_id: Mapped[str] = mapped_column(String(128))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))

    license: Mapped[License] = relationship()
