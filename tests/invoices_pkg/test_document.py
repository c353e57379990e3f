"""An invoice document refuses what EN 16931 would refuse, before any XML or PDF is made of it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from invoices.document import DocumentLine, InvoiceDocument, Party, PaymentMeans
from tests.invoices_pkg.documents import ISSUED, buyer, line, order_to_be_summarized, seller, summary_of


def test_the_package_imports_neither_flask_nor_the_portal():
    code = ("import sys, invoices, invoices.document, invoices.facturx, invoices.pdf, invoices.summary; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'portal')); "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"imported: {result.stdout}{result.stderr}"


def test_standard_rate_needs_a_rate():
    with pytest.raises(ValueError, match="BR-S-05"):
        DocumentLine(1, "Editor", 1, 100, 100, "S", 0, 0)


@pytest.mark.parametrize("category", ["Z", "E", "AE", "O"])
def test_zero_rated_exempt_and_reverse_charge_lines_carry_no_tax(category):
    with pytest.raises(ValueError, match="0 %"):
        DocumentLine(1, "Editor", 1, 100, 100, category, 825, 8)


def test_an_unknown_tax_category_is_refused():
    with pytest.raises(ValueError, match="tax category"):
        DocumentLine(1, "Editor", 1, 100, 100, "X", 0, 0)  # type: ignore[arg-type]


def test_exempt_lines_need_the_exemption_reason():
    with pytest.raises(ValueError, match="BR-E-10"):
        InvoiceDocument("order", "INV-1", ISSUED, "USD", seller(), buyer(), (line(1, category="E"),))


def test_reverse_charge_needs_the_buyers_tax_identifier():
    with pytest.raises(ValueError, match="BR-AE-02"):
        InvoiceDocument("order", "INV-1", ISSUED, "USD", seller(), buyer(), (line(1, category="AE"),),
                        exemption_reason="Reverse charge")


def test_not_subject_to_tax_never_shares_an_invoice_with_taxed_lines():
    with pytest.raises(ValueError, match="BR-O-11"):
        InvoiceDocument("order", "INV-1", ISSUED, "USD", seller(), buyer(), (line(1), line(2, category="O")),
                        exemption_reason="Not subject to tax")


def test_the_seller_is_identifiable():
    anonymous = replace(seller(), legal_id=None, tax_id=None)
    with pytest.raises(ValueError, match="BR-CO-26"):
        InvoiceDocument("order", "INV-1", ISSUED, "USD", anonymous, buyer(), (line(1),))


def test_an_amount_due_says_when_or_on_which_terms():
    with pytest.raises(ValueError, match="BR-CO-25"):
        replace(order_to_be_summarized(), payment_terms="")
    replace(order_to_be_summarized(), payment_terms="", due_date=ISSUED)  # a due date is enough


def test_nothing_is_paid_beyond_the_total():
    doc = order_to_be_summarized()
    with pytest.raises(ValueError, match="paid"):
        replace(doc, paid_minor=doc.totals.total_minor + 1)


def test_a_summary_lists_what_it_includes_and_an_order_invoice_includes_nothing():
    summary = summary_of()
    with pytest.raises(ValueError, match="does not include"):  # its lines name order invoices it must list
        replace(summary, included_invoices=())
    with pytest.raises(ValueError, match="does not include"):
        replace(summary, included_invoices=summary.included_invoices[1:])
    with pytest.raises(ValueError, match="only a summary"):
        replace(order_to_be_summarized(), included_invoices=("INV-000001",))
    # a month of a reseller's fees alone: lines of its own, no order invoice included
    fees_only = replace(summary, included_invoices=(), lines=tuple(
        replace(line, order_invoice_number=None) for line in summary.lines))
    assert fees_only.totals.total_minor == summary.totals.total_minor


def test_dates_run_forward():
    with pytest.raises(ValueError, match="due date"):
        replace(order_to_be_summarized(), due_date=ISSUED - timedelta(days=1))
    with pytest.raises(ValueError, match="period"):
        replace(summary_of(), period_end=summary_of().period_start - timedelta(days=1))


def test_a_credit_transfer_names_the_account_to_pay_into():
    with pytest.raises(ValueError, match="BR-61"):
        PaymentMeans("30", "Wire transfer")


def test_a_party_has_a_name_and_a_country_code():
    with pytest.raises(ValueError, match="name"):
        Party(" ")
    with pytest.raises(ValueError, match="ISO 3166"):
        Party("Northwind", country_code="USA")


def test_lines_may_come_as_a_list_and_are_kept_as_a_tuple():
    doc = InvoiceDocument("order", "INV-1", ISSUED, "USD", seller(), buyer(), [line(1), line(2)],  # type: ignore
                          payment_terms="Net 30.")
    assert isinstance(doc.lines, tuple)
    assert hash(doc) == hash(replace(doc))
