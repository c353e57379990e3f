"""Device and location subscriptions: quantities bought through the cart, and what a quantity added mid-term costs.

A plan belongs to the buyer's main chain (only a main chain is billed, DOMAIN §2). A quantity added to a plan
that is running is prorated to the day until its next payment (`pricing.prorated_addition`); a plan the chain
does not have, or has ended, starts today for a whole period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal import pricing
from portal.accounts.models import Organization
from portal.catalog.models import BillingInterval, Product
from portal.extensions import db
from portal.pricing import advance_billing_date
from portal.subscriptions.models import Subscription


def add_months(day: date, months: int) -> date:
    """`months` months after `day`, on the same day of the month or the month's last (pricing's rule)."""
    return advance_billing_date(day, months, day.day)


def interval_of(product: Product) -> BillingInterval:
    return product.interval or BillingInterval.MONTHLY


def is_running(plan: Subscription) -> bool:
    """A plan that bills: some quantity, not ended. More of it is prorated; otherwise a purchase starts it anew."""
    return plan.quantity > 0 and plan.ended_on is None


def current_period(plan: Subscription) -> tuple[date, date]:
    """The paid period the plan is in: (its first day, the next payment date)."""
    return pricing.billing_period(plan.next_payment_on, interval_of(plan.product).months, plan.anchor_day)


@dataclass(frozen=True)
class Proration:
    """A quantity added to a running plan, priced from today to the end of its paid period."""

    quantity: int
    full_minor: int  # the whole period's list price of that quantity
    list_minor: int  # what it costs for the days left (pricing.prorated_addition)
    days_left: int
    days_in_period: int
    next_payment_on: date

    @property
    def last_day(self) -> date:
        """The last day the addition is paid for: the day before the plan's next payment."""
        return self.next_payment_on - timedelta(days=1)

    @property
    def description(self) -> str:
        if not self.days_left:
            return f"no charge now: the renewal on {self.next_payment_on.isoformat()} bills it"
        days = "day" if self.days_left == 1 else "days"
        return f"prorated for {self.days_left} {days} until {self.last_day.isoformat()}"


def prorate_addition(plan: Subscription, unit_minor: int, quantity: int, today: date) -> Proration:
    """What `quantity` more units of a running plan cost today at `unit_minor` per unit and period."""
    start, next_payment_on = current_period(plan)
    days = (next_payment_on - start).days
    left = min(max((next_payment_on - today).days, 0), days)
    return Proration(quantity, pricing.subscription_list_price(unit_minor, quantity),
                     pricing.prorated_addition(unit_minor, quantity, today, start, next_payment_on),
                     left, days, next_payment_on)


def _main_chain_of(org_id: int):
    return (select(func.coalesce(Organization.parent_id, Organization.id)).where(Organization.id == org_id)
            .scalar_subquery())


def running_plans(org_id: int, product_ids: Iterable[int]) -> dict[int, Subscription]:
    """The running plans of `org_id`'s main chain on these products, by product id (one statement)."""
    ids = set(product_ids)
    if not ids:
        return {}
    plans = db.session.scalars(select(Subscription).where(
        Subscription.organization_id == _main_chain_of(org_id), Subscription.product_id.in_(ids),
        Subscription.quantity > 0, Subscription.ended_on.is_(None)).options(joinedload(Subscription.product)))
    return {plan.product_id: plan for plan in plans}


def add_subscription_quantity(org: Organization, product_id: int, quantity: int, today: date) -> Subscription:
    """More subscriptions of a plan for the buyer's main chain: a running plan grows (the order priced the
    addition to the end of its period); a plan the chain does not have, or whose plan ended, starts today."""
    main_chain_id = org.main_chain_id
    subscription = db.session.scalars(
        select(Subscription).where(Subscription.organization_id == main_chain_id,
                                   Subscription.product_id == product_id)
        .with_for_update()
    ).first()
    if subscription is not None and is_running(subscription):
        subscription.quantity += quantity
        return subscription
    product = db.session.get(Product, product_id)
    next_payment_on = add_months(today, interval_of(product).months)
    if subscription is not None:  # ended (or emptied): it starts again, as a new plan would
        subscription.quantity, subscription.started_on, subscription.anchor_day = quantity, today, today.day
        subscription.next_payment_on, subscription.ended_on, subscription.expires_on = next_payment_on, None, None
        subscription.scheduled_quantity = subscription.scheduled_product_id = None
        subscription.scheduled_at = subscription.scheduled_by_id = None
        return subscription
    subscription = Subscription(organization_id=main_chain_id, product_id=product_id, quantity=quantity,
                                started_on=today, anchor_day=today.day, next_payment_on=next_payment_on)
    db.session.add(subscription)
    return subscription
