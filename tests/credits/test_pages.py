"""The credit note on the Invoices pages (its readers see it like an invoice, never as owed) and on staff's pages:
issued through the form as the page renders it, without JavaScript; bad input is shown beside the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.billing.models import Invoice, InvoiceSeries, InvoiceStatus
from portal.extensions import db
from tests.credits.helpers import credit, paid_wire_order, wire_order


def _form(client, page_url: str, action: str) -> dict:
    """The fields the page's form posting to `action` sends as rendered: its CSRF token and prefilled values."""
    form, _ = client.page(page_url).find(action=action)
    return dict(form.successful())


@pytest.fixture
def fabrikam_owes(app, demo):
    with app.app_context():
        invoice = wire_order(demo)
        return invoice.number, invoice.total_minor


def _issued(app) -> list[Invoice]:
    with app.app_context():
        return list(db.session.scalars(select(Invoice).where(Invoice.series == InvoiceSeries.CREDIT)))


def test_staff_issue_a_credit_note_through_the_form_the_page_renders(app, login, fabrikam_owes):
    number, total = fabrikam_owes
    ops = login("ops")
    found = ops.get(f"/admin/credit-notes?invoice={number.lower()}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/admin/invoices/{number}/credit-note")
    action = f"/admin/invoices/{number}/credit-note"
    fields = _form(ops, action, action)
    assert fields["currency"] == "USD" and "csrf_token" in fields

    response = ops.submit(action, {"amount": "150.00", "reason": "Two seats billed twice"}, action=action)

    assert response.status_code == 302
    [note] = _issued(app)
    assert note.total_minor == 15_000 and note.number == "CRN-000001"
    listing = ops.get("/admin/credit-notes").get_data(as_text=True)
    assert "CRN-000001" in listing and number in listing


@pytest.mark.parametrize(("amount", "currency", "reason", "message"), [
    ("", "USD", "A reason", "Enter the amount to credit."),
    ("0", "USD", "A reason", "Enter an amount above zero."),
    ("-5", "USD", "A reason", "The amount cannot be negative."),
    ("99999999", "USD", "A reason", "can still be credited"),
    ("10", "EUR", "A reason", "currency of the invoice it corrects"),
    ("10", "USD", "", "Give the reason"),
])
def test_bad_input_is_shown_beside_the_field_and_issues_nothing(app, login, fabrikam_owes, amount, currency, reason,
                                                                message):
    number, _ = fabrikam_owes
    ops = login("ops")
    action = f"/admin/invoices/{number}/credit-note"
    response = ops.submit(action, {"amount": amount, "currency": currency, "reason": reason}, action=action)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _issued(app) == []


def test_looking_up_an_unknown_invoice_or_a_credit_note_says_so_beside_the_field(app, login, demo):
    with app.app_context():
        note = credit(paid_wire_order(demo), 1_000).number
    ops = login("ops")

    unknown = ops.get("/admin/credit-notes?invoice=INV-999999")
    assert unknown.status_code == 422 and "No invoice has the number INV-999999" in unknown.get_data(as_text=True)
    again = ops.get(f"/admin/credit-notes?invoice={note}")
    assert again.status_code == 422 and "cannot be credited" in again.get_data(as_text=True)
    assert ops.get("/admin/invoices/INV-999999/credit-note").status_code == 404


def test_no_one_but_staff_issues_a_credit_note(app, login, fabrikam_owes):
    number, _ = fabrikam_owes
    dave = login("dave")  # Fabrikam's own manager

    assert dave.get(f"/admin/invoices/{number}/credit-note").status_code == 404
    assert dave.post(f"/admin/invoices/{number}/credit-note",  # no page offers it to him: forged
                     data={"amount": "10", "currency": "USD", "reason": "Please",
                           "csrf_token": dave.csrf_token()}).status_code == 404
    assert dave.get("/admin/credit-notes").status_code in (403, 404)
    assert _issued(app) == []


def test_the_organizations_readers_see_the_credit_note_never_as_owed(app, login, demo):
    with app.app_context():
        invoice = paid_wire_order(demo)
        note = credit(invoice, 5_000)
        number, corrected = note.number, invoice.number
    dave = login("dave")

    page = dave.get("/invoices").get_data(as_text=True)
    unpaid, everything = page.split('id="all-heading"')
    assert number not in unpaid
    assert number in everything and f"Corrects <a href=\"/invoices/{corrected}\">{corrected}</a>" in everything
    assert "Credit available" in everything
    filtered = dave.get("/invoices?status=credit_notes").get_data(as_text=True).split('id="all-heading"')[1]
    assert number in filtered and f'<a href="/invoices/{corrected}">{corrected}</a></th>' not in filtered
    detail = dave.get(f"/invoices/{number}").get_data(as_text=True)
    assert "Credit note " + number in detail and "Available for your next invoices" in detail
    assert "Pay invoice" not in detail
    csv = dave.get("/invoices.csv").get_data(as_text=True)
    row = next(line for line in csv.splitlines() if line.startswith(number))
    assert ",Credit note," in row and "Credit available" in row and f"Corrects {corrected}" in row
    assert login("carol").get(f"/invoices/{number}").status_code == 404  # a sub-chain's viewer sees no invoices


def test_an_invoice_partly_paid_by_credit_shows_and_charges_what_is_left(app, login, demo):
    with app.app_context():
        invoice = wire_order(demo)
        credit(invoice, 20_000)
        number, due = invoice.number, invoice.amount_due_minor
    dave = login("dave")

    listing = dave.get("/invoices").get_data(as_text=True)
    assert "Credit applied: $200.00" in listing
    detail = dave.get(f"/invoices/{number}").get_data(as_text=True)
    assert "Credit applied (<a href=\"/invoices/CRN-000001\">CRN-000001</a>)" in detail
    pay = dave.get(f"/invoices/{number}/pay").get_data(as_text=True)
    assert f"${due / 100:,.2f}" in pay
    with app.app_context():
        assert db.session.scalars(select(Invoice).where(Invoice.number == number)).one().status \
            is InvoiceStatus.UNPAID


def test_a_credit_note_is_emailed_from_its_page_like_an_invoice(app, login, demo):
    from portal.outbox.models import OutboxMessage

    with app.app_context():
        number = credit(paid_wire_order(demo), 5_000).number
    dave = login("dave")
    action = f"/invoices/{number}/email"
    response = dave.submit(f"/invoices/{number}", {"to": "books@fabrikam.example.com"}, action=action)

    assert response.status_code == 302
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invoice")).one()
    assert message.subject.startswith(f"Credit note {number}") and "Credit left for your next invoices: $50.00" \
        in message.body_text
    assert dave.get(f"/invoices/{number}.pdf").status_code == 200
