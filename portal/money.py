"""Money: integer minor units with an ISO 4217 currency code; formatting through Babel as a Jinja filter."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

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
        return Decimal(self.minor).scaleb(-get_currency_precision(self.currency))


def format_money(value: Money, locale: str = DEFAULT_LOCALE) -> str:
    return format_currency(value.as_decimal(), value.currency, locale=locale)


def init_app(app) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.globals["money_of"] = Money
