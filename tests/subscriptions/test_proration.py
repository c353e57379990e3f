"""Properties of what a quantity added mid-term costs (subscriptions.services.prorate_addition, which the cart
uses): the plan's current period from its next payment date and anchor day, then pricing.prorated_addition.

Never negative, never more than a whole period; the whole period on its first day and nothing once it is over;
cheaper (or equal) every day that passes; and adding in two steps costs the same as at once, to the cent per step
(each step is rounded once, half away from zero)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

import portal.models  # noqa: F401  (every model mapped, so that plans and products can be built)
from portal import pricing
from portal.catalog.models import BillingInterval, Product, ProductKind, SubscriptionBasis
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import current_period, prorate_addition

intervals = st.sampled_from([BillingInterval.MONTHLY, BillingInterval.ANNUAL])
anchors = st.integers(min_value=1, max_value=31)
next_payments = st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31))
units = st.integers(min_value=0, max_value=10_000_000)
quantities = st.integers(min_value=1, max_value=pricing.MAX_UNITS)


def _plan(interval: BillingInterval, anchor: int, next_payment: date) -> Subscription:
    """A plan (not in any session) whose next payment falls on a billing date of its anchor day."""
    due = pricing.advance_billing_date(next_payment, 0, anchor)
    product = Product(slug="p", name="P", unit_label="devices", kind=ProductKind.SUBSCRIPTION,
                      basis=SubscriptionBasis.DEVICE, interval=interval, unit_price_minor=0)
    return Subscription(product=product, quantity=1, started_on=due, anchor_day=anchor, next_payment_on=due)


@settings(max_examples=300, deadline=None)
@given(intervals, anchors, next_payments, units, quantities, st.integers(min_value=-5, max_value=400))
def test_an_addition_costs_a_share_of_the_whole_period_for_the_days_left(interval, anchor, next_payment, unit,
                                                                        quantity, offset):
    plan = _plan(interval, anchor, next_payment)
    start, due = current_period(plan)
    today = start + timedelta(days=offset)
    priced = prorate_addition(plan, unit, quantity, today)
    whole = unit * quantity
    assert 0 <= priced.list_minor <= whole == priced.full_minor
    assert priced.list_minor == pricing.prorated_addition(unit, quantity, today, start, due)
    assert priced.days_in_period == (due - start).days and 0 <= priced.days_left <= priced.days_in_period
    if today <= start:
        assert priced.list_minor == whole  # a whole period from its first day (or before)
    if today >= due:
        assert priced.list_minor == 0 and priced.days_left == 0  # the renewal bills it


@settings(max_examples=200, deadline=None)
@given(intervals, anchors, next_payments, units, quantities, st.integers(min_value=0, max_value=366))
def test_each_day_that_passes_never_makes_an_addition_dearer(interval, anchor, next_payment, unit, quantity, offset):
    plan = _plan(interval, anchor, next_payment)
    start, _ = current_period(plan)
    today = start + timedelta(days=offset)
    assert (prorate_addition(plan, unit, quantity, today + timedelta(days=1)).list_minor
            <= prorate_addition(plan, unit, quantity, today).list_minor)


@settings(max_examples=200, deadline=None)
@given(intervals, anchors, next_payments, units, quantities, quantities, st.integers(min_value=0, max_value=366))
def test_adding_in_two_steps_costs_what_adding_at_once_does_to_a_cent_per_step(interval, anchor, next_payment, unit,
                                                                                first, second, offset):
    plan = _plan(interval, anchor, next_payment)
    start, _ = current_period(plan)
    today = start + timedelta(days=offset)
    once = prorate_addition(plan, unit, first + second, today).list_minor
    twice = (prorate_addition(plan, unit, first, today).list_minor
             + prorate_addition(plan, unit, second, today).list_minor)
    assert abs(once - twice) <= 1


@settings(max_examples=100, deadline=None)
@given(anchors, st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31)), units, quantities)
def test_a_monthly_plans_additions_over_its_days_add_up_to_its_price_within_rounding(anchor, next_payment, unit,
                                                                                    quantity):
    """One unit added each day of a period, each for that one day: together the whole period's price, within
    half a cent a day of rounding."""
    plan = _plan(BillingInterval.MONTHLY, anchor, next_payment)
    start, due = current_period(plan)
    days = (due - start).days
    per_day = [prorate_addition(plan, unit, quantity, start + timedelta(days=d)).list_minor
               - prorate_addition(plan, unit, quantity, start + timedelta(days=d + 1)).list_minor
               for d in range(days)]
    assert all(share >= 0 for share in per_day)
    assert sum(per_day) == unit * quantity  # the shares telescope: the first day's price less the last (0)
