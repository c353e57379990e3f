"""Money is integer minor units with a currency; formatting is Babel's."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.money import Money, format_money


def test_formatting_uses_the_currency_and_its_minor_units():
    assert format_money(Money(123456, "USD")) == "$1,234.56"
    assert format_money(Money(-5, "USD")) == "-$0.05"
    assert format_money(Money(1500, "JPY")) == "¥1,500"


def test_amounts_of_different_currencies_never_mix():
    with pytest.raises(ValueError):
        Money(100, "USD") + Money(100, "EUR")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]


@given(st.integers(-10**12, 10**12), st.integers(-10**12, 10**12))
def test_addition_and_subtraction_are_exact(a, b):
    assert (Money(a) + Money(b)).minor == a + b
    assert (Money(a) + Money(b) - Money(b)) == Money(a)
