"""The credit note as the Flask-free document (invoices.document, invoices.facturx): what it must carry, checked
when built, and its XML valid against the Factur-X XSD."""

from __future__ import annotations

from datetime import date

import pytest

from invoices.document import CreditLine, DocumentLine, InvoiceDocument, Party
from invoices.facturx import check_xsd, cii_xml

SELLER = Party(name="Vendor Software, Inc.", tax_id="12-3456789", tax_id_scheme="FC", legal_id="94-1234567")
BUYER = Party(name="Fabrikam Stores")
LINE = DocumentLine(1, "Credit on invoice INV-000007: seats billed twice", 1, 10_000, 10_000, "S", 650, 650)


def note(**changes) -> InvoiceDocument:
    fields = {"kind": "credit_note", "number": "CRN-000001", "issue_date": date(2026, 12, 6), "currency": "USD",
              "seller": SELLER, "buyer": BUYER, "lines": (LINE,), "paid_minor": 10_650,
              "corrects_number": "INV-000007", "corrects_date": date(2026, 11, 2),
              "note": "This credit note corrects invoice INV-000007 of November 2, 2026. Reason: seats billed twice"}
    return InvoiceDocument(**{**fields, **changes})


def test_a_credit_note_is_type_381_names_the_invoice_it_corrects_and_has_nothing_due():
    xml = cii_xml(note(credits=(CreditLine("INV-000007", 4_000),)))
    check_xsd(xml)
    text = xml.decode()
    assert "<ram:TypeCode>381</ram:TypeCode>" in text
    assert ("<ram:InvoiceReferencedDocument><ram:IssuerAssignedID>INV-000007</ram:IssuerAssignedID>"
            '<ram:FormattedIssueDateTime><qdt:DateTimeString format="102">20261102</qdt:DateTimeString>') in text
    assert "<ram:GrandTotalAmount>106.50</ram:GrandTotalAmount>" in text
    assert "<ram:DuePayableAmount>0.00</ram:DuePayableAmount>" in text


@pytest.mark.parametrize(("changes", "words"), [
    ({"corrects_number": ""}, "names the invoice it corrects"),
    ({"corrects_date": None}, "names the invoice it corrects"),
    ({"corrects_date": date(2027, 1, 1)}, "issued before it"),
    ({"paid_minor": 0}, "nothing due"),
    ({"credits": (CreditLine("INV-000007", 20_000),)}, "at most its total"),
    ({"kind": "order"}, "names the invoice it corrects"),
])
def test_what_a_credit_note_must_carry_is_checked_when_built(changes, words):
    with pytest.raises(ValueError, match=words):
        note(**changes)


def test_an_invoices_credit_is_part_of_what_it_states_as_prepaid():
    line = DocumentLine(1, "LiveDesk Enterprise", 1, 100_000, 100_000, "S", 650, 6_500)
    fields = {"kind": "order", "number": "INV-000009", "issue_date": date(2026, 12, 6), "currency": "USD",
              "seller": SELLER, "buyer": BUYER, "lines": (line,), "due_date": date(2027, 1, 5)}

    doc = InvoiceDocument(**fields, paid_minor=4_000, credits=(CreditLine("CRN-000001", 4_000),))
    assert doc.totals.due_minor == 102_500
    check_xsd(cii_xml(doc))
    with pytest.raises(ValueError, match="BT-113"):
        InvoiceDocument(**fields, paid_minor=0, credits=(CreditLine("CRN-000001", 4_000),))
