"""Locations and devices pages without JavaScript: forms post and redirect, errors beside the field, nothing changed
on bad input, read-only for viewers and Master users, the managers emailed when a device is added."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.devices.models import Device, Location
from portal.extensions import db
from tests.factories import DEMO_EMAILS, make_device, make_location


def _id(app, model, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(model.id).where(model.name == name)).one()


def _org_id(app, name: str) -> int:
    return _id(app, Organization, name)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _device(app, device_id: int) -> Device | None:
    with app.app_context():
        device = db.session.get(Device, device_id)
        if device is not None:
            db.session.expunge(device)
        return device


def _forged(client, url: str, data: dict | None = None):
    """A request no page of the user's offers (a read-only user's change, an id or a choice no form has): posted by
    hand, with the session's token so that only the view's own checks refuse it."""
    return client.post(url, data={**(data or {}), "csrf_token": client.csrf_token()})


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# ---------------------------------------------------------------- reading


def test_locations_show_devices_and_the_subscriptions_each_needs(app, login, demo):
    page = _text(login("dave").get("/locations"))
    assert "Location subscriptions needed: 3" in page
    assert re.search(r"Airport Kiosk</a></td> <td[^>]*>Denver International Airport, Concourse B</td> "
                     r"<td[^>]*><a [^>]*>6</a></td> <td[^>]*>6</td> <td[^>]*>2</td>", page)
    assert re.search(r"Downtown Denver</a></td> <td[^>]*>[^<]*</td> <td[^>]*><a [^>]*>3</a></td> <td[^>]*>3</td> "
                     r"<td[^>]*>1</td>", page)
    assert "$" not in page and "price" not in page.lower()  # quantities, never prices


def test_a_main_chain_sees_its_sub_chains_locations_with_their_organization(app, login, demo):
    page = _text(login("alice").get("/locations"))
    assert "Portland Flagship" in page and "<th scope=\"col\">Organization</th>" in page and "Contoso Retail" in page
    devices = _text(login("alice").get("/devices"))
    assert "Portland till 1" in devices and "Denver till 1" not in devices


def test_devices_are_filtered_by_location_and_found_by_name_or_serial(app, login, demo):
    dave = login("dave")
    airport = _id(app, Location, "Airport Kiosk")
    page = _text(dave.get(f"/devices?location={airport}"))
    assert "Airport kiosk 6" in page and "Denver till 1" not in page
    found = _text(dave.get("/devices?q=fab-den-0002"))
    assert "Denver till 2" in found and "Denver till 1" not in found and "Airport kiosk 1" not in found
    assert "Erin Evans" in found  # who added it


def test_the_device_list_is_paged_with_plain_links_and_htmx_gets_the_fragment(app, login, demo):
    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        shelf = make_location(fabrikam, "Warehouse")
        for _ in range(60):
            make_device(shelf, counts=False)
        db.session.commit()
    dave = login("dave")
    first = dave.get("/devices").get_data(as_text=True)
    assert 'href="/devices?page=2' in first
    second = dave.get("/devices?page=2", headers={"HX-Request": "true"})
    assert second.status_code == 200 and "HX-Request" in second.headers["Vary"]
    html = second.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="device-list">') and "<html" not in html
    assert re.search(r"<td[^>]*>No</td>", html)


@pytest.mark.parametrize("url", ["/devices?location=abc&page=abc", "/devices?page=999999999999999999999999",
                                 "/devices?location=99999999999999999999", "/locations?page=-4&q=" + "x" * 5000])
def test_odd_query_strings_still_show_the_page(app, login, demo, url):
    assert login("dave").get(url).status_code == 200


@pytest.mark.parametrize("url", ["/locations/99999999999999999999999", "/devices/99999999999999999999999",
                                 "/devices/999999/remove", "/locations/abc", "/devices/-1"])
def test_garbage_ids_are_not_found(app, login, demo, url):
    assert login("dave").get(url).status_code == 404
    assert _forged(login("dave"), url, {"name": "x"}).status_code in (404, 405)


def test_carol_sees_contosos_locations_and_devices_read_only(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        hq = make_device(make_location(northwind, "Seattle HQ"), name="Seattle router")
        db.session.commit()
        hq_ids = hq.id, hq.location_id
    carol = login("carol")
    for url in ("/locations", "/devices"):
        page = carol.get(url).get_data(as_text=True)
        assert "Portland Flagship" in page and "Seattle" not in page
        assert 'method="post" action="/locations"' not in page and 'method="post" action="/devices"' not in page
    flagship = _id(app, Location, "Portland Flagship")
    till = _id(app, Device, "Portland till 1")
    detail = carol.get(f"/devices/{till}").get_data(as_text=True)
    assert "Portland till 1" in detail and "<form method=\"post\"" not in detail.split("<main", 1)[1]
    assert carol.get(f"/locations/{flagship}").status_code == 200
    assert carol.get(f"/devices/{hq_ids[0]}").status_code == 404  # Northwind's: not hers
    assert carol.get(f"/locations/{hq_ids[1]}").status_code == 404
    before = _count(app, Device), _count(app, Location)
    assert _forged(carol, "/devices", {"location_id": flagship, "name": "Sneaky"}).status_code == 403
    assert _forged(carol, "/locations", {"name": "Sneaky"}).status_code == 403
    assert _forged(carol, f"/devices/{till}", {"name": "Renamed"}).status_code == 403
    assert _forged(carol, f"/devices/{till}/remove").status_code == 403
    assert _forged(carol, f"/locations/{flagship}/remove").status_code == 403
    assert (_count(app, Device), _count(app, Location)) == before
    nav = re.search(r'<nav class="main-nav".*?</nav>', carol.get("/devices").get_data(as_text=True), re.S).group(0)
    assert "Locations" in nav and "Devices" in nav and "Invoices" not in nav


def test_bob_as_master_user_reads_but_does_not_change(app, login, demo):
    bob = login("bob")
    flagship = _id(app, Location, "Portland Flagship")
    page = bob.get(f"/locations/{flagship}").get_data(as_text=True)
    assert "Portland till 2" in page and "Rename or change the address" not in page
    assert _forged(bob, f"/locations/{flagship}", {"name": "Bob's"}).status_code == 403
    till = _id(app, Device, "Portland till 1")
    assert _forged(bob, f"/devices/{till}/move", {"location_id": flagship}).status_code == 403


# ---------------------------------------------------------------- changing


def test_dave_adds_a_device_and_each_manager_gets_one_email(app, login, demo, mailbox):
    dave = login("dave")
    airport = _id(app, Location, "Airport Kiosk")
    page = dave.page(f"/devices?location={airport}")
    assert re.search(rf'<option selected value="{airport}">|<option value="{airport}" selected', page.html)
    response = dave.submit(page, {"name": "Airport kiosk 7", "serial_number": "FAB-DIA-0007", "counts": True},
                           button="Add device")
    assert response.status_code == 302
    page = _text(dave.get(response.headers["Location"]))
    assert "Device Airport kiosk 7 added at Airport Kiosk. We emailed the Chain &amp; User Manager of Fabrikam " \
           "Stores about it." in page
    [mail] = mailbox.to(DEMO_EMAILS["dave"])
    body = mail.get_content()
    assert "Airport kiosk 7" in mail["Subject"]
    for text in ("Airport kiosk 7", "FAB-DIA-0007", "Airport Kiosk", "Fabrikam Stores", "Dave Diaz",
                 DEMO_EMAILS["dave"], "If you did not authorize this device, contact the vendor's support"):
        assert text in body
    assert len(mailbox.messages) == 1
    assert "Location subscriptions needed: 3" in _text(dave.get("/locations"))  # 7 devices at the kiosk: still 2


def test_alice_adds_a_device_for_her_sub_chain_and_only_she_is_emailed(app, login, demo, mailbox):
    alice = login("alice")
    flagship = _id(app, Location, "Portland Flagship")
    response = alice.submit("/devices", {"location_id": flagship, "name": "Portland till 3", "counts": True},
                            button="Add device")
    assert response.status_code == 302
    assert [m["To"] for m in mailbox.messages] == [DEMO_EMAILS["alice"]]
    assert "Contoso Retail" in mailbox.messages[0].get_content()
    with app.app_context():
        device = db.session.scalars(select(Device).where(Device.name == "Portland till 3")).one()
        assert device.organization_id == demo.orgs["Contoso Retail"]


def test_erin_as_installation_partner_adds_moves_and_removes_fabrikams_devices(app, login, demo, mailbox):
    erin = login("erin")
    added = erin.submit("/locations", {"organization_id": demo.orgs["Fabrikam Stores"], "name": "Boulder",
                                       "address": "1 Pearl Street"}, button="Add location")
    assert added.status_code == 302
    boulder = _id(app, Location, "Boulder")
    assert added.headers["Location"].endswith(f"/locations/{boulder}")
    response = erin.submit("/devices", {"location_id": boulder, "name": "Boulder till 1", "counts": True},
                           button="Add device")
    assert response.status_code == 302
    till = _id(app, Device, "Boulder till 1")
    assert [m["To"] for m in mailbox.messages] == [DEMO_EMAILS["dave"]]
    assert "Erin Evans (erin@northwind.example.com)" in mailbox.messages[0].get_content()
    airport = _id(app, Location, "Airport Kiosk")
    assert erin.submit(f"/devices/{till}", {"location_id": airport}, button="Move").status_code == 302
    moved = _device(app, till)
    assert (moved.location_id, moved.organization_id) == (airport, demo.orgs["Fabrikam Stores"])
    assert erin.submit(f"/devices/{till}", {"name": "Kiosk spare", "serial_number": "S-1", "counts": False},
                       button="Save").status_code == 302
    edited = _device(app, till)
    assert (edited.name, edited.serial_number, edited.counts) == ("Kiosk spare", "S-1", False)
    confirm = _text(erin.get(f"/devices/{till}/remove"))
    assert "Export the device's data first" in confirm and "billing changes" in confirm and "vendor" in confirm
    assert _device(app, till) is not None  # the confirmation page changes nothing
    removed = erin.submit(f"/devices/{till}/remove", button="Remove Kiosk spare")
    assert removed.status_code == 302 and _device(app, till) is None
    assert "subscription quantity is unchanged" in _text(erin.get(removed.headers["Location"]))
    assert erin.submit(f"/locations/{boulder}/remove", button="Remove Boulder").status_code == 302  # confirmed
    assert _count(app, Location) == 3  # the demo's


def test_a_location_with_devices_is_kept_with_the_reason_shown(app, login, demo):
    dave = login("dave")
    denver = _id(app, Location, "Downtown Denver")
    page = _text(dave.get(f"/locations/{denver}"))
    assert "still has 3 devices. Move them to another location or remove them first" in page
    response = dave.submit(f"/locations/{denver}/remove")  # its confirmation page's form
    assert response.status_code == 302
    assert "still has 3 devices" in _text(dave.get(response.headers["Location"]))
    assert _id(app, Location, "Downtown Denver") == denver


def test_renaming_a_location_redirects_and_a_taken_name_is_explained_beside_the_field(app, login, demo):
    dave = login("dave")
    denver = _id(app, Location, "Downtown Denver")
    taken = dave.submit(f"/locations/{denver}", {"name": "airport kiosk", "address": ""}, button="Save")
    html = taken.get_data(as_text=True)
    assert taken.status_code == 422 and 'id="name-error"' in html and "already has a location called" in html
    assert _id(app, Location, "Downtown Denver") == denver
    renamed = dave.submit(f"/locations/{denver}", {"name": "Denver Downtown", "address": "48 Elm Avenue"},
                          button="Save")
    assert renamed.status_code == 302 and _id(app, Location, "Denver Downtown") == denver


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "", "location_id": "LOC"}, "name"),
    ({"name": "   ", "location_id": "LOC"}, "name"),
    ({"name": "x" * 5000, "location_id": "LOC"}, "name"),
    ({"name": "Fine", "serial_number": "s" * 500, "location_id": "LOC"}, "serial_number"),
    ({"name": "Denver till 1", "location_id": "LOC"}, "name"),  # taken in Fabrikam
    ({"name": "Fine", "location_id": "abc"}, "location_id"),
    ({"name": "Fine", "location_id": "99999999999999999999999"}, "location_id"),
    ({"name": "Fine", "location_id": "FOREIGN"}, "location_id"),  # Contoso's: not one of Fabrikam's
    ({"name": "Fine"}, "location_id"),
])
def test_bad_device_input_is_explained_beside_the_field_and_changes_nothing(app, login, demo, mailbox, data, field):
    ids = {"LOC": str(_id(app, Location, "Airport Kiosk")), "FOREIGN": str(_id(app, Location, "Portland Flagship"))}
    data = {k: ids.get(v, v) for k, v in data.items()}
    before = _count(app, Device)
    dave = login("dave")
    if data.get("location_id") == ids["LOC"]:  # typed in the form, the location chosen from its list
        response = dave.submit("/devices", data, button="Add device")
    else:  # no location, or one the list does not offer: forged
        response = _forged(dave, "/devices", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in html and 'aria-invalid="true"' in html
    assert _count(app, Device) == before and not mailbox.messages


@pytest.mark.parametrize("data", [{"name": ""}, {"name": "y" * 1000}, {"name": "Downtown Denver"},
                                  {"name": "Ok", "address": "a" * 1000},
                                  {"name": "Ok", "organization_id": "FOREIGN"}])
def test_bad_location_input_is_explained_and_changes_nothing(app, login, demo, data):
    data = {k: str(demo.orgs["Contoso Retail"]) if v == "FOREIGN" else v for k, v in data.items()}
    data.setdefault("organization_id", str(demo.orgs["Fabrikam Stores"]))
    before = _count(app, Location)
    dave = login("dave")
    if data["organization_id"] == str(demo.orgs["Fabrikam Stores"]):  # the form's own (hidden) organization
        response = dave.submit("/locations", data, button="Add location")
    else:  # another organization's: forged
        response = _forged(dave, "/locations", data)
    assert response.status_code == 422 and 'class="error"' in response.get_data(as_text=True)
    assert _count(app, Location) == before


def test_moving_to_another_organizations_location_is_refused(app, login, demo):
    dave = login("dave")
    till = _id(app, Device, "Denver till 1")
    flagship = _id(app, Location, "Portland Flagship")
    assert f'value="{flagship}"' not in dave.get(f"/devices/{till}").get_data(as_text=True)
    response = _forged(dave, f"/devices/{till}/move", {"location_id": flagship})  # not among the choices
    assert response.status_code == 422 and 'id="location_id-error"' in response.get_data(as_text=True)
    assert _device(app, till).location_id == _id(app, Location, "Downtown Denver")


def test_a_device_edit_with_a_taken_name_keeps_the_old_one(app, login, demo):
    dave = login("dave")
    till = _id(app, Device, "Denver till 1")
    response = dave.submit(f"/devices/{till}", {"name": "Denver till 2", "counts": True}, button="Save")
    assert response.status_code == 422 and 'id="name-error"' in response.get_data(as_text=True)
    assert _device(app, till).name == "Denver till 1"
