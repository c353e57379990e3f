"""Invoice journeys in a real browser, with JavaScript: alice finds Northwind's unpaid summary invoice first on the
Invoices page, filters the list without leaving the page, opens the summary, downloads its PDF and emails it to
her controller; frank pays an invoice by card, opens its receipt, finds it on Payments and receives it by email.
Every page passes axe-core's serious and critical rules. The same pages without JavaScript are covered by
tests/billing/test_views.py and tests/payments/test_receipts.py."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from portal.accounts.models import Organization
from portal.billing.demo import seed_invoices
from portal.extensions import db
from tests.browser.test_buying_journeys import APPROVED_VISA, arrive, card_fields, sign_in_as, type_card
from tests.browser.test_sign_in_journeys import main_nav
from tests.factories import make_invoice

pytestmark = pytest.mark.browser


@pytest.fixture
def history(app, demo):
    """The demo's invoice history (`flask seed-demo`), and an unpaid invoice of Litware for frank to pay."""
    with app.app_context():
        seed_invoices()
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        number = make_invoice(litware, total_minor=45_000).number
        db.session.commit()
    return number


def open_invoices(page: Page) -> None:
    main_nav(page).get_by_role("link", name="Invoices", exact=True).click()
    arrive(page, "Invoices")


def wait_for_mail(mailbox, address: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := mailbox.to(address):
            return found
        time.sleep(0.1)
    raise AssertionError(f"no mail for {address}")


def test_alice_finds_the_unpaid_summary_downloads_and_emails_it(history, page, audit, mailbox):
    sign_in_as(page, "alice")
    open_invoices(page)
    unpaid = page.get_by_role("table", name="Unpaid invoices, the earliest due first")
    first = unpaid.get_by_role("row").nth(1)
    expect(first).to_contain_text("Summary Invoice")
    number = first.get_by_role("link").first.inner_text()
    assert re.fullmatch(r"SUM-\d{6}", number)
    audit()

    page.evaluate("window.stillThisDocument = true")  # gone if the browser loads a new document
    page.get_by_label("Status", exact=True).select_option(label="To be summarized")  # a choice applies at once
    expect(page).to_have_url(re.compile(r"status=to_be_summarized"))  # the address follows (hx-replace-url)
    listed = page.get_by_role("table", name=re.compile(r"^Invoices"))
    expect(listed.get_by_role("row").filter(has_text="Joins the monthly summary")).to_have_count(3)
    assert page.evaluate("window.stillThisDocument") is True  # htmx swapped the list in place

    unpaid.get_by_role("link", name=number, exact=True).click()
    arrive(page, f"Summary invoice {number}")
    parts = page.get_by_role("table", name="Order invoices in this summary")
    expect(parts.get_by_role("link", name=re.compile(r"^INV-"))).to_have_count(2)
    audit()

    download_link = page.get_by_role("link", name="Download PDF", exact=True)
    with page.expect_download() as downloaded:
        download_link.click()
    assert downloaded.value.suggested_filename == f"{number}.pdf"
    response = page.context.request.get(download_link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")

    page.get_by_label("Send to", exact=True).fill("controller@northwind.example.com")
    page.get_by_role("button", name="Email invoice", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("on its way to controller@northwind.example.com")
    audit()
    [mail] = wait_for_mail(mailbox, "controller@northwind.example.com")
    [attachment] = list(mail.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", f"{number}.pdf")
    assert attachment.get_content().startswith(b"%PDF")


def test_frank_pays_an_invoice_by_card_and_gets_its_receipt(history, page, audit, mailbox):
    number = history
    sign_in_as(page, "frank")
    open_invoices(page)
    unpaid = page.get_by_role("table", name="Unpaid invoices, the earliest due first")
    expect(unpaid).to_contain_text(number)
    unpaid.get_by_role("link", name=f"Pay invoice {number}").click()
    arrive(page, f"Pay invoice {number}")
    page.get_by_role("radio", name="A new card").check()
    # the card is typed in the processor's hosted fields, a frame in the page; Pay invoice has the frame hand the
    # portal a payment method id, then posts the form with it
    type_card(card_fields(page), APPROVED_VISA, "Frank Fischer")
    audit()
    page.get_by_role("button", name=re.compile(r"^Pay invoice")).click()

    arrive(page, f"Invoice {number}")
    expect(page.get_by_role("status")).to_contain_text(f"Invoice {number} is paid: Visa ending 4242")
    expect(page.get_by_role("table", name="Payments")).to_contain_text("Visa ending 4242")
    audit()
    open_invoices(page)
    expect(page.get_by_role("table", name="Unpaid invoices, the earliest due first")).not_to_contain_text(number)

    # The payment's receipt: linked from the invoice, listed on Payments by month, a PDF, and emailed with it.
    page.go_back()  # back to the paid invoice's page
    arrive(page, f"Invoice {number}")
    receipt_link = page.get_by_role("link", name=re.compile(r"^Receipt RCP-\d{6}$"))
    receipt = receipt_link.inner_text().removeprefix("Receipt ")
    receipt_link.click()
    arrive(page, f"Receipt {receipt}")
    expect(page.get_by_text("Visa ending 4242", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Invoices paid")).to_contain_text(number)
    audit()
    download_link = page.get_by_role("link", name="Download PDF", exact=True)
    with page.expect_download() as downloaded:
        download_link.click()
    assert downloaded.value.suggested_filename == f"{receipt}.pdf"

    main_nav(page).get_by_role("link", name="Payments", exact=True).click()
    arrive(page, "Payments")
    listed = page.get_by_role("table", name=re.compile(r"^Payments, newest first"))
    expect(listed.get_by_role("row").filter(has_text=receipt)).to_contain_text(number)
    page.evaluate("window.stillThisDocument = true")
    page.get_by_label("Received in", exact=True).fill("2001-01")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page).to_have_url(re.compile(r"period=2001-01"))
    expect(page.get_by_role("table", name=re.compile(r"^Payments, newest first"))).to_contain_text(
        "No payments received in 2001-01")
    assert page.evaluate("window.stillThisDocument") is True  # htmx swapped the list in place
    audit()

    mails = [m for m in wait_for_mail(mailbox, "finance@litware.example.com") if receipt in m["Subject"]]
    assert mails, "the receipt email names its number in the subject"
    [attachment] = list(mails[0].iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", f"{receipt}.pdf")
