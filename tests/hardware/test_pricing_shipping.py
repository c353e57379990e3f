"""Hardware prices (issue 20): units at the unit price, shipping (the per-order charge once per order, product and
location, plus the per-unit rate), and a quote whose lines may carry their own tax rate (a hardware line and its
shipping taxed where they ship) or take no discount (shipping). Properties (hypothesis) for any amounts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.hardware.ordering import Parcel, shipping_charges
from portal.pricing import BP, LineInput, apply_rate, hardware_list_price, quote, shipping_minor

CENTS = st.integers(min_value=0, max_value=2_000_000_000)
CHARGES = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000_000))
UNITS = st.integers(min_value=1, max_value=1_000_000)
RATES = st.integers(min_value=0, max_value=BP)
TAX_RATES = st.integers(min_value=0, max_value=5_000)
LINE = st.builds(LineInput, key=st.uuids().map(str), list_minor=CENTS, tax_bp=st.one_of(st.none(), TAX_RATES),
                 discountable=st.booleans())


def test_people_counters_to_one_kiosk():
    assert hardware_list_price(34_900, 2) == 69_800
    assert shipping_minor(1_500, 500, 2) == 2_500  # $15 per order + $5 per unit x 2
    assert shipping_minor(None, None, 2) == 0  # free shipping
    assert shipping_minor(1_500, None, 0) == 0  # nothing ships, nothing is charged


@given(CHARGES, CHARGES, UNITS, UNITS)
def test_shipping_is_the_per_order_charge_once_plus_the_rate_per_unit(per_order, per_unit, units, more):
    one = shipping_minor(per_order, per_unit, units)
    assert one == (per_order or 0) + (per_unit or 0) * units
    # more units to the same place pay the per-unit rate only: the parcel's charge is paid once
    assert shipping_minor(per_order, per_unit, units + more) - one == (per_unit or 0) * more
    # two destinations are two parcels: each pays the per-order charge
    assert shipping_minor(per_order, per_unit, units) + shipping_minor(per_order, per_unit, more) == \
        shipping_minor(per_order, per_unit, units + more) + (per_order or 0)


@pytest.mark.parametrize("args", [(-1, 0, 1), (0, -1, 1), (0, 0, -1)])
def test_shipping_refuses_negative_charges_and_units(args):
    with pytest.raises(ValueError):
        shipping_minor(*args)


@given(st.lists(LINE, max_size=20), RATES, TAX_RATES)
def test_each_line_is_taxed_at_its_own_rate_or_the_buyers(lines, discount_bp, buyer_tax_bp):
    priced = quote(lines, discount_bp=discount_bp, tax_bp=buyer_tax_bp)
    for line, result in zip(lines, priced.lines, strict=True):
        rate = buyer_tax_bp if line.tax_bp is None else line.tax_bp
        assert result.tax_minor == apply_rate(result.net_minor, rate)
        if not line.discountable:
            assert result.discount_minor == 0
        assert 0 <= result.discount_minor <= result.list_minor
    assert priced.total_minor == priced.subtotal_minor - priced.discount_minor + priced.tax_minor


@given(st.lists(st.tuples(CENTS, TAX_RATES), max_size=20), RATES, TAX_RATES)
def test_a_line_at_the_buyers_rate_prices_as_before(prices, discount_bp, buyer_tax_bp):
    """Callers that give no line a rate of its own get the quote they always did."""
    plain = quote([LineInput(str(i), p) for i, (p, _) in enumerate(prices)], discount_bp, buyer_tax_bp)
    explicit = quote([LineInput(str(i), p, tax_bp=buyer_tax_bp) for i, (p, _) in enumerate(prices)], discount_bp,
                     buyer_tax_bp)
    assert plain == explicit


def test_two_lines_of_one_product_to_one_location_pay_the_per_order_charge_once():
    counter = SimpleNamespace(id=1, shipping_per_order_minor=1_500, shipping_per_unit_minor=500)
    sensor = SimpleNamespace(id=2, shipping_per_order_minor=1_000, shipping_per_unit_minor=None)
    charges = shipping_charges([Parcel(10, counter, 7, 2), Parcel(11, counter, 7, 1), Parcel(12, counter, 8, 1),
                                Parcel(13, sensor, 7, 4)])
    assert charges == {10: 1_500 + 2 * 500, 11: 500, 12: 1_500 + 500, 13: 1_000}
