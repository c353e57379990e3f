"""The period arithmetic of recurring billing (portal/pricing.py), as properties: billing dates come from the plan's
anchor day (a month after 31 January is 28 or 29 February, then 31 March again), n monthly steps are one step of n
months, and proration to the day is never negative, never more than the full price, the full price for the whole
period, nothing for no days, and grows with the days."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.pricing import advance_billing_date, billing_period, prorate, prorated_addition

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))
ANCHORS = st.integers(min_value=1, max_value=31)
MONTHS = st.integers(min_value=0, max_value=36)
PRICES = st.integers(min_value=0, max_value=2_000_000_000)


def test_a_monthly_plan_from_the_31st_renews_on_the_last_day_of_short_months_then_on_the_31st_again():
    dates = [date(2027, 1, 31)]
    for _ in range(3):
        dates.append(advance_billing_date(dates[-1], 1, 31))
    assert dates == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert advance_billing_date(date(2028, 1, 31), 1, 31) == date(2028, 2, 29)  # a leap year
    assert advance_billing_date(date(2028, 2, 29), 12, 29) == date(2029, 2, 28)
    assert advance_billing_date(date(2029, 2, 28), 12, 29) == date(2030, 2, 28)


def test_an_anchor_day_outside_the_month_is_refused():
    with pytest.raises(ValueError):
        advance_billing_date(date(2027, 1, 1), 1, 0)
    with pytest.raises(ValueError):
        advance_billing_date(date(2027, 1, 1), 1, 32)


@given(DAYS, ANCHORS, MONTHS, MONTHS)
def test_steps_of_months_add_up(day, anchor, first, second):
    stepped = advance_billing_date(advance_billing_date(day, first, anchor), second, anchor)
    assert stepped == advance_billing_date(day, first + second, anchor)


@given(DAYS, ANCHORS, st.integers(min_value=1, max_value=36))
def test_n_monthly_renewals_land_where_one_renewal_of_n_months_does(day, anchor, n):
    stepped = day
    for _ in range(n):
        stepped = advance_billing_date(stepped, 1, anchor)
    assert stepped == advance_billing_date(day, n, anchor)


@given(DAYS, ANCHORS, MONTHS)
def test_a_billing_date_is_on_the_anchor_day_or_the_last_day_of_a_shorter_month(day, anchor, months):
    renewed = advance_billing_date(day, months, anchor)
    last = calendar.monthrange(renewed.year, renewed.month)[1]
    assert renewed.day == min(anchor, last)
    assert (renewed.year * 12 + renewed.month) - (day.year * 12 + day.month) == months


@given(DAYS, ANCHORS, st.integers(min_value=1, max_value=24))
def test_periods_follow_each_other_without_gap_or_overlap(day, anchor, months):
    start = advance_billing_date(day, 0, anchor)
    end = advance_billing_date(start, months, anchor)
    assert end > start
    assert billing_period(end, months, anchor) == (start, end)
    # the next period starts the day after this one's last day
    following = advance_billing_date(end, months, anchor)
    assert billing_period(following, months, anchor)[0] == (end - timedelta(days=1)) + timedelta(days=1)


@given(PRICES, st.integers(min_value=1, max_value=400), st.data())
def test_proration_is_never_negative_nor_more_than_the_full_price(full, days_in_period, data):
    days_left = data.draw(st.integers(min_value=0, max_value=days_in_period))
    share = prorate(full, days_left, days_in_period)
    assert 0 <= share <= full
    assert prorate(full, days_in_period, days_in_period) == full
    assert prorate(full, 0, days_in_period) == 0


@given(PRICES, st.integers(min_value=1, max_value=400), st.data())
def test_proration_grows_with_the_days_left(full, days_in_period, data):
    fewer = data.draw(st.integers(min_value=0, max_value=days_in_period))
    more = data.draw(st.integers(min_value=fewer, max_value=days_in_period))
    assert prorate(full, fewer, days_in_period) <= prorate(full, more, days_in_period)


@given(PRICES, st.integers(min_value=1, max_value=400), st.data())
def test_proration_is_within_half_a_cent_of_the_exact_share(full, days_in_period, data):
    from fractions import Fraction

    days_left = data.draw(st.integers(min_value=0, max_value=days_in_period))
    exact = Fraction(full * days_left, days_in_period)
    assert abs(prorate(full, days_left, days_in_period) - exact) <= Fraction(1, 2)


@given(st.integers(min_value=0, max_value=100_000), st.integers(min_value=1, max_value=1_000), DAYS, ANCHORS,
       st.sampled_from([1, 12]), st.data())
def test_an_addition_is_prorated_to_the_day_until_the_next_payment(unit, quantity, day, anchor, months, data):
    period_start = advance_billing_date(day, 0, anchor)
    next_payment_on = advance_billing_date(period_start, months, anchor)
    days = (next_payment_on - period_start).days
    today = period_start + timedelta(days=data.draw(st.integers(min_value=0, max_value=days)))
    price = prorated_addition(unit, quantity, today, period_start, next_payment_on)
    assert 0 <= price <= unit * quantity
    assert prorated_addition(unit, quantity, period_start, period_start, next_payment_on) == unit * quantity
    assert prorated_addition(unit, quantity, next_payment_on, period_start, next_payment_on) == 0


def test_proration_refuses_days_outside_the_period():
    with pytest.raises(ValueError):
        prorate(100, 5, 4)
    with pytest.raises(ValueError):
        prorate(100, 1, 0)
    with pytest.raises(ValueError):
        prorate(-1, 1, 1)
