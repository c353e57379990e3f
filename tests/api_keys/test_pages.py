"""/account/api-keys without JavaScript: create a key (its secret shown once), the list, validation messages beside
their fields, revoke after a confirmation page, who may reach it, and the activity log naming a key."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.api_keys import services
from portal.api_keys.models import ApiKey
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.extensions import db
from tests.factories import demo_org, demo_user, make_api_key, make_org
from tests.forms import fill

PAGE = "/account/api-keys"
TOKEN = re.compile(r"ppk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def _keys(app) -> list[tuple]:
    with app.app_context():
        return sorted((k.name, k.organization_id, tuple(k.scopes), k.revoked_at is not None)
                      for k in db.session.scalars(select(ApiKey)))


def _create(client, **data):
    return client.submit(PAGE, {"name": "ERP sync", "scopes": ["catalog:read"], **data}, button="Create key")


def test_a_manager_creates_a_key_and_sees_its_secret_once(app, login, demo):
    alice = login("alice")
    response = _create(alice, scopes=["catalog:read", "orders:write"])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Copy this key now: it will not be shown again" in html
    [token] = set(TOKEN.findall(html))
    assert f'curl -H "Authorization: Bearer {token}" http://localhost/api/v1/catalog/products' in html
    assert "no-store" in response.headers["Cache-Control"]
    assert "Location" not in response.headers
    with app.app_context():
        key = services.find_usable_key(token, utcnow())
        assert (key.name, key.organization_id, key.scopes) == (
            "ERP sync", demo.orgs["Northwind IT"], ["catalog:read", "orders:write"])
        prefix = key.prefix
    # the list shows its prefix, never its secret again; the form is empty again
    again = alice.get(PAGE).get_data(as_text=True)
    assert prefix in again and token not in again and not TOKEN.search(again)
    assert "Whole chain" in again and "alice@northwind.example.com" in again and "Active" in again
    assert "Copy this key now" not in again


def test_a_key_limited_to_a_sub_chain(app, login, demo):
    alice = login("alice")
    page = alice.page(PAGE)
    form, _ = page.find(button="Create key")
    choices = next(c for c in form.controls if c.name == "sub_chain").options
    assert (str(demo.orgs["Contoso Retail"]), False) in choices and choices[0] == ("", True)
    expiry = date.today() + timedelta(days=30)
    response = _create(alice, sub_chain=str(demo.orgs["Contoso Retail"]), scopes=["licenses:read"],
                       expires_on=expiry.isoformat())
    assert response.status_code == 200
    assert _keys(app) == [("ERP sync", demo.orgs["Contoso Retail"], ("licenses:read",), False)]
    listed = alice.get(PAGE).get_data(as_text=True)
    assert "Contoso Retail" in listed and (expiry + timedelta(days=1)).isoformat() in listed


def _error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, flags=re.S)
    assert match, f"no error beside {field}"
    return match.group(1)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": ""}, "name", "Give the key a name"),
    ({"name": "x" * 101}, "name", "at most 100"),
    ({"scopes": None}, "scopes", "Choose at least one scope"),
    ({"expires_on": (date.today() - timedelta(days=1)).isoformat()}, "expires_on", "in the future"),
    ({"expires_on": (date.today() + timedelta(days=800)).isoformat()}, "expires_on", "within two years"),
    ({"expires_on": "someday"}, "expires_on", "Not a valid date"),
])
def test_bad_input_is_refused_beside_its_field(app, login, demo, data, field, message):
    alice = login("alice")
    response = _create(alice, **data)
    assert response.status_code == 422
    assert message in _error(response.get_data(as_text=True), field)
    assert _keys(app) == []


def test_a_sub_chain_key_cannot_have_billing_scopes(app, login, demo):
    response = _create(login("alice"), sub_chain=str(demo.orgs["Contoso Retail"]), scopes=["invoices:read"])
    assert response.status_code == 422
    assert "invoices:read" in _error(response.get_data(as_text=True), "scopes")
    assert _keys(app) == []


def test_a_sub_chain_of_another_chain_is_refused_beside_the_select(app, login, demo):
    """The select offers the chain's own sub-chains; a tampered value (the form's fields, posted as they are with
    another chain's sub-chain) is refused and nothing is created."""
    with app.app_context():
        stranger = make_org("Litware Branch", parent=demo_org("Litware Solutions")).id
        db.session.commit()
    alice = login("alice")
    page = alice.page(PAGE)
    form, clicked = page.find(button="Create key")
    pairs = [(n, v) for n, v in fill(form, clicked, {"name": "Tampered", "scopes": ["catalog:read"]})
             if n != "sub_chain"]
    for value in (str(stranger), str(demo.orgs["Litware Solutions"]), "not-a-number", "999999"):
        response = alice.post(PAGE, data=MultiDict([*pairs, ("sub_chain", value)]))
        assert response.status_code == 422, value
        assert "sub-chains" in _error(response.get_data(as_text=True), "sub_chain")
    assert _keys(app) == []


def test_at_most_50_active_keys(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        for _ in range(50):
            make_api_key(northwind, demo_user("alice"))
        db.session.commit()
    response = _create(login("alice"))
    assert response.status_code == 422 and "already has 50 active API keys" in response.get_data(as_text=True)


def test_revoke_asks_first_then_revokes(app, login, demo):
    with app.app_context():
        key = make_api_key(demo_org("Contoso Retail"), demo_user("alice"), name="Contoso sync")
        key_id, token = key.id, key.token
        db.session.commit()
    alice = login("alice")
    url = f"/account/api-keys/{key_id}/revoke"
    assert f'href="{url}"' in alice.get(PAGE).get_data(as_text=True)
    question = alice.page(url)
    assert "Revoke the API key Contoso sync?" in question.html
    assert _keys(app)[0][3] is False  # asking changes nothing
    response = alice.submit(question, button="Revoke the key")
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    assert _keys(app)[0][3] is True
    with app.app_context():
        assert services.find_usable_key(token, utcnow()) is None
    listed = alice.get(PAGE).get_data(as_text=True)
    assert "Revoked" in listed and f'href="{url}"' not in listed
    # a POST that did not confirm (no token) asks again and changes nothing
    assert alice.post(url, data={}).status_code == 400


@pytest.mark.parametrize("who", ["carol", "bob", "erin"])
def test_other_roles_cannot_reach_the_page(login, demo, who):
    client = login(who)
    assert client.get(PAGE).status_code == 403
    assert "API keys" not in client.get("/account").get_data(as_text=True)


def test_the_navigation_offers_api_keys_to_managers(login, demo):
    assert 'href="/account/api-keys"' in login("alice").get("/account").get_data(as_text=True)


def test_another_tenants_key_is_a_404(app, login, demo):
    with app.app_context():
        northwind_key = make_api_key(demo_org("Northwind IT")).id
        contoso_key = make_api_key(demo_org("Contoso Retail")).id
        db.session.commit()
    frank = login("frank")
    for key_id in (northwind_key, contoso_key):
        url = f"/account/api-keys/{key_id}/revoke"
        assert frank.get(url).status_code == 404
        assert frank.post(url, data={"csrf_token": frank.csrf_token()}).status_code == 404
    assert not any(revoked for *_, revoked in _keys(app))
    # frank's own list shows none of Northwind's keys
    assert "Key " not in frank.get(PAGE).get_data(as_text=True)


def test_the_activity_log_names_the_key_a_call_came_with(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        key = make_api_key(northwind, demo_user("alice"), name="ERP sync")
        record(Actor(user_id=demo_user("alice").id, ip="192.0.2.5", api_key_id=key.id), "license.assigned", key,
               northwind.id)
        prefix = key.prefix
        db.session.commit()
    for who, url in (("alice", "/account/audit"), ("ops", "/admin/audit")):
        html = login(who).get(url).get_data(as_text=True)
        assert f"via API key ERP sync ({prefix})" in html, who


def test_the_list_takes_the_same_statements_with_more_keys(app, login, demo):
    """Each key's organization and creator come with it: no statement per row."""
    from portal.diagnostics import count_statements

    alice = login("alice")

    def grow(n: int) -> int:
        with app.app_context():
            for org in ("Northwind IT", "Contoso Retail"):
                for _ in range(n):
                    make_api_key(demo_org(org), demo_user("alice")).last_used_at = utcnow()
            db.session.commit()
        with app.app_context(), count_statements(db.engine) as counted:
            assert alice.get(PAGE).status_code == 200
        return counted.count

    assert grow(1) == grow(10)


def test_sending_the_create_form_again_creates_no_second_key(app, demo, login):
    """A reload of the page that showed the secret sends the same form again: no second key, no secret."""
    alice = login("alice")
    page = alice.page(PAGE)
    data = {"name": "Shop", "scopes": ["catalog:read"]}
    first = alice.submit(page, data, button="Create key")
    assert first.status_code == 200 and "Copy this key now" in first.get_data(as_text=True)
    again = alice.submit(page, data, button="Create key")  # the very same fields, its form id among them
    text = again.get_data(as_text=True)
    assert again.status_code == 200 and not TOKEN.search(text) and "already created" in text
    assert len(_keys(app)) == 1
    another = alice.submit(PAGE, data, button="Create key")  # a form opened anew makes a new key
    assert TOKEN.search(another.get_data(as_text=True)) and len(_keys(app)) == 2
