"""Manage Subscriptions without JavaScript: each plan's type, interval, quantity, list price (with the note that it
is not the amount billed), next payment and expiry; the usage bar and its numbers in words for a plan used within,
exactly to and beyond its quantity; "Buy N more" puts exactly the missing quantity in the cart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization, Role
from portal.cart.models import CartItem
from portal.extensions import db
from tests.conftest import PortalClient
from tests.factories import demo_product, make_device, make_location, make_member, make_org, make_subscription

PRICE_NOTE = "Prices are list prices per unit, not the amount finally billed: your discount and taxes apply"


def add_devices(org: Organization, per_location: list[int], spares: int = 0) -> None:
    """A location per entry of `per_location` with that many counting devices (and `spares` spares at the first
    location, which do not count)."""
    for n, devices in enumerate(per_location):
        location = make_location(org)
        for _ in range(devices):
            make_device(location)
        for _ in range(spares if n == 0 else 0):
            make_device(location, counts=False)


@dataclass(frozen=True)
class Chain:
    """A main chain of its own (the demo's chains have devices of their own) and its signed-in manager."""

    id: int
    client: PortalClient


@pytest.fixture
def chain(app, demo) -> Chain:
    with app.app_context():
        org = make_org("Bluebell Stores")
        manager = make_member(org, Role.MANAGER).user
        org_id, email = org.id, manager.email
        db.session.commit()
    client = app.test_client()
    client.login(email, "a-long-password")
    return Chain(org_id, client)


def _with(app, chain: Chain, devices: list[int], device_plan: int | None = 8, location_plan: int | None = None,
          **plan_fields) -> str:
    """The chain with these devices per location and plans: its Manage Subscriptions page."""
    with app.app_context():
        org = db.session.get(Organization, chain.id)
        add_devices(org, devices)
        if device_plan is not None:
            make_subscription(org, "device-protection", device_plan, **plan_fields)
        if location_plan is not None:
            make_subscription(org, "location-plan", location_plan)
        db.session.commit()
    return chain.client.get("/subscriptions").get_data(as_text=True)


def _group(html: str, basis: str) -> str:
    """The section of the page about one kind of plan."""
    return html.split(f'aria-labelledby="plans-{basis}"')[1].split("</section>")[0]


def test_each_plan_shows_its_terms_at_list_price_with_its_dates(app, chain):
    with app.app_context():
        org = db.session.get(Organization, chain.id)
        make_subscription(org, "device-protection", 8, next_payment_on=date(2031, 5, 1))
        make_subscription(org, "location-plan", 3, next_payment_on=date(2031, 1, 15), expires_on=date(2032, 1, 14))
        db.session.commit()
    html = chain.client.get("/subscriptions").get_data(as_text=True)
    devices, locations = _group(html, "device"), _group(html, "location")
    assert PRICE_NOTE in html
    assert "Device Protection" in devices and "Device plan" in devices and "Monthly" in devices
    assert re.search(r"<td[^>]*>8</td>", devices) and "$4.00" in devices and "(list price)" in devices
    assert "2031-05-01" in devices and "Not configured to expire" in devices
    assert "Location Plan" in locations and "Location plan" in locations and "Annual" in locations
    assert re.search(r"<td[^>]*>3</td>", locations) and "$240.00" in locations
    assert "2031-01-15" in locations and "Expires on 2032-01-14" in locations
    assert "Not configured to expire" not in locations
    assert 'href="/payment-methods"' in html and 'href="/shop"' in html


def test_a_plan_used_within_its_quantity_shows_green_and_grey(app, chain):
    devices = _group(_with(app, chain, [3, 2]), "device")
    assert "5 of 8 used, 3 available" in devices
    assert 'role="img" aria-label="Device plan usage: 5 of 8 used, 3 available"' in devices
    assert '<rect class="usage-within" x="0" y="0" width="62.5"' in devices
    assert '<rect class="usage-available" x="62.5" y="0" width="37.5"' in devices
    assert '<rect class="usage-over"' not in devices
    assert "Buy" not in devices


def test_a_plan_used_exactly_has_nothing_available_and_nothing_over(app, chain):
    devices = _group(_with(app, chain, [4, 4]), "device")
    assert "8 of 8 used, 0 available" in devices
    assert '<rect class="usage-within" x="0" y="0" width="100.0"' in devices
    assert '<rect class="usage-available"' not in devices and '<rect class="usage-over"' not in devices
    assert "Buy" not in devices


def test_a_plan_used_beyond_its_quantity_shows_yellow_says_so_and_offers_the_missing_quantity(app, chain):
    devices = _group(_with(app, chain, [6, 5]), "device")
    assert "11 used, 8 purchased: 3 over — add 3 to stay covered" in devices
    assert '<rect class="usage-within" x="0" y="0" width="72.73"' in devices
    assert '<rect class="usage-over" x="72.73" y="0" width="27.27"' in devices
    assert '<rect class="usage-available"' not in devices
    assert ">Buy 3 more<" in devices


def test_spares_do_not_count_and_sub_chains_devices_do(app, chain):
    with app.app_context():
        org = db.session.get(Organization, chain.id)
        add_devices(org, [2], spares=5)
        add_devices(make_org("Bluebell Outlet", parent=org), [3])
        make_subscription(org, "device-protection", 8)
        db.session.commit()
    devices = _group(chain.client.get("/subscriptions").get_data(as_text=True), "device")
    assert "5 of 8 used, 3 available" in devices


def test_the_location_plan_follows_the_four_devices_rule(app, chain):
    # 5 devices need 2 subscriptions, an empty location 1, 4 devices 1: 4 needed, 3 bought.
    locations = _group(_with(app, chain, [5, 0, 4], device_plan=None, location_plan=3), "location")
    assert "4 used, 3 purchased: 1 over — add 1 to stay covered" in locations
    assert ">Buy 1 more<" in locations


def test_buy_n_more_puts_exactly_the_missing_quantity_of_that_plan_in_the_cart(app, chain):
    devices = _group(_with(app, chain, [6, 5]), "device")
    assert ">Buy 3 more<" in devices
    response = chain.client.submit("/subscriptions", {}, button="Buy 3 more of Device Protection")
    assert response.status_code == 302 and response.headers["Location"].endswith("/cart")
    with app.app_context():
        items = list(db.session.scalars(select(CartItem).where(CartItem.organization_id == chain.id)))
        assert [(i.product_id, i.quantity, i.copies) for i in items] == [(demo_product("device-protection").id, 3, 1)]
    assert "Device Protection" in chain.client.get("/cart").get_data(as_text=True)


def test_a_chain_without_plans_is_told_where_to_buy_one(app, chain):
    html = chain.client.get("/subscriptions").get_data(as_text=True)
    assert "Bluebell Stores has no device or location plan yet." in html
    assert "usage-bar" not in html and PRICE_NOTE not in html


def test_devices_without_a_plan_of_their_kind_are_pointed_out(app, chain):
    html = _with(app, chain, [3, 1], device_plan=None)
    assert "4 of your devices count towards a device plan, but Bluebell Stores has no device plan." in html
    assert "Your locations need 2 location subscriptions, but Bluebell Stores has no location plan." in html


def test_a_plan_no_longer_sold_offers_the_shop_instead_of_the_cart(app, chain):
    _with(app, chain, [9])
    with app.app_context():
        demo_product("device-protection").active = False
        db.session.commit()
    devices = _group(chain.client.get("/subscriptions").get_data(as_text=True), "device")
    assert "No longer sold" in devices and 'action="/cart"' not in devices


def test_another_chains_plans_and_devices_do_not_count(app, chain, demo):
    with app.app_context():
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        add_devices(litware, [7])
        make_subscription(litware, "device-protection", 2)
        db.session.commit()
    devices = _group(_with(app, chain, [1]), "device")
    assert "1 of 8 used, 7 available" in devices


def test_the_demo_shows_fabrikams_location_plan_short_of_what_its_locations_need(app, login, demo):
    """The demo (issue 6): two Fabrikam locations, 3 and 6 devices, need 1 + 2 location subscriptions; 2 bought."""
    locations = _group(login("dave").get("/subscriptions").get_data(as_text=True), "location")
    assert "3 used, 2 purchased: 1 over — add 1 to stay covered" in locations and ">Buy 1 more<" in locations


@pytest.mark.parametrize("user", ["bob", "carol", "erin"])
def test_only_a_main_chains_managers_open_manage_subscriptions(app, login, demo, user):
    """bob is a Master user, carol a sub-chain's viewer, erin a Master user of Northwind and an installer of
    Fabrikam: none may manage subscriptions, wherever they work."""
    client = login(user)
    assert client.get("/subscriptions").status_code == 403
    assert "Manage Subscriptions" not in client.get("/help").get_data(as_text=True)


def test_managers_find_manage_subscriptions_in_the_navigation(app, login, demo):
    for user in ("alice", "dave"):
        html = login(user).get("/help").get_data(as_text=True)
        assert '<a href="/subscriptions" >Manage Subscriptions</a>' in html


def test_a_chain_on_a_location_plan_is_not_told_it_lacks_a_device_plan(app, login, demo):
    """Fabrikam covers its devices with a location plan: no notice that it has no device plan."""
    html = login("dave").get("/subscriptions").get_data(as_text=True)
    assert "has no device plan" not in html and "Location plan" in html
