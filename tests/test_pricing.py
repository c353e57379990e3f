"""Every price rule of the portal (DOMAIN §3): list prices, the reseller discount as its own figure, upgrades,
Maintenance & Support, and the one rounding rule. Properties (hypothesis) hold for any amounts: a quote's totals
are the sums of its lines to the cent, and a discount never takes a line below zero."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.catalog.admin import MAX_PRICE_MINOR
from portal.pricing import (
    BP,
    MAX_CART_ITEMS,
    MAX_COPIES,
    MAX_UNITS,
    LineInput,
    apply_rate,
    edition_price,
    license_list_price,
    maintenance_reinstatement,
    maintenance_renewal,
    quote,
    subscription_list_price,
    upgrade_difference,
)
from portal.seller.taxes import MAX_RATE_BP

CENTS = st.integers(min_value=0, max_value=2_000_000_000)  # up to USD 20 million on one line
SIGNED_CENTS = st.integers(min_value=-2_000_000_000, max_value=2_000_000_000)
RATES = st.integers(min_value=0, max_value=BP)  # 0 % to 100 % in basis points
TAX_RATES = st.integers(min_value=0, max_value=3 * BP)
LINES = st.lists(CENTS, max_size=25).map(lambda prices: [LineInput(f"line-{i}", p) for i, p in enumerate(prices)])


# ---------------------------------------------------------------- the rounding rule, stated once


@pytest.mark.parametrize(("amount", "rate_bp", "expected"), [
    (1, 5000, 1),      # 0.5 cent rounds up
    (3, 5000, 2),      # 1.5 cents round up
    (5, 1000, 1),      # 0.5 cent rounds up
    (4, 1000, 0),      # 0.4 cent rounds down
    (6, 1000, 1),      # 0.6 cent rounds up
    (25, 1000, 3),     # 2.5 cents round up, not to the even 2
    (-1, 5000, -1),    # a half below zero rounds away from zero too
    (-5, 1000, -1),
    (-4, 1000, 0),
    (34_900, 2000, 6980),
])
def test_a_rate_rounds_to_the_nearest_cent_with_halves_away_from_zero(amount, rate_bp, expected):
    assert apply_rate(amount, rate_bp) == expected


def test_a_negative_rate_is_refused():
    with pytest.raises(ValueError, match="never negative"):
        apply_rate(100, -1)


@given(SIGNED_CENTS, TAX_RATES)
def test_a_rated_amount_is_within_half_a_cent_of_the_exact_value(amount, rate_bp):
    rated = apply_rate(amount, rate_bp)
    exact = Fraction(amount * rate_bp, BP)
    assert isinstance(rated, int)
    assert abs(rated - exact) <= Fraction(1, 2)
    if abs(rated - exact) == Fraction(1, 2):  # a half: away from zero
        assert abs(rated) > abs(exact)


@given(SIGNED_CENTS, TAX_RATES)
def test_rounding_is_symmetric_around_zero(amount, rate_bp):
    assert apply_rate(-amount, rate_bp) == -apply_rate(amount, rate_bp)


@given(SIGNED_CENTS)
def test_zero_and_full_rates_change_nothing_but_the_share(amount):
    assert apply_rate(amount, 0) == 0
    assert apply_rate(amount, BP) == amount


# ---------------------------------------------------------------- list prices


def test_an_edition_costs_its_base_plus_the_unit_price_for_each_unit():
    assert edition_price(base_minor=9_900, unit_minor=5_000, quantity=5) == 34_900


def test_a_license_costs_its_edition_plus_each_add_on():
    assert license_list_price(0, 400, 25, [15_000, 20_000]) == 10_000 + 15_000 + 20_000
    assert license_list_price(0, 400, 25, []) == 10_000


def test_subscriptions_cost_the_unit_price_times_how_many():
    assert subscription_list_price(unit_minor=400, quantity=12) == 4_800


@pytest.mark.parametrize("quantity", [0, -1])
def test_nothing_is_priced_for_less_than_one_unit(quantity):
    with pytest.raises(ValueError, match="at least 1"):
        edition_price(0, 400, quantity)
    with pytest.raises(ValueError, match="at least 1"):
        subscription_list_price(400, quantity)


# ---------------------------------------------------------------- modifying a license


def test_an_upgrade_costs_the_difference_between_the_new_and_current_list_prices():
    current = edition_price(9_900, 5_000, 5)   # WebStats Standard, 5 sites
    new = edition_price(19_900, 9_900, 5)      # WebStats Enterprise, 5 sites
    assert upgrade_difference(current, new) == 69_400 - 34_900


def test_a_cheaper_configuration_costs_nothing_and_refunds_nothing():
    assert upgrade_difference(current_list_minor=69_400, new_list_minor=34_900) == 0


@given(CENTS, CENTS)
def test_an_upgrade_difference_is_never_negative(current, new):
    difference = upgrade_difference(current, new)
    assert difference >= 0
    assert difference == (new - current if new >= current else 0)


def test_renewing_maintenance_costs_the_yearly_rate_of_the_license_list_price():
    assert maintenance_renewal(license_list_minor=34_900, ms_rate_bp=2000) == 6_980


def test_maintenance_renewal_rounds_like_every_other_rate():
    assert maintenance_renewal(12_345, 1000) == 1_235  # 1,234.5 cents


def test_reinstating_lapsed_maintenance_is_a_renewal_plus_the_reinstatement_charge():
    assert maintenance_reinstatement(34_900, 2000, fee_minor=5_000) == 6_980 + 5_000


@given(CENTS, RATES, CENTS)
def test_reinstatement_always_costs_exactly_the_fee_more_than_a_renewal(list_minor, rate_bp, fee):
    assert maintenance_reinstatement(list_minor, rate_bp, fee) - maintenance_renewal(list_minor, rate_bp) == fee


# ---------------------------------------------------------------- quotes: discount, tax, totals


def test_the_reseller_discount_is_its_own_figure_on_each_line():
    q = quote([LineInput("mailsuite", 25_000), LineInput("webstats", 34_900)], discount_bp=2000)
    assert [(line.list_minor, line.discount_minor, line.net_minor) for line in q.lines] == [
        (25_000, 5_000, 20_000), (34_900, 6_980, 27_920)]
    assert (q.subtotal_minor, q.discount_minor, q.tax_minor, q.total_minor) == (59_900, 11_980, 0, 47_920)
    assert q.discount_bp == 2000


def test_tax_is_charged_on_what_remains_after_the_discount():
    q = quote([LineInput("a", 10_000)], discount_bp=2000, tax_bp=825)
    [line] = q.lines
    assert (line.discount_minor, line.tax_minor, line.total_minor) == (2_000, 660, 8_660)


def test_a_full_discount_makes_a_line_free():
    q = quote([LineInput("a", 12_345)], discount_bp=BP, tax_bp=1000)
    assert q.total_minor == 0 and q.discount_minor == 12_345


def test_an_empty_quote_costs_nothing():
    q = quote([], discount_bp=2000, tax_bp=1000)
    assert (q.subtotal_minor, q.discount_minor, q.tax_minor, q.total_minor) == (0, 0, 0, 0)


def test_a_quote_refuses_a_negative_list_price():
    with pytest.raises(ValueError, match="never negative"):
        quote([LineInput("ok", 100), LineInput("refund", -1)])


@pytest.mark.parametrize("discount_bp", [BP + 1, -1])
def test_a_quote_refuses_a_discount_outside_0_to_100_percent(discount_bp):
    with pytest.raises(ValueError, match="between 0 and 100"):
        quote([LineInput("a", 100)], discount_bp=discount_bp)


@given(LINES, RATES, TAX_RATES)
def test_a_quotes_totals_are_the_sums_of_its_lines_to_the_cent(lines, discount_bp, tax_bp):
    q = quote(lines, discount_bp=discount_bp, tax_bp=tax_bp)
    assert [line.key for line in q.lines] == [line.key for line in lines]
    assert q.subtotal_minor == sum(line.list_minor for line in lines)
    assert q.discount_minor == sum(line.discount_minor for line in q.lines)
    assert q.tax_minor == sum(line.tax_minor for line in q.lines)
    assert q.total_minor == sum(line.total_minor for line in q.lines)
    assert q.total_minor == q.subtotal_minor - q.discount_minor + q.tax_minor
    assert all(isinstance(v, int) for v in (q.subtotal_minor, q.discount_minor, q.tax_minor, q.total_minor))


@given(LINES, RATES, TAX_RATES)
def test_a_discount_never_exceeds_its_line_nor_makes_it_negative(lines, discount_bp, tax_bp):
    for line in quote(lines, discount_bp=discount_bp, tax_bp=tax_bp).lines:
        assert 0 <= line.discount_minor <= line.list_minor
        assert line.net_minor >= 0
        assert line.discount_minor == apply_rate(line.list_minor, discount_bp)  # rounded per line, once
        assert line.tax_minor == apply_rate(line.net_minor, tax_bp)


@given(LINES, TAX_RATES)
def test_without_a_discount_the_total_is_the_subtotal_plus_tax(lines, tax_bp):
    q = quote(lines, discount_bp=0, tax_bp=tax_bp)
    assert q.discount_minor == 0
    assert q.total_minor == q.subtotal_minor + q.tax_minor


@given(LINES, RATES)
def test_a_bigger_discount_never_costs_more(lines, discount_bp):
    cheaper = quote(lines, discount_bp=min(discount_bp + 1, BP))
    assert cheaper.total_minor <= quote(lines, discount_bp=discount_bp).total_minor


# ---------------------------------------------------------------- the bounds of one order


BIGINT_MAX = 2**63 - 1  # the money columns (migration 0006)


@given(st.integers(min_value=0, max_value=MAX_PRICE_MINOR), st.integers(min_value=0, max_value=MAX_PRICE_MINOR),
       st.integers(min_value=1, max_value=MAX_UNITS), st.lists(st.integers(0, MAX_PRICE_MINOR), max_size=100),
       st.integers(min_value=1, max_value=MAX_COPIES), RATES, st.integers(min_value=0, max_value=MAX_RATE_BP))
def test_the_largest_cart_the_bounds_allow_fits_the_money_columns(base, unit, units, addons, copies, discount_bp,
                                                                  tax_bp):
    """A full cart of the largest lines, at any list price staff may set (catalog admin) and any tax rate
    (billing.taxes): every amount of the order stays inside a BIGINT. Raising a bound too far fails here."""
    line = license_list_price(base, unit, units, addons) * copies
    q = quote([LineInput(str(i), line) for i in range(MAX_CART_ITEMS)], discount_bp=discount_bp, tax_bp=tax_bp)
    assert max(q.subtotal_minor, q.total_minor) <= BIGINT_MAX


def test_the_worst_case_of_the_bounds_fits_the_money_columns():
    """The same at every limit at once, with a hundred add-ons at the highest price on each license."""
    line = license_list_price(MAX_PRICE_MINOR, MAX_PRICE_MINOR, MAX_UNITS, [MAX_PRICE_MINOR] * 100) * MAX_COPIES
    q = quote([LineInput(str(i), line) for i in range(MAX_CART_ITEMS)], discount_bp=0, tax_bp=MAX_RATE_BP)
    assert q.total_minor <= BIGINT_MAX


def test_a_unit_is_named_in_the_singular_as_a_person_writes_it():
    from portal.catalog.models import singular_unit

    assert [singular_unit(u) for u in ("mailboxes", "devices", "sites", "agents", "locations", "storefront",
                                       "boxes", "addresses")] == [
        "mailbox", "device", "site", "agent", "location", "storefront", "box", "address"]
