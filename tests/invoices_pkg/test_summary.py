"""A monthly summary adds up to its order invoices to the cent, overall and per tax category and rate."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoices.document import DocumentLine, InvoiceDocument
from invoices.summary import SummaryPart, TaxedAmount, summarize
from tests.invoices_pkg.documents import ISSUED, buyer, seller, taxed

RATES = {"S": [500, 825, 1000], "Z": [0], "E": [0], "AE": [0]}


@st.composite
def taxed_amounts(draw) -> TaxedAmount:
    category = draw(st.sampled_from(sorted(RATES)))
    rate = draw(st.sampled_from(RATES[category]))
    net = draw(st.integers(0, 5_000_000))
    return TaxedAmount(category, rate, net, taxed(net, rate))


@st.composite
def parts(draw) -> list[SummaryPart]:
    count = draw(st.integers(1, 30))
    return [SummaryPart(f"INV-{i:06d}", "USD", tuple(draw(st.lists(taxed_amounts(), min_size=1, max_size=6))))
            for i in range(1, count + 1)]


@given(parts())
def test_a_summary_adds_up_to_its_parts(order_invoices):
    summary = summarize(order_invoices)
    assert summary.total_minor == sum(part.total_minor for part in order_invoices)
    assert summary.net_minor == sum(part.net_minor for part in order_invoices)
    assert summary.tax_minor == sum(part.tax_minor for part in order_invoices)
    assert summary.invoice_numbers == tuple(part.number for part in order_invoices)

    expected: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for part in order_invoices:
        for amount in part.amounts:
            expected[(amount.tax_category, amount.tax_rate_bp)][0] += amount.net_minor
            expected[(amount.tax_category, amount.tax_rate_bp)][1] += amount.tax_minor
    assert {(g.category, g.rate_bp): [g.basis_minor, g.tax_minor] for g in summary.breakdown} == expected

    for part in order_invoices:  # each part's subtotals are that part, grouped
        mine = [s for s in summary.subtotals if s.invoice_number == part.number]
        assert sum(s.net_minor + s.tax_minor for s in mine) == part.total_minor
        assert len({(s.tax_category, s.tax_rate_bp) for s in mine}) == len(mine)


@given(parts())
def test_a_summary_invoice_made_of_the_subtotals_has_the_summarys_totals(order_invoices):
    summary = summarize(order_invoices)
    lines = [DocumentLine(i, f"Order invoice {s.invoice_number}", 1, s.net_minor, s.net_minor, s.tax_category,
                          s.tax_rate_bp, s.tax_minor, order_invoice_number=s.invoice_number)
             for i, s in enumerate(summary.subtotals, start=1)]
    reseller = replace(buyer(), tax_id="DE123456789")  # reverse charge (AE) names the buyer's VAT identifier
    doc = InvoiceDocument("summary", "SUM-000001", ISSUED, "USD", seller(), reseller, lines,
                          included_invoices=summary.invoice_numbers, exemption_reason="Resale exemption.",
                          payment_terms="Net 30.")
    assert doc.totals.total_minor == summary.total_minor
    assert doc.breakdown == summary.breakdown


def test_a_summary_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_a_summary_is_in_one_currency():
    amounts = (TaxedAmount("S", 825, 1_000, 83),)
    with pytest.raises(ValueError, match="one currency"):
        summarize([SummaryPart("INV-1", "USD", amounts), SummaryPart("INV-2", "EUR", amounts)])


def test_an_order_invoice_is_summarized_once():
    amounts = (TaxedAmount("S", 825, 1_000, 83),)
    with pytest.raises(ValueError, match="once"):
        summarize([SummaryPart("INV-1", "USD", amounts), SummaryPart("INV-1", "USD", amounts)])
