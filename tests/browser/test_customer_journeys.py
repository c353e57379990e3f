"""A customer's page and the license picker in a real browser, with JavaScript: alice (Chain & User Manager of
Northwind IT) opens Contoso Retail from her customers, assigns it the WebStats license she finds with the picker in
a dialog on that page, and sees it among Contoso's licenses; on the assign page itself the picker searches as she
types and replaces the page's URL. Every page passes axe-core's serious and critical rules. The same without
JavaScript: tests/customers/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buying_journeys import arrive, no_page_load, sign_in_as
from tests.browser.test_sign_in_journeys import main_nav

pytestmark = pytest.mark.browser

KEY = re.compile(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){4}")


def test_alice_assigns_a_license_found_with_the_picker_from_a_customers_page(demo, page: Page, audit):
    """From Customers alice opens Contoso Retail: its users, licenses, renewals, invoices and activity. Assign
    license opens a dialog on the page with the picker: she chooses WebStats Analytics and only WebStats licenses
    remain; she ticks one, adds it, continues with carol's address (suggested), and the confirm step says the
    license goes to Contoso Retail. Assigned, the license's page says it is Contoso's."""
    sign_in_as(page, "alice")
    main_nav(page).get_by_role("link", name="Customers", exact=True).click()
    arrive(page, "Customers of Northwind IT")
    page.get_by_role("link", name="Contoso Retail", exact=True).click()
    arrive(page, "Contoso Retail")
    for heading in ("Users and contacts", "Licenses from Northwind IT", "Renewals in the next 90 days", "Invoices",
                    "Recent activity"):
        expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
    audit()

    with no_page_load(page):
        page.get_by_role("link", name="Assign license to Contoso Retail", exact=True).click()
        dialog = page.get_by_role("dialog", name="Assign licenses")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_text("Customer: Contoso Retail")).to_be_visible()
        results = dialog.get_by_role("table", name=re.compile("^Unassigned licenses"))
        expect(results.get_by_role("row").filter(has_text="MailSuite Mail Server").first).to_be_visible()
        audit()

        dialog.get_by_label("Product", exact=True).select_option(label="WebStats Analytics")
        expect(results).to_contain_text("matching your search")
        expect(results.get_by_role("row").filter(has_text="MailSuite Mail Server")).to_have_count(0)
        row = results.get_by_role("row").filter(has_text="WebStats Analytics").first
        key = KEY.search(row.inner_text()).group(0)
        row.get_by_role("checkbox").check()
        dialog.get_by_role("button", name="Add the ticked licenses", exact=True).click()
        chosen = dialog.get_by_role("group", name="Licenses to assign")
        expect(chosen.get_by_role("checkbox", name=re.compile(key))).to_be_checked()
        expect(dialog.get_by_label("Customer's email", exact=True)).to_have_value("carol@contoso.example.com")
        audit()

        dialog.get_by_role("button", name="Continue", exact=True).click()
        expect(dialog.get_by_text("Step 2 of 2: confirm")).to_be_visible()
        expect(dialog.locator(".recipient")).to_contain_text("This license goes to Contoso Retail")
        audit()

    dialog.get_by_role("button", name="Assign license", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/licenses/{key}$"))
    expect(page.get_by_role("definition").filter(has_text="To Contoso Retail")).to_be_visible()
    page.get_by_role("link", name="Contoso Retail", exact=True).click()
    arrive(page, "Contoso Retail")
    expect(page.get_by_role("table", name=re.compile("^Licenses Contoso Retail holds"))).to_contain_text(key)


def test_on_the_assign_page_the_picker_searches_as_one_types(demo, page: Page, audit):
    """alice types part of a key in the picker of the assign page: the results narrow to that license without a
    page load, and the page's URL says what she searched (a reload shows the same)."""
    sign_in_as(page, "alice")
    page.goto("/licenses/assign")
    arrive(page, "Assign licenses")
    results = page.get_by_role("table", name=re.compile("^Unassigned licenses"))
    key = KEY.search(results.get_by_role("row").nth(2).inner_text()).group(0)
    page.evaluate("window.stillTheSamePage = true")  # replacing the URL is a navigation within the same document
    page.get_by_label("License key (or part of it)", exact=True).fill(key[6:17])
    expect(results.get_by_role("row")).to_have_count(2)  # its header and the license
    expect(results).to_contain_text(key)
    expect(page).to_have_url(re.compile(rf"key={key[6:17]}"))
    assert page.evaluate("window.stillTheSamePage === true"), "the search loaded a new page"
    audit()
    page.reload()
    arrive(page, "Assign licenses")
    expect(page.get_by_role("table", name=re.compile("^Unassigned licenses")).get_by_role("row")).to_have_count(2)
