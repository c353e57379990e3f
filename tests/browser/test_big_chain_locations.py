"""The location picker of a big chain (issue 18 item 4) in a real browser, with htmx: dave, at Fabrikam's 2,000
locations, types part of a location's name, city or postal code and picks it among the matches, without the page
reloading (what he typed elsewhere in the form stays), to add a device, move it, and filter the device list. The
pages pass axe-core's serious and critical rules under the portal's CSP. Without JavaScript:
tests/devices/test_big_chains.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_buying_journeys import arrive, sign_in_as
from tests.devices.test_big_chains import big  # noqa: F401

pytestmark = pytest.mark.browser


def test_dave_finds_locations_as_he_types_to_add_move_and_filter_devices(app, big, page: Page, audit):  # noqa: F811 - big
    sign_in_as(page, "dave")
    page.goto("/devices")
    arrive(page, "Devices of Fabrikam Stores")
    adding = page.get_by_role("region", name="Add a device")
    adding.get_by_label("Device name", exact=True).fill("Till 1234-new")  # typed first: the search keeps it
    adding.get_by_label("Find a location by name, city or postal code").fill("store 1234")
    expect(adding.get_by_role("radio")).to_have_count(1)
    adding.get_by_role("radio", name=re.compile(r"^Store 1234\b")).check()
    expect(adding.get_by_label("Device name", exact=True)).to_have_value("Till 1234-new")
    audit()
    adding.get_by_role("button", name="Add device", exact=True).click()
    arrive(page, "Till 1234-new")
    expect(page.get_by_text("Device Till 1234-new added at Store 1234.")).to_be_visible()

    moving = page.get_by_role("region", name="Move to another location")
    moving.get_by_label("Find a location by name, city or postal code").fill("Parker")
    expect(moving.get_by_role("radio")).to_have_count(20)  # the first 20 of 250 in Parker
    expect(moving.get_by_text(re.compile("The first 20 locations matching “Parker”"))).to_be_visible()
    moving.get_by_label("Find a location by name, city or postal code").fill("80006")
    # the matches of "80006" replace those of "Parker" (which may hold Store 0006 too): wait for them before choosing
    expect(moving.get_by_role("radio")).to_have_count(1)
    moving.get_by_role("radio", name=re.compile(r"^Store 0006\b")).check()
    audit()
    moving.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_text("Device Till 1234-new moved to Store 0006.")).to_be_visible()

    page.goto("/devices")
    arrive(page, "Devices of Fabrikam Stores")
    filters = page.get_by_role("search", name="Find a device")
    filters.get_by_label("Find a location by name, city or postal code").fill("Store 0777")
    filters.get_by_role("radio", name=re.compile(r"^Store 0777\b")).check()  # the list follows the choice
    expect(page.locator("#device-list")).to_contain_text("5 devices")
    expect(page.locator("#device-list")).not_to_contain_text("Till 0001-0")
    expect(page).to_have_url(re.compile(rf"location={big['stores'][777]}"))
    audit()
