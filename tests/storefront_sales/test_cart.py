"""The storefront cart and checkout (no JavaScript): carol adds, changes and removes lines at Northwind's prices
(Contoso's special price), a changed price is flagged, another customer's line is a 404, and the checkout places
the order through the sale and shows it with the reseller's invoice."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.cart.models import CartItem
from portal.extensions import db
from portal.orders.models import Order
from portal.storefronts.models import StorefrontPrice
from tests.factories import make_cart_item, make_member
from tests.storefront_sales.test_pages import ALIAS, close_storefront, edition_of, northwind_storefront  # noqa: F401

CART = f"/s/{ALIAS}/cart"


def _add_form(app, slug="mailsuite", edition="Professional", quantity=None, copies=1) -> dict:
    """The choices carol makes on the product page."""
    from portal.catalog.models import Product

    with app.app_context():
        found = edition_of(slug, edition)
        product = db.session.get(Product, found.product_id)
        return {"edition": found.id, "quantity": quantity or sorted(product.quantities)[0], "copies": copies}


def _add(client, choices: dict, slug="mailsuite", htmx=False):
    """Add to cart from the product page, with `choices` (from _add_form)."""
    return client.submit(f"/s/{ALIAS}/products/{slug}", choices, button="Add to cart", htmx=htmx)


def _forged(client, url: str, changes: dict, **find):
    """The form of the page at `url` (its token among its fields) posted with values it cannot produce."""
    page = client.page(url)
    form, clicked = page.find(**find)
    return client.post(page.action_of(form, clicked), data={**dict(form.successful()), **changes})


def _items(app) -> list[tuple]:
    with app.app_context():
        return [(i.id, i.storefront_id, i.quantity, i.copies, i.quoted_list_minor)
                for i in db.session.scalars(select(CartItem).where(CartItem.storefront_id.is_not(None)))]


def test_carol_adds_to_her_cart_at_contosos_price(app, login, northwind):
    carol = login("carol")
    form = _add_form(app)
    response = _add(carol, form)
    assert response.status_code == 302 and response.headers["Location"] == CART
    [(_, storefront_id, quantity, copies, quoted)] = _items(app)
    assert storefront_id == northwind and quoted == 450 * form["quantity"]  # Contoso's special price per mailbox
    page = carol.get(CART).get_data(as_text=True)
    assert f"{450 * form['quantity'] / 100:,.2f}" in page
    assert "list price" not in page.lower()
    # the vendor's cart of Contoso does not hold the storefront's line
    with app.app_context():
        from portal.accounts.models import Organization, User
        from portal.cart.services import cart_count, cart_items

        contoso = db.session.scalars(select(Organization).where(Organization.name == "Contoso Retail")).one()
        user = db.session.scalars(select(User).where(User.email == "carol@contoso.example.com")).one()
        assert cart_items(user, contoso) == [] and cart_count(user, contoso) == 0


def test_adding_with_htmx_answers_with_the_result_and_the_count(app, login, northwind):
    carol = login("carol")
    response = _add(carol, _add_form(app, copies=2), htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="add-result"') and "(2)" in html


def test_bad_input_is_refused_and_adds_nothing(app, login, northwind):
    carol = login("carol")
    good, product = _add_form(app), f"/s/{ALIAS}/products/mailsuite"
    for changes in ({"copies": 0}, {"copies": 101}):
        assert _add(carol, {**good, **changes}).status_code == 422, changes
    for changes in ({"quantity": 7}, {"quantity": "99999999999999999999999"}, {"edition": 999_999},
                    {"quantity": "ten"}):
        response = _forged(carol, product, {**good, **changes}, button="Add to cart")
        assert response.status_code == 422, changes
    assert _forged(carol, product, {**good, "product_id": "99999999999999999999"},
                   button="Add to cart").status_code == 302
    assert _forged(carol, product, {**good, "copies": "1\x00"}, button="Add to cart").status_code == 400
    assert _items(app) == []


def test_subscriptions_cannot_be_added(app, login, northwind):
    from portal.catalog.models import Product

    with app.app_context():
        plan = db.session.scalars(select(Product).where(Product.slug == "device-protection")).one().id
    carol = login("carol")
    # No storefront page offers a subscription: a forged request, with the session's token.
    response = carol.post(CART, data={"product_id": plan, "quantity": 3, "csrf_token": carol.csrf_token()})
    assert response.status_code == 302 and _items(app) == []


def test_update_and_remove_a_line(app, login, northwind):
    carol = login("carol")
    form = _add_form(app)
    _add(carol, form)
    [(item_id, *_)] = _items(app)
    changed = carol.submit(CART, {f"item-{item_id}-edition": form["edition"], f"item-{item_id}-quantity": 25,
                                  f"item-{item_id}-copies": 3})
    assert changed.status_code == 302
    [(_, _, quantity, copies, quoted)] = _items(app)
    assert (quantity, copies, quoted) == (25, 3, 450 * 25)
    refused = carol.submit(CART, {f"item-{item_id}-edition": form["edition"], f"item-{item_id}-quantity": 26,
                                  f"item-{item_id}-copies": 3})
    assert refused.status_code == 422 and _items(app)[0][2] == 25
    removed = carol.submit(CART, {}, action=f"{CART}/items/{item_id}/remove")
    assert removed.status_code == 302 and _items(app) == []


def test_a_changed_price_is_flagged(app, login, northwind):
    carol = login("carol")
    _add(carol, _add_form(app))
    with app.app_context():
        rule = db.session.scalars(select(StorefrontPrice).where(StorefrontPrice.customer_id.is_not(None))).one()
        rule.special_minor = 500
        db.session.commit()
    page = carol.get(CART).get_data(as_text=True)
    assert "The price changed from" in page


def test_another_customers_lines_and_vendor_lines_are_404(app, login, northwind):
    """Another Contoso user's storefront line, and carol's own line of the vendor's cart, are not carol's to
    change here; nothing changes."""
    from portal.accounts.models import Organization, Role, User

    with app.app_context():
        contoso = db.session.scalars(select(Organization).where(Organization.name == "Contoso Retail")).one()
        carol = db.session.scalars(select(User).where(User.email == "carol@contoso.example.com")).one()
        colleague = make_member(contoso, Role.VIEWER).user
        theirs = make_cart_item(contoso, colleague)
        theirs.storefront_id = northwind
        vendor_line = make_cart_item(contoso, carol)
        db.session.commit()
        ids = [theirs.id, vendor_line.id, 999_999]
    client = login("carol")
    for item_id in ids:
        # Not on carol's cart page: forged requests, with the session's token.
        token = {"csrf_token": client.csrf_token()}
        assert client.post(f"{CART}/items/{item_id}", data=token).status_code == 404
        assert client.post(f"{CART}/items/{item_id}/remove", data=token).status_code == 404
    with app.app_context():
        assert db.session.query(CartItem).count() == 2


def test_anonymous_visitors_sign_in_first(client, northwind):
    for path in ("/cart", "/checkout", "/orders", "/orders/ORD-X"):
        response = client.get(f"/s/{ALIAS}{path}")
        assert response.status_code == 302 and f"/s/{ALIAS}/login" in response.headers["Location"]


def test_nothing_is_added_at_a_closed_storefront(app, login, northwind):
    carol = login("carol")
    product = carol.page(f"/s/{ALIAS}/products/mailsuite")  # opened before the storefront closes
    close_storefront(app, northwind)
    assert carol.submit(product, _add_form(app), button="Add to cart").status_code == 403
    assert _items(app) == []




def test_checkout_places_the_order_and_shows_it(app, login, northwind):
    carol = login("carol")
    _add(carol, _add_form(app))
    page = carol.get(f"/s/{ALIAS}/checkout")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Place order" in html and "list price" not in html.lower()
    form = {"legal_name": "Contoso Retail LLC", "address_line1": "1 Pine Street",
            "city": "Seattle", "postal_code": "98101", "country": "US", "invoice_email": "ap@contoso.example.com",
            "phone": "+1 206 555 0199", "saved_card": "0"}
    sent = carol.submit(f"/s/{ALIAS}/checkout", form)  # no JavaScript: a new card is typed at the processor
    assert sent.status_code == 303 and "/sandbox-processor/pay/" in sent.headers["Location"]
    placed = carol.at_processor(sent, "4242 4242 4242 4242", name="Carol Chen")
    assert placed.status_code == 302, placed.get_data(as_text=True)[-2000:]
    assert f"/s/{ALIAS}/orders/ORD-" in placed.headers["Location"]
    order_page = carol.get(placed.headers["Location"])
    assert order_page.status_code == 200
    html = order_page.get_data(as_text=True)
    assert "Sold by" in html and "Northwind IT" in html
    assert "list price" not in html.lower() and "discount" not in html.lower()
    orders = carol.get(f"/s/{ALIAS}/orders").get_data(as_text=True)
    assert placed.headers["Location"].rsplit("/", 1)[1] in orders
    assert _items(app) == []


def test_checkout_refuses_bad_input_beside_the_field(app, login, northwind):
    carol = login("carol")
    _add(carol, _add_form(app))
    base = {"saved_card": "0", "address_line1": "1 Pine Street",
            "city": "Seattle", "postal_code": "98101", "country": "US", "legal_name": "Contoso",
            "invoice_email": "ap@contoso.example.com", "phone": "+1 206 555 0199"}
    checkout = f"/s/{ALIAS}/checkout"
    for changes, field, forged in (({"saved_card": "999999"}, "saved_card", True), ({"country": ""}, "country", False),
                                   ({"payment_method_id": "pm_sandbox_forged"}, "saved_card", True),
                                   ({"expected_total": "1"}, None, True), ({"expected_total": "9" * 40}, None, True)):
        response = (_forged(carol, checkout, {**base, **changes}, action=checkout) if forged
                    else carol.submit(checkout, {**base, **changes}))
        assert response.status_code == 422, changes
        if field:
            assert f'id="{field}-error"' in response.get_data(as_text=True), changes
    # A mistyped card number is refused beside it on the processor's page, where the customer stays.
    mistyped = carol.at_processor(carol.submit(checkout, base), "4242 4242 4242 4241")
    assert mistyped.status_code == 422 and 'id="number-error"' in mistyped.get_data(as_text=True)
    assert len(_items(app)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_the_storefront_orders_are_the_customers_own(app, login, northwind):
    carol = login("carol")
    assert carol.get(f"/s/{ALIAS}/orders/ORD-NONE").status_code == 404
    assert carol.get(f"/s/{ALIAS}/orders/" + "X" * 300).status_code == 404
    assert carol.get(f"/s/{ALIAS}/orders/ORD%00X").status_code == 404
    assert carol.get(f"/s/{ALIAS}/orders?page=99999999999999999999").status_code == 200
