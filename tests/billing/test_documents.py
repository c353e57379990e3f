"""Invoice documents (issue 5 items 5 and 6, portal side): every kind of invoice becomes a document whose
Factur-X XML passes the XSD and carries each line's tax category; its PDF is rendered once, stored under the
instance folder and served from there; emailing it sends that PDF through the outbox."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from flask import current_app
from pypdf import PdfReader
from sqlalchemy import select

from invoices.facturx import check_xsd, cii_xml
from portal.accounts.models import Organization
from portal.billing import documents
from portal.billing.documents import email_invoice, invoice_document, store_pdf
from portal.billing.models import Invoice, InvoiceStatus, PaymentMethodKind
from portal.billing.services import Period, summarize_month
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.models import PaymentKind
from portal.outbox.models import OutboxMessage
from portal.outbox.worker import deliver
from portal.receipts.paying import announce_transfer
from portal.seller.taxes import STANDARD, set_tax_rate
from tests.billing.conftest import buy, card
from tests.factories import actor, make_invoice


def _reload(invoice: Invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def _every_kind(billing) -> dict[str, Invoice]:
    """An invoice of each kind the portal issues, with each tax category it uses."""
    set_tax_rate("US", "CO", "Colorado sales tax", 290, STANDARD, actor())
    db.session.commit()
    kinds = {
        "paid by card, taxed (S)": buy(billing, "Fabrikam Stores", card(), slug="webstats", edition="Standard",
                                       quantity=5),
        "wire, unpaid, taxed (S)": buy(billing, "Fabrikam Stores", PaymentKind.WIRE, slug="livedesk",
                                       edition="Enterprise", quantity=5),
        "to be summarized, exempt (E)": buy(billing, "Northwind IT", slug="mailsuite", quantity=25),
        "zero rated (Z)": make_invoice(db.session.get(Organization, billing.orgs["Litware Solutions"])),
    }
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    part = kinds["to be summarized, exempt (E)"]
    kinds["summary (E)"] = summarize_month(northwind, Period.of(part.issued_on), part.issued_on)
    db.session.commit()
    return {name: _reload(invoice) for name, invoice in kinds.items()}


def test_every_kind_of_invoice_gives_factur_x_xml_that_passes_the_xsd(billing):
    for name, invoice in _every_kind(billing).items():
        doc = invoice_document(invoice)
        xml = cii_xml(doc)
        check_xsd(xml)  # raises if invalid
        categories = {line.tax_category for line in invoice.lines}
        for category in categories:
            assert f"<ram:CategoryCode>{category}</ram:CategoryCode>".encode() in xml, name


def test_the_document_is_the_invoice_as_issued(billing):
    kinds = _every_kind(billing)
    paid = invoice_document(kinds["paid by card, taxed (S)"])
    assert (paid.kind, paid.paid_minor, paid.totals.due_minor) == ("order", paid.totals.total_minor, 0)
    assert paid.buyer.name == "Fabrikam Stores LLC" and paid.buyer.region == "CO"
    assert [(line.tax_category, line.tax_rate_bp) for line in paid.lines] == [("S", 290)]
    wire = invoice_document(kinds["wire, unpaid, taxed (S)"])
    assert wire.payment_means.code == "30" and wire.due_date == kinds["wire, unpaid, taxed (S)"].due_on
    summary = kinds["summary (E)"]
    doc = invoice_document(summary)
    part = kinds["to be summarized, exempt (E)"]
    assert (doc.kind, doc.included_invoices, doc.totals.total_minor) == ("summary", (part.number,),
                                                                         summary.total_minor)
    assert doc.period_start == Period.of(part.issued_on).first_day
    assert "resale" in doc.exemption_reason
    waiting = invoice_document(part)
    assert waiting.note.startswith("This invoice will be summarized") and waiting.paid_minor == 0


def test_the_pdf_is_rendered_once_and_stored_under_the_instance_folder(billing, monkeypatch):
    invoice = make_invoice(db.session.get(Organization, billing.orgs["Litware Solutions"]))
    db.session.commit()
    renders = []
    real = documents._render
    monkeypatch.setattr(documents, "_render", lambda doc: renders.append(doc.number) or real(doc))

    path = store_pdf(invoice)
    db.session.commit()
    again = store_pdf(_reload(invoice))

    assert renders == [invoice.number] and again == path
    assert path.is_relative_to(Path(current_app.instance_path) / "invoices")
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and "factur-x.xml" in PdfReader(io.BytesIO(data)).attachments
    import hashlib

    stored = _reload(invoice)
    assert stored.pdf_sha256 == hashlib.sha256(data).hexdigest()
    assert stored.pdf_path == f"invoices/{invoice.issued_on:%Y}/{invoice.number}-{stored.pdf_sha256[:12]}.pdf"


def test_a_later_payment_does_not_change_the_document_as_issued(billing):
    org = db.session.get(Organization, billing.orgs["Fabrikam Stores"])
    invoice = make_invoice(org, total_minor=150_000, issued_on=date(2026, 10, 2))
    announce_transfer(invoice, PaymentMethodKind.WIRE, org, actor())
    invoice.status = InvoiceStatus.PAID
    assert invoice_document(invoice).paid_minor == 0  # paid after issue: the invoice still shows it due


def test_emailing_an_invoice_sends_its_stored_pdf(billing, mailbox):
    invoice = make_invoice(db.session.get(Organization, billing.orgs["Litware Solutions"]))
    db.session.commit()
    message = email_invoice(invoice, "Accounts@Customer.example.com", actor())
    db.session.commit()
    assert message.attachments == [{"path": _reload(invoice).pdf_path, "filename": f"{invoice.number}.pdf",
                                    "content_type": "application/pdf"}]
    assert deliver() == (1, 0)
    [mail] = mailbox.to("Accounts@customer.example.com")
    assert mail["Subject"] == f"Invoice {invoice.number} from Vendor Software, Inc."
    [attachment] = list(mail.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", f"{invoice.number}.pdf")
    pdf = attachment.get_content()
    assert pdf == (Path(current_app.instance_path) / _reload(invoice).pdf_path).read_bytes()
    assert "factur-x.xml" in PdfReader(io.BytesIO(pdf)).attachments


def test_an_address_that_is_not_one_is_refused_beside_the_field(billing):
    invoice = make_invoice(db.session.get(Organization, billing.orgs["Litware Solutions"]))
    with pytest.raises(RuleError) as refused:
        email_invoice(invoice, "not an address", actor())
    assert refused.value.field == "to"
    assert db.session.scalars(select(OutboxMessage)).first() is None


def test_a_missing_attachment_is_retried_not_lost(billing):
    """The worker reads the stored file when it delivers; if it is gone the attempt fails and is retried."""
    invoice = make_invoice(db.session.get(Organization, billing.orgs["Litware Solutions"]))
    email_invoice(invoice, "ap@litware.example.com", actor())
    db.session.commit()
    (Path(current_app.instance_path) / _reload(invoice).pdf_path).unlink()
    assert deliver() == (0, 1)
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.status.value == "pending" and "FileNotFoundError" in message.last_error
