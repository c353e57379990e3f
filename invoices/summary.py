"""The arithmetic of a monthly summary invoice: the sum of its order invoices, to the cent.

Nothing is recomputed: a summary takes each order invoice's amounts as they were issued (net and tax per line,
rounded per line when the order was priced) and adds them up, so the summary's total is exactly the sum of what
its parts said, and its tax breakdown per (category, rate) is the sum of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from invoices.document import TaxBreakdown, TaxCategory, check_tax, tax_breakdown


@dataclass(frozen=True)
class TaxedAmount:
    """A net amount and its tax in one category at one rate: an order invoice line, as issued."""

    tax_category: TaxCategory
    tax_rate_bp: int
    net_minor: int
    tax_minor: int

    def __post_init__(self) -> None:
        check_tax(self.tax_category, self.tax_rate_bp, self.tax_minor, "a summarized amount")


@dataclass(frozen=True)
class SummaryPart:
    """One order invoice going into a summary: its number, currency and taxed amounts."""

    number: str
    currency: str
    amounts: tuple[TaxedAmount, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "amounts", tuple(self.amounts))

    @property
    def net_minor(self) -> int:
        return sum(amount.net_minor for amount in self.amounts)

    @property
    def tax_minor(self) -> int:
        return sum(amount.tax_minor for amount in self.amounts)

    @property
    def total_minor(self) -> int:
        return self.net_minor + self.tax_minor


@dataclass(frozen=True)
class PartSubtotal:
    """What one order invoice contributes to a summary in one category and rate: a summary line's amounts."""

    invoice_number: str
    tax_category: TaxCategory
    tax_rate_bp: int
    net_minor: int
    tax_minor: int


@dataclass(frozen=True)
class SummaryTotals:
    """A summary's amounts: the sums of its parts, overall and per (category, rate), and per part."""

    currency: str
    invoice_numbers: tuple[str, ...]
    net_minor: int
    tax_minor: int
    breakdown: tuple[TaxBreakdown, ...]
    subtotals: tuple[PartSubtotal, ...]

    @property
    def total_minor(self) -> int:
        return self.net_minor + self.tax_minor


def summarize(order_invoices: Sequence[SummaryPart]) -> SummaryTotals:
    """Add up order invoices into the amounts of their summary invoice. They share one currency, each is included
    once, and there is at least one (a summary of nothing is not issued)."""
    if not order_invoices:
        raise ValueError("a summary includes at least one order invoice")
    currencies = {part.currency for part in order_invoices}
    if len(currencies) != 1:
        raise ValueError(f"a summary is in one currency, not {', '.join(sorted(currencies))}")
    numbers = tuple(part.number for part in order_invoices)
    if len(set(numbers)) != len(numbers):
        raise ValueError("an order invoice is summarized once")
    subtotals = tuple(PartSubtotal(part.number, group.category, group.rate_bp, group.basis_minor, group.tax_minor)
                      for part in order_invoices for group in tax_breakdown(part.amounts))
    breakdown = tax_breakdown(amount for part in order_invoices for amount in part.amounts)
    return SummaryTotals(currency=currencies.pop(), invoice_numbers=numbers,
                         net_minor=sum(group.basis_minor for group in breakdown),
                         tax_minor=sum(group.tax_minor for group in breakdown),
                         breakdown=breakdown, subtotals=subtotals)
