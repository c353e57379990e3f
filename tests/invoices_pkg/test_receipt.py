"""A receipt as the invoices package prints it: what was received, how, and for which invoices."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from invoices.document import Party
from invoices.receipt import PaidInvoice, ReceiptDocument, render_pdf

SELLER = Party(name="Vendor Software, Inc.", address_lines=("500 Market Street",), city="San Francisco",
               region="CA", postal_code="94105", tax_id="94-1234567", tax_id_scheme="FC")
PAYER = Party(name="Litware Solutions LLC", address_lines=("9 Commerce Park",), city="Austin", region="TX",
              email="finance@litware.example.com")


def _receipt(**changes) -> ReceiptDocument:
    fields = dict(number="RCP-000042", received_on=date(2026, 11, 3), currency="USD", amount_minor=157_000,
                  method="Wire transfer, reference FED-20261103-7", seller=SELLER, payer=PAYER,
                  invoices=(PaidInvoice("INV-000101", date(2026, 10, 2), 57_000),
                            PaidInvoice("INV-000117", date(2026, 10, 20), 100_000)))
    return ReceiptDocument(**{**fields, **changes})


def test_the_pdf_says_who_paid_whom_how_much_by_what_and_for_which_invoices():
    pdf = PdfReader(io.BytesIO(render_pdf(_receipt())))
    text = " ".join(pdf.pages[0].extract_text().split())
    assert "Receipt" in text and "RCP-000042" in text and "November 3, 2026" in text
    assert "Payment of $1,570.00 (USD) received on November 3, 2026 by Wire transfer, reference FED-20261103-7" \
        in text
    assert "INV-000101 October 2, 2026 $570.00" in text and "INV-000117 October 20, 2026 $1,000.00" in text
    assert "Vendor Software, Inc." in text and "Litware Solutions LLC" in text
    assert "pdfaid" in str(pdf.xmp_metadata.rdf_root.toxml())  # archived like the invoices: PDF/A


@pytest.mark.parametrize("changes, message", [
    ({"amount_minor": 150_000}, "applied to invoices"),
    ({"invoices": ()}, "at least one invoice"),
    ({"currency": "usd"}, "ISO 4217"),
    ({"amount_minor": 0, "invoices": (PaidInvoice("INV-1", date(2026, 1, 1), 0),)}, "amount received"),
])
def test_a_receipt_that_does_not_add_up_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _receipt(**changes)
