"""pricing.split_gross: a credit note's tax-inclusive amount as net and tax, properties over every amount and
rate (hypothesis): net + tax is exactly the amount, the tax within one minor unit of apply_rate(net), exact
whenever some net's tax makes the amount."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.pricing import apply_rate, split_gross

amounts = st.integers(min_value=0, max_value=10**13)
rates = st.integers(min_value=0, max_value=10_000)  # 0 % to 100 %


@given(amounts, rates)
def test_net_and_tax_make_the_gross_exactly(gross, rate):
    net, tax = split_gross(gross, rate)
    assert net + tax == gross and net >= 0 and tax >= 0


@given(amounts, rates)
def test_the_tax_is_within_one_cent_of_the_rate_applied_to_the_net(gross, rate):
    net, tax = split_gross(gross, rate)
    assert abs(tax - apply_rate(net, rate)) <= 1


@given(st.integers(min_value=0, max_value=10**12), rates)
def test_a_gross_some_net_reaches_splits_back_into_that_net_exactly(net, rate):
    gross = net + apply_rate(net, rate)
    found_net, tax = split_gross(gross, rate)
    assert found_net + apply_rate(found_net, rate) == gross and tax == apply_rate(found_net, rate)


def test_examples():
    assert split_gross(10_650, 650) == (10_000, 650)
    assert split_gross(12_000, 0) == (12_000, 0)
    assert split_gross(0, 825) == (0, 0)


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        split_gross(-1, 650)
