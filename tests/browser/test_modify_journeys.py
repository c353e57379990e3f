"""Modifying a license in a real browser, with JavaScript: alice (Chain & User Manager of Northwind IT, Gold,
invoiced monthly) opens Modify existing license from her cart, finds the MailSuite license she resold to Contoso
Retail by its key, sees the upgrade's price follow her choices, puts it in the cart, checks out with Invoice me;
then carol, a user of Contoso Retail, signs in and sees that her license now needs reactivating. Every page passes
axe-core's serious and critical rules. The same without JavaScript: tests/licenses/test_modify_views.py.

The demo (portal/licenses/demo.py) gives Contoso Retail a MailSuite Enterprise license for 100 mailboxes, active
on an installation; MailSuite Enterprise lists at $7.00 per mailbox (portal/catalog/demo.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.catalog.models import Product
from portal.extensions import db
from portal.licenses.models import License
from tests.browser.test_buying_journeys import (
    arrive,
    cart_link,
    no_page_load,
    order_number,
    place_order_button,
    sign_in_as,
)
from tests.browser.test_sign_in_journeys import main_nav

pytestmark = pytest.mark.browser


@pytest.fixture
def carols_license(app, demo) -> str:
    """The key of the MailSuite license Northwind IT resold to Contoso Retail (carol's organization)."""
    with app.app_context():
        key = db.session.scalar(
            select(License.key).join(Product, License.product_id == Product.id)
            .join(Organization, License.customer_id == Organization.id)
            .where(Organization.name == "Contoso Retail", Product.slug == "mailsuite", License.quantity == 100))
        db.session.remove()
    assert key, "the demo resells a MailSuite license for 100 mailboxes to Contoso Retail"
    return key


def upgrade_price(page: Page):
    """The upgrade's price, a live region htmx replaces after every change."""
    return page.locator("#upgrade-price")


def test_alice_upgrades_carols_license_found_by_key_and_carol_sees_reactivation_required(page, audit,
                                                                                        carols_license):
    """Alice opens her cart and chooses Modify existing license; among her resold licenses she types the key of
    Contoso's MailSuite license and presses Go, then Select. A lower edition is refused with a word to contact
    the vendor; 250 mailboxes instead of 100 cost the difference, $1,050.00 at list price, shown without leaving
    the page. In the cart and at checkout the upgrade is priced like everything else (Gold: 20 % off); she
    places the order with Invoice me. Carol then signs in and finds the license upgraded and marked
    "reactivation required"."""
    key = carols_license
    sign_in_as(page, "alice")
    cart_link(page).click()
    arrive(page, "Your cart")
    page.get_by_role("link", name="Modify existing license", exact=True).click()
    arrive(page, "Modify existing license")
    expect(page.get_by_role("link", name="Resold licenses", exact=True)).to_have_attribute("aria-current", "page")
    audit()

    page.get_by_label("License key", exact=True).fill(key.lower())  # as read aloud: case does not matter
    page.get_by_role("button", name="Go", exact=True).click()
    found = page.get_by_role("table", name="License found")
    expect(found).to_contain_text(key)
    expect(page.get_by_text("Assigned to Contoso Retail.")).to_be_visible()
    audit()
    found.get_by_role("link", name=re.compile(r"^Select")).click()
    arrive(page, f"Modify license {key}")
    expect(page.get_by_role("term").filter(has_text="Quantity").locator("+ dd")).to_have_text("100 mailboxes")

    with no_page_load(page):
        page.get_by_label("Edition", exact=True).select_option(label="Professional")
        expect(upgrade_price(page)).to_contain_text("contact the vendor")
        page.get_by_label("Edition", exact=True).select_option(label="Enterprise")
        page.get_by_label("Quantity (mailboxes)", exact=True).select_option(label="250 mailboxes")
        expect(upgrade_price(page)).to_contain_text("$1,050.00")  # 150 more mailboxes at $7.00
        expect(upgrade_price(page)).to_contain_text("100 to 250 mailboxes")
    audit()
    page.get_by_role("button", name="Add upgrade to cart", exact=True).click()

    arrive(page, "Your cart")
    expect(page.get_by_role("status")).to_contain_text(f"Added to your cart: Upgrade of license {key}")
    row = page.get_by_role("table", name="Items in your cart").get_by_role("row").filter(has_text=key)
    expect(row).to_contain_text("100 to 250 mailboxes")
    expect(row).to_contain_text("$1,050.00")
    expect(cart_link(page)).to_have_accessible_name("Cart 1 item")
    audit()

    page.get_by_role("link", name="Checkout", exact=True).click()
    arrive(page, "Checkout")
    order = page.get_by_role("table", name="Your order")
    expect(order).to_contain_text(f"Upgrade of license {key}: 100 to 250 mailboxes")
    expect(order.get_by_role("row", name=re.compile(r"^Gold partner discount \(20%\)"))).to_contain_text("−$210.00")
    expect(order.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text("$840.00")
    page.get_by_role("radio", name="Invoice me").check()
    place_order_button(page).click()

    number = order_number(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(page.get_by_role("table", name="Items")).to_contain_text("Upgrade: MailSuite Mail Server Enterprise, "
                                                                    "250 mailboxes")
    audit()
    page.get_by_role("banner").get_by_role("button", name="Sign out", exact=True).click()

    sign_in_as(page, "carol")
    main_nav(page).get_by_role("link", name="Licenses", exact=True).click()
    arrive(page, "Licenses of Contoso Retail")
    entry = page.get_by_role("row").filter(has_text=key)
    expect(entry).to_contain_text("250")
    expect(entry).to_contain_text(re.compile("reactivation required", re.IGNORECASE))
    expect(page.get_by_text("$1,050.00")).to_have_count(0)  # nothing of the reseller's prices
    audit()
