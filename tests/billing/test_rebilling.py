"""Lines a reseller can re-bill from (issue 11, items 4 and 5), as the reseller sees them: every license line names
its keys and who each is assigned to (the page now, the PDF when it was made); M&S and subscription lines state
their service period, in words and in the Factur-X XML; the invoice shows the order, the currency and the buyer's
purchase order number; a summary lists the products behind each order invoice, with list price, discount and
net, and gives all of them as CSV; the Invoices page offers view, pay, PDF and email on each row; the order
confirmation and the summary email arrive with their PDFs; checkout refuses an invoice contact that is not an
email address and a purchase order number that is too long, beside the field, with no order."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from lxml import etree
from pypdf import PdfReader
from sqlalchemy import func, select, update

from portal.accounts.models import Organization, User
from portal.billing.models import Invoice
from portal.billing.services import Period, summarize_month
from portal.cart.services import add_modification
from portal.catalog.models import PurchaseKind
from portal.catalog.services import product_by_slug
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.models import License
from portal.licenses.services import one_year_after
from portal.orders.models import Order
from portal.outbox.worker import deliver
from portal.subscriptions.services import add_months
from tests.billing.conftest import buy
from tests.factories import DEMO_EMAILS, actor, make_invoice, make_license
from tests.orders.test_views import _add

NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
KEY = re.compile(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3,}")


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def _facturx(data: bytes) -> etree._Element:
    [xml] = PdfReader(io.BytesIO(data)).attachments["factur-x.xml"]
    return etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))


def _texts(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.xpath(path, namespaces=NS)]


def _mail_body(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def _pdf_attachment(mail) -> tuple[str, bytes]:
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return attachment.get_filename(), attachment.get_content()


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


# ---------------------------------------------------------------- license keys and their customers


def test_an_order_invoice_names_each_license_key_and_who_it_is_assigned_to(app, login, demo, mailbox):
    with app.app_context():
        invoice = buy(demo, "Northwind IT", copies=2)
        number, order_number = invoice.number, db.session.get(Order, invoice.order_id).number
        assert deliver() == (1, 0)  # the confirmation, with the invoice's PDF made now, after the order committed
    [mail] = mailbox.to(DEMO_EMAILS["alice"])
    keys = KEY.findall(_mail_body(mail))
    assert len(set(keys)) == 2  # the confirmation lists both keys bought
    filename, attached = _pdf_attachment(mail)
    assert filename == f"{number}.pdf"

    alice = login("alice")
    page = alice.get(f"/invoices/{number}").get_data(as_text=True)
    for key in keys:
        assert f"License {key}: unassigned" in page
    assert order_number in page and "<dt>Currency</dt><dd>USD</dd>" in page
    order_page = alice.get(f"/orders/{order_number}").get_data(as_text=True)
    assert all(f"{key}</a>: unassigned" in order_page for key in keys)

    with app.app_context():  # the reseller assigns one of them to its customer
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        db.session.execute(update(License).where(License.key == keys[0]).values(customer_id=contoso.id))
        db.session.commit()
    page = alice.get(f"/invoices/{number}").get_data(as_text=True)
    assert f"License {keys[0]}: assigned to Contoso Retail" in page and f"License {keys[1]}: unassigned" in page
    assert f"{keys[0]}</a>: assigned to Contoso Retail" in alice.get(f"/orders/{order_number}").get_data(as_text=True)

    # The PDF was made once, when the confirmation left: it says whom the keys were assigned to then, and when.
    pdf = alice.get(f"/invoices/{number}.pdf").get_data()
    assert pdf == attached
    text = _pdf_text(pdf)
    for key in keys:
        assert f"License {key}: unassigned" in text
    today = utcnow().date()
    assert f"License customers as assigned on {today:%B} {today.day}, {today.year}" in text
    assert f"Order {order_number}" in text and "Currency USD" in text


def test_maintenance_lines_state_their_service_period_on_the_page_the_pdf_and_in_factur_x(app, login, demo):
    today = utcnow().date()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        running = make_license(northwind, ms_expires_on=today + timedelta(days=40))
        lapsed = make_license(northwind, ms_expires_on=today - timedelta(days=10))
        db.session.commit()
        for license_, purchase in ((running, PurchaseKind.RENEWAL), (lapsed, PurchaseKind.REINSTATEMENT)):
            change = modify.quote_maintenance(license_, product_by_slug("mailsuite"), purchase, today)
            add_modification(alice, northwind, change, change.list_minor, actor(alice))
        db.session.commit()
        expired_on, keys = running.ms_expires_on, (running.key, lapsed.key)
        invoice = buy(demo, "Northwind IT", slug="webstats", edition="Standard", quantity=1)  # checks the cart out
        number = invoice.number
    renewal = (expired_on + timedelta(days=1), one_year_after(expired_on))
    reinstatement = (today, one_year_after(today))

    client = login("alice")
    page = client.get(f"/invoices/{number}").get_data(as_text=True)
    for start, end in (renewal, reinstatement):
        assert f"service period {start.isoformat()} to {end.isoformat()}" in page
    assert f"License {keys[0]}: unassigned" in page and f"License {keys[1]}: unassigned" in page
    pdf = client.get(f"/invoices/{number}.pdf").get_data()
    text = _pdf_text(pdf)
    assert f"service period {renewal[0].isoformat()} to {renewal[1].isoformat()}" in text
    root = _facturx(pdf)
    period = "//ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod"
    starts = _texts(root, f"{period}/ram:StartDateTime/udt:DateTimeString")
    ends = _texts(root, f"{period}/ram:EndDateTime/udt:DateTimeString")
    assert sorted(zip(starts, ends, strict=True)) == sorted((_ymd(s), _ymd(e)) for s, e in (renewal, reinstatement))


def test_a_subscription_line_states_the_plan_period_it_pays_for(app, login, demo):
    today = utcnow().date()
    with app.app_context():
        number = buy(demo, "Northwind IT", slug="location-plan", edition=None, quantity=3).number
    end = add_months(today, 12) - timedelta(days=1)  # an annual plan, started by this order
    page = login("alice").get(f"/invoices/{number}").get_data(as_text=True)
    assert f"service period {today.isoformat()} to {end.isoformat()}" in page
    pdf = login("alice").get(f"/invoices/{number}.pdf").get_data()
    assert _texts(_facturx(pdf), "//ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString") == [_ymd(end)]


# ---------------------------------------------------------------- checkout: purchase order number, invoice contact


def _place_order(client, **typed):
    """Place the order from the checkout page, paid by invoice, with what the buyer typed."""
    return client.submit("/checkout", {"payment_kind": "invoice", **typed})


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


def test_the_buyers_purchase_order_number_is_on_the_invoice_and_its_factur_x_buyer_reference(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    placed = _place_order(alice, purchase_order_number="  PO-4711/B  ")
    assert placed.status_code == 302
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        number, order_number = invoice.number, db.session.get(Order, invoice.order_id).number
    page = alice.get(f"/invoices/{number}").get_data(as_text=True)
    assert "<dt>Purchase order</dt><dd>PO-4711/B</dd>" in page and order_number in page
    pdf = alice.get(f"/invoices/{number}.pdf").get_data()
    text = _pdf_text(pdf)
    assert "Purchase order PO-4711/B" in text and f"Order {order_number}" in text and "Currency USD" in text
    root = _facturx(pdf)
    assert _texts(root, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == ["PO-4711/B"]
    assert _texts(root, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == ["PO-4711/B"]
    assert _texts(root, "//ram:SellerOrderReferencedDocument/ram:IssuerAssignedID") == [order_number]


def test_an_invoice_contact_that_is_not_an_email_address_is_refused_beside_the_field(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    refused = _place_order(alice, invoice_email="not an email at all")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = page.split('id="invoice_email-error"')[1].split("</p>")[0]
    assert "Give the invoice contact as an email address. An email address must have an @-sign." in error
    assert _orders(app) == 0


def test_a_purchase_order_number_longer_than_64_characters_is_refused_beside_the_field(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    refused = _place_order(alice, purchase_order_number="P" * 65)
    assert refused.status_code == 422
    error = refused.get_data(as_text=True).split('id="purchase_order_number-error"')[1].split("</p>")[0]
    assert "at most 64 characters" in error
    assert _orders(app) == 0


# ---------------------------------------------------------------- summaries: the products behind each order invoice


def _northwind_summary(app, demo) -> tuple[str, list[str]]:
    today = utcnow().date()
    with app.app_context():
        parts = [buy(demo, "Northwind IT").number,
                 buy(demo, "Northwind IT", slug="webstats", edition="Standard", quantity=5).number]
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        summary = summarize_month(northwind, Period.of(today), today)
        db.session.commit()
        return summary.number, parts


def test_a_summary_lists_the_products_of_each_order_invoice_with_list_price_discount_and_net(app, login, demo):
    number, parts = _northwind_summary(app, demo)
    page = login("alice").get(f"/invoices/{number}").get_data(as_text=True)
    rows = re.findall(r'<tr class="(part|part-line)">(.*?)</tr>', page, re.S)
    assert [(kind, parts[0] in row or parts[1] in row) for kind, row in rows] == [
        ("part", True), ("part-line", True), ("part", True), ("part-line", True)]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", rows[1][1],
                                                                          re.S)]
    # MailSuite Professional, 25 mailboxes: $100.00 list, Gold 20 % off, $80.00 net, tax exempt
    assert "MailSuite Mail Server Professional, 25 mailboxes" in cells[0]
    assert cells[1:6] == ["1", "$100.00", "$100.00", "−$20.00", "$80.00"]
    summary_cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>",
                                                                                  rows[0][1], re.S)]
    assert summary_cells[1:6] == ["", "", "", "", "$80.00"]  # the order invoice's net, never called a list price

    pdf = login("alice").get(f"/invoices/{number}.pdf").get_data()
    text = _pdf_text(pdf)
    assert "MailSuite Mail Server Professional, 25 mailboxes" in text and "list $100.00, discount −$20.00, net $80.00" \
        in text


def test_a_summary_gives_every_product_line_as_csv(app, login, demo):
    number, parts = _northwind_summary(app, demo)
    response = login("alice").get(f"/invoices/{number}.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["Order invoice"] for row in rows if row["Order invoice"]] == parts
    # then the summary's own line, Northwind's reseller fee on MailSuite, and the account it charged
    fee, account = rows[-2:]
    assert fee["Description"] == "Reseller fee – MailSuite Mail Server – 1 customer account × $2.00"
    assert (fee["Quantity"], fee["Unit price"], fee["Net"], fee["Customer account"]) == ("1", "2.00", "2.00", "")
    assert (account["Line"], account["Customer account"], account["Net"]) == (fee["Line"], "Contoso Retail", "")
    first = rows[0]
    assert (first["Invoice"], first["List price"], first["Discount"], first["Net"], first["Currency"]) == (
        number, "100.00", "20.00", "80.00", "USD")
    assert KEY.search(first["Description"])  # the license key bought, to re-bill from
    assert login("dave").get(f"/invoices/{number}.csv").status_code == 404  # another tenant's


def test_the_summary_email_arrives_with_its_pdf(app, demo, mailbox):
    number, _ = _northwind_summary(app, demo)
    with app.app_context():
        deliver()
    [mail] = [m for m in mailbox.to("billing@northwind.example.com") if number in m["Subject"]]
    filename, pdf = _pdf_attachment(mail)
    assert filename == f"{number}.pdf" and f"Summary Invoice {number}" in _pdf_text(pdf)


# ---------------------------------------------------------------- the Invoices page's rows


def test_each_invoice_row_offers_view_pay_pdf_and_email(app, login, demo):
    with app.app_context():
        number = make_invoice(db.session.get(Organization, demo.orgs["Northwind IT"]), summary=True).number
        db.session.commit()
    links = {f'href="/invoices/{number}"', f'href="/invoices/{number}/pay"', f'href="/invoices/{number}.pdf"',
             f'href="/invoices/{number}#email"'}
    page = login("alice").get("/invoices").get_data(as_text=True)
    unpaid, everything = page.split('id="all-heading"')
    for section in (unpaid, everything):
        assert all(link in section for link in links)
    email_page = login("alice").get(f"/invoices/{number}").get_data(as_text=True)
    assert 'id="email"' in email_page and f'action="/invoices/{number}/email"' in email_page
    bob = login("bob").get("/invoices").get_data(as_text=True)  # a Master user sees invoices but does not pay them
    assert f'href="/invoices/{number}.pdf"' in bob and f'href="/invoices/{number}/pay"' not in bob
