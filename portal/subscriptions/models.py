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
        CheckConstraint("anchor_day BETWEEN 1 AND 31", name="anchor_day_range"),
        CheckConstraint("scheduled_quantity IS NULL OR scheduled_quantity >= 0", name="scheduled_quantity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    started_on: Mapped[date] = mapped_column(Date)
    # The date of the next automatic billing (DOMAIN §5): the renewal run bills the period that starts then.
    next_payment_on: Mapped[date] = mapped_column(Date, index=True)
    # The day of the month the plan renews on (the day it started): a month after 31 January is 28 or 29
    # February, then 31 March again (pricing.advance_billing_date).
    anchor_day: Mapped[int] = mapped_column(Integer, default=lambda context: context.get_current_parameters()[
        "started_on"].day)
    expires_on: Mapped[date | None] = mapped_column(Date)
    # A change that takes effect at the end of the paid period, until then withdrawable: a lower quantity (0 is a
    # cancellation) and/or another product of the same basis with the other interval (monthly <-> annual).
    scheduled_quantity: Mapped[int | None] = mapped_column(Integer)
    scheduled_product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scheduled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ended_on: Mapped[date | None] = mapped_column(Date)  # cancelled: the last day it was paid for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship(foreign_keys=[product_id])
    scheduled_product: Mapped[Product | None] = relationship(foreign_keys=[scheduled_product_id])

    @property
    def has_scheduled_change(self) -> bool:
        return self.scheduled_quantity is not None or self.scheduled_product_id is not None
