"""Payments and receipts (issue 11 item 3): every payment, whichever way it arrives (a card at checkout, a card
paying an invoice, a wire, ACH or check staff record), is a receipt numbered RCP-… without gaps, emailed to the
payer with its PDF, and listed on the Payments page of the chain that paid, with the invoices it paid."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from portal.accounts.models import Organization, User
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus, PaymentMethodKind
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_money
from portal.outbox.worker import deliver
from portal.payments.gateway import gateway
from portal.receipts.models import Receipt
from portal.receipts.paying import pay_by_card, record_transfer
from tests.billing.conftest import buy, card
from tests.factories import actor, make_invoice, make_receipt
from tests.orders.test_views import _add

APPROVED_VISA = "4242 4242 4242 4242"


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def _money(minor: int) -> str:
    return format_money(Money(minor, "USD"))


def _receipt_mail(mailbox, to: str, number: str):
    [mail] = [m for m in mailbox.to(to) if number in m["Subject"]]
    [attachment] = list(mail.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", f"{number}.pdf")
    return mail.get_body(("plain",)).get_content(), attachment.get_content()


def _org(demo, name: str) -> Organization:
    return db.session.get(Organization, demo.orgs[name])


# ---------------------------------------------------------------- the three ways money arrives


def test_a_card_checkout_is_receipted_on_its_invoice_and_the_receipt_arrives_with_its_pdf(app, login, demo,
                                                                                          mailbox):
    """frank buys with a new card through the checkout page (typed on the processor's page, without JavaScript):
    the order invoice (issued paid) gets a receipt, emailed to Litware's invoice contact with the PDF that the
    receipt's page also serves."""
    frank = login("frank")
    assert _add(frank, app).status_code == 302
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": "0"})
    placed = frank.at_processor(sent, APPROVED_VISA, name="Frank")
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        number, total = invoice.number, invoice.total_minor
    assert total > 0

    body, pdf = _receipt_mail(mailbox, "finance@litware.example.com", "RCP-000001")
    assert f"we received {_money(total)} (USD)" in body and "by Visa ending 4242" in body
    assert f"Invoice {number} of" in body and "http://portal.test/payments/RCP-000001" in body
    text = _pdf_text(pdf)
    assert "Receipt" in text and "RCP-000001" in text and number in text
    assert f"Payment of {_money(total)} (USD) received on" in text and "by Visa ending 4242" in text
    assert "Litware Solutions LLC" in text

    page = frank.get("/payments/RCP-000001").get_data(as_text=True)
    assert "Receipt RCP-000001" in page and "Visa ending 4242" in page and _money(total) in page
    assert f'href="/invoices/{number}"' in page
    download = frank.get("/payments/RCP-000001.pdf")
    assert download.status_code == 200 and download.get_data() == pdf  # rendered once, when the email left
    invoice_page = frank.get(f"/invoices/{number}").get_data(as_text=True)
    assert 'href="/payments/RCP-000001">Receipt RCP-000001</a>' in invoice_page


def test_an_order_with_nothing_to_pay_makes_no_receipt(app, demo):
    with app.app_context():
        invoice = buy(demo, "Litware Solutions", card(), edition="Free")
        assert invoice.total_minor == 0
        assert db.session.scalar(select(func.count()).select_from(Receipt)) == 0


def test_paying_an_invoice_by_card_and_recording_a_wire_each_make_the_next_receipt(app, demo, mailbox):
    """The numbers run on without gaps across the ways money arrives; each receipt names its method, amount and
    invoice, and goes to that invoice's contact."""
    with app.app_context():
        litware, fabrikam = _org(demo, "Litware Solutions"), _org(demo, "Fabrikam Stores")
        bought = buy(demo, "Litware Solutions", card())  # RCP-000001
        by_card = make_invoice(litware, total_minor=45_000)
        by_wire = make_invoice(fabrikam, total_minor=124_500)
        declined = make_invoice(litware, total_minor=10_000)
        db.session.commit()
        frank = db.session.get(User, demo.users["frank"])
        staff = db.session.get(User, demo.users["ops"])

        pay_by_card(by_card, card(APPROVED_VISA).card, gateway(), actor(frank))
        with pytest.raises(RuleError, match="declined"):
            pay_by_card(declined, card("4000 0000 0000 0002").card, gateway(), actor(frank))
        db.session.rollback()  # declined: no payment, no receipt, no number used
        record_transfer(by_wire, PaymentMethodKind.WIRE, 124_500, "FED-20261102-1", actor(staff))
        db.session.commit()
        receipts = {r.number: r for r in db.session.scalars(select(Receipt).order_by(Receipt.sequence))}
        assert list(receipts) == ["RCP-000001", "RCP-000002", "RCP-000003"]
        assert [(r.organization_id, r.amount_minor, r.method_label) for r in receipts.values()] == [
            (litware.id, bought.total_minor, "Visa ending 4242"), (litware.id, 45_000, "Visa ending 4242"),
            (fabrikam.id, 124_500, "Wire transfer, reference FED-20261102-1")]
        assert receipts["RCP-000003"].recorded_by_id == staff.id
        by_card_number, by_wire_number = by_card.number, by_wire.number
        assert db.session.get(Invoice, declined.id).status is InvoiceStatus.UNPAID
        assert deliver()[1] == 0

    _, pdf = _receipt_mail(mailbox, "finance@litware.example.com", "RCP-000002")
    text = _pdf_text(pdf)
    assert "RCP-000002" in text and by_card_number in text and "$450.00" in text
    body, pdf = _receipt_mail(mailbox, "ap@fabrikam.example.com", "RCP-000003")
    assert "by Wire transfer, reference FED-20261102-1" in body
    text = _pdf_text(pdf)
    assert "RCP-000003" in text and by_wire_number in text and "Payment of $1,245.00 (USD) received" in text
    assert "Wire transfer, reference FED-20261102-1" in text and "Fabrikam Stores LLC" in text


# ---------------------------------------------------------------- the Payments page


def _northwind_receipts(app, demo) -> dict[str, str]:
    """Two receipts of Northwind in October 2026 and one in November, and one of Fabrikam; Northwind's billing
    name starts like a spreadsheet formula."""
    with app.app_context():
        northwind = _org(demo, "Northwind IT")
        northwind.legal_name = "=HYPERLINK(\"http://evil.example\")"
        numbers = {
            "oct1": make_receipt(northwind, 10_000, received_at=datetime(2026, 10, 3, 9, tzinfo=UTC)).number,
            "oct2": make_receipt(northwind, 25_050, "check", "Check 1001",
                                 received_at=datetime(2026, 10, 30, 23, 59, tzinfo=UTC)).number,
            "nov": make_receipt(northwind, 7_500, received_at=datetime(2026, 11, 1, 0, 0, tzinfo=UTC)).number,
            "fabrikam": make_receipt(_org(demo, "Fabrikam Stores"), 99_900).number,
        }
        numbers["oct2_invoice"] = db.session.scalars(
            select(Invoice.number).join(InvoicePayment, InvoicePayment.invoice_id == Invoice.id)
            .join(Receipt, Receipt.id == InvoicePayment.receipt_id).where(Receipt.number == numbers["oct2"])).one()
        db.session.commit()
        return numbers


def test_the_payments_page_lists_receipts_newest_first_with_the_invoices_they_paid(app, login, demo):
    numbers = _northwind_receipts(app, demo)
    alice = login("alice")
    page = alice.get("/payments").get_data(as_text=True)
    positions = [page.index(numbers[key]) for key in ("nov", "oct2", "oct1")]
    assert positions == sorted(positions) and numbers["fabrikam"] not in page
    assert "Check, reference Check 1001" in page and "$250.50" in page
    assert f'href="/invoices/{numbers["oct2_invoice"]}"' in page

    october = alice.get("/payments?period=2026-10").get_data(as_text=True)
    assert numbers["oct1"] in october and numbers["oct2"] in october and numbers["nov"] not in october
    assert "No payments received in 2026-09" in alice.get("/payments?period=2026-09").get_data(as_text=True)
    assert numbers["nov"] in alice.get("/payments?period=not-a-month").get_data(as_text=True)  # ignored
    for month in ("0000-01", "9999-12"):  # months without a first day or a next month: ignored, never a 500
        assert alice.get(f"/payments?period={month}").status_code == 200
        assert alice.get(f"/invoices?period={month}").status_code == 200

    fragment = alice.get("/payments?period=2026-10", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="payments">') and "<h1>" not in text
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_payments_csv_follows_the_month_and_is_safe_in_a_spreadsheet(app, login, demo):
    numbers = _northwind_receipts(app, demo)
    response = login("bob").get("/payments.csv?period=2026-10")  # a Master user reads payments too
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="payments-2026-10.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Receipt", "Received", "Method", "Paid by", "Currency", "Amount", "Invoices paid", "Payer"]
    assert [row[0] for row in rows[1:]] == [numbers["oct2"], numbers["oct1"]]
    assert rows[1][1:7] == ["2026-10-30", "Check", "Check, reference Check 1001", "USD", "250.50",
                            numbers["oct2_invoice"]]
    assert rows[1][7] == "'=HYPERLINK(\"http://evil.example\")"


def test_who_sees_payments(app, login, demo):
    numbers = _northwind_receipts(app, demo)
    nov, fabrikam = numbers["nov"], numbers["fabrikam"]
    for name in ("alice", "bob"):  # Northwind's manager and Master user
        client = login(name)
        assert client.get("/payments").status_code == 200
        assert client.get(f"/payments/{nov}.pdf").status_code == 200
        assert 'href="/payments"' in client.get("/account").get_data(as_text=True)  # nav and account page
        assert client.get(f"/payments/{fabrikam}").status_code == 404  # another tenant's receipt
    for name in ("carol", "erin"):  # a sub-chain's viewer; erin working in Fabrikam as its installer
        client = login(name)
        assert client.get("/payments").status_code == 403
        assert client.get("/payments.csv").status_code == 403
        assert client.get(f"/payments/{fabrikam}").status_code == 404
        assert client.get(f"/payments/{fabrikam}.pdf").status_code == 404
        assert 'href="/payments"' not in client.get("/account").get_data(as_text=True)
    assert login("dave").get(f"/payments/{nov}").status_code == 404
    assert fabrikam in login("dave").get("/payments").get_data(as_text=True)


# ---------------------------------------------------------------- demo data


def test_the_demo_paid_invoices_have_receipts_and_seeding_again_adds_none(app, demo):
    from portal.billing.demo import seed_invoices

    with app.app_context():
        seed_invoices()
        db.session.commit()
        seed_invoices()
        db.session.commit()
        receipts = list(db.session.scalars(select(Receipt).order_by(Receipt.sequence)))
        litware = demo.orgs["Litware Solutions"]
        paid = list(db.session.scalars(select(Invoice).where(Invoice.organization_id == litware,
                                                             Invoice.status == InvoiceStatus.PAID)))
        assert len(receipts) == len(paid) == 2
        assert {r.organization_id for r in receipts} == {litware}
        assert sorted(r.amount_minor for r in receipts) == sorted(i.total_minor for i in paid)
        assert [r.number for r in receipts] == ["RCP-000001", "RCP-000002"]
