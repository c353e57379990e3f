"""Device and location subscriptions: quantities bought through the cart."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.catalog.models import BillingInterval, Product
from portal.extensions import db
from portal.pricing import advance_billing_date
from portal.subscriptions.models import Subscription


def add_months(day: date, months: int) -> date:
    """`months` months after `day`, on the same day of the month or the month's last (pricing's rule)."""
    return advance_billing_date(day, months, day.day)


def add_subscription_quantity(org: Organization, product_id: int, quantity: int, today: date) -> Subscription:
    """More subscriptions of a plan for a main chain: an existing plan grows, a new one starts today."""
    subscription = db.session.scalars(
        select(Subscription).where(Subscription.organization_id == org.id, Subscription.product_id == product_id)
        .with_for_update()
    ).first()
    if subscription is not None:
        subscription.quantity += quantity
        return subscription
    product = db.session.get(Product, product_id)
    interval = product.interval or BillingInterval.MONTHLY
    subscription = Subscription(organization_id=org.id, product_id=product_id, quantity=quantity, started_on=today,
                                anchor_day=today.day, next_payment_on=add_months(today, interval.months))
    db.session.add(subscription)
    return subscription
