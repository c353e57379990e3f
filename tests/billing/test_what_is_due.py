"""What is due is what the documents say (issue 11 item 2): an order invoice paid through the monthly summary says
so on its page and its PDF and shows no amount due of its own; "Paid through summary invoice SUM-…" only once the
summary is paid; the payment terms offer only the methods the portal accepts for the invoice; a zero-total order
needs no payment. And a limited invoice email says what was limited (not "sign-in attempts")."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from invoices.facturx import check_xsd
from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import Period, summarize_month
from portal.catalog.services import product_by_slug
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.models import Order, PaymentKind
from portal.outbox.worker import deliver
from tests.billing.conftest import buy, card

APPROVED_VISA = "4242 4242 4242 4242"
PAY_BY_CARD = {"method": "card", "saved_card": 0}  # a new card, typed on the processor's page
OTHER_METHODS_WORDS = ("Wire transfer", "wire transfer", "ACH", "by check", "Account number", "Routing number")


def words(text: str) -> str:
    """Text with every run of white space (line breaks in a PDF) as one space."""
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    return words(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


def page_text(html: str) -> str:
    return words(re.sub(r"<[^>]+>", " ", html))


def download(client, number: str) -> tuple[str, bytes]:
    """The invoice's PDF as its reader sees it: its text, and the Factur-X XML it carries."""
    response = client.get(f"/invoices/{number}.pdf")
    assert response.status_code == 200
    [xml] = PdfReader(io.BytesIO(response.data)).attachments["factur-x.xml"]
    return pdf_text(response.data), xml


def xml_amount(xml: bytes, element: str) -> str:
    return re.search(rf"<ram:{element}[^>]*>([^<]+)</ram:{element}>".encode(), xml).group(1).decode()


def _summarize(app, org_name: str, demo) -> str:
    with app.app_context():
        org = db.session.get(Organization, demo.orgs[org_name])
        today = utcnow().date()
        summary = summarize_month(org, Period.of(today), today)
        db.session.commit()
        return summary.number


def _bought(app, demo, org_name: str, payment=PaymentKind.INVOICE, **choice) -> tuple[str, str]:
    with app.app_context():
        invoice = buy(demo, org_name, payment, **choice)
        return invoice.number, db.session.get(Order, invoice.order_id).number


# ---------------------------------------------------------------- paid through the summary


def test_an_order_invoice_for_the_summary_says_so_and_shows_no_amount_due(app, login, demo):
    number, _ = _bought(app, demo, "Northwind IT")
    month = f"{utcnow().date():%B %Y}"
    alice = login("alice")

    page = page_text(alice.get(f"/invoices/{number}").get_data(as_text=True))
    assert f"included in the monthly summary for {month} and is not to be paid on its own" in page
    assert "Amount due" not in page and "Pay invoice" not in page

    text, xml = download(alice, number)
    assert "NOT TO BE PAID ON ITS OWN" in text  # where an amount due would be (headings print in capitals)
    assert f"Included in the monthly summary for {month}, not to be paid on its own" in text
    assert "amount due" not in text.lower()  # neither beside the buyer nor under the totals
    # The XML keeps EN 16931's arithmetic (BT-115 = total - paid) and says in its terms (BT-20) how it is paid.
    check_xsd(xml)
    assert xml_amount(xml, "DuePayableAmount") == xml_amount(xml, "GrandTotalAmount")
    assert b"not to be paid on its own" in xml


def test_paid_through_the_summary_only_once_the_summary_is_paid(app, login, demo):
    number, _ = _bought(app, demo, "Northwind IT")
    summary = _summarize(app, "Northwind IT", demo)
    alice = login("alice")

    page = page_text(alice.get(f"/invoices/{number}").get_data(as_text=True))
    assert f"Included in summary {summary} (unpaid)" in page
    assert "Paid through" not in page and "Amount due" not in page
    listed = page_text(alice.get("/invoices").get_data(as_text=True))
    assert f"Included in summary {summary} (unpaid)" in listed and "Paid through" not in listed

    paid = alice.at_processor(alice.submit(f"/invoices/{summary}/pay", PAY_BY_CARD), APPROVED_VISA,
                              name="Alice Archer")
    assert paid.status_code == 302 and paid.headers["Location"].endswith(f"/invoices/{summary}")

    page = page_text(alice.get(f"/invoices/{number}").get_data(as_text=True))
    assert f"Paid through summary invoice {summary}" in page and "(unpaid)" not in page
    listed = page_text(alice.get("/invoices").get_data(as_text=True))
    assert f"Paid through summary invoice {summary}" in listed
    # The PDF says what was true when the invoice was issued, which stays true.
    text, _ = download(alice, number)
    assert "not to be paid on its own" in text and "amount due" not in text.lower()


# ---------------------------------------------------------------- payment terms: only what the portal accepts


def test_terms_under_usd_1000_offer_only_the_card(app, login, demo):
    number, _ = _bought(app, demo, "Northwind IT", quantity=10)
    summary = _summarize(app, "Northwind IT", demo)
    with app.app_context():
        assert db.session.scalars(db.select(Invoice.total_minor).where(Invoice.number == summary)).one() < 100_000
    text, xml = download(login("alice"), summary)
    assert "Pay by card (American Express, Visa, Mastercard) in the partner portal" in text
    for offered in OTHER_METHODS_WORDS:
        assert offered not in text, offered
    assert "000123456789" not in text and b"<ram:TypeCode>30</ram:TypeCode>" not in xml
    check_xsd(xml)
    pay = login("alice").get(f"/invoices/{summary}/pay").get_data(as_text=True)
    assert "Wire transfer" not in pay  # the Pay page agrees with the printed terms


def test_terms_of_a_grandfathered_account_offer_wire_ach_and_check_under_usd_1000(app, login, demo):
    with app.app_context():
        db.session.get(Organization, demo.orgs["Northwind IT"]).grandfathered_payment_methods = True
        db.session.commit()
    _bought(app, demo, "Northwind IT", quantity=10)
    summary = _summarize(app, "Northwind IT", demo)
    text, xml = download(login("alice"), summary)
    assert "by wire transfer or ACH to the account below, or by check payable to Vendor Software, Inc." in text
    for label, value in (("Bank name", "First Example Bank, N.A."), ("Account number", "000123456789"),
                         ("Routing number (ABA)", "121000358"), ("SWIFT/BIC", "FEXBUS33")):
        assert f"{label} {value}" in text
    assert b"<ram:TypeCode>30</ram:TypeCode>" in xml and b"<ram:BICID>FEXBUS33</ram:BICID>" in xml
    check_xsd(xml)


def test_terms_from_usd_1000_offer_wire_ach_and_check(app, login, demo):
    number, _ = _bought(app, demo, "Fabrikam Stores", PaymentKind.WIRE, slug="livedesk", edition="Enterprise",
                        quantity=5)
    text, xml = download(login("dave"), number)
    assert "Amount due $" in text and "by wire transfer or ACH to the account below, or by check" in text
    assert "Routing number (ABA) 121000358" in text
    check_xsd(xml)


# ---------------------------------------------------------------- nothing to pay


def test_a_zero_total_order_says_no_payment_due(app, login, demo, mailbox):
    with app.app_context():
        edition = next(e for e in product_by_slug("mailsuite").editions if e.name == "Professional")
        edition.base_price_minor = edition.unit_price_minor = 0
        db.session.commit()
    with app.app_context():
        payment = card()
    number, order = _bought(app, demo, "Litware Solutions", payment)
    frank = login("frank")

    page = page_text(frank.get(f"/invoices/{number}").get_data(as_text=True))
    assert "No payment due" in page and "Paid by" not in page and "Visa" not in page
    order_page = page_text(frank.get(f"/orders/{order}").get_data(as_text=True))
    assert "Payment No payment due" in order_page and "Visa" not in order_page
    with app.app_context():
        deliver()
    [confirmation] = mailbox.to("frank@litware.example.com")
    body = confirmation.get_body(preferencelist=("plain",)).get_content()
    assert "No payment due" in body and "Paid by" not in body
    text, xml = download(frank, number)
    assert "No payment due" in text and "Paid by" not in text and "Paid in full" not in text
    check_xsd(xml)
    with app.app_context():
        assert db.session.scalars(db.select(Invoice.status).where(Invoice.number == number)).one() \
            is InvoiceStatus.PAID  # nothing is owed: it is in no Unpaid list and no summary


# ---------------------------------------------------------------- a limit says what it limits


def test_the_invoice_email_limit_says_it_limits_invoice_emails(app, login, demo, monkeypatch):
    number, _ = _bought(app, demo, "Northwind IT")
    monkeypatch.setitem(app.config, "INVOICE_EMAIL_LIMIT", "1 per hour")
    alice = login("alice")
    assert alice.submit(f"/invoices/{number}", {"to": "a@example.com"}).status_code == 302
    limited = alice.submit(f"/invoices/{number}", {"to": "b@example.com"})
    assert limited.status_code == 429
    text = page_text(limited.get_data(as_text=True))
    assert "emailed many invoices" in text and "this one was not sent" in text
    assert "sign-in" not in text
