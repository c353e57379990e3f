"""From box to device in a real browser (issue 20, item 4): two counters were delivered to Fabrikam's Downtown
Denver; dave's Manage Subscriptions says installing them needs one more location subscription; erin, Fabrikam's
installer, finds them under "Delivered, not installed" on Devices and installs both; the location plan's bar then
shows one more used. Every page passes axe-core's serious and critical rules. Without JavaScript:
tests/hardware/test_installing.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.accounts.models import User
from portal.audit.services import Actor
from portal.devices.models import Location
from portal.extensions import db
from portal.hardware.shipping import mark_delivered, mark_shipped
from tests.browser.test_buying_journeys import arrive, sign_in_as
from tests.browser.test_sign_in_journeys import main_nav
from tests.factories import make_hardware_product, make_shipment

pytestmark = pytest.mark.browser


@pytest.fixture
def delivered_to_denver(app, demo) -> list[str]:
    """Two People counters ordered by dave, shipped and delivered at Downtown Denver (3 counting devices): their
    serial numbers."""
    with app.app_context():
        denver = db.session.scalars(select(Location).where(Location.name == "Downtown Denver")).one()
        shipment = make_shipment(denver, db.session.get(User, demo.users["dave"]), quantity=2,
                                 product=make_hardware_product("People counter"))
        mark_shipped(shipment, "UPS", "1Z999AA10123456784", Actor.system())
        mark_delivered(shipment, Actor.system())
        db.session.commit()
        return [unit.serial_number for unit in shipment.units]


def location_usage(page: Page):
    return page.get_by_role("region", name="Location plan").get_by_role("img", name=re.compile("usage"))


def test_erin_installs_the_delivered_counters_and_the_location_plan_counts_them(
        demo, delivered_to_denver, browser, live_server, page: Page, audit):
    dave_context = browser.new_context(base_url=live_server)  # dave's own browser; erin's is the audited page
    dave = dave_context.new_page()
    sign_in_as(dave, "dave")
    main_nav(dave).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(dave, "Manage Subscriptions")
    preview = dave.get_by_role("region", name="Delivered, not installed")
    expect(preview).to_contain_text("Installing these 2 delivered devices needs 1 more location subscription")
    expect(preview.get_by_role("button", name=re.compile(r"^Buy 1 more"))).to_be_visible()
    expect(location_usage(dave)).to_have_attribute("aria-label", re.compile("3 used, 2 purchased: 1 over"))

    erin = page
    sign_in_as(erin, "erin")  # an installer in Fabrikam Stores, her first organization
    for n, serial in enumerate(delivered_to_denver, start=1):
        main_nav(erin).get_by_role("link", name="Devices", exact=True).click()
        arrive(erin, "Devices of Fabrikam Stores")
        waiting = erin.get_by_role("region", name="Delivered, not installed")
        expect(waiting.get_by_role("row", name=re.compile(serial))).to_contain_text("Downtown Denver")
        audit()
        waiting.get_by_role("link", name=f"Install {serial}", exact=True).click()
        arrive(erin, f"Install People counter {serial}")
        audit()
        expect(erin.get_by_label("Device name", exact=True)).to_have_value(f"People counter {serial}")
        erin.get_by_label("Device name", exact=True).fill(f"Denver counter {n}")
        erin.get_by_role("button", name="Install", exact=True).click()
        arrive(erin, f"Denver counter {n}")
        expect(erin.get_by_role("status")).to_contain_text(f"Unit {serial} installed.")
        expect(erin.get_by_role("status")).to_contain_text("We emailed the Chain & User Manager of Fabrikam Stores")
        audit()
    main_nav(erin).get_by_role("link", name="Devices", exact=True).click()
    arrive(erin, "Devices of Fabrikam Stores")
    expect(erin.get_by_role("region", name="Delivered, not installed")).to_have_count(0)

    dave.reload()
    arrive(dave, "Manage Subscriptions")
    expect(location_usage(dave)).to_have_attribute("aria-label", re.compile("4 used, 2 purchased: 2 over"))
    expect(dave.get_by_role("region", name="Delivered, not installed")).to_have_count(0)
    dave_context.close()
