"""Invoices through the API, as a partner's accounting system uses them: list newest first a page at a time
(stable while invoices are issued), filter by status and issue date, read one with its lines and amount due, fetch
its PDF, and pay it with a saved card off session through the same service as the invoice's Pay page."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.extensions import db
from portal.receipts.models import Receipt
from tests.factories import make_invoice, make_payment_method, processor_card

APPROVED, DECLINED, NEEDS_3DS = "4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0027 6000 3184"


def _org(app, name: str = "Northwind IT") -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


@pytest.fixture
def invoices(app, demo):
    """Seven Northwind invoices issued on successive days of March 2026 (two paid), and one of Litware."""
    with app.app_context():
        northwind = _org(app)
        numbers = [make_invoice(northwind, issued_on=date(2026, 3, day),
                                status=InvoiceStatus.PAID if day in (2, 5) else None).number
                   for day in range(1, 8)]
        litware = make_invoice(_org(app, "Litware Solutions")).number
        db.session.commit()
        return {"northwind": numbers, "litware": litware}


def _saved_card(app, number: str = APPROVED, org: str = "Northwind IT") -> int:
    """A card saved at the processor for the chain (its default)."""
    with app.app_context():
        token = processor_card(number)  # the processor writes on its own connection: before our flush
        card = make_payment_method(_org(app, org))
        card.gateway_token = token
        card.is_default = True
        db.session.commit()
        return card.id


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["number"] for item in response.get_json()["data"]]


def test_invoices_are_listed_newest_first_a_page_at_a_time_and_stay_stable_when_one_is_issued(app, api, invoices):
    client = api("alice", scopes=[Scope.INVOICES_READ])
    first = client.get("/api/v1/invoices?limit=3")
    assert _numbers(first) == invoices["northwind"][::-1][:3]
    assert first.get_json()["has_more"] is True
    with app.app_context():  # a new invoice, issued between two pages, does not shift them
        make_invoice(_org(app), issued_on=date(2026, 3, 8))
        db.session.commit()
    seen, cursor = _numbers(first), first.get_json()["next_cursor"]
    while cursor:
        page = client.get("/api/v1/invoices", query_string={"limit": 3, "cursor": cursor})
        seen += _numbers(page)
        cursor = page.get_json()["next_cursor"]
    assert seen == invoices["northwind"][::-1]
    assert invoices["litware"] not in seen


def test_invoices_are_filtered_by_status_and_issue_date(api, invoices):
    client = api("alice")
    paid = _numbers(client.get("/api/v1/invoices?status=paid"))
    assert paid == [invoices["northwind"][4], invoices["northwind"][1]]
    window = _numbers(client.get("/api/v1/invoices?issued_after=2026-03-03&issued_before=2026-03-04"))
    assert window == [invoices["northwind"][3], invoices["northwind"][2]]


@pytest.mark.parametrize("query, field", [("status=lost", "status"), ("issued_after=yesterday", "issued_after"),
                                          ("limit=0", "limit"), ("limit=99999999999999999999", "limit"),
                                          ("cursor=forged", "cursor")])
def test_a_bad_filter_is_a_problem_naming_the_field(api, invoices, query, field):
    response = api("alice").get(f"/api/v1/invoices?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["field"] == field


def test_one_invoice_has_its_lines_totals_amount_due_and_an_etag(api, invoices):
    client = api("alice", scopes=[Scope.INVOICES_READ])
    number = invoices["northwind"][0]
    response = client.get(f"/api/v1/invoices/{number}")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["object"], body["number"], body["status"], body["type"]) == ("invoice", number, "unpaid", "order")
    assert body["total"] == {"amount_minor": 12_000, "currency": "USD"}
    assert body["amount_due"] == {"amount_minor": 12_000, "currency": "USD"}
    assert body["lines"][0]["description"].startswith("MailSuite")
    assert body["payment"] is None
    assert client.get(f"/api/v1/invoices/{number}",
                      headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_the_pdf_is_the_stored_file_the_page_downloads(app, api, login, invoices):
    number = invoices["northwind"][0]
    response = api("alice", scopes=[Scope.INVOICES_READ]).get(f"/api/v1/invoices/{number}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert login("alice").get(f"/invoices/{number}.pdf").data == response.data


def test_another_tenants_invoice_is_a_404_its_pdf_and_payment_included(app, api, invoices):
    client = api("frank", "Litware Solutions")
    number = invoices["northwind"][0]
    for response in (client.get(f"/api/v1/invoices/{number}"), client.get(f"/api/v1/invoices/{number}/pdf"),
                     client.post(f"/api/v1/invoices/{number}/payments", json={})):
        assert response.status_code == 404
        assert response.get_json()["type"].endswith("#not-found")
    assert api("alice").get("/api/v1/invoices/INV-\u00e9\u00e9").status_code == 404


def test_a_key_without_the_scope_is_refused(api, invoices):
    response = api("alice", scopes=[Scope.LICENSES_READ]).get("/api/v1/invoices")
    assert response.status_code == 403
    assert response.get_json()["type"].endswith("#insufficient-scope")


def test_an_invoice_is_paid_with_the_saved_card_and_gets_its_receipt(app, api, login, invoices):
    card_id = _saved_card(app)
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id},
                                 headers={"Idempotency-Key": "pay-1"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "paid" and body["amount_due"]["amount_minor"] == 0
    assert body["payment"]["method"] == "card" and body["payment"]["receipt_number"]
    assert response.headers["Location"].endswith(f"/api/v1/invoices/{number}")
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
        assert invoice.status is InvoiceStatus.PAID
        assert db.session.scalar(select(Receipt.number).where(Receipt.number == body["payment"]["receipt_number"]))
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.paid",
                                                            AuditEntry.object_id == str(invoice.id))).one()
        assert entry.api_key_id is not None  # the audit log names the key
    assert "Paid" in login("alice").get(f"/invoices/{number}").get_data(as_text=True)  # the page shows it


def test_a_payment_replayed_with_its_idempotency_key_charges_once(app, api, invoices):
    card_id = _saved_card(app)
    client = api("alice")
    number = invoices["northwind"][0]
    first = client.post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id},
                        headers={"Idempotency-Key": "pay-once"})
    again = client.post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id},
                        headers={"Idempotency-Key": "pay-once"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    with app.app_context():
        paid = db.session.scalar(select(Invoice.id).where(Invoice.number == number))
        assert len(db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == paid)).all()) == 1
    # paying again without the key is refused: it is paid already
    refused = client.post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id})
    assert refused.status_code == 422 and "already paid" in refused.get_json()["detail"]


def test_a_declined_card_is_a_402_and_nothing_is_kept(app, api, invoices):
    card_id = _saved_card(app, DECLINED)
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id})
    assert response.status_code == 402
    assert response.get_json()["type"].endswith("#payment-failed")
    assert response.get_json()["field"] == "payment_method_id"
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
        assert invoice.status is InvoiceStatus.UNPAID
        assert db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == invoice.id)).first() \
            is None


def test_a_card_needing_3d_secure_is_a_402_saying_to_pay_in_the_portal(app, api, invoices):
    card_id = _saved_card(app, NEEDS_3DS)
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id})
    assert response.status_code == 402
    body = response.get_json()
    assert "in the portal" in body["detail"] and body["pay_url"].endswith(f"/invoices/{number}/pay")
    with app.app_context():
        assert db.session.scalars(select(Invoice.status).where(Invoice.number == number)).one() \
            is InvoiceStatus.UNPAID


def test_a_master_user_key_reads_invoices_but_cannot_pay_them(app, api, invoices):
    card_id = _saved_card(app)
    client = api("bob", scopes=[Scope.INVOICES_READ])
    number = invoices["northwind"][0]
    assert client.get(f"/api/v1/invoices/{number}").status_code == 200
    response = client.post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id})
    assert response.status_code == 403 and response.get_json()["type"].endswith("#forbidden")


@pytest.mark.parametrize("body, field", [({"payment_method_id": "1"}, "payment_method_id"),
                                         ({"payment_method_id": 10**30}, "payment_method_id"),
                                         ({"card": 1}, "card")])
def test_a_bad_payment_request_names_the_field_and_charges_nothing(app, api, invoices, body, field):
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json=body)
    assert response.status_code == 422
    assert response.get_json()["field"] == field


def test_another_tenants_card_cannot_pay(app, api, invoices):
    litware_card = _saved_card(app, org="Litware Solutions")
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": litware_card})
    assert response.status_code == 422 and response.get_json()["field"] == "payment_method_id"


def test_a_stale_if_match_is_a_412_and_nothing_is_charged(app, api, invoices):
    card_id = _saved_card(app)
    number = invoices["northwind"][0]
    response = api("alice").post(f"/api/v1/invoices/{number}/payments", json={"payment_method_id": card_id},
                                 headers={"If-Match": '"stale"'})
    assert response.status_code == 412
    with app.app_context():
        assert db.session.scalars(select(Invoice.status).where(Invoice.number == number)).one() \
            is InvoiceStatus.UNPAID
