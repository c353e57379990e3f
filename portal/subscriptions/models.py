"""Device and location subscriptions of a main chain: the quantity bought per plan and when it renews."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.catalog.models import Product
from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Subscription(db.Model):
    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("organization_id", "product_id", name="uq_subscription_org_product"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    started_on: Mapped[date] = mapped_column(Date)
    next_payment_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship()
