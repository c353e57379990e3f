"""Locations and devices services: each change, its validation and audit entry, names unique per organization,
a device kept in its location's organization, a location with devices kept, the managers emailed."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, Role
from portal.audit.models import AuditEntry
from portal.devices import services
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from tests.factories import DEMO_EMAILS, actor, make_device, make_location, make_member, make_org, make_user
from tests.factories import demo_org as _org
from tests.factories import demo_user as _user


@pytest.fixture
def world(app, demo):
    """The demo, with an application context to call the services in."""
    with app.app_context():
        yield demo
        db.session.rollback()




def _location(org_name: str, name: str) -> Location:
    return db.session.scalars(select(Location).join(Organization, Organization.id == Location.organization_id)
                              .where(Organization.name == org_name, Location.name == name)
                              .options(joinedload(Location.organization))).one()


def _device(name: str) -> Device:
    return db.session.scalars(select(Device).where(Device.name == name)
                              .options(joinedload(Device.location).joinedload(Location.organization))).one()


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _device_mail() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "device_added")))


# ---------------------------------------------------------------- locations


def test_a_location_is_added_with_a_trimmed_name_and_an_audit_entry(world):
    fabrikam, dave = _org("Fabrikam Stores"), _user("dave")
    location = services.add_location(fabrikam, "  Boulder   Outlet ", " 1 Pearl St ", actor(dave))
    assert (location.name, location.address, location.organization_id) == ("Boulder Outlet", "1 Pearl St",
                                                                          fabrikam.id)
    [entry] = _audit("location.added")
    assert (entry.actor_id, entry.organization_id, entry.object_id) == (dave.id, fabrikam.id, str(location.id))


@pytest.mark.parametrize(("name", "message"), [("", "Give the location a name."), ("   ", "Give the location a name."),
                                               ("x" * 121, "120 characters or fewer")])
def test_a_location_needs_a_name_of_sensible_length(world, name, message):
    with pytest.raises(RuleError, match=message) as refused:
        services.add_location(_org("Fabrikam Stores"), name, "", actor())
    assert refused.value.field == "name"


def test_location_names_are_unique_per_organization_whatever_the_case(world):
    fabrikam = _org("Fabrikam Stores")
    with pytest.raises(RuleError, match="already has a location called airport kiosk") as refused:
        services.add_location(fabrikam, "airport kiosk", "", actor())
    assert refused.value.field == "name"
    db.session.rollback()
    other = services.add_location(_org("Litware Solutions"), "Airport Kiosk", "", actor())  # another organization
    assert other.id is not None


def test_renaming_a_location_is_audited_with_what_changed(world):
    location = _location("Fabrikam Stores", "Airport Kiosk")
    services.edit_location(location, "Airport Kiosk B", location.address, actor(_user("erin")))
    [entry] = _audit("location.updated")
    assert entry.details["changes"] == {"name": ["Airport Kiosk", "Airport Kiosk B"]}
    services.edit_location(location, "Airport Kiosk B", location.address, actor())  # nothing changed: no entry
    assert len(_audit("location.updated")) == 1
    with pytest.raises(RuleError, match="already has a location called Downtown Denver"):
        services.edit_location(location, "Downtown Denver", "", actor())


def test_a_location_with_devices_is_not_removed(world):
    location = _location("Fabrikam Stores", "Downtown Denver")
    with pytest.raises(RuleError, match="still has 3 devices. Move them to another location or remove them first"):
        services.remove_location(location, actor())
    assert db.session.get(Location, location.id) is not None


def test_an_empty_location_is_removed_and_audited(world):
    location = services.add_location(_org("Fabrikam Stores"), "Pop-up", "", actor())
    location_id = location.id
    services.remove_location(location, actor(_user("dave")))
    assert db.session.get(Location, location_id) is None
    [entry] = _audit("location.removed")
    assert entry.details == {"name": "Pop-up"}


# ---------------------------------------------------------------- devices


def test_a_device_takes_its_locations_organization_and_who_added_it(world):
    location = _location("Contoso Retail", "Portland Flagship")
    alice = _user("alice")
    added = services.add_device(location, " Till 3 ", " SN-9 ", True, actor(alice))
    device = added.device
    assert (device.name, device.serial_number, device.counts) == ("Till 3", "SN-9", True)
    assert device.organization_id == location.organization_id == _org("Contoso Retail").id
    assert device.added_by_id == alice.id
    [entry] = _audit("device.added")
    assert (entry.organization_id, entry.details["location"]) == (location.organization_id, "Portland Flagship")


def test_adding_a_device_writes_one_email_per_manager_of_the_main_chain(world):
    """For a sub-chain's device the main chain's managers are told (Contoso's: Northwind's alice); another
    manager, an inactive one and the sub-chain's own viewer are accounted for."""
    northwind = _org("Northwind IT")
    second = make_member(northwind, Role.MANAGER, make_user("second.manager@northwind.example.com")).user
    gone = make_member(northwind, Role.MANAGER, make_user("gone.manager@northwind.example.com"))
    gone.active = False
    added = services.add_device(_location("Contoso Retail", "Portland Flagship"), "Till 3", "SN-9", True,
                                actor(_user("erin")))
    mails = _device_mail()
    assert sorted(m.to_addrs[0] for m in mails) == sorted([DEMO_EMAILS["alice"], second.email])
    assert all(len(m.to_addrs) == 1 for m in mails)
    assert added.notified == sorted([DEMO_EMAILS["alice"], second.email]) and added.main_chain.id == northwind.id
    body = mails[0].body_text
    for text in ("Till 3", "SN-9", "Portland Flagship", "Contoso Retail", "Erin Evans", DEMO_EMAILS["erin"],
                 "If you did not authorize this device, contact the vendor's support at portal@vendor.example.com",
                 "http://portal.test/devices/"):
        assert text in body
    assert "Till 3" in mails[0].subject and "Portland Flagship" in mails[0].subject


def test_a_device_of_a_main_chain_emails_its_own_managers_only(world):
    services.add_device(_location("Fabrikam Stores", "Downtown Denver"), "Denver till 4", "", False, actor())
    [mail] = _device_mail()
    assert mail.to_addrs == [DEMO_EMAILS["dave"]]
    assert "counts towards device and location plans: no" in mail.body_text


def test_device_names_are_unique_per_organization(world):
    location = _location("Fabrikam Stores", "Airport Kiosk")
    with pytest.raises(RuleError, match="already has a device called Denver Till 1") as refused:
        services.add_device(location, "Denver Till 1", "", True, actor())  # at the other location: still taken
    assert refused.value.field == "name"
    db.session.rollback()
    assert not _device_mail()
    device = services.add_device(_location("Contoso Retail", "Portland Flagship"), "Denver till 1", "", True,
                                 actor()).device
    assert device.id is not None  # Contoso is another organization


@pytest.mark.parametrize(("name", "serial", "field"), [("", "", "name"), ("d" * 121, "", "name"),
                                                       ("Fine", "s" * 81, "serial_number")])
def test_a_device_needs_a_name_and_a_serial_of_sensible_length(world, name, serial, field):
    with pytest.raises(RuleError) as refused:
        services.add_device(_location("Fabrikam Stores", "Airport Kiosk"), name, serial, True, actor())
    assert refused.value.field == field


def test_editing_a_device_records_the_changes(world):
    make_device(_location("Fabrikam Stores", "Airport Kiosk"), name="Spare 1")
    device = _device("Spare 1")
    services.edit_device(device, "Shelf spare", "SN-1", False, actor(_user("erin")))
    [entry] = _audit("device.updated")
    assert entry.details["changes"]["name"] == ["Spare 1", "Shelf spare"]
    assert entry.details["changes"]["counts"] == [True, False]
    with pytest.raises(RuleError, match="already has a device called Denver till 1"):
        services.edit_device(device, "Denver till 1", "SN-1", False, actor())


def test_moving_keeps_the_device_in_its_locations_organization(world):
    fabrikam = _org("Fabrikam Stores")
    device = _device("Denver till 1")
    airport = _location("Fabrikam Stores", "Airport Kiosk")
    services.move_device(device, airport, actor(_user("erin")))
    db.session.flush()
    db.session.expire_all()
    device = _device("Denver till 1")
    assert device.location_id == airport.id and device.organization_id == fabrikam.id == airport.organization_id
    [entry] = _audit("device.moved")
    assert (entry.details["before"], entry.details["after"]) == ("Downtown Denver", "Airport Kiosk")


def test_a_device_is_not_moved_to_another_organization_nor_where_it_is(world):
    device = _device("Denver till 1")
    with pytest.raises(RuleError, match="belongs to another organization") as refused:
        services.move_device(device, _location("Contoso Retail", "Portland Flagship"), actor())
    assert refused.value.field == "location_id"
    with pytest.raises(RuleError, match="already at Downtown Denver"):
        services.move_device(device, device.location, actor())


def test_removing_a_device_is_audited(world):
    device = _device("Denver till 2")
    device_id = device.id
    services.remove_device(device, actor(_user("dave")))
    assert db.session.get(Device, device_id) is None
    [entry] = _audit("device.removed")
    assert entry.details["location"] == "Downtown Denver" and entry.details["name"] == "Denver till 2"


# ---------------------------------------------------------------- what the pages list


def test_a_main_chain_lists_its_sub_chains_locations_and_a_sub_chain_only_its_own(world):
    northwind, contoso = _org("Northwind IT"), _org("Contoso Retail")
    make_location(northwind, "Seattle HQ")
    alice, carol = _user("alice"), _user("carol")
    from portal.authz import Permission

    names = {name for _, name, _ in services.locations_for(alice, northwind, Permission.VIEW_DEVICES)}
    assert names == {"Seattle HQ", "Portland Flagship"}
    assert {name for _, name, _ in services.locations_for(carol, contoso, Permission.VIEW_DEVICES)} == {
        "Portland Flagship"}
    # carol working in Contoso never sees Northwind's, even asked about Northwind
    assert services.locations_for(carol, northwind, Permission.VIEW_DEVICES) == [
        (loc, name, org) for loc, name, org in services.locations_for(alice, northwind, Permission.VIEW_DEVICES)
        if org == "Contoso Retail"]


def test_subscriptions_needed_follow_the_rule_over_the_listed_locations(world):
    fabrikam, dave = _org("Fabrikam Stores"), _user("dave")
    assert services.subscriptions_needed(dave, fabrikam) == 3  # 1 (3 devices) + 2 (6 devices)
    empty = make_location(fabrikam)
    assert services.subscriptions_needed(dave, fabrikam) == 4
    make_device(empty, counts=False)  # a spare: the location still needs its one
    assert services.subscriptions_needed(dave, fabrikam) == 4
    other = make_org()
    make_device(make_location(other))
    assert services.subscriptions_needed(dave, fabrikam) == 4
