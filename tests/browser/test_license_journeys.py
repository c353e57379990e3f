"""Assigning a license in a real browser, with JavaScript: alice (Chain & User Manager of Northwind IT) assigns one
of her unassigned licenses to a customer new to the portal from a dialog on her Licenses page; the email reaches
the SMTP test server; the customer sets a password from its link, signs in and finds the license. Every page
passes axe-core's serious and critical rules. The same without JavaScript: tests/licenses/test_views.py.

The demo (portal/licenses/demo.py) gives Northwind IT unassigned MailSuite and WebStats licenses."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buying_journeys import arrive, no_page_load, sign_in_as
from tests.browser.test_sign_in_journeys import main_nav, sign_in
from tests.conftest import Mailbox

pytestmark = pytest.mark.browser

CUSTOMER = "pat@tailspin.example.com"
PASSWORD = "tailspin-toys-2026"
KEY = re.compile(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){4}")
SET_PASSWORD_LINK = re.compile(r"http://portal\.test(/password/set/[\w-]+)")


def wait_for_mail(mailbox: Mailbox, address: str, seconds: float = 10):
    """The first message the SMTP test server received for `address` (delivery follows the request's commit)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if received := mailbox.to(address):
            return received[0]
        time.sleep(0.1)
    raise AssertionError(f"no email reached {address} within {seconds} s")


def test_alice_assigns_a_license_to_a_new_customer_who_signs_in_and_sees_it(demo, page: Page, audit, mailbox):
    """Alice opens Licenses and presses Assign license on an unassigned product: a dialog opens on the same page
    with the license ticked. She types the customer's email and company and continues; the dialog shows the email
    again and warns that a license can never be re-assigned. She assigns it and lands on the license, now the
    customer's. The customer's email arrives with the username, a link to set a password and the key; they set a
    password from the link, sign in, and find the license among their licenses, not yet activated."""
    sign_in_as(page, "alice")
    main_nav(page).get_by_role("link", name="Licenses", exact=True).click()
    arrive(page, "Licenses of Northwind IT")
    audit()

    unassigned = page.get_by_role("table", name="Unassigned licenses")
    row = unassigned.get_by_role("row").filter(has_text="MailSuite Mail Server").first
    key = KEY.search(row.get_by_role("link").first.inner_text()).group(0)
    with no_page_load(page):
        row.get_by_role("link", name=f"Assign license {key}", exact=True).click()
        dialog = page.get_by_role("dialog", name="Assign licenses")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("checkbox", name=re.compile(key))).to_be_checked()
        expect(dialog.get_by_text("Step 1 of 2: choose")).to_be_visible()
        audit()

        dialog.get_by_label("Customer's email", exact=True).fill(CUSTOMER)
        dialog.get_by_label("Customer name", exact=True).fill("Tailspin Toys")
        dialog.get_by_role("button", name="Continue", exact=True).click()
        expect(dialog.get_by_text("Step 2 of 2: confirm")).to_be_visible()
        expect(dialog.locator(".confirm-email")).to_have_text(CUSTOMER)
        expect(dialog).to_contain_text("A license can never be re-assigned.")
        expect(dialog).to_contain_text(key)
        audit()

    dialog.get_by_role("button", name="Assign license", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/licenses/{key}$"))
    expect(page.get_by_role("status")).to_contain_text(f"assigned to {CUSTOMER}")
    expect(page.get_by_role("definition").filter(has_text="To Tailspin Toys")).to_be_visible()
    audit()
    page.get_by_role("banner").get_by_role("button", name="Sign out", exact=True).click()

    mail = wait_for_mail(mailbox, CUSTOMER)
    body = mail.get_content()
    assert f"Your username: {CUSTOMER}" in body and key in body
    page.goto(SET_PASSWORD_LINK.search(body).group(1))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a password")
    audit()
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the new password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Save password", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Your password is set")

    sign_in(page, CUSTOMER, PASSWORD)
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))  # the home page
    expect(main_nav(page).get_by_role("link")).to_have_text(("Account", "Licenses", "Locations", "Devices",
                                                              "Shipments"))
    main_nav(page).get_by_role("link", name="Licenses", exact=True).click()
    arrive(page, "Licenses of Tailspin Toys")
    license_row = page.get_by_role("table", name="Your licenses").get_by_role("row").filter(has_text=key)
    expect(license_row).to_contain_text("MailSuite Mail Server")
    expect(license_row).to_contain_text("Not activated")
    audit()


def test_alice_narrows_one_list_sorts_another_and_keeps_both(demo, page: Page, audit):
    """On her Licenses page alice types in the unassigned licenses' search: that list narrows as she types, the
    page is not reloaded and the address keeps her search. She sorts the resold licenses by customer: that list
    reorders, her unassigned search stays in its box and in the address, and a reload shows both. She opens More
    filters and asks for 50 rows per page. Each state passes axe."""
    sign_in_as(page, "alice")
    page.goto("/licenses")
    arrive(page, "Licenses of Northwind IT")
    page.evaluate("window.stillHere = true")  # a full page load would forget it

    page.get_by_role("searchbox", name="Find an unassigned license").fill("WebStats")
    unassigned = page.get_by_role("table", name=re.compile("Unassigned licenses"))
    expect(unassigned).to_contain_text("WebStats")
    expect(unassigned).not_to_contain_text("MailSuite")
    expect(page).to_have_url(re.compile(r"unassigned-q=WebStats"))
    audit()

    resold = page.locator("#resold")
    resold.get_by_role("link", name="Customer", exact=True).click()
    expect(resold.get_by_role("columnheader", name="Customer")).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"resold-sort=customer"))
    expect(page).to_have_url(re.compile(r"unassigned-q=WebStats"))
    expect(page.get_by_role("searchbox", name="Find an unassigned license")).to_have_value("WebStats")
    assert page.evaluate("window.stillHere === true"), "the page was reloaded"
    audit()

    page.reload()
    expect(page.get_by_role("searchbox", name="Find an unassigned license")).to_have_value("WebStats")
    expect(page.locator("#resold").get_by_role("columnheader", name="Customer")).to_have_attribute(
        "aria-sort", "ascending")
    page.locator("#resold").locator("..").get_by_text("More filters").click()
    page.get_by_label("Rows per page").nth(2).select_option("50")
    expect(page).to_have_url(re.compile(r"resold-per=50"))
    expect(page).to_have_url(re.compile(r"unassigned-q=WebStats"))
    audit()
