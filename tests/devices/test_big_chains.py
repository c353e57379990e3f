"""Big chains (issue 18 item 4): at 2,000 locations and 10,000 devices the Devices, Locations and device pages stay
under 200 KB, because a location field is a search (name, city or postal code) showing at most 20 matches, not a
select of 2,000 options. htmx asks /locations/pick as one types; without JavaScript the search is a GET of the page
itself and the matches come back as radio buttons in the same form. A chain of 20 locations or fewer still lists
them in a select. Never another tenant's location, whatever is searched or posted."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, insert, select

from portal.accounts.models import Organization
from portal.devices.models import Device, Location
from portal.extensions import db
from tests.factories import make_device, make_location
from tests.forms import Page

LOCATIONS = 2_000
DEVICES_EACH = 5  # 10,000 devices
CITIES = ("Denver", "Boulder", "Aurora", "Lakewood", "Golden", "Littleton", "Parker", "Arvada")
PAGE_MAX = 200_000


def _store(n: int) -> str:
    return f"Store {n:04d}"


@pytest.fixture
def big(app, demo) -> dict:
    """Fabrikam (dave's chain; erin installs there) grows 2,000 locations with 5 devices each, bulk-inserted;
    Contoso (alice's sub-chain: another tenant for dave) gets a location named like one of them, in a city of
    Fabrikam's. Returns ids by name."""
    with app.app_context():
        fabrikam, contoso = demo.orgs["Fabrikam Stores"], demo.orgs["Contoso Retail"]
        rows = [{"organization_id": fabrikam, "name": _store(n), "city": CITIES[n % len(CITIES)],
                 "postal_code": f"{80000 + n}", "address": f"{n} Main Street"} for n in range(1, LOCATIONS + 1)]
        ids = db.session.scalars(insert(Location).returning(Location.id, sort_by_parameter_order=True), rows).all()
        db.session.execute(insert(Device), [
            {"organization_id": fabrikam, "location_id": location_id, "name": f"Till {n:04d}-{k}",
             "serial_number": f"SN-{n:04d}-{k}"}
            for n, location_id in enumerate(ids, start=1) for k in range(DEVICES_EACH)])
        foreign = Location(organization_id=contoso, name=_store(42), city="Boulder", postal_code="80042")
        db.session.add(foreign)
        db.session.flush()
        foreign_device = make_device(foreign, name="Contoso till")
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Device)
                                 .where(Device.organization_id == fabrikam)) >= LOCATIONS * DEVICES_EACH
        return {"stores": dict(enumerate(ids, start=1)), "foreign": foreign.id, "foreign_device": foreign_device.id,
                "till": db.session.scalars(select(Device.id).where(Device.name == "Denver till 1")).one()}


def _radios(html: str, name: str) -> list[int]:
    """The location ids offered as radio buttons named `name` (an empty value, "All locations", left out)."""
    return [int(value) for value in re.findall(rf'<input type="radio" name="{name}" value="(\d+)"', html)]


def _pick_url(page: Page, picker: str) -> str:
    """The URL htmx asks as one types in a picker's search (its input's hx-get)."""
    return re.search(rf'id="{picker}-q"[^>]*?hx-get="([^"]+)"', page.html, re.S).group(1).replace("&amp;", "&")


def _ask(client, url: str, params: dict, headers: dict | None = None):
    """GET `url` with `params` added to its query string, as htmx adds the values it sends to its hx-get."""
    return client.get(f"{url}{'&' if '?' in url else '?'}{urlencode(params)}", headers=headers)


def _forged(client, url: str, data: dict):
    """A post no page offers (an id the pickers never showed), with the session's token."""
    return client.post(url, data={**data, "csrf_token": client.csrf_token()})


# ---------------------------------------------------------------- size


@pytest.mark.parametrize("who", ["dave", "erin"])
def test_devices_locations_and_a_device_page_of_a_2000_location_chain_stay_under_200_kb(app, login, big, who):
    client = login(who)
    pages = {"/devices": ("filter-location-picker", "add-location-picker"), "/locations": (),
             f"/devices/{big['till']}": ("move-location-picker",)}
    for url, pickers in pages.items():
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert len(response.data) < PAGE_MAX, f"{url} is {len(response.data)} bytes"
        assert html.count("<option") < 50, url  # no select of the chain's locations
        for picker in pickers:  # a search instead, and no location offered before one searches
            assert f'id="{picker}-q"' in html and "Find a location by name, city or postal code" in html
            assert not _radios(html, "location_id")
    assert "Store 0001" in client.get("/locations").get_data(as_text=True)  # the first page of 50


def test_the_locations_page_is_paged_and_finds_a_location_by_city_or_postal_code(app, login, big):
    dave = login("dave")
    first = dave.get("/locations").get_data(as_text=True)
    assert first.count('href="/devices?location=') == 50 and 'href="/locations?page=2' in first
    assert "Store 0051" in dave.get("/locations?page=2").get_data(as_text=True)
    by_postal_code = dave.get("/locations?q=81234").get_data(as_text=True)
    assert "Store 1234" in by_postal_code and by_postal_code.count('href="/devices?location=') == 1
    by_city = dave.get("/locations?q=golden").get_data(as_text=True)
    assert "Store 0004" in by_city and "Store 0001" not in by_city
    assert len(dave.get("/locations?q=store").data) < PAGE_MAX


# ---------------------------------------------------------------- the search


def test_the_search_finds_by_name_city_or_postal_code_and_offers_at_most_20(app, login, big):
    dave = login("dave")
    page = dave.page("/devices")
    url = _pick_url(page, "add-location-picker")
    htmx = {"HX-Request": "true", **page.htmx_headers()}
    by_name = _ask(dave, url, {"q": "store 1234"}, htmx)
    assert by_name.status_code == 200 and _radios(by_name.get_data(as_text=True), "location_id") == [
        big["stores"][1234]]
    by_postal_code = _ask(dave, url, {"q": "81234"}, htmx).get_data(as_text=True)
    assert _radios(by_postal_code, "location_id") == [big["stores"][1234]]
    by_city = _ask(dave, url, {"q": "BOULDER"}, htmx).get_data(as_text=True)
    offered = _radios(by_city, "location_id")
    assert len(offered) == 20 and big["foreign"] not in offered  # 250 of Fabrikam's in Boulder (and Contoso's)
    assert "The first 20 locations matching “BOULDER”" in by_city
    nothing = _ask(dave, url, {"q": "Atlantis"}, htmx).get_data(as_text=True)
    assert not _radios(nothing, "location_id") and "No location matches “Atlantis”" in nothing
    # The location already chosen stays first, whatever else is searched.
    kept = _ask(dave, url, {"q": "Store 0007", "location_id": big["stores"][1234]},
                    htmx).get_data(as_text=True)
    assert _radios(kept, "location_id") == [big["stores"][1234], big["stores"][7]]
    assert re.search(rf'value="{big["stores"][1234]}" checked', kept)


def test_the_search_never_offers_another_tenants_location(app, login, big):
    dave = login("dave")
    page = dave.page("/devices")
    for picker, name in (("add-location-picker", "location_id"), ("filter-location-picker", "location")):
        url = _pick_url(page, picker)
        found = _ask(dave, url, {"q": "Store 0042"}).get_data(as_text=True)
        assert _radios(found, name) == [big["stores"][42]]  # Fabrikam's, not Contoso's of the same name
        # Contoso's id named as the chosen one is not offered either.
        forged = _ask(dave, url, {"q": "Store 0042", name: big["foreign"]}).get_data(as_text=True)
        assert _radios(forged, name) == [big["stores"][42]]
    move_url = _pick_url(dave.page(f"/devices/{big['till']}"), "move-location-picker")
    assert _radios(_ask(dave, move_url, {"q": "Store 0042"}).get_data(as_text=True),
                   "location_id") == [big["stores"][42]]
    # alice manages Contoso: the same search offers her Contoso's, never Fabrikam's.
    alice = login("alice")
    assert _radios(_ask(alice, "/locations/pick", {"field": "location_id", "q": "Store 0042"})
                   .get_data(as_text=True), "location_id") == [big["foreign"]]


def test_the_search_of_a_form_needs_the_right_to_change_devices(app, login, big):
    dave = login("dave")
    assert _ask(dave, "/locations/pick", {"field": "location_id", "device": big["foreign_device"],
                                                     "q": "Store"}).status_code == 404  # Contoso's device
    assert _ask(dave, "/locations/pick", {"field": "location_id", "device": "abc"}).status_code == 404
    assert _ask(dave, "/locations/pick", {"field": "name"}).status_code == 404
    carol = login("carol")  # Contoso's viewer: filters, never adds or moves
    assert _ask(carol, "/locations/pick", {"field": "location", "q": "Store"}).status_code == 200
    assert _ask(carol, "/locations/pick", {"field": "location_id", "q": "Store"}).status_code == 403
    bob = login("bob")  # a Master user of Northwind sees Contoso's device, may not move it
    assert _ask(bob, "/locations/pick", {"field": "location_id", "device": big["foreign_device"],
                                                    "q": "Store"}).status_code == 403


def test_another_tenants_location_posted_by_hand_is_refused_beside_the_field(app, login, big, mailbox):
    dave = login("dave")
    before = db_count(app)
    added = _forged(dave, "/devices", {"location_id": big["foreign"], "name": "Sneaky", "counts": "y"})
    html = added.get_data(as_text=True)
    assert added.status_code == 422 and 'id="location_id-error"' in html and 'aria-invalid="true"' in html
    assert "Choose one of the listed locations." in html and len(added.data) < PAGE_MAX
    assert big["foreign"] not in _radios(html, "location_id")
    moved = _forged(dave, f"/devices/{big['till']}/move", {"location_id": big["foreign"]})
    assert moved.status_code == 422 and 'id="location_id-error"' in moved.get_data(as_text=True)
    assert db_count(app) == before and not mailbox.messages
    with app.app_context():
        assert db.session.get(Device, big["till"]).location_id != big["foreign"]


def db_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Device))


# ---------------------------------------------------------------- without JavaScript


def test_without_javascript_a_manager_searches_chooses_and_adds_a_device_there(app, login, big, mailbox):
    dave = login("dave")
    searched = dave.submit("/devices", {"location_q": "Store 1234"}, button="Find locations")
    assert searched.status_code == 200
    page = Page.parse("/devices?location_q=Store+1234", searched.get_data(as_text=True))
    assert _radios(page.html, "location_id") == [big["stores"][1234]]
    assert 'value="Store 1234"' in page.html  # the search stays in its field
    unnamed = dave.submit(page, {"location_id": big["stores"][1234], "name": ""}, button="Add device")
    assert unnamed.status_code == 422 and 'id="name-error"' in unnamed.get_data(as_text=True)
    page = Page.parse("/devices", unnamed.get_data(as_text=True))  # the location chosen stays chosen
    assert re.search(rf'name="location_id" value="{big["stores"][1234]}" checked', page.html)
    added = dave.submit(page, {"name": "Till 1234-new", "counts": True}, button="Add device")
    assert added.status_code == 302
    with app.app_context():
        device = db.session.scalars(select(Device).where(Device.name == "Till 1234-new")).one()
        assert device.location_id == big["stores"][1234]
    assert "Device Till 1234-new added at Store 1234." in dave.get(added.headers["Location"]).get_data(as_text=True)


def test_without_javascript_a_device_is_moved_to_a_location_found_by_city(app, login, big):
    erin = login("erin")
    searched = erin.submit(f"/devices/{big['till']}", {"location_q": "Parker"}, button="Find locations")
    page = Page.parse(f"/devices/{big['till']}?location_q=Parker", searched.get_data(as_text=True))
    offered = _radios(page.html, "location_id")
    assert len(offered) == 20 and big["stores"][6] in offered  # Store 0006 is in Parker
    assert erin.submit(page, {"location_id": big["stores"][6]}, button="Move").status_code == 302
    with app.app_context():
        assert db.session.get(Device, big["till"]).location_id == big["stores"][6]


def test_with_htmx_the_find_button_asks_the_picker_alone(app, login, big):
    """The add form's Find button, with htmx: its hx-get with what it includes (the search typed), answered with
    the matches alone, which htmx puts in the picker (the rest of the form, typed already, stays)."""
    dave = login("dave")
    page = dave.page("/devices")
    button = re.search(r'<button type="submit" form="add-location-search"[^>]*>', page.html).group(0)
    url = re.search(r'hx-get="([^"]+)"', button).group(1).replace("&amp;", "&")
    assert 'hx-include="#add-location-picker-q' in button and 'hx-target="#add-location-picker-options"' in button
    found = _ask(dave, url, {"location_q": "81999"}, {"HX-Request": "true"})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and "<html" not in html and "<form" not in html
    assert _radios(html, "location_id") == [big["stores"][1999]]


def test_the_device_list_is_filtered_by_a_location_found_without_javascript(app, login, big):
    dave = login("dave")
    searched = dave.submit("/devices", {"location_filter_q": "Store 0777"}, button="Apply")
    page = Page.parse("/devices?location_filter_q=Store+0777", searched.get_data(as_text=True))
    assert _radios(page.html, "location") == [big["stores"][777]]
    filtered = dave.submit(page, {"location": big["stores"][777]}, button="Apply").get_data(as_text=True)
    assert "Till 0777-0" in filtered and "Till 0001-0" not in filtered
    assert "5 devices" in filtered
    # Contoso's location named in the address is no filter of Fabrikam's list: every device is listed.
    foreign = dave.get(f"/devices?location={big['foreign']}").get_data(as_text=True)
    assert "More than 1,000 devices" in foreign and "Till 1999-4" not in foreign  # the first page, by location
    # The chosen location stays chosen, in the filter and in the add form.
    assert re.search(rf'name="location" value="{big["stores"][777]}" checked', filtered)
    assert re.search(rf'name="location_id" value="{big["stores"][777]}" checked', filtered)


# ---------------------------------------------------------------- small chains


def test_a_chain_of_20_locations_lists_them_in_a_select_and_a_21st_brings_the_search(app, login, demo):
    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        for n in range(18):  # and the demo's Airport Kiosk and Downtown Denver
            make_location(fabrikam, f"Branch {n:02d}")
        db.session.commit()
    dave = login("dave")
    small = dave.get("/devices").get_data(as_text=True)
    assert 'select id="location-filter"' in small and 'id="location_id" name="location_id"' in small
    assert small.count(">Branch ") == 18 * 2  # the filter's options and the add form's
    assert "Find a location by name" not in small
    till = _id(app, "Denver till 1")
    assert dave.get(f"/devices/{till}").get_data(as_text=True).count("Branch ") == 18  # all but its own
    with app.app_context():
        make_location(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), "Branch 18")
        db.session.commit()
    big = dave.get("/devices").get_data(as_text=True)
    assert 'select id="location-filter"' not in big and 'id="add-location-picker-q"' in big
    assert "Branch" not in big
    # The move form leaves the device's own location out: 20 others still fit in a select.
    assert "Find a location by name" not in dave.get(f"/devices/{till}").get_data(as_text=True)


def _id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Device.id).where(Device.name == name)).one()


def test_a_chain_of_many_organizations_finds_the_one_to_add_a_location_to(app, login, demo, monkeypatch):
    """A reseller with thousands of customers does not get a select of them all in "Add a location": it finds the
    organization by name (a GET, no JavaScript needed) and chooses among the matches; an organization outside what
    the user manages is refused beside the field and nothing is added."""
    from portal.devices import services
    from tests.factories import demo_org, make_org

    monkeypatch.setattr(services, "ORGANIZATIONS_MAX", 1)
    with app.app_context():
        northwind = demo_org("Northwind IT")
        make_org("Zephyr Cafe", parent=northwind)
        outsider = demo_org("Litware Solutions").id
        db.session.commit()
    alice = login("alice")
    page = alice.get("/locations").get_data(as_text=True)
    assert "Find the organization" in page and "Contoso Retail" not in page.split("Add a location")[1]
    found = alice.submit("/locations", {"organization_q": "zephyr"})
    assert found.status_code == 200
    choices = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', found.get_data(as_text=True))
    assert [name for _, name in choices] == ["Northwind IT", "Zephyr Cafe"]
    zephyr = next(value for value, name in choices if name == "Zephyr Cafe")
    added = alice.submit(alice.page("/locations?organization_q=zephyr"),
                         {"organization_id": zephyr, "name": "Zephyr Kiosk"}, button="Add location")
    assert added.status_code == 302
    with app.app_context():
        owner = db.session.scalar(select(Organization.name).join(Location, Location.organization_id == Organization.id)
                                  .where(Location.name == "Zephyr Kiosk"))
        assert owner == "Zephyr Cafe"
    with app.app_context():
        before = db.session.scalar(select(func.count(Location.id)))
    forged = alice.post("/locations", data={"csrf_token": alice.csrf_token(), "organization_id": str(outsider),
                                            "name": "Sneaky"})
    assert forged.status_code == 422
    assert re.findall(r'class="error"[^>]*>([^<]*)', forged.get_data(as_text=True)) == [
        "Choose one of the listed organizations."]
    with app.app_context():
        assert db.session.scalar(select(func.count(Location.id))) == before
    assert "No organization of your chain is named like" in alice.get(
        "/locations?organization_q=nothing-like-it").get_data(as_text=True)
