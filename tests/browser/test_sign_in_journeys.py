"""Sign-in journeys in a real browser: each demo user signs in, finds exactly the pages their role allows in the
main navigation, opens each of them, and signs out; every page passes axe-core's serious and critical rules."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from portal.demo import DEMO_TOTP_SECRET
from tests.conftest import DEMO_PASSWORD
from tests.factories import DEMO_EMAILS

pytestmark = pytest.mark.browser

# What a Chain & User Manager of a main chain administers (portal/authz.py ROLE_PERMISSIONS x NAVIGATION); a
# reseller's also has its reseller plan.
MANAGER = ("Account", "Licenses", "Renewals", "Activations", "Customers", "Locations", "Devices", "Shipments", "Shop",
           "Orders", "Invoices", "Payments", "Manage Subscriptions", "Payment methods", "Users", "Sub-chains",
           "Transfers", "Installation partners", "Activity", "API keys", "Webhooks")
RESELLER_MANAGER = MANAGER[:13] + ("Reseller plan",) + MANAGER[13:]
BUYER = ("Account", "Licenses", "Renewals", "Customers", "Locations", "Devices", "Shipments", "Shop", "Orders",
         "Invoices", "Payments")
# End-customer users (viewers) see their account, their licenses and their devices; installers install and
# support: activations, locations and devices.
VIEWER = ("Account", "Licenses", "Locations", "Devices", "Shipments")
INSTALLER = ("Account", "Activations", "Locations", "Devices", "Shipments")

# user -> (where signing in lands: the home page, what needs their attention; the main navigation in order)
JOURNEYS = {
    # vendor staff, no organization
    "ops": ("/", ("Catalog", "Organizations", "Invoices", "Seller settings", "Transfers", "Shipments", "Audit log",
                  "Sent mail", "Notifications")),
    "alice": ("/", RESELLER_MANAGER),  # manager of Northwind IT, a reseller
    "bob": ("/", BUYER),  # member of Northwind IT
    "carol": ("/", VIEWER),  # viewer of the sub-chain Contoso Retail
    "dave": ("/", MANAGER),  # manager of Fabrikam Stores
    "erin": ("/", INSTALLER),  # installer on Fabrikam Stores (her first organization), member of Northwind
    "frank": ("/", RESELLER_MANAGER),  # manager of Litware Solutions, a reseller
}

def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main", exact=True)


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD, audit: Callable[[], None] | None = None) -> None:
    """Sign in; the demo's staff user then enters the code an authenticator app with the demo's published key
    shows (staff must use two-step sign-in)."""
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    if email == DEMO_EMAILS["ops"] and password == DEMO_PASSWORD:
        expect(page).to_have_url(re.compile(r"/login/two-step$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
        if audit is not None:
            audit()
        page.get_by_label("Code", exact=True).fill(pyotp.TOTP(DEMO_TOTP_SECRET).now())
        page.get_by_role("button", name="Continue", exact=True).click()


def expect_sign_in_page(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(main_nav(page)).to_have_count(0)


@pytest.mark.parametrize("name", JOURNEYS)
def test_each_demo_user_finds_the_pages_of_their_role_and_signs_out(demo, page, audit, name):
    """A demo user signs in on the sign-in page, lands on their start page, sees exactly the pages their role
    allows, opens each one from the main navigation, and signs out from the header."""
    landing, navigation = JOURNEYS[name]
    page.goto("/login")
    expect_sign_in_page(page)
    audit()

    sign_in(page, DEMO_EMAILS[name], audit=audit)
    expect(page).to_have_url(re.compile(r"^https?://[^/]+" + re.escape(landing) + "$"))
    expect(page.get_by_role("status")).to_contain_text("Welcome,")
    expect(main_nav(page).get_by_role("link")).to_have_text(navigation)

    for label in navigation:
        link = main_nav(page).get_by_role("link", name=label, exact=True)
        with page.expect_navigation() as opened:
            link.click()
        assert opened.value.status == 200, f"{label} answered {opened.value.status}"
        expect(main_nav(page).get_by_role("link")).to_have_text(navigation)
        expect(main_nav(page).get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        audit()

    page.get_by_role("banner").get_by_role("button", name="Sign out", exact=True).click()
    expect_sign_in_page(page)
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")


def test_erin_switches_between_her_organizations(demo, page, audit):
    """Erin belongs to two main chains: she starts in Fabrikam Stores (the first by name) as its Installation
    Partner, switches to Northwind IT from the header, and as a Master user there she may shop and see orders."""
    page.goto("/login")
    sign_in(page, DEMO_EMAILS["erin"])
    working_in = page.get_by_label("Working in", exact=True)
    expect(working_in.locator("option:checked")).to_have_text("Fabrikam Stores")
    expect(page.get_by_role("heading", level=1)).to_have_text("Fabrikam Stores")
    expect(main_nav(page).get_by_role("link")).to_have_text(INSTALLER)

    working_in.select_option(label="Northwind IT")
    page.get_by_role("button", name="Switch", exact=True).click()

    expect(page).to_have_url(re.compile(r"/account$"))
    expect(working_in.locator("option:checked")).to_have_text("Northwind IT")
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind IT")
    expect(main_nav(page).get_by_role("link")).to_have_text(BUYER)
    audit()


def test_a_wrong_password_is_explained_beside_the_password_field(demo, page, audit):
    """A wrong password keeps Alice on the sign-in page; the error sits beside the password field, is announced with
    it, and the page still passes axe."""
    page.goto("/login")
    sign_in(page, DEMO_EMAILS["alice"], "not-the-password")

    expect_sign_in_page(page)
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(re.compile("do not match"))
    expect(page.locator("#password-error")).to_contain_text("do not match")
    expect(page.get_by_label("Email", exact=True)).to_have_value(DEMO_EMAILS["alice"])
    audit()
