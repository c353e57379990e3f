"""Licenses through the API, as a partner's system uses them: its book page by page (stable while licenses are
bought), filtered; one license by key with its ETag; assigning it once (If-Match honoured); pricing and ordering a
modification (the Modify page's and the checkout's services: the same order, invoice and change), replayed safely
with an Idempotency-Key. An end customer's key sees its entitlements only; another tenant's license is a 404."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, Role
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.cart.models import CartItem
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.licenses.services import one_year_after
from portal.orders.models import Order
from tests.api.conftest import ApiClient
from tests.factories import make_api_key, make_license, make_member, make_payment_method, processor_card

TODAY = utcnow().date()


def _org(name: str) -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


@pytest.fixture
def book(app, demo):
    """Northwind's licenses besides the demo's: stock and licenses resold to Contoso, at known M&S dates; and one
    of Litware's (another tenant)."""
    with app.app_context():
        northwind, contoso, litware = _org("Northwind IT"), _org("Contoso Retail"), _org("Litware Solutions")
        keys = {
            "stock": make_license(northwind, ms_expires_on=TODAY + timedelta(days=30)).key,
            "webstats": make_license(northwind, slug="webstats", edition="Standard", quantity=5,
                                     ms_expires_on=TODAY + timedelta(days=40)).key,
            "resold": make_license(northwind, contoso, edition="Professional", quantity=25,
                                   ms_expires_on=TODAY + timedelta(days=60)).key,
            "lapsed": make_license(northwind, contoso, ms_expires_on=TODAY - timedelta(days=10)).key,
            "litware": make_license(litware, ms_expires_on=TODAY + timedelta(days=20)).key,
            "contoso_id": contoso.id,
        }
        db.session.commit()
        return keys


def _all(client: ApiClient, query: str = "", limit: int = 100) -> list[dict]:
    found, cursor = [], None
    while True:
        response = client.get(f"/api/v1/licenses?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        found += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return found
        cursor = page["next_cursor"]


def _book_keys(app, org: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(License.key).where(License.owner_id == _org(org).id)
                                       .order_by(License.ms_expires_on, License.id)))


# ---------------------------------------------------------------- the list


def test_a_reseller_reads_its_book_page_by_page_soonest_m_and_s_first_and_stably(app, api, book):
    client = api("alice")
    first = client.get("/api/v1/licenses?limit=2").get_json()
    assert [lic["object"] for lic in first["data"]] == ["license", "license"] and first["has_more"]
    with app.app_context():  # bought between two pages: one after the cursor shows up, one before does not
        northwind = _org("Northwind IT")
        early = make_license(northwind, ms_expires_on=TODAY - timedelta(days=400)).key
        late = make_license(northwind, ms_expires_on=TODAY + timedelta(days=3000)).key
        db.session.commit()
    rest, cursor = [], first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/licenses?limit=2&cursor={cursor}").get_json()
        rest += page["data"]
        cursor = page["next_cursor"]
    seen = [lic["key"] for lic in first["data"] + rest]
    assert len(seen) == len(set(seen))
    assert late in seen and early not in seen
    assert seen == [k for k in _book_keys(app, "Northwind IT") if k != early]
    assert book["litware"] not in seen
    resold = next(lic for lic in first["data"] + rest if lic["key"] == book["resold"])
    assert resold["customer"] == {"id": book["contoso_id"], "name": "Contoso Retail"}
    assert (resold["status"], resold["edition"]["name"], resold["quantity"], resold["product"]["slug"]) == (
        "assigned", "Professional", 25, "mailsuite")


def test_a_listed_license_is_the_license_itself_with_its_add_ons_in_order(app, api, book):
    """The list reads plain rows and the add-ons joined around its page: each item is exactly GET of that license,
    whatever the page's size (a license's add-ons never take a page's place)."""
    with app.app_context():
        northwind = _org("Northwind IT")
        keys = [make_license(northwind, addons=("activesync", "antispam"),
                             ms_expires_on=TODAY + timedelta(days=5 + i)).key for i in range(3)]
        db.session.commit()
    client = api("alice")
    for limit in (1, 2, 100):
        listed = {lic["key"]: lic for lic in _all(client, limit=limit)}
        assert len(listed) == len(_book_keys(app, "Northwind IT"))
        for key in [*keys, book["resold"], book["stock"]]:
            assert listed[key] == client.get(f"/api/v1/licenses/{key}").get_json(), (limit, key)
        assert [a["slug"] for a in listed[keys[0]]["addons"]] == ["antispam", "activesync"]


def test_each_filter_narrows_the_book(app, api, book):
    client = api("alice")
    unassigned = _all(client, "&status=unassigned", limit=3)
    assert unassigned and all(lic["status"] == "unassigned" and lic["customer"] is None for lic in unassigned)
    assert book["stock"] in {lic["key"] for lic in unassigned}
    assigned = _all(client, "&status=assigned")
    assert {book["resold"], book["lapsed"]} <= {lic["key"] for lic in assigned}
    assert all(lic["status"] == "assigned" for lic in assigned)
    contoso = _all(client, f"&customer_id={book['contoso_id']}")
    assert {lic["customer"]["id"] for lic in contoso} == {book["contoso_id"]}
    assert {book["resold"], book["lapsed"]} <= {lic["key"] for lic in contoso}
    webstats = _all(client, "&product=webstats")
    assert book["webstats"] in {lic["key"] for lic in webstats}
    assert {lic["product"]["slug"] for lic in webstats} == {"webstats"}
    assert _all(client, "&product=no-such-product") == []
    before = _all(client, f"&ms_expires_before={TODAY.isoformat()}")
    assert book["lapsed"] in {lic["key"] for lic in before}
    assert all(date.fromisoformat(lic["ms_expires_on"]) < TODAY and lic["ms_lapsed"] for lic in before)
    window = _all(client, f"&ms_expires_after={(TODAY + timedelta(days=35)).isoformat()}"
                          f"&ms_expires_before={(TODAY + timedelta(days=61)).isoformat()}")
    keys = {lic["key"] for lic in window}
    assert {book["webstats"], book["resold"]} <= keys and book["stock"] not in keys


@pytest.mark.parametrize("query, field", [("status=lost", "status"), ("limit=0", "limit"), ("limit=abc", "limit"),
                                          ("customer_id=x", "customer_id"), ("ms_expires_before=2026-13-01",
                                                                             "ms_expires_before"),
                                          ("cursor=forged", "cursor"), ("customer_id=99999999999999999999999",
                                                                        "customer_id")])
def test_a_bad_filter_is_a_problem_naming_it(api, book, query, field):
    response = api("alice").get(f"/api/v1/licenses?{query}")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["field"] == field


def test_an_end_customers_key_sees_its_entitlements_only(app, api, book):
    with app.app_context():
        contoso = _org("Contoso Retail")
        manager = make_member(contoso, Role.MANAGER).user
        token = make_api_key(contoso, creator=manager, scopes=[Scope.LICENSES_READ]).token
        db.session.commit()
    client = ApiClient(app.test_client(), token)
    keys = {lic["key"] for lic in _all(client)}
    assert {book["resold"], book["lapsed"]} <= keys
    assert book["stock"] not in keys and book["webstats"] not in keys and book["litware"] not in keys
    assert client.get(f"/api/v1/licenses/{book['resold']}").status_code == 200
    assert client.get(f"/api/v1/licenses/{book['stock']}").status_code == 404


def test_a_key_without_the_licenses_scope_is_refused(api, book):
    response = api("alice", scopes=[Scope.CATALOG_READ]).get("/api/v1/licenses")
    assert response.status_code == 403 and response.get_json()["type"].endswith("#insufficient-scope")


# ---------------------------------------------------------------- one license


def test_one_license_by_key_as_typed_with_its_etag(api, book):
    client = api("alice", scopes=[Scope.LICENSES_READ])
    response = client.get(f"/api/v1/licenses/{book['resold']}")
    assert response.status_code == 200 and response.headers["ETag"]
    assert response.get_json()["key"] == book["resold"]
    typed = client.get(f"/api/v1/licenses/{book['resold'].replace('-', '').lower()}")
    assert typed.get_json()["key"] == book["resold"]
    again = client.get(f"/api/v1/licenses/{book['resold']}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("which", ["litware", "nonsense", "unknown"])
def test_another_tenants_or_an_unknown_license_is_not_found(api, book, which):
    key = {"litware": book["litware"], "nonsense": "not-a-key%00", "unknown": "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"}[which]
    client = api("alice")
    for response in (client.get(f"/api/v1/licenses/{key}"),
                     client.post(f"/api/v1/licenses/{key}/assignment", json={"customer_email": "x@example.com"}),
                     client.post(f"/api/v1/licenses/{key}/modification-quotes", json={"renew_ms": True}),
                     client.post(f"/api/v1/licenses/{key}/modifications",
                                 json={"renew_ms": True, "payment": {"method": "invoice"}})):
        assert response.status_code == 404, response.get_json()
        assert response.get_json()["type"].endswith("#not-found")


def test_another_tenant_cannot_see_northwinds_license(api, book):
    assert api("frank", "Litware Solutions").get(f"/api/v1/licenses/{book['stock']}").status_code == 404


# ---------------------------------------------------------------- assignment


def test_a_license_is_assigned_once_with_if_match_and_the_page_shows_it(app, api, login, book):
    client = api("alice")
    path = f"/api/v1/licenses/{book['stock']}"
    etag = client.get(path).headers["ETag"]
    stale = client.post(f"{path}/assignment", json={"customer_email": "dana@newcustomer.example.com"},
                        headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    done = client.post(f"{path}/assignment", json={"customer_email": "dana@newcustomer.example.com",
                                                   "customer_name": "New Customer Inc"},
                       headers={"If-Match": etag})
    assert done.status_code == 201, done.get_json()
    body = done.get_json()
    assert body["status"] == "assigned" and body["customer"]["name"] == "New Customer Inc"
    assert done.headers["Location"].endswith(path) and done.headers["ETag"] != etag
    twice = client.post(f"{path}/assignment", json={"customer_email": "someone@else.example.com"})
    assert twice.status_code == 422
    assert twice.get_json()["type"].endswith("#refused") and twice.get_json()["field"] == "key"
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "license.assigned")
                                   .order_by(AuditEntry.id.desc())).first()
        assert entry.api_key_id is not None
    page = login("alice").get(f"/licenses/{book['stock']}")
    assert page.status_code == 200 and "New Customer Inc" in page.get_data(as_text=True)


@pytest.mark.parametrize("payload, field", [({}, "customer_email"), ({"customer_email": ""}, "customer_email"),
                                            ({"customer_email": 5}, "customer_email"),
                                            ({"customer_email": "a\x00b@example.com"}, "customer_email"),
                                            ({"customer_email": "not an address"}, "customer_email"),
                                            ({"customer_email": "x@example.com", "extra": 1}, "extra")])
def test_a_bad_assignment_names_the_field_and_changes_nothing(app, api, book, payload, field):
    response = api("alice").post(f"/api/v1/licenses/{book['stock']}/assignment", json=payload)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    with app.app_context():
        assert db.session.scalar(select(License.customer_id).where(License.key == book["stock"])) is None


def test_assignment_needs_the_write_scope(api, book):
    response = api("alice", scopes=[Scope.LICENSES_READ]).post(
        f"/api/v1/licenses/{book['stock']}/assignment", json={"customer_email": "x@example.com"})
    assert response.status_code == 403 and response.get_json()["type"].endswith("#insufficient-scope")


def test_a_body_that_is_not_json_is_a_problem(api, book):
    response = api("alice").post(f"/api/v1/licenses/{book['stock']}/assignment", data="{not json",
                                 headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500 and response.mimetype == "application/problem+json"


# ---------------------------------------------------------------- modifications


def _cart_items(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CartItem))


def test_a_quote_prices_an_upgrade_with_renewal_and_writes_nothing(app, api, book):
    items = _cart_items(app)
    response = api("alice", scopes=[Scope.LICENSES_READ]).post(
        f"/api/v1/licenses/{book['resold']}/modification-quotes",
        json={"edition": "enterprise", "quantity": 50, "addons": ["antispam"], "renew_ms": True})
    assert response.status_code == 200, response.get_json()
    quote = response.get_json()
    assert [line["purchase"] for line in quote["lines"]] == ["upgrade", "renewal"]
    assert quote["total"]["amount_minor"] == sum(line["total"]["amount_minor"] for line in quote["lines"]) > 0
    assert quote["discount"]["amount_minor"] > 0  # Northwind is a Gold partner
    assert quote["lines"][1]["ms_expires_on"] == one_year_after(TODAY + timedelta(days=60)).isoformat()
    assert _cart_items(app) == items


@pytest.mark.parametrize("payload, field", [({"edition": "Free"}, "edition"), ({"quantity": 5}, "quantity"),
                                            ({"addons": ["nope"]}, "addons"), ({"edition": "Platinum"}, "edition"),
                                            ({"reinstate": True}, None), ({}, "edition"),
                                            ({"renew_ms": True, "reinstate": True}, "reinstate"),
                                            ({"quantity": "many"}, "quantity"), ({"edition": 7}, "edition"),
                                            ({"quantity": 10**30}, "quantity"), ({"edition": "a\x00"}, "edition")])
def test_a_refused_modification_quote_says_why(api, book, payload, field):
    response = api("alice").post(f"/api/v1/licenses/{book['resold']}/modification-quotes", json=payload)
    assert response.status_code == 422, response.get_json()
    assert response.get_json().get("field") == field


def test_a_modification_is_ordered_as_the_checkout_orders_it_once_per_idempotency_key(app, api, login, book):
    client = api("alice")
    path = f"/api/v1/licenses/{book['resold']}"
    quote = client.post(f"{path}/modification-quotes", json={"edition": "Enterprise", "renew_ms": True}).get_json()
    body = {"edition": "Enterprise", "renew_ms": True, "payment": {"method": "invoice"},
            "expected_total_minor": quote["total"]["amount_minor"], "purchase_order_number": "PO-77"}
    headers = {"Idempotency-Key": "modify-resold-1"}
    placed = client.post(f"{path}/modifications", json=body, headers=headers)
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert order["total"] == quote["total"] and order["invoice_number"]
    assert order["payment_method"] == "invoice" and placed.headers["Location"].endswith(order["order_number"])
    assert order["license"]["edition"]["name"] == "Enterprise"
    again = client.post(f"{path}/modifications", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json()["order_number"] == order["order_number"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    with app.app_context():
        placed_orders = db.session.scalars(select(Order).where(Order.number == order["order_number"])).all()
        assert len(placed_orders) == 1 and placed_orders[0].purchase_order_number == "PO-77"
        license_ = db.session.scalars(select(License).where(License.key == book["resold"])).one()
        assert license_.ms_expires_on > TODAY + timedelta(days=300)
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "order.placed")
                                   .order_by(AuditEntry.id.desc())).first()
        assert entry.api_key_id is not None
    assert order["order_number"] in login("alice").get("/orders").get_data(as_text=True)


def test_a_modification_order_refused_keeps_nothing(app, api, book):
    items = _cart_items(app)
    client = api("alice")
    changed = client.post(f"/api/v1/licenses/{book['resold']}/modifications",
                          json={"renew_ms": True, "payment": {"method": "invoice"}, "expected_total_minor": 1})
    assert changed.status_code == 422 and changed.get_json()["field"] == "expected_total_minor"
    lapsed = client.post(f"/api/v1/licenses/{book['lapsed']}/modifications",
                         json={"renew_ms": True, "payment": {"method": "invoice"}})
    assert lapsed.status_code == 422 and lapsed.get_json()["type"].endswith("#refused")
    no_card = client.post(f"/api/v1/licenses/{book['resold']}/modifications",
                          json={"renew_ms": True, "payment": {"method": "saved_card"}})
    assert no_card.status_code == 422 and no_card.get_json()["field"] == "payment.payment_method_id"
    bad = client.post(f"/api/v1/licenses/{book['resold']}/modifications",
                      json={"renew_ms": True, "payment": {"method": "bitcoin"}})
    assert bad.status_code == 422 and bad.get_json()["field"] == "payment.method"
    assert _cart_items(app) == items
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order).where(
            Order.organization_id == _org("Northwind IT").id, Order.created_at >= utcnow() - timedelta(minutes=5))) == 0


def test_a_lapsed_license_is_reinstated(api, book):
    client = api("alice")
    placed = client.post(f"/api/v1/licenses/{book['lapsed']}/modifications",
                         json={"reinstate": True, "payment": {"method": "invoice"}})
    assert placed.status_code == 201, placed.get_json()
    assert [line["purchase"] for line in placed.get_json()["lines"]] == ["reinstatement"]
    assert placed.get_json()["license"]["ms_lapsed"] is False


def test_modifications_need_the_write_scope_and_an_owned_license(app, api, book):
    read_only = api("alice", scopes=[Scope.LICENSES_READ]).post(
        f"/api/v1/licenses/{book['resold']}/modifications", json={"renew_ms": True, "payment": {"method": "invoice"}})
    assert read_only.status_code == 403 and read_only.get_json()["type"].endswith("#insufficient-scope")
    with app.app_context():
        contoso = _org("Contoso Retail")
        manager = make_member(contoso, Role.MANAGER).user
        token = make_api_key(contoso, creator=manager, scopes=[Scope.LICENSES_READ, Scope.LICENSES_WRITE]).token
        db.session.commit()
    customer = ApiClient(app.test_client(), token)
    # Contoso's manager may not buy (an end customer's sub-chain): no prices, no orders
    response = customer.post(f"/api/v1/licenses/{book['resold']}/modification-quotes", json={"renew_ms": True})
    assert response.status_code == 403 and response.get_json()["type"].endswith("#forbidden")


def _saved_card(app, number: str) -> int:
    with app.app_context():
        token = processor_card(number)  # the processor's record first: it writes on a connection of its own
        method = make_payment_method(_org("Northwind IT"))
        method.gateway_token = token
        db.session.commit()
        return method.id


def test_a_modification_is_paid_with_a_saved_card(app, api, book):
    card = _saved_card(app, "4242 4242 4242 4242")
    placed = api("alice").post(f"/api/v1/licenses/{book['resold']}/modifications",
                               json={"addons": ["antispam"], "payment": {"method": "saved_card",
                                                                         "payment_method_id": card}})
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["payment_method"] == "card"
    assert [a["slug"] for a in placed.get_json()["license"]["addons"]] == ["antispam"]


@pytest.mark.parametrize("number", ["4000 0000 0000 0002", "4000 0027 6000 3184"])  # declined; wants 3-D Secure
def test_a_card_that_does_not_pay_keeps_no_order_and_no_cart_item(app, api, book, number):
    card = _saved_card(app, number)
    items = _cart_items(app)
    refused = api("alice").post(f"/api/v1/licenses/{book['resold']}/modifications",
                                json={"renew_ms": True, "payment": {"method": "saved_card", "payment_method_id": card}})
    assert refused.status_code == 402, refused.get_json()
    assert refused.get_json()["type"].endswith("#payment-failed")
    assert _cart_items(app) == items
    with app.app_context():
        assert db.session.scalar(select(License.ms_expires_on).where(License.key == book["resold"])) == \
            TODAY + timedelta(days=60)


def test_a_browser_signed_in_to_the_portal_reads_the_api_with_a_key(app, login, api, book):
    """A page's cookie makes the portal read the signed-in user before the API's hooks run: the list still
    answers (its reads join the transaction already begun instead of asking for autocommit)."""
    browser = login("alice")
    token = api("alice").token
    response = browser.get("/api/v1/licenses?limit=5", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["data"]) == 5
