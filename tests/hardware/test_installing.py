"""From box to device (issue 20, item 4): delivered units wait at their location with their serial numbers; a
manager or installer installs one and it becomes a counting device (the managers emailed, the usage moved by one);
an RMA replacement takes the returned device's place without counting twice; Manage Subscriptions says what
installing the delivered units will need before it happens."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Membership, Organization, Role, User
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.catalog.models import Product, SubscriptionBasis
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware import installing
from portal.hardware.models import ShipmentUnit
from portal.hardware.shipping import mark_delivered, mark_shipped
from portal.outbox.models import OutboxMessage
from portal.subscriptions.overview import plan_groups
from portal.subscriptions.usage import plan_usage
from tests.factories import (
    make_device,
    make_hardware_product,
    make_location,
    make_org,
    make_shipment,
    make_shippable_location,
)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _location(name: str) -> Location:
    return db.session.scalars(select(Location).where(Location.name == name)).one()


def _delivered(location: Location, quantity: int = 1, *, deliver: bool = True, **product) -> list[int]:
    """Units of a People-counter-like product shipped to `location` (and delivered unless told): their ids."""
    # ordered by a manager it has (a new one otherwise), so that the demo chains' managers stay who they are
    buyer = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.organization_id == location.organization_id, Membership.role == Role.MANAGER)).first()
    shipment = make_shipment(location, buyer, quantity=quantity, product=make_hardware_product(**product))
    mark_shipped(shipment, "UPS", "1Z999AA10123456784", Actor.system())
    if deliver:
        mark_delivered(shipment, Actor.system())
    return [unit.id for unit in shipment.units]


def _deliver_at(app, name: str, quantity: int = 1, **kwargs) -> list[int]:
    with app.app_context():
        ids = _delivered(_location(name), quantity, **kwargs)
        db.session.commit()
    return ids


def _emails(app, subject_part: str) -> list[OutboxMessage]:
    with app.app_context():
        return [m for m in db.session.scalars(select(OutboxMessage)) if subject_part in m.subject]


def _usage(app, org_id: int) -> dict[SubscriptionBasis, int]:
    with app.app_context():
        return plan_usage(org_id)


def _unit(app, unit_id: int) -> ShipmentUnit:
    with app.app_context():
        unit = db.session.get(ShipmentUnit, unit_id)
        db.session.expunge(unit)
        return unit


def _install(client, unit_id: int, name: str | None = None):
    data = {} if name is None else {"name": name}
    return client.submit(f"/deliveries/{unit_id}/install", data, button="Install")


# ---------------------------------------------------------------- where they wait


def test_delivered_units_wait_at_their_location_and_on_devices_with_their_serial_numbers(app, login, demo):
    delivered = _deliver_at(app, "Airport Kiosk", 2)
    in_transit = _deliver_at(app, "Airport Kiosk", 1, deliver=False)
    serials = [_unit(app, unit_id).serial_number for unit_id in delivered]
    dave = login("dave")
    with app.app_context():
        airport = _location("Airport Kiosk").id
    for url in (f"/locations/{airport}", "/devices"):
        page = _text(dave.get(url))
        assert "Delivered, not installed" in page, url
        assert "2 units were delivered and wait to be installed" in page, url
        assert all(serial in page for serial in serials), url
        assert _unit(app, in_transit[0]).serial_number not in page, url  # shipped, not delivered yet
        for unit_id in delivered:
            assert f'href="/deliveries/{unit_id}/install"' in page, url


def test_a_master_user_sees_delivered_units_but_is_offered_no_install(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        [unit_id] = _delivered(make_location(northwind, "Seattle Office"))
        db.session.commit()
    bob = login("bob")  # a Master user of Northwind: VIEW_DEVICES, not MANAGE_DEVICES
    page = _text(bob.get("/devices"))
    assert _unit(app, unit_id).serial_number in page and f"/deliveries/{unit_id}/install" not in page
    assert bob.get(f"/deliveries/{unit_id}/install").status_code == 403


def test_a_location_without_deliveries_shows_no_such_section(app, login, demo):
    with app.app_context():
        denver = _location("Downtown Denver").id
    assert "Delivered, not installed" not in _text(login("dave").get(f"/locations/{denver}"))


# ---------------------------------------------------------------- installing


def test_erin_installs_a_unit_in_fabrikam_and_it_counts_from_then_on(app, login, demo):
    """The installer of Fabrikam (through Northwind's partner grant) installs a unit at Downtown Denver: a counting
    device there with the unit's serial number, added by her; Fabrikam's managers are emailed; one more device is
    counted."""
    [unit_id] = _deliver_at(app, "Downtown Denver")
    fabrikam = demo.orgs["Fabrikam Stores"]
    before = _usage(app, fabrikam)
    unit = _unit(app, unit_id)
    erin = login("erin")
    form = _text(erin.get(f"/deliveries/{unit_id}/install"))
    assert 'value="Counter ' in form and unit.serial_number in form  # the name offered: product and serial

    response = _install(erin, unit_id)
    assert response.status_code == 302
    with app.app_context():
        installed = db.session.get(ShipmentUnit, unit_id)
        device = db.session.get(Device, installed.device_id)
        assert device.location_id == _location("Downtown Denver").id and device.organization_id == fabrikam
        assert device.serial_number == unit.serial_number and device.counts
        assert device.name.endswith(unit.serial_number)
        assert device.added_by_id == installed.installed_by_id == demo.users["erin"]
        assert installed.installed_at is not None
        assert response.headers["Location"].endswith(f"/devices/{device.id}")
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "shipment_unit.installed")) == 1
    after = _usage(app, fabrikam)
    assert after[SubscriptionBasis.DEVICE] == before[SubscriptionBasis.DEVICE] + 1
    # Downtown Denver had 3 counting devices: the 4th still fits its one location subscription
    assert after[SubscriptionBasis.LOCATION] == before[SubscriptionBasis.LOCATION]
    [email] = _emails(app, "New device")
    assert email.to_addrs == ["dave@fabrikam.example.com"] and "Erin Evans" in email.body_text
    page = _text(erin.get(response.headers["Location"]))
    assert "installed. Device" in page and "We emailed the Chain &amp; User Manager of Fabrikam Stores" in page


def test_dave_installs_two_units_and_the_location_usage_bar_moves_by_one(app, login, demo):
    """Downtown Denver: 3 counting devices, then 5 once both are installed, which needs a second location
    subscription: the location plan's bar (2 purchased) goes from 3 used to 4."""
    unit_ids = _deliver_at(app, "Downtown Denver", 2)
    dave = login("dave")
    assert "3 used, 2 purchased: 1 over" in _text(dave.get("/subscriptions"))
    for n, unit_id in enumerate(unit_ids, start=1):
        assert _install(dave, unit_id, f"Denver counter {n}").status_code == 302
    assert "4 used, 2 purchased: 2 over" in _text(dave.get("/subscriptions"))
    with app.app_context():
        names = set(db.session.scalars(select(Device.name).join(ShipmentUnit, ShipmentUnit.device_id == Device.id)))
        assert names == {"Denver counter 1", "Denver counter 2"}
    assert len(_emails(app, "New device")) == 2


def test_an_rma_replacement_takes_the_returned_devices_place_and_counts_once(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    with app.app_context():
        broken = db.session.scalars(select(Device).where(Device.name == "Airport kiosk 3")).one()
        db.session.get(ShipmentUnit, unit_id).replaces_device_id = broken.id
        db.session.commit()
        broken_id = broken.id
    fabrikam = demo.orgs["Fabrikam Stores"]
    before = _usage(app, fabrikam)
    erin = login("erin")
    assert "replaces a returned device under RMA" in _text(erin.get(f"/deliveries/{unit_id}/install"))
    response = _install(erin, unit_id)
    assert response.status_code == 302
    assert _usage(app, fabrikam) == before  # the replacement counts, the returned device no longer does
    assert _emails(app, "New device") == []
    with app.app_context():
        replacement = db.session.get(Device, db.session.get(ShipmentUnit, unit_id).device_id)
        assert replacement.replaces_id == broken_id and replacement.counts
        assert not db.session.get(Device, broken_id).counts
    assert "nobody was emailed" in _text(erin.get(response.headers["Location"]))


def test_a_unit_is_installed_once(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    dave = login("dave")
    page = dave.page(f"/deliveries/{unit_id}/install")  # opened before the first install, posted after it
    assert _install(dave, unit_id).status_code == 302
    with app.app_context():
        devices = db.session.scalar(select(func.count()).select_from(Device))
    again = dave.submit(page, {}, button="Install")
    assert again.status_code == 409 and "already installed" in _text(again)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device)) == devices
    assert len(_emails(app, "New device")) == 1
    shown = _text(dave.get(f"/deliveries/{unit_id}/install"))
    assert "already installed" in shown and "See the device it became" in shown
    assert 'action="/deliveries' not in shown


def test_a_unit_not_delivered_yet_cannot_be_installed(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk", deliver=False)
    dave = login("dave")
    page = _text(dave.get(f"/deliveries/{unit_id}/install"))
    assert "has not been delivered yet" in page and "Name the device" not in page
    forged = dave.post(f"/deliveries/{unit_id}/install", data={"name": "Early", "csrf_token": dave.csrf_token()})
    assert forged.status_code == 409
    assert _unit(app, unit_id).device_id is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device).where(Device.name == "Early")) == 0


def test_another_tenants_unit_is_a_404_and_nothing_changes(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    for who in ("frank", "alice", "carol"):
        client = login(who)
        assert client.get(f"/deliveries/{unit_id}/install").status_code == 404, who
        response = client.post(f"/deliveries/{unit_id}/install",
                               data={"name": "Mine", "csrf_token": client.csrf_token()})
        assert response.status_code == 404, who
    assert _unit(app, unit_id).device_id is None


def test_a_bad_or_taken_name_is_refused_beside_the_field(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    dave = login("dave")
    for name, message in (("", "Give the device a name."), ("Airport kiosk 1", "already has a device called")):
        response = _install(dave, unit_id, name)
        assert response.status_code == 422 and message in _text(response), name
        assert re.search(r'class="field has-error"', response.get_data(as_text=True))
    assert _unit(app, unit_id).device_id is None
    assert _emails(app, "New device") == []


def test_a_unit_that_does_not_become_a_device_is_installed_as_a_spare(app, login, demo):
    [unit_id] = _deliver_at(app, "Airport Kiosk", becomes_device=False)
    fabrikam = demo.orgs["Fabrikam Stores"]
    before = _usage(app, fabrikam)
    assert _install(login("dave"), unit_id).status_code == 302
    assert _usage(app, fabrikam) == before
    with app.app_context():
        assert not db.session.get(Device, db.session.get(ShipmentUnit, unit_id).device_id).counts


# ---------------------------------------------------------------- what installing them will need


def test_manage_subscriptions_says_what_installing_the_delivered_units_needs_and_offers_to_buy_it(app, login,
                                                                                                   demo):
    """Airport Kiosk has 6 counting devices (2 location subscriptions); 3 more make 9, which need 3: one more.
    Fabrikam's plan covers 2 of the 3 needed today (the existing shortfall is offered on its own row)."""
    _deliver_at(app, "Airport Kiosk", 3)
    dave = login("dave")
    page = _text(dave.get("/subscriptions"))
    assert "Installing these 3 delivered devices needs <strong>1 more location subscription</strong>" in page
    assert "(3 now, 4 once installed; your plans cover 2)" in page
    response = dave.submit("/subscriptions", button="Buy 1 more of Location Plan for the delivered devices")
    assert response.status_code in (200, 302, 303)
    with app.app_context():
        item = db.session.scalars(select(CartItem).where(CartItem.organization_id == demo.orgs["Fabrikam Stores"],
                                                         CartItem.user_id == demo.users["dave"])).one()
        assert db.session.get(Product, item.product_id).slug == "location-plan" and item.quantity == 1


def test_the_preview_is_not_shown_without_deliveries_or_once_they_are_installed(app, login, demo):
    dave = login("dave")
    assert "delivered devices" not in _text(dave.get("/subscriptions"))
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    assert "Installing this delivered device needs no more location subscriptions" in _text(dave.get("/subscriptions"))
    _install(dave, unit_id)
    assert "delivered device" not in _text(dave.get("/subscriptions"))


def test_the_preview_follows_the_rule_per_location_and_counts_a_replacement_once(app, demo):
    """A replacement shipped elsewhere than the device it replaces moves one count between locations; units of a
    product that does not become a device, and units of another chain, are left out."""
    with app.app_context():
        org = make_org("Preview Chain")
        here, there = make_location(org, "Here"), make_location(org, "There")
        for _ in range(4):
            make_device(here)
        returned = make_device(there)
        _delivered(here, 1)  # Here: 4 -> 6 counting devices with the replacement, 1 -> 2 location subscriptions
        [replacement] = _delivered(here, 1)
        db.session.get(ShipmentUnit, replacement).replaces_device_id = returned.id  # There: 1 -> 0, still 1
        _delivered(here, 2, becomes_device=False)
        _delivered(make_location(make_org("Elsewhere")), 5)
        _delivered(there, 1, deliver=False)
        db.session.flush()
        groups, needed = plan_groups(org.id)
        preview = installing.install_preview(org.id, groups, needed)
        assert preview.units == 2
        by_basis = {need.basis: need for need in preview.needs}  # no plan at all: both kinds are said
        assert (by_basis[SubscriptionBasis.LOCATION].before, by_basis[SubscriptionBasis.LOCATION].after) == (2, 3)
        assert (by_basis[SubscriptionBasis.DEVICE].before, by_basis[SubscriptionBasis.DEVICE].after) == (5, 6)
        assert all(need.purchased is None and need.to_buy == 0 for need in preview.needs)
        db.session.rollback()


def test_installing_through_the_service_matches_the_preview(app, demo):
    """What the preview announced is what the usage becomes once every unit is installed."""
    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        dave = db.session.get(User, demo.users["dave"])
        unit_ids = _delivered(_location("Airport Kiosk"), 3) + _delivered(_location("Downtown Denver"), 2)
        groups, needed = plan_groups(fabrikam.id)
        preview = installing.install_preview(fabrikam.id, groups, needed)
        for unit_id in unit_ids:
            installing.install_unit(db.session.get(ShipmentUnit, unit_id), f"Unit {unit_id}", Actor(dave.id))
        usage = plan_usage(fabrikam.id)
        assert {need.basis: need.after for need in preview.needs} == {
            basis: usage[basis] for basis in {need.basis for need in preview.needs}}
        assert installing.install_preview(fabrikam.id, *plan_groups(fabrikam.id)) is None
        db.session.rollback()


@pytest.mark.postgres_only
def test_concurrent_installs_of_one_unit_make_one_device(app, demo):
    """Several installers at once (PostgreSQL, real threads): the unit's row lock lets one install it; the others
    find it installed and change nothing."""
    [unit_id] = _deliver_at(app, "Airport Kiosk")
    attempts = 6  # within the connection pool: every attempt holds a connection until it commits
    barrier = threading.Barrier(attempts, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                unit = installing.unit_to_install(db.session.get(User, demo.users["dave"]), unit_id)
                installing.install_unit(unit, f"Racing counter {n}", Actor(demo.users["dave"]))
                db.session.commit()
                result = "installed"
            except RuleError as error:
                db.session.rollback()
                result = error.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == attempts and outcomes.count("installed") == 1, outcomes  # no attempt crashed
    assert all("already installed" in outcome for outcome in outcomes if outcome != "installed"), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device).where(
            Device.name.startswith("Racing counter"))) == 1
    assert len(_emails(app, "New device")) == 1


def test_a_returned_counter_is_replaced_through_rma_and_counted_once(app, login, demo):
    """The whole RMA story: a counter installed from a shipment is returned, staff approve (a free replacement of
    the same product ships to its location), it is delivered and erin installs it in the returned one's place."""
    from portal.hardware import returns

    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        dave = Actor(demo.users["dave"])
        store = make_shippable_location(fabrikam, "Boulder Store")
        [first] = _delivered(store)
        installed = installing.install_unit(db.session.get(ShipmentUnit, first), "Boulder counter", dave)
        request = returns.request_return(installed.device, "It stopped counting", dave)
        replacement = returns.approve(request, None, Actor.system())
        mark_shipped(replacement, "UPS", "1Z999AA10000000001", Actor.system())
        mark_delivered(replacement, Actor.system())
        db.session.commit()
        returned_id, unit_id = installed.device.id, replacement.units[0].id
    before = _usage(app, demo.orgs["Fabrikam Stores"])
    new_device_emails = len(_emails(app, "New device"))
    erin = login("erin")
    assert f"/deliveries/{unit_id}/install" in _text(erin.get("/devices"))
    assert _install(erin, unit_id, "Boulder counter 2").status_code == 302
    assert _usage(app, demo.orgs["Fabrikam Stores"]) == before
    assert len(_emails(app, "New device")) == new_device_emails
    with app.app_context():
        replacing = db.session.get(Device, db.session.get(ShipmentUnit, unit_id).device_id)
        assert replacing.replaces_id == returned_id and replacing.counts
        assert not db.session.get(Device, returned_id).counts
