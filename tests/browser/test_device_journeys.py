"""Devices and Manage Subscriptions in a real browser: dave, Chain & User Manager of Fabrikam Stores (an end
customer's main chain), adds devices at a location, finds his device plan's usage bar turned yellow with the
overrun spelled out, and the new-device email reaches every manager of the chain. Every page passes axe-core's
serious and critical rules. The same without JavaScript: tests/devices/test_views.py and tests/subscriptions.

The demo (portal/devices/demo.py) gives Fabrikam 9 counting devices at two locations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.accounts.models import Organization
from portal.extensions import db
from tests.browser.test_buying_journeys import arrive, sign_in_as
from tests.browser.test_license_journeys import wait_for_mail
from tests.browser.test_sign_in_journeys import main_nav
from tests.factories import DEMO_EMAILS, make_subscription

pytestmark = pytest.mark.browser

DEMO_DEVICES = 9


@pytest.fixture
def fabrikam_device_plan(app, demo):
    """A Device Protection plan covering exactly Fabrikam's devices: the bar is all green, nothing available."""
    with app.app_context():
        make_subscription(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), quantity=DEMO_DEVICES)
        db.session.commit()


def device_usage(page: Page):
    return page.get_by_role("region", name="Device plan").get_by_role("img", name=re.compile("usage"))


def test_dave_adds_devices_and_the_device_plan_turns_yellow_and_managers_are_emailed(
        demo, fabrikam_device_plan, page: Page, audit, mailbox):
    """Dave opens Manage Subscriptions: the device plan is fully used, nothing over. He opens Devices, adds
    two till devices at the Airport Kiosk and each time is told the chain's manager was emailed. Back on Manage
    Subscriptions the bar has a yellow part and says 11 used, 9 purchased, 2 over, with a button to buy the 2
    missing. The email names the device, its location and dave, and says whom to contact if it was not
    authorized."""
    sign_in_as(page, "dave")
    main_nav(page).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(page, "Manage Subscriptions")
    expect(device_usage(page)).to_have_attribute("aria-label", re.compile(f"{DEMO_DEVICES} of {DEMO_DEVICES} used"))
    expect(page.get_by_role("region", name="Device plan").locator("rect.usage-over")).to_have_count(0)
    audit()

    for name in ("Till 7", "Till 8"):
        main_nav(page).get_by_role("link", name="Devices", exact=True).click()
        arrive(page, "Devices of Fabrikam Stores")
        page.get_by_label("Location", exact=True).last.select_option(label="Airport Kiosk")
        page.get_by_label("Device name", exact=True).fill(name)
        page.get_by_label("Serial number", exact=True).fill(f"SN-{name[-1]}0042")
        page.get_by_role("button", name="Add device", exact=True).click()
        arrive(page, name)
        expect(page.get_by_role("status")).to_contain_text(f"Device {name} added at Airport Kiosk")
        expect(page.get_by_role("status")).to_contain_text("We emailed the Chain & User Manager of Fabrikam Stores")
        audit()

    main_nav(page).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(page, "Manage Subscriptions")
    expect(device_usage(page)).to_have_attribute("aria-label", re.compile("11 used, 9 purchased: 2 over"))
    expect(page.get_by_role("region", name="Device plan").locator("rect.usage-over")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(r"^Buy 2 more"))).to_be_visible()
    audit()

    body = wait_for_mail(mailbox, DEMO_EMAILS["dave"]).get_content()
    assert "Till 7" in body or "Till 8" in body
    assert "Airport Kiosk" in body and "Dave Diaz" in body
    assert "If you did not authorize this device, contact the vendor's support" in body
