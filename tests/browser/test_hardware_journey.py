"""Hardware from the shop to a counting device, in a real browser with JavaScript (issue 20): dave (Fabrikam Stores)
gives Airport Kiosk its street address and orders two People counters shipped there; staff mark the shipment shipped
with its tracking number, then delivered; erin, Fabrikam's installer, installs one and dave's location plan counts
it; the counter fails, erin asks for a return, staff approve it and ship the replacement, erin installs it, and the
plan still counts one device there, not two. Before anyone installs them, Manage Subscriptions says what they will
need. Every page passes axe-core's serious and critical rules. Without
JavaScript: tests/hardware/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.devices.models import Device
from portal.extensions import db
from tests.browser.test_buying_journeys import (
    APPROVED_VISA,
    arrive,
    card_fields,
    cart_link,
    place_order_button,
    sign_in_as,
    type_card,
)
from tests.browser.test_sign_in_journeys import main_nav
from tests.factories import make_hardware_product

pytestmark = pytest.mark.browser

TRACKING = "1Z999AA10123456784"


@pytest.fixture
def counter(app, demo) -> str:
    """The vendor's People counter: $349.00 a unit, $15.00 shipping per order, ships to the US and Canada, and
    each unit becomes a counting device once installed. Two of Airport Kiosk's six kiosks are spares on the shelf,
    so the four that count need one location subscription and a fifth needs a second."""
    with app.app_context():
        product = make_hardware_product("People counter", shipping_per_unit_minor=None)
        for device in db.session.scalars(select(Device).where(Device.name.in_(("Airport kiosk 5",
                                                                               "Airport kiosk 6")))):
            device.counts = False
        db.session.commit()
        return product.slug


def location_usage(page: Page):
    """The location plan's usage bar on Manage Subscriptions (its accessible name says used and purchased)."""
    return page.get_by_role("region", name="Location plan").get_by_role("img", name=re.compile("usage"))


def test_dave_orders_counters_staff_ship_them_erin_installs_and_a_return_replaces_one_without_counting_twice(
        demo, counter, browser, live_server, page: Page, audit):
    dave = page
    sign_in_as(dave, "dave")
    # Airport Kiosk needs a street address before anything ships there
    main_nav(dave).get_by_role("link", name="Devices", exact=True).click()
    dave.get_by_role("link", name=re.compile("Locations")).first.click()
    dave.get_by_role("link", name="Airport Kiosk", exact=True).first.click()
    arrive(dave, "Airport Kiosk")
    edit = dave.get_by_role("region", name="Rename or change the address")
    edit.get_by_label("Street", exact=True).fill("8500 Peña Blvd")
    edit.get_by_label("City", exact=True).fill("Denver")
    edit.get_by_label("State or region", exact=True).fill("CO")
    edit.get_by_label("Postal code", exact=True).fill("80249")
    edit.get_by_label("Country", exact=True).fill("US")
    edit.get_by_role("button", name="Save", exact=True).click()
    expect(dave.get_by_role("status")).to_be_visible()
    audit()

    main_nav(dave).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(dave, "Manage Subscriptions")
    expect(location_usage(dave)).to_have_attribute("aria-label", re.compile(r": 2 of 2 used"))

    main_nav(dave).get_by_role("link", name="Shop", exact=True).click()
    arrive(dave, "Shop")
    dave.get_by_role("link", name="People counter", exact=True).click()
    arrive(dave, "People counter")
    dave.get_by_label("Number of units", exact=True).fill("2")
    ship_to = dave.get_by_label("Ship to", exact=True)
    ship_to.select_option(ship_to.locator("option", has_text="Airport Kiosk").first.get_attribute("value"))
    audit()
    dave.get_by_role("button", name="Add to cart", exact=True).click()
    expect(cart_link(dave)).to_have_accessible_name("Cart 1 item")
    cart_link(dave).click()
    arrive(dave, "Your cart")
    expect(dave.get_by_role("main")).to_contain_text("Airport Kiosk")
    dave.get_by_role("link", name="Checkout", exact=True).click()
    arrive(dave, "Checkout")
    expect(dave.get_by_role("main")).to_contain_text("Airport Kiosk")
    expect(dave.get_by_role("main")).to_contain_text("$15.00")  # shipping, once for the order
    audit()
    card = dave.get_by_role("radio", name="Pay now by card")
    if card.count():
        card.check()
    new_card = dave.get_by_role("radio", name="A new card")
    if new_card.count():
        new_card.check()
    type_card(card_fields(dave), APPROVED_VISA, "Dave Diaz")  # in the processor's hosted fields (a frame)
    place_order_button(dave).click()
    expect(dave.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Order ORD-"))
    shipments = dave.get_by_role("table", name="Shipments", exact=True)
    expect(shipments).to_contain_text("Awaiting shipment")
    number = re.search(r"SHP-[0-9A-Z]{10}", shipments.inner_text()).group(0)
    audit()

    staff = browser.new_context(base_url=live_server).new_page()
    sign_in_as(staff, "ops")
    staff.goto("/admin/shipments")
    row = staff.locator("tr", has_text=number)
    row.get_by_label("Carrier", exact=True).fill("UPS")
    row.get_by_label("Tracking number", exact=True).fill(TRACKING)
    row.get_by_role("button", name=f"Mark shipped {number}", exact=True).click()
    expect(staff.locator("tr", has_text=number)).to_contain_text(TRACKING)
    staff.locator("tr", has_text=number).get_by_role("button", name=f"Mark delivered {number}", exact=True).click()
    expect(staff.get_by_role("status")).to_contain_text(number)

    dave.reload()
    expect(dave.get_by_role("table", name="Shipments", exact=True)).to_contain_text("Delivered")
    dave.goto("/subscriptions")
    arrive(dave, "Manage Subscriptions")  # before anyone installs them, what they will need
    preview = dave.get_by_role("region", name="Delivered, not installed")
    expect(preview).to_contain_text("Installing these 2 delivered devices needs 1 more location subscription")
    expect(preview.get_by_role("button", name=re.compile(r"^Buy 1 more"))).to_be_visible()
    audit()

    erin = browser.new_context(base_url=live_server).new_page()
    sign_in_as(erin, "erin")  # an installer in Fabrikam Stores, her first organization
    main_nav(erin).get_by_role("link", name="Devices", exact=True).click()
    arrive(erin, "Devices of Fabrikam Stores")
    waiting = erin.get_by_role("region", name="Delivered, not installed")
    expect(waiting.get_by_role("row").filter(has_text="Airport Kiosk")).to_have_count(2)
    waiting.get_by_role("link", name=re.compile(r"^Install ")).first.click()
    erin.get_by_label("Device name", exact=True).fill("Kiosk counter")
    erin.get_by_role("button", name="Install", exact=True).click()
    arrive(erin, "Kiosk counter")
    expect(erin.get_by_role("status")).to_contain_text("installed")

    dave.goto("/subscriptions")
    arrive(dave, "Manage Subscriptions")  # a fifth counting device at Airport Kiosk: a second subscription there
    expect(location_usage(dave)).to_have_attribute("aria-label", re.compile(r": 3 used, 2 purchased: 1 over"))
    audit()

    # the counter fails: erin asks for a return from its page
    erin.get_by_label("Reason", exact=True).fill("The sensor counts nobody since Monday.")
    erin.get_by_role("button", name="Request a return", exact=True).click()
    expect(erin.get_by_role("status")).to_be_visible()

    staff.goto("/admin/shipments")
    request = staff.get_by_role("article").filter(has_text="Kiosk counter")
    request.get_by_role("button", name="Approve and ship a replacement for Kiosk counter", exact=True).click()
    expect(staff.get_by_role("status")).to_be_visible()
    replacement = staff.locator("tr", has_text="Replacement (RMA)").first
    replacement_number = re.search(r"SHP-[0-9A-Z]{10}", replacement.inner_text()).group(0)
    replacement.get_by_label("Carrier", exact=True).fill("UPS")
    replacement.get_by_label("Tracking number", exact=True).fill("1Z999AA10123456785")
    replacement.get_by_role("button", name=f"Mark shipped {replacement_number}", exact=True).click()
    staff.locator("tr", has_text=replacement_number).get_by_role(
        "button", name=f"Mark delivered {replacement_number}", exact=True).click()
    expect(staff.get_by_role("status")).to_contain_text(replacement_number)

    main_nav(erin).get_by_role("link", name="Devices", exact=True).click()
    arrive(erin, "Devices of Fabrikam Stores")
    waiting = erin.get_by_role("region", name="Delivered, not installed")
    expect(waiting.get_by_role("row").filter(has_text="Airport Kiosk")).to_have_count(2)  # the spare and the new one
    replacement_row = waiting.get_by_role("row").filter(has_text=re.compile("Kiosk counter|replac", re.I))
    replacement_row.get_by_role("link", name=re.compile(r"^Install ")).first.click()
    erin.get_by_label("Device name", exact=True).fill("Kiosk counter 2")
    erin.get_by_role("button", name="Install", exact=True).click()
    arrive(erin, "Kiosk counter 2")

    dave.goto("/subscriptions")
    arrive(dave, "Manage Subscriptions")
    # replaced, not added: the returned counter stopped counting, so the plan counts what it did
    expect(location_usage(dave)).to_have_attribute("aria-label", re.compile(r": 3 used, 2 purchased: 1 over"))
    audit()
