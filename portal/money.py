"""Money: integer minor units with an ISO 4217 currency code; formatting through Babel as a Jinja filter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, get_currency_symbol

from portal.errors import RuleError

DEFAULT_LOCALE = "en_US"


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents for USD). Arithmetic only between amounts of one currency."""

    minor: int
    currency: str = "USD"

    def __post_init__(self):
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money holds an integer number of minor units")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise ValueError("cannot combine amounts of different currencies")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(0, currency)

    def as_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))


@lru_cache(maxsize=64)
def currency_exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (USD 2, JPY 0, BHD 3): ISO 4217 through Babel, read once."""
    return get_currency_precision(currency)


def plain_decimal(minor: int, currency: str = "USD") -> str:
    """Minor units as a plain decimal in the currency's unit, as str(Money(minor, currency).as_decimal()) reads
    (12345 USD -> "123.45", -5 USD -> "-0.05", 1234 JPY -> "1234"), from integers alone: what a CSV export writes
    per cell, without an object or a Decimal per amount."""
    exponent = currency_exponent(currency)
    if not exponent:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{exponent}d}"


@lru_cache(maxsize=16)
def _locale(name: str) -> Locale:
    """Babel's locale, parsed once (format_currency given a name parses it at every call)."""
    return Locale.parse(name)


def format_money(value: Money, locale: str = DEFAULT_LOCALE) -> str:
    return format_currency(value.as_decimal(), value.currency, locale=_locale(locale))


# What a person types for an amount: digits with optional thousands commas in their places, and a decimal point.
_TYPED_NUMBER = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<fraction>[0-9]*))?", re.ASCII)
_MAX_WHOLE_DIGITS = 15  # far beyond any price; keeps int() away from absurdly long input


def _typed_number(text: str, prefix: str, suffix: str) -> tuple[str, str, bool] | None:
    """The whole and fraction digits of a typed non-negative number, and whether a minus sign came with it."""
    number = text.strip()
    negative = number.startswith("-")
    number = number.removeprefix("-").strip().removeprefix(prefix).removesuffix(suffix).strip()
    if number.startswith("-"):  # "$-5"
        negative, number = True, number[1:]
    match = _TYPED_NUMBER.fullmatch(number)
    if match is None or not (match["whole"] or match["fraction"]):
        return None
    return (match["whole"] or "0").replace(",", ""), match["fraction"] or "", negative


def parse_amount(text: str, currency: str = "USD", *, field: str | None = None) -> int:
    """An amount a person typed ("1,234.56", "$4", "4") as integer minor units, parsed exactly from its digits.

    RuleError (naming `field`) for anything else: empty, negative, more decimals than the currency has, or text
    that is not an amount (European "1.234,56" included: it would silently mean something else)."""
    precision = get_currency_precision(currency)
    example = format_amount(123456 if precision else 1234, currency)
    if not text.strip():
        raise RuleError("Enter an amount.", field)
    parsed = _typed_number(text, get_currency_symbol(currency, locale=DEFAULT_LOCALE), "")
    if parsed is None:
        raise RuleError(f"Enter an amount in {currency} such as {example}.", field)
    whole, fraction, negative = parsed
    if negative:
        raise RuleError("The amount cannot be negative.", field)
    if len(fraction) > precision:
        raise RuleError(f"Use at most {precision} decimal places." if precision
                        else f"{currency} amounts have no decimals.", field)
    if len(whole) > _MAX_WHOLE_DIGITS:
        raise RuleError("That amount is too large.", field)
    return int(whole) * 10**precision + int(fraction.ljust(precision, "0") or "0")


def format_amount(minor: int, currency: str = "USD") -> str:
    """Minor units as a person types them ("1,234.56"): what a form shows, and what parse_amount reads back."""
    precision = get_currency_precision(currency)
    whole, fraction = divmod(abs(minor), 10**precision)
    text = f"{whole:,}.{fraction:0{precision}d}" if precision else f"{whole:,}"
    return f"-{text}" if minor < 0 else text


def parse_percent_bp(text: str, *, field: str | None = None) -> int:
    """A percentage from 0 to 100 with up to 2 decimals ("20", "12.5 %") as basis points (2000, 1250)."""
    if not text.strip():
        raise RuleError("Enter a percentage.", field)
    parsed = _typed_number(text, "", "%")
    if parsed is None:
        raise RuleError("Enter a percentage such as 20 or 12.5.", field)
    whole, fraction, negative = parsed
    if negative:
        raise RuleError("The percentage cannot be negative.", field)
    if len(fraction) > 2:
        raise RuleError("Use at most 2 decimal places.", field)
    if len(whole) > 3 or int(whole) * 100 + int(fraction.ljust(2, "0")) > 10_000:
        raise RuleError("A percentage is at most 100.", field)
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def format_percent_bp(bp: int) -> str:
    """Basis points as the percentage a person types (2000 -> "20", 1250 -> "12.5", 1205 -> "12.05")."""
    whole, fraction = divmod(bp, 100)
    return f"{whole}.{fraction:02d}".rstrip("0") if fraction else str(whole)


def init_app(app) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.globals["money_of"] = Money
