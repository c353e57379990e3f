"""Installation Partner journey in a real browser, with JavaScript (DOMAIN §2, Scenario 2): a partner asks a
customer for access, the customer approves, the partner's manager chooses who exercises it and works in the
customer's chain as its installer; the customer revokes and the access ends at once. Every page passes axe-core's
serious and critical rules. The same pages without JavaScript are covered by tests/partners."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buying_journeys import arrive, sign_in_as
from tests.browser.test_sign_in_journeys import main_nav

pytestmark = pytest.mark.browser


def open_partners(page: Page, org: str) -> None:
    main_nav(page).get_by_role("link", name="Installation partners", exact=True).click()
    arrive(page, f"Installation partners of {org}")


def switch_user(page: Page, name: str) -> None:
    page.get_by_role("banner").get_by_role("button", name="Sign out", exact=True).click()
    sign_in_as(page, name)


def test_a_partner_asks_the_customer_approves_and_the_access_ends_when_revoked(demo, page, audit):
    # frank, manager of Litware Solutions, asks Fabrikam's manager for access.
    sign_in_as(page, "frank")
    open_partners(page, "Litware Solutions")
    page.get_by_label("Customer's Chain & User Manager", exact=True).fill("dave@fabrikam.example.com")
    page.get_by_role("button", name="Request Installation Partner access", exact=True).click()
    arrive(page, "Installation partners of Litware Solutions")
    expect(page.get_by_role("status")).to_be_visible()
    supported = page.get_by_role("region", name="Customers Litware Solutions supports")
    expect(supported.get_by_role("table", name="Requests waiting for the customer")).to_contain_text(
        "dave@fabrikam.example.com")
    audit()

    # dave, manager of Fabrikam Stores, approves the request.
    switch_user(page, "dave")
    open_partners(page, "Fabrikam Stores")
    given = page.get_by_role("region", name="Partners with access to Fabrikam Stores")
    waiting = given.get_by_role("table", name="Requests waiting for your approval")
    expect(waiting).to_contain_text("Litware Solutions")
    waiting.get_by_role("row").filter(has_text="Litware Solutions").get_by_role("button", name="Approve").click()
    arrive(page, "Installation partners of Fabrikam Stores")
    expect(given.get_by_role("table", name="Active")).to_contain_text("Litware Solutions")
    audit()

    # frank chooses who exercises it (himself), then works in Fabrikam Stores as its installer.
    switch_user(page, "frank")
    open_partners(page, "Litware Solutions")
    active = page.get_by_role("region", name="Customers Litware Solutions supports").get_by_role(
        "table", name="Active")
    row = active.get_by_role("row").filter(has_text="Fabrikam Stores")
    row.get_by_label("Add a user", exact=True).select_option(label="frank@litware.example.com")
    row.get_by_role("button", name="Assign", exact=True).click()
    arrive(page, "Installation partners of Litware Solutions")
    expect(active.get_by_role("row").filter(has_text="Fabrikam Stores")).to_contain_text("frank@litware.example.com")
    audit()

    working_in = page.get_by_label("Working in", exact=True)
    working_in.select_option(label="Fabrikam Stores")
    page.get_by_role("button", name="Switch", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fabrikam Stores")
    main_nav(page).get_by_role("link", name="Locations", exact=True).click()
    arrive(page, "Locations of Fabrikam Stores")
    location = page.get_by_role("link", name="Downtown Denver", exact=True)
    location_url = location.get_attribute("href")
    audit()

    # dave revokes; frank's access ends at his next request.
    switch_user(page, "dave")
    open_partners(page, "Fabrikam Stores")
    given.get_by_role("table", name="Active").get_by_role("row").filter(has_text="Litware Solutions").get_by_role(
        "link", name=re.compile("^Revoke")).click()
    question = page.get_by_role("dialog", name="End the access of Litware Solutions now?")  # a modal; nothing yet
    question.get_by_role("button", name="Revoke the access of Litware Solutions").click()
    arrive(page, "Installation partners of Fabrikam Stores")
    expect(given.get_by_role("table", name="Active")).not_to_contain_text("Litware Solutions")
    expect(given.get_by_role("table", name="Past grants and requests")).to_contain_text("Litware Solutions")
    audit()

    switch_user(page, "frank")
    expect(page.get_by_label("Working in", exact=True)).to_have_count(0)  # Litware is all he works in now
    response = page.goto(location_url)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("not found", re.IGNORECASE))
