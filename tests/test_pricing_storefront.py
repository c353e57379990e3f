"""Storefront prices (DOMAIN §8) as portal/pricing.py computes them, for any amounts (hypothesis): the most specific
rule wins, a markup of 0 is the list price, markups are monotone and never negative, a special price scales with
the units, a reseller's cost is never above list, and the margin is price less cost, negative below cost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portal.catalog.admin import MAX_PRICE_MINOR
from portal.pricing import (
    BP,
    MAX_UNITS,
    PriceRule,
    margin,
    margin_bp,
    marked_up,
    most_specific,
    reseller_cost,
    storefront_price,
)
from portal.storefronts.prices import MAX_MARKUP_BP, MIN_MARKUP_BP

CENTS = st.integers(min_value=0, max_value=2_000_000_000)
MARKUPS = st.integers(min_value=MIN_MARKUP_BP, max_value=MAX_MARKUP_BP)
DISCOUNTS = st.integers(min_value=0, max_value=BP)
UNITS = st.integers(min_value=1, max_value=MAX_UNITS)
SPECIALS = st.integers(min_value=0, max_value=MAX_PRICE_MINOR)
RULES = st.one_of(st.builds(PriceRule, markup_bp=MARKUPS), st.builds(PriceRule, special_unit_minor=SPECIALS))


@given(st.lists(st.one_of(st.none(), RULES), max_size=5))
def test_the_most_specific_rule_is_the_first_given(rules):
    expected = next((rule for rule in rules if rule is not None), None)
    assert most_specific(*rules) is expected


@given(CENTS)
def test_a_markup_of_zero_is_the_list_price(list_minor):
    assert marked_up(list_minor, 0) == list_minor
    assert storefront_price(list_minor, 0, 1, PriceRule(markup_bp=0)) == list_minor
    assert storefront_price(list_minor, 0, 1, None) == list_minor


@given(CENTS, MARKUPS, MARKUPS)
def test_a_larger_markup_never_gives_a_lower_price(list_minor, one, other):
    low, high = sorted((one, other))
    assert 0 <= marked_up(list_minor, low) <= marked_up(list_minor, high)


@given(CENTS, MARKUPS)
def test_a_markup_goes_the_way_of_its_sign(list_minor, markup):
    price = marked_up(list_minor, markup)
    assert price >= 0
    assert (price >= list_minor) if markup >= 0 else (price <= list_minor)
    assert marked_up(list_minor, MIN_MARKUP_BP) == 0  # -100 %: free


@given(SPECIALS, UNITS, UNITS, CENTS)
def test_a_special_price_scales_with_the_units(special, units, more, addons):
    rule = PriceRule(special_unit_minor=special)
    assert storefront_price(123_456, 0, units, rule) == special * units
    difference = storefront_price(0, addons, units + more, rule) - storefront_price(0, addons, units, rule)
    assert difference == special * more  # the add-ons do not depend on the units


@given(CENTS, DISCOUNTS)
def test_a_resellers_cost_is_never_above_list(list_minor, discount):
    cost = reseller_cost(list_minor, discount)
    assert 0 <= cost <= list_minor
    assert reseller_cost(list_minor, 0) == list_minor


@given(CENTS, CENTS)
def test_the_margin_is_price_less_cost_and_negative_below_cost(price, cost):
    assert margin(price, cost) == price - cost
    assert (margin(price, cost) < 0) == (price < cost)


@given(CENTS, CENTS)
def test_the_margin_share_has_the_margins_sign(price, cost):
    share = margin_bp(price, cost)
    if price == 0:
        assert share is None
        return
    assert share * margin(price, cost) >= 0  # never the opposite sign (a tiny margin may round to 0 %)
    if abs(margin(price, cost)) * BP >= price:  # at least 0.01 % of the price either way
        assert (share > 0) == (margin(price, cost) > 0)
    assert share <= BP  # never more than the whole price
