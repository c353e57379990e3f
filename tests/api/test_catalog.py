"""The catalog and quotes through the API: list prices and the reseller's own, priced as checkout prices."""

from __future__ import annotations

from portal.api_keys.models import Scope


def test_products_show_list_prices_and_the_resellers_price(api):
    products = api("alice").get("/api/v1/catalog/products").get_json()["data"]
    webstats = next(p for p in products if p["slug"] == "webstats")
    standard = next(e for e in webstats["editions"] if e["name"] == "Standard")
    one = next(p for p in standard["prices"] if p["quantity"] == 1)
    assert one["list_price"] == {"amount_minor": 14900, "currency": "USD"}
    assert one["your_price"]["amount_minor"] == 11920  # Gold: 20 % off
    assert "reseller-standard" not in [p["slug"] for p in products]


def test_a_quote_is_the_checkout_price_and_saves_nothing(api):
    client = api("alice")
    quote = client.post("/api/v1/quotes", json={"items": [{"product": "webstats", "edition": "Standard",
                                                            "quantity": 1, "copies": 2}]})
    assert quote.status_code == 200, quote.get_json()
    body = quote.get_json()
    assert body["subtotal"]["amount_minor"] == 29800 and body["discount"]["amount_minor"] == 5960
    assert client.get("/api/v1/cart/items").get_json()["data"] == []


def test_catalog_needs_its_scope_and_names_bad_fields(api):
    assert api("alice", scopes=[Scope.ORDERS_WRITE]).get("/api/v1/catalog/products").status_code == 403
    client = api("alice")
    assert client.get("/api/v1/catalog/products/nope").status_code == 404
    bad = client.post("/api/v1/quotes", json={"items": [{"product": "webstats", "edition": "Standard",
                                                          "quantity": 1, "addons": ["nope"]}]})
    assert bad.status_code == 422 and bad.get_json()["field"] == "items.0.addons"
