"""Orders through the API, as a partner's shop places them: from the cart or directly, invoiced or on a saved
card, assigned at once to a customer; what the checkout page would have made, and nothing when payment fails."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice
from portal.cart.models import CartItem
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order
from tests.factories import make_payment_method, processor_card

ITEM = {"product": "webstats", "edition": "Standard", "quantity": 5, "copies": 2}
INVOICE = {"method": "invoice"}


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _saved_card(app, demo, org: str = "Litware Solutions", number: str = "4242 4242 4242 4242") -> int:
    with app.app_context():
        token = processor_card(number)  # the processor's record first: it writes on a connection of its own
        method = make_payment_method(db.session.get(Organization, demo.orgs[org]))
        method.gateway_token = token
        method.is_default = True
        db.session.commit()
        return method.id


def test_an_order_of_items_on_invoice_makes_the_licenses_and_its_invoice(app, api):
    client = api("alice")
    placed = client.post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE,
                                                 "purchase_order_number": "PO-77"})
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert placed.headers["Location"] == f"/api/v1/orders/{order['number']}"
    assert order["payment"] == {"method": "invoice", "card": None}
    assert order["purchase_order_number"] == "PO-77"
    assert order["discount_bp"] == 2000  # Northwind is a Gold partner
    [line] = order["lines"]
    assert line["copies"] == 2 and len(line["licenses"]) == 2
    assert all(lic["assigned_to"] is None for lic in line["licenses"])
    assert order["invoice_number"] and order["total"]["currency"] == "USD"
    assert order["assignment_problem"] is None
    assert _count(app, CartItem) == 0  # the items passed through the cart and left it with the order

    again = client.get(order["Location"] if "Location" in order else placed.headers["Location"])
    assert again.status_code == 200 and again.get_json()["number"] == order["number"]
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "order.placed")).one()
        assert entry.api_key_id is not None


def test_the_order_page_shows_what_the_api_placed(app, api, client):
    number = api("alice").post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE}).get_json()["number"]
    client.login("alice@northwind.example.com")
    page = client.get(f"/orders/{number}")
    assert page.status_code == 200 and number in page.get_data(as_text=True)


def test_an_order_from_the_cart_buys_what_is_in_it(app, api):
    client = api("alice")
    added = client.post("/api/v1/cart/items", json={"product": "mailsuite", "edition": "Professional",
                                                    "quantity": 25, "addons": ["antispam"]})
    assert added.status_code == 201, added.get_json()
    quote = client.post("/api/v1/quotes", json={"items": [{"product": "mailsuite", "edition": "Professional",
                                                            "quantity": 25, "addons": ["antispam"]}]})
    assert quote.status_code == 200, quote.get_json()
    quote = quote.get_json()
    placed = client.post("/api/v1/orders", json={"from_cart": True, "payment": INVOICE,
                                                 "expected_total_minor": quote["total"]["amount_minor"]})
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["total"] == quote["total"]
    assert client.get("/api/v1/cart/items").get_json()["data"] == []
    empty = client.post("/api/v1/orders", json={"from_cart": True, "payment": INVOICE})
    assert empty.status_code == 422 and empty.get_json()["field"] == "from_cart"


def test_a_stale_expected_total_places_nothing(app, api):
    refused = api("alice").post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE,
                                                        "expected_total_minor": 1})
    assert refused.status_code == 422 and "Prices changed" in refused.get_json()["detail"]
    assert _count(app, Order) == 0 and _count(app, CartItem) == 0


def test_assign_to_gives_the_new_licenses_to_the_customer_at_once(app, api):
    placed = api("alice").post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE,
                                                       "assign_to": "buyer@newcustomer.example.com"})
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert order["assignment_problem"] is None
    assert all(lic["assigned_to"] for lic in order["lines"][0]["licenses"])
    with app.app_context():
        keys = [lic["key"] for lic in order["lines"][0]["licenses"]]
        assert all(lic.customer_id is not None
                   for lic in db.session.scalars(select(License).where(License.key.in_(keys))))


def test_assign_to_needs_the_licenses_write_scope(app, api):
    client = api("alice", scopes=[Scope.ORDERS_WRITE])
    refused = client.post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE,
                                                  "assign_to": "someone@example.com"})
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("#insufficient-scope")
    assert _count(app, Order) == 0


def test_a_saved_card_pays_an_order(app, api, demo):
    card = _saved_card(app, demo)
    placed = api("frank", "Litware Solutions").post(
        "/api/v1/orders", json={"items": [ITEM], "payment": {"method": "saved_card", "payment_method_id": card}})
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["payment"]["card"] == "Visa ending 4242"
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        assert invoice.status.value == "paid"


def test_a_declined_card_keeps_no_order(app, api, demo):
    card = _saved_card(app, demo, number="4000 0000 0000 0002")
    refused = api("frank", "Litware Solutions").post(
        "/api/v1/orders", json={"items": [ITEM], "payment": {"method": "saved_card", "payment_method_id": card}})
    assert refused.status_code == 402, refused.get_json()
    assert refused.get_json()["type"].endswith("#payment-failed")
    assert _count(app, Order) == 0 and _count(app, CartItem) == 0 and _count(app, Invoice) == 0


def test_a_card_that_needs_3d_secure_is_not_charged_off_session(app, api, demo):
    card = _saved_card(app, demo, number="4000 0027 6000 3184")
    refused = api("frank", "Litware Solutions").post(
        "/api/v1/orders", json={"items": [ITEM], "payment": {"method": "saved_card", "payment_method_id": card}})
    assert refused.status_code == 402, refused.get_json()
    assert "portal" in refused.get_json()["detail"]
    assert _count(app, Order) == 0 and _count(app, CartItem) == 0


def test_invoice_is_refused_to_an_account_paying_on_order(app, api):
    refused = api("frank", "Litware Solutions").post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE})
    assert refused.status_code == 422 and refused.get_json()["field"] == "payment.method"
    assert _count(app, Order) == 0 and _count(app, CartItem) == 0


def test_an_idempotency_key_replays_the_same_order_once(app, api):
    client = api("alice")
    body = {"items": [ITEM], "payment": INVOICE}
    first = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "order-1"})
    second = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == second.status_code == 201
    assert first.get_json()["number"] == second.get_json()["number"]
    assert _count(app, Order) == 1


def test_bad_requests_name_the_field_and_change_nothing(app, api):
    client = api("alice")
    cases = [
        ({"payment": INVOICE}, "items"),
        ({"items": [ITEM], "from_cart": True, "payment": INVOICE}, "items"),
        ({"items": [{**ITEM, "quantity": "5"}], "payment": INVOICE}, "items.0.quantity"),
        ({"items": [{**ITEM, "quantity": 10**30}], "payment": INVOICE}, "items.0.quantity"),
        ({"items": [{**ITEM, "product": "nope"}], "payment": INVOICE}, "items.0.product"),
        ({"items": [{**ITEM, "edition": "Gold"}], "payment": INVOICE}, "items.0.edition"),
        ({"items": [{**ITEM, "quantity": 7}], "payment": INVOICE}, "items.0.quantity"),
        ({"items": [ITEM], "payment": {"method": "bitcoin"}}, "payment.method"),
        ({"items": [ITEM], "payment": {"method": "saved_card", "payment_method_id": 99999}},
         "payment.payment_method_id"),
        ({"items": [ITEM], "payment": INVOICE, "assign_to": "not an email"}, "assign_to"),
        ({"items": [ITEM], "payment": INVOICE, "billing": {"address_line1": "PO Box 12"}}, "billing.address_line1"),
        ({"items": [ITEM], "payment": INVOICE, "billing": {"legal_name": ""}}, "billing.legal_name"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/orders", json=body)
        assert answer.status_code == 422, (body, answer.get_json())
        assert answer.get_json()["field"] == field, (body, answer.get_json())
    assert client.post("/api/v1/orders", data="{not json", content_type="application/json").status_code in (400, 422)
    assert _count(app, Order) == 0 and _count(app, CartItem) == 0


def test_orders_list_newest_first_in_stable_pages_with_filters(app, api):
    client = api("alice")
    numbers = [client.post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE}).get_json()["number"]
               for _ in range(3)]
    first = client.get("/api/v1/orders?limit=2").get_json()
    assert [o["number"] for o in first["data"]] == numbers[::-1][:2] and first["has_more"]
    client.post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE})  # placed between two pages
    rest = client.get(f"/api/v1/orders?limit=2&cursor={first['next_cursor']}").get_json()
    assert [o["number"] for o in rest["data"]] == [numbers[0]] and not rest["has_more"]
    newest = first["data"][0]["created_at"]
    before = client.get("/api/v1/orders", query_string={"created_before": newest}).get_json()
    assert numbers[-1] not in [o["number"] for o in before["data"]]
    after = client.get("/api/v1/orders", query_string={"created_after": "2999-01-01T00:00:00"}).get_json()
    assert after["data"] == []
    assert client.get("/api/v1/orders?created_after=yesterday").status_code == 422
    assert client.get("/api/v1/orders?cursor=forged").status_code == 422


def test_another_tenants_order_is_not_found_and_scope_is_needed(app, api):
    number = api("alice").post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE}).get_json()["number"]
    assert api("frank", "Litware Solutions").get(f"/api/v1/orders/{number}").status_code == 404
    narrow = api("alice", scopes=[Scope.CATALOG_READ])
    answer = narrow.get(f"/api/v1/orders/{number}")
    assert answer.status_code == 403 and answer.get_json()["type"].endswith("#insufficient-scope")
    assert narrow.post("/api/v1/orders", json={"items": [ITEM], "payment": INVOICE}).status_code == 403
    etag = api("alice").get(f"/api/v1/orders/{number}").headers["ETag"]
    assert api("alice").get(f"/api/v1/orders/{number}", headers={"If-None-Match": etag}).status_code == 304
