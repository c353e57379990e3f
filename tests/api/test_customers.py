"""A reseller's customers through the API, as a partner's CRM syncs them: the list /customers shows (sub-chains and
accounts resold to) by name a page at a time, stable while customers are added, filtered by a name prefix; one
customer; and a new customer created as /account/chains creates one (a sub-chain whose first user is emailed)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.models import Membership, Organization, Role, User
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from tests.factories import make_license, make_org


def _org(name: str) -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


@pytest.fixture
def customers(app, demo):
    """Northwind's customers: its sub-chain Contoso Retail (demo), five more sub-chains named Acme 1..5, and
    Litware's own sub-chain (not Northwind's)."""
    with app.app_context():
        northwind = _org("Northwind IT")
        ids = {f"Acme {n}": make_org(f"Acme {n}", parent=northwind).id for n in range(1, 6)}
        make_license(northwind, db.session.get(Organization, ids["Acme 2"]))
        ids["Litware Client"] = make_org("Litware Client", parent=_org("Litware Solutions")).id
        ids["Contoso Retail"] = _org("Contoso Retail").id
        db.session.commit()
        return ids


def _names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [c["name"] for c in response.get_json()["data"]]


def test_customers_are_listed_by_name_a_page_at_a_time_and_stay_stable_when_one_is_added(app, api, customers):
    client = api("alice", scopes=[Scope.LICENSES_READ])
    first = client.get("/api/v1/customers?limit=2")
    assert _names(first) == ["Acme 1", "Acme 2"]
    with app.app_context():  # added before the cursor: not on the next pages, which do not shift
        make_org("Aardvark", parent=_org("Northwind IT"))
        db.session.commit()
    seen, cursor = _names(first), first.get_json()["next_cursor"]
    while cursor:
        page = client.get("/api/v1/customers", query_string={"limit": 2, "cursor": cursor})
        seen += _names(page)
        cursor = page.get_json()["next_cursor"]
    assert seen == ["Acme 1", "Acme 2", "Acme 3", "Acme 4", "Acme 5", "Contoso Retail"]


def test_customers_are_filtered_by_a_name_prefix(api, customers):
    client = api("alice")
    assert _names(client.get("/api/v1/customers?q=acme")) == [f"Acme {n}" for n in range(1, 6)]
    assert _names(client.get("/api/v1/customers?q=con")) == ["Contoso Retail"]
    assert _names(client.get("/api/v1/customers?q=50%25_")) == []  # LIKE's wildcards are plain text here


def test_one_customer_says_what_it_holds_with_an_etag(api, customers):
    response = api("alice").get(f"/api/v1/customers/{customers['Acme 2']}")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["object"], body["name"], body["sub_chain"], body["licenses"]) == ("customer", "Acme 2", True, 1)
    assert response.headers["ETag"]


def test_another_resellers_customer_is_a_404(api, customers):
    client = api("alice")
    assert client.get(f"/api/v1/customers/{customers['Litware Client']}").status_code == 404
    litware = api("frank", "Litware Solutions")
    response = litware.get(f"/api/v1/customers/{customers['Acme 1']}")
    assert response.status_code == 404 and response.get_json()["type"].endswith("#not-found")
    assert "Acme 1" not in _names(litware.get("/api/v1/customers"))


def test_a_key_without_the_scope_is_refused(api, customers):
    response = api("alice", scopes=[Scope.INVOICES_READ]).get("/api/v1/customers")
    assert response.status_code == 403 and response.get_json()["type"].endswith("#insufficient-scope")
    created = api("alice", scopes=[Scope.LICENSES_READ]).post("/api/v1/customers", json={
        "name": "Nope", "email": "nope@example.com", "full_name": "No Pe"})
    assert created.status_code == 403


def test_a_customer_is_created_as_a_sub_chain_whose_first_user_is_emailed(app, api, login, customers):
    response = api("alice", scopes=[Scope.LICENSES_WRITE, Scope.LICENSES_READ]).post(
        "/api/v1/customers", json={"name": "Tailspin Toys", "email": "pat@tailspin.example.com",
                                   "full_name": "Pat Tailspin"}, headers={"Idempotency-Key": "new-customer-1"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["name"], body["sub_chain"], body["licenses"]) == ("Tailspin Toys", True, 0)
    assert response.headers["Location"].endswith(f"/api/v1/customers/{body['id']}")
    with app.app_context():
        sub = db.session.get(Organization, body["id"])
        assert sub.parent_id == _org("Northwind IT").id
        user = db.session.scalars(select(User).where(User.email == "pat@tailspin.example.com")).one()
        membership = db.session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
        assert membership.role is Role.VIEWER
        assert any("pat@tailspin.example.com" in m.to_addrs for m in db.session.scalars(select(OutboxMessage)))
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "organization.sub_chain_created",
                                                            AuditEntry.object_id == str(sub.id))).one()
        assert entry.api_key_id is not None
    assert "Tailspin Toys" in login("alice").get("/customers").get_data(as_text=True)  # the page lists it


def test_a_master_users_key_cannot_create_customers(api, customers):
    response = api("bob", scopes=[Scope.LICENSES_WRITE]).post("/api/v1/customers", json={
        "name": "Tailspin Toys", "email": "pat@tailspin.example.com", "full_name": "Pat Tailspin"})
    assert response.status_code == 403 and response.get_json()["type"].endswith("#forbidden")


@pytest.mark.parametrize("body, field", [
    ({"email": "pat@example.com", "full_name": "Pat"}, "name"),
    ({"name": "  ", "email": "pat@example.com", "full_name": "Pat"}, "name"),
    ({"name": "Acme 1", "email": "pat@example.com", "full_name": "Pat"}, "name"),  # already a sub-chain
    ({"name": "X\x00", "email": "pat@example.com", "full_name": "Pat"}, "name"),
    ({"name": "X", "email": "not an email", "full_name": "Pat"}, "email"),
    ({"name": "X", "email": "pat@example.com", "full_name": 7}, "full_name"),
    ({"name": "X", "email": "pat@example.com", "full_name": "Pat", "role": "installer"}, "role"),
    ({"name": "X", "email": "pat@example.com", "full_name": "Pat", "extra": 1}, "extra"),
])
def test_a_bad_customer_names_the_field_and_creates_nothing(app, api, customers, body, field):
    response = api("alice").post("/api/v1/customers", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    with app.app_context():
        assert db.session.scalars(select(User).where(User.email == "pat@example.com")).first() is None


def test_a_body_that_is_not_json_is_refused(api, customers):
    response = api("alice").post("/api/v1/customers", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"
