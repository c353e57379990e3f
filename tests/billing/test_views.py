"""Invoice pages without JavaScript (DOMAIN §6): the Invoices page (unpaid first, then all, filters, pages, CSV),
an invoice's page (lines, taxes, totals, payments, its summary or its parts), the PDF download, Email invoice,
Pay invoice (the card typed on the processor's page, 3-D Secure completed or not, a saved card); who sees what;
the staff's invoices and tax pages."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.billing.services import Period, summarize_month
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.sandbox_processor.models import SandboxIntent
from portal.seller.models import TaxRate
from tests.factories import make_invoice, make_payment_method, processor_card

SENTENCE = ("This invoice will be summarized in the monthly summarized invoice and does not need to be paid "
            "immediately.")
APPROVED_VISA, SECURE_VISA = "4242 4242 4242 4242", "4000 0027 6000 3184"  # SECURE: the bank asks for 3-D Secure


def _northwind_month(app, demo) -> dict[str, str]:
    """Northwind: three order invoices last month, summarized; one this month, waiting; a paid one."""
    today = utcnow().date()
    last = Period.before(today)
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        parts = [make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=last.first_day + timedelta(d),
                              total_minor=10_000 * (d + 1)) for d in (0, 5, 10)]
        waiting = make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=today)
        paid = make_invoice(northwind, status=InvoiceStatus.PAID, issued_on=last.first_day)
        summary = summarize_month(northwind, last, today)
        db.session.commit()
        return {"parts": [p.number for p in parts], "waiting": waiting.number, "paid": paid.number,
                "summary": summary.number}


def _section(page: str, heading: str) -> str:
    return page.split(f">{heading}</h2>")[1].split("</section>")[0]


def test_the_invoices_page_lists_what_is_owed_first_then_everything(app, login, demo):
    numbers = _northwind_month(app, demo)
    page = login("alice").get("/invoices").get_data(as_text=True)
    unpaid, everything = _section(page, "Unpaid invoices"), _section(page, "All invoices")
    # $1,800.00 of order invoices and Northwind's $2.00 reseller fee on MailSuite
    assert numbers["summary"] in unpaid and "Summary Invoice" in unpaid and "$1,802.00" in unpaid
    for number in [*numbers["parts"], numbers["waiting"], numbers["paid"]]:
        assert number not in unpaid  # owed through the summary, or paid
        assert number in everything
    assert "Summary Invoice" in everything
    assert (f"Included in summary <a href=\"/invoices/{numbers['summary']}\">{numbers['summary']}</a> (unpaid)"
            in everything)
    assert "Joins the monthly summary" in everything


def test_filters_and_pages_and_htmx_gets_only_the_list(app, login, demo):
    numbers = _northwind_month(app, demo)
    alice = login("alice")
    paid = alice.get("/invoices?status=paid").get_data(as_text=True)
    listed = _section(paid, "All invoices")
    assert numbers["paid"] in listed and numbers["waiting"] not in listed
    this_month = f"{utcnow().date():%Y-%m}"
    month = _section(alice.get(f"/invoices?period={this_month}").get_data(as_text=True), "All invoices")
    assert numbers["waiting"] in month and numbers["parts"][0] not in month
    fragment = alice.get("/invoices?status=summarized", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and 'id="invoices"' in text and numbers["parts"][0] in text
    assert "HX-Request" in fragment.headers["Vary"]
    assert alice.get("/invoices?period=garbage&status=nonsense").status_code == 200  # ignored, not an error

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for _ in range(30):
            make_invoice(northwind, status=InvoiceStatus.PAID)
        db.session.commit()
    first = alice.get("/invoices?status=paid").get_data(as_text=True)
    assert 'rel="next"' in first and "status=paid" in re.search(r'href="([^"]*)" [^>]*rel="next"', first).group(1)
    second = alice.get("/invoices?status=paid&page=2").get_data(as_text=True)
    assert numbers["paid"] in second  # the oldest paid invoice is on the second page


def test_an_order_invoice_waiting_for_its_summary_says_so_and_links_it_once_made(app, login, demo):
    numbers = _northwind_month(app, demo)
    alice = login("alice")
    waiting = alice.get(f"/invoices/{numbers['waiting']}").get_data(as_text=True)
    assert SENTENCE in waiting and "summary invoice <a" not in waiting and "Pay invoice" not in waiting
    part = alice.get(f"/invoices/{numbers['parts'][0]}").get_data(as_text=True)
    assert "is included in the monthly summary for" in part and "not to be paid on its own" in part
    assert f'Included in summary <a href="/invoices/{numbers["summary"]}">{numbers["summary"]}</a> (unpaid)' in part
    summary = alice.get(f"/invoices/{numbers['summary']}").get_data(as_text=True)
    assert "<h1>Summary invoice" in summary and "Pay invoice" in summary
    for number in numbers["parts"]:
        assert f'<a href="/invoices/{number}">{number}</a>' in summary
    assert "Zero rated (Z)" in summary and "$1,800.00" in summary


def test_the_csv_export_follows_the_filters_and_is_safe_in_a_spreadsheet(app, login, demo):
    numbers = _northwind_month(app, demo)
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        northwind.legal_name = '=HYPERLINK("http://evil.example","x")'
        make_invoice(northwind, status=InvoiceStatus.PAID)
        db.session.commit()
    response = login("bob").get("/invoices.csv?status=paid")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert numbers["paid"] in {r["Invoice"] for r in rows} and {r["Status"] for r in rows} == {"Paid"}
    assert any(r["Billed to"].startswith("'=HYPERLINK") for r in rows)
    everything = list(csv.DictReader(io.StringIO(login("alice").get("/invoices.csv").get_data(as_text=True))))
    assert {"Summary Invoice"} == {r["Notes"] for r in everything if r["Invoice"] == numbers["summary"]}
    assert [r["Total"] for r in everything if r["Invoice"] == numbers["summary"]] == ["1802.00"]  # with the fee


def test_the_pdf_download_serves_the_stored_file_as_an_attachment(app, login, demo):
    numbers = _northwind_month(app, demo)
    alice = login("alice")
    first = alice.get(f"/invoices/{numbers['summary']}.pdf")
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"] == f"attachment; filename={numbers['summary']}.pdf"
    assert first.data.startswith(b"%PDF")
    assert login("bob").get(f"/invoices/{numbers['summary']}.pdf").data == first.data  # stored, not re-rendered
    with app.app_context():
        assert db.session.scalars(select(Invoice.pdf_path).where(Invoice.number == numbers["summary"])).one()


def test_email_invoice_sends_the_pdf_to_the_typed_address(app, login, demo, mailbox):
    numbers = _northwind_month(app, demo)
    alice = login("alice")
    page = alice.get(f"/invoices/{numbers['summary']}").get_data(as_text=True)
    assert 'value="billing@northwind.example.com"' in page  # the invoice contact, prefilled
    response = alice.submit(f"/invoices/{numbers['summary']}", {"to": "controller@northwind.example.com"})
    assert response.status_code == 302
    assert "on its way to controller@northwind.example.com" in alice.get(response.headers["Location"]).get_data(
        as_text=True)
    [mail] = mailbox.to("controller@northwind.example.com")
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"{numbers['summary']}.pdf"
    bad = alice.submit(f"/invoices/{numbers['summary']}", {"to": "controller at northwind"})
    assert bad.status_code == 422 and 'id="to-error"' in bad.get_data(as_text=True)


def _litware_invoice(app, demo, total_minor: int = 45_000) -> str:
    with app.app_context():
        number = make_invoice(db.session.get(Organization, demo.orgs["Litware Solutions"]),
                              total_minor=total_minor).number
        db.session.commit()
    return number


def _intents(app) -> list[tuple[str, int, int]]:
    """The sandbox processor's payment intents: state, amount and amount refunded."""
    with app.app_context():
        return [(str(state), amount, refunded) for state, amount, refunded in db.session.execute(
            select(SandboxIntent.state, SandboxIntent.amount_minor, SandboxIntent.amount_refunded_minor)
            .where(SandboxIntent.kind == "payment").order_by(SandboxIntent.created_at)).all()]


def _payments(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InvoicePayment))


def _status(app, number: str) -> InvoiceStatus:
    with app.app_context():
        return db.session.scalars(select(Invoice.status).where(Invoice.number == number)).one()


def test_frank_pays_an_invoice_with_a_new_card(app, login, demo):
    number = _litware_invoice(app, demo)
    frank = login("frank")
    form_page = frank.page(f"/invoices/{number}/pay")
    form = form_page.html
    assert "Pay invoice · $450.00" in form and "Wire transfer" not in form  # under USD 1,000.00
    assert 'name="card_number"' not in form  # the card is typed at the processor, never on the portal's page
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0})  # no JavaScript
    assert sent.status_code == 303 and "/sandbox-processor/pay/" in sent.headers["Location"]
    declined = frank.at_processor(sent, "4000 0000 0000 0002")
    assert declined.status_code == 422 and "declined" in declined.get_data(as_text=True)  # on the processor's page
    assert "4000 0000 0000 0002" not in declined.get_data(as_text=True)
    assert _payments(app) == 0 and _status(app, number) is InvoiceStatus.UNPAID
    paid = frank.at_processor(sent, APPROVED_VISA)  # another card on the same page
    assert paid.status_code == 302 and paid.headers["Location"].endswith(f"/invoices/{number}")
    detail = frank.get(paid.headers["Location"]).get_data(as_text=True)
    assert "is paid: Visa ending 4242" in detail
    assert '>Visa ending 4242<br><a href="/payments/RCP-000001">Receipt RCP-000001</a></td>' in detail
    again = frank.submit(form_page, {"method": "card", "saved_card": 0})  # the page still open from before
    assert again.status_code == 422 and "already paid" in again.get_data(as_text=True)
    assert _payments(app) == 1
    assert _intents(app) == [("succeeded", 45_000, 0)]


def test_an_invoice_paid_with_a_3d_secure_card_on_the_processor_page_is_paid_once_with_a_receipt(app, login, demo):
    number = _litware_invoice(app, demo)
    frank = login("frank")
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0})
    paid = frank.at_processor(sent, SECURE_VISA)  # the bank asks, and frank completes 3-D Secure
    assert paid.status_code == 302 and paid.headers["Location"].endswith(f"/invoices/{number}")
    detail = frank.get(paid.headers["Location"]).get_data(as_text=True)
    assert "is paid: Visa ending 3184" in detail and "Receipt RCP-000001" in detail
    assert _status(app, number) is InvoiceStatus.PAID and _payments(app) == 1
    assert _intents(app) == [("succeeded", 45_000, 0)]
    reloaded = frank.get(paid.request.full_path)  # the processor's return address opened again
    assert reloaded.status_code == 302 and _payments(app) == 1 and _intents(app) == [("succeeded", 45_000, 0)]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.kind == "receipt")) == 1


def test_an_abandoned_3d_secure_payment_leaves_the_invoice_unpaid_and_cancels_the_payment(app, login, demo):
    number = _litware_invoice(app, demo)
    frank = login("frank")
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0})
    back = frank.at_processor(sent, SECURE_VISA, authenticate=False)  # frank cancels at his bank's page
    page = back.get_data(as_text=True)
    assert back.status_code == 422 and "authentication was cancelled, so the card was not charged" in page
    assert "Pay invoice · $450.00" in page  # the payment form again, to try again or use another card
    assert _status(app, number) is InvoiceStatus.UNPAID and _payments(app) == 0
    assert _intents(app) == [("canceled", 45_000, 0)]  # nothing taken, and it cannot be paid later on its own
    again = frank.at_processor(frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0}))
    assert again.status_code == 302 and _status(app, number) is InvoiceStatus.PAID
    assert _intents(app) == [("canceled", 45_000, 0), ("succeeded", 45_000, 0)]


def test_a_payer_who_leaves_the_processor_page_without_paying_is_told_nothing_was_taken(app, login, demo):
    number = _litware_invoice(app, demo)
    frank = login("frank")
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0})
    at_processor = frank.get(urlsplit(sent.headers["Location"]).path).get_data(as_text=True)
    back_link = html.unescape(re.search(r'<a href="([^"]+)">Cancel and go back</a>', at_processor).group(1))
    back = frank.get(back_link)
    page = back.get_data(as_text=True)
    assert back.status_code == 422 and "The payment was not completed, so nothing was charged." in page
    assert "Pay invoice · $450.00" in page  # the payment form again
    assert _status(app, number) is InvoiceStatus.UNPAID and _payments(app) == 0
    assert _intents(app) == [("canceled", 45_000, 0)]  # the page's payment can no longer be made


def test_a_saved_card_that_needs_3d_secure_sends_the_payer_to_authenticate_then_pays(app, login, demo):
    number = _litware_invoice(app, demo)
    with app.app_context():
        token = processor_card(SECURE_VISA)  # saved at the processor earlier
        card = make_payment_method(db.session.get(Organization, demo.orgs["Litware Solutions"]), last4="3184")
        card.gateway_token = token
        db.session.commit()
        card_id = card.id
    frank = login("frank")
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": card_id})
    assert sent.status_code == 303 and "/sandbox-processor/authenticate/" in sent.headers["Location"]
    assert _status(app, number) is InvoiceStatus.UNPAID and _intents(app) == [("requires_action", 45_000, 0)]
    paid = frank.at_processor(sent)  # completes 3-D Secure, then back to the portal
    assert paid.status_code == 302 and paid.headers["Location"].endswith(f"/invoices/{number}")
    assert "is paid: Visa ending 3184" in frank.get(paid.headers["Location"]).get_data(as_text=True)
    assert _status(app, number) is InvoiceStatus.PAID and _payments(app) == 1
    assert _intents(app) == [("succeeded", 45_000, 0)]


def test_dave_announces_a_wire_for_a_large_invoice(app, login, demo):
    with app.app_context():
        number = make_invoice(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), total_minor=124_500).number
        db.session.commit()
    dave = login("dave")
    form = dave.get(f"/invoices/{number}/pay").get_data(as_text=True)
    assert "Wire transfer" in form and "ACH" in form and "Check" in form and "Routing number (ABA)" in form
    response = dave.submit(f"/invoices/{number}/pay", {"method": "wire"})
    assert response.status_code == 302
    page = dave.get(f"/invoices/{number}").get_data(as_text=True)
    assert "Payment pending" in page and number in _section(dave.get("/invoices").get_data(as_text=True),
                                                             "Unpaid invoices")


def test_an_order_invoice_in_a_summary_is_not_payable_on_its_own(app, login, demo):
    numbers = _northwind_month(app, demo)
    alice = login("alice")
    page = alice.get(f"/invoices/{numbers['parts'][0]}/pay").get_data(as_text=True)
    assert "paid through the monthly summary invoice" in page and "<form method=\"post\" action=\"/invoices/" \
        not in page.split("Email invoice")[0]
    # No form on any page pays it: a forged request, with the session's token.
    refused = alice.post(f"/invoices/{numbers['parts'][0]}/pay", data={
        "method": "card", "saved_card": 0, "csrf_token": alice.csrf_token()})
    assert refused.status_code == 422 and "monthly summary" in refused.get_data(as_text=True)
    assert _intents(app) == []  # not sent to the processor either


def test_who_sees_invoices(app, login, demo):
    numbers = _northwind_month(app, demo)
    with app.app_context():
        fabrikam = make_invoice(db.session.get(Organization, demo.orgs["Fabrikam Stores"])).number
        db.session.commit()
    assert login("bob").get(f"/invoices/{numbers['summary']}").status_code == 200  # a Master user reads them
    assert login("bob").get(f"/invoices/{numbers['summary']}/pay").status_code == 403  # but does not pay
    assert login("dave").get(f"/invoices/{fabrikam}").status_code == 200  # an end customer paying its own
    assert login("dave").get(f"/invoices/{numbers['summary']}").status_code == 404
    for name in ("carol", "erin"):  # a sub-chain's viewer; an installer (erin works in Fabrikam)
        assert login(name).get("/invoices").status_code == 403
        assert login(name).get(f"/invoices/{fabrikam}.pdf").status_code == 404
    assert login("frank").get(f"/invoices/{numbers['summary']}.pdf").status_code == 404


def test_staff_run_the_summary_and_record_a_wire(app, login, demo):
    last = Period.before(utcnow().date())
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=last.first_day)
        big = make_invoice(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), total_minor=124_500)
        db.session.commit()
        big_number, big_id = big.number, big.id
    ops = login("ops")
    page = ops.get("/admin/invoices").get_data(as_text=True)
    assert f'value="{last}"' in page and big_number in page
    made = ops.submit("/admin/invoices", {"period": str(last)}).get_data(as_text=True)
    assert "1 summary invoice made" in made and "SUM-000001" in made and "Northwind IT" in made
    again = ops.submit("/admin/invoices", {"period": str(last)}).get_data(as_text=True)
    assert "Nothing to summarize" in again
    assert ops.submit("/admin/invoices", {"period": "last month"}).status_code == 422

    prefix = f"pay-{big_id}"
    short = ops.submit("/admin/invoices", {f"{prefix}-method": "wire", f"{prefix}-amount": "1,000.00",
                                           f"{prefix}-reference": "FED-1"})
    assert short.status_code == 422 and "partial payments" in short.get_data(as_text=True)
    recorded = ops.submit("/admin/invoices", {f"{prefix}-method": "wire", f"{prefix}-amount": "1,245.00",
                                              f"{prefix}-reference": "FED-1"})
    assert recorded.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Invoice.status).where(Invoice.id == big_id)).one() is InvoiceStatus.PAID


def test_staff_set_tax_rates_and_resale_exemptions(app, login, demo):
    ops = login("ops")
    assert "Washington State sales tax" in ops.get("/admin/taxes").get_data(as_text=True)
    saved = ops.submit("/admin/taxes", {"country": "us", "region": "CO", "label": "Colorado sales tax",
                                        "rate": "2.9", "category": "S"})
    assert saved.status_code == 302
    refused = ops.submit("/admin/taxes", {"country": "US", "region": "", "label": "x", "rate": "0",
                                          "category": "S"})
    assert refused.status_code == 422 and 'id="rate-error"' in refused.get_data(as_text=True)
    with app.app_context():
        rate = db.session.scalars(select(TaxRate).where(TaxRate.region == "CO")).one()
        assert (rate.country, rate.rate_bp) == ("US", 290)
        rate_id = rate.id
    assert ops.submit(f"/admin/taxes/{rate_id}/remove", {}).status_code == 302  # the confirmation page

    fabrikam_id = demo.orgs["Fabrikam Stores"]
    page = ops.get(f"/admin/organizations/{fabrikam_id}").get_data(as_text=True)
    assert "Resale exemption" in page
    ops.submit(f"/admin/organizations/{fabrikam_id}", {"billing_mode": "pay_on_order", "partner_tier": "none",
                                                       "tax_exempt": True})
    with app.app_context():
        assert db.session.get(Organization, fabrikam_id).tax_exempt


def test_emails_to_typed_addresses_are_limited_per_user(app, login, demo, monkeypatch):
    numbers = _northwind_month(app, demo)
    monkeypatch.setitem(app.config, "INVOICE_EMAIL_LIMIT", "2 per hour")
    bob, url = login("bob"), f"/invoices/{numbers['summary']}"
    assert bob.submit(url, {"to": "not an address"}).status_code == 422  # a refusal does not count
    assert [bob.submit(url, {"to": f"x{n}@example.com"}).status_code for n in range(3)] == [302, 302, 429]
    assert login("alice").submit(url, {"to": "y@example.com"}).status_code == 302  # per user


def test_the_due_date_passed_shows_overdue(app, login, demo):
    with app.app_context():
        make_invoice(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), issued_on=date(2026, 1, 2))
        db.session.commit()
    assert "Overdue" in _section(login("dave").get("/invoices").get_data(as_text=True), "Unpaid invoices")


def test_the_unpaid_invoices_show_the_earliest_due_and_link_to_every_one(app, login, demo, monkeypatch):
    """Unpaid invoices show the ones due first (25) and, when there are more, a link to the list filtered on unpaid
    ones: the page stays the same size however many an account owes."""
    import re
    from datetime import timedelta

    from portal.billing import views
    from portal.db_types import utcnow
    from tests.factories import demo_org, make_invoice

    monkeypatch.setattr(views, "UNPAID_SHOWN", 2)
    with app.app_context():
        fabrikam = demo_org("Fabrikam Stores")
        today = utcnow().date()
        first = make_invoice(fabrikam, due_on=today - timedelta(days=40)).number
        second = make_invoice(fabrikam, due_on=today - timedelta(days=35)).number
        last = make_invoice(fabrikam, due_on=today + timedelta(days=60)).number
        db.session.commit()
    dave = login("dave")
    page = dave.get("/invoices").get_data(as_text=True)
    unpaid = page.split('id="unpaid-heading"')[1].split('id="all-heading"')[0]
    assert re.findall(r'<th [^>]*scope="row"><a href="/invoices/[^"]+">([^<]+)</a>', unpaid) == [first, second]
    assert last not in unpaid and 'href="/invoices?status=unpaid#all-heading">See every unpaid invoice' in unpaid
    every = dave.get("/invoices?status=unpaid").get_data(as_text=True).split('id="all-heading"')[1]
    assert first in every and last in every
