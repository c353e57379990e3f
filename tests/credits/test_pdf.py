"""A credit note's PDF, rendered as the outbox renders an emailed invoice's: titled "Credit note", naming the
invoice it corrects and the reason, where its credit went; an invoice's PDF prints the credit it consumed."""

from __future__ import annotations

import io

import pytest

from portal.billing.documents import stored_invoice_pdf
from portal.extensions import db
from portal.storage import stored_file
from tests.credits.helpers import credit, paid_wire_order, wire_order

pytest.importorskip("weasyprint", reason="WeasyPrint renders the PDF: pip install -e '.[dev]'")


def _pdf(invoice) -> tuple[str, str]:
    import facturx
    from pypdf import PdfReader

    path = stored_file(stored_invoice_pdf(invoice.number))
    db.session.commit()
    pdf = path.read_bytes()
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    return text, xml.decode()


def test_a_credit_notes_pdf_says_what_it_corrects_and_that_its_credit_is_available(billing):
    invoice = paid_wire_order(billing)
    note = credit(invoice, 12_000, "Two agents billed twice")

    text, xml = _pdf(note)

    assert f"Credit note {note.number}" in text and f"corrects invoice {invoice.number} of" in text
    assert "Reason: Two agents billed twice" in text
    assert "Credit of $120.00 available for your next invoices" in text
    assert "<ram:TypeCode>381</ram:TypeCode>" in xml


def test_a_credit_note_applied_to_the_invoice_it_corrects_says_so(billing):
    invoice = wire_order(billing)
    note = credit(invoice, 12_000)

    text, _ = _pdf(note)

    assert f"$120.00 applied to {invoice.number}" in text and "available for your next" not in text


def test_an_invoice_prints_the_credit_it_consumed_and_what_is_left_due(billing):
    note = credit(paid_wire_order(billing), 12_000)
    invoice = wire_order(billing)

    text, xml = _pdf(invoice)

    assert f"Credit applied ({note.number}) −$120.00" in text
    assert "<ram:TotalPrepaidAmount>120.00</ram:TotalPrepaidAmount>" in xml
