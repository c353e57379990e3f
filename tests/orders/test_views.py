"""Buying without JavaScript: shop, product configurator, cart, checkout, orders, payment methods."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.billing.models import Invoice, InvoiceStatus
from portal.cart.models import CartItem
from portal.catalog.services import product_by_slug
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order
from portal.payments.models import PaymentMethod
from portal.sandbox_processor.models import SandboxIntent

APPROVED_VISA, DECLINED_VISA = "4242 4242 4242 4242", "4000 0000 0000 0002"
THREE_D_SECURE_VISA = "4000 0027 6000 3184"  # the sandbox's card that needs 3-D Secure
BOUGHT = License.order_line_id.is_not(None)  # the demo has licenses of its own (portal/licenses/demo.py)


def _ids(app, slug: str, edition: str | None = None, addons: tuple[str, ...] = ()) -> dict:
    with app.app_context():
        product = product_by_slug(slug)
        ids = {"product_id": product.id}
        if edition:
            ids["edition"] = next(e.id for e in product.editions if e.name == edition)
        ids["addons"] = [a.id for a in product.addons if a.slug in addons]
        db.session.remove()
    return ids


def _choices(app, slug="mailsuite", edition="Professional", quantity=25, addons=("antispam",), copies=1) -> dict:
    """What the buyer chooses on the product's page (its product_id is the page's own hidden field)."""
    ids = _ids(app, slug, edition, addons)
    del ids["product_id"]
    if not ids["addons"]:
        del ids["addons"]  # a product without add-ons on offer has no such field
    return {**ids, "quantity": quantity, "copies": copies}


def _add(client, app, slug="mailsuite", **choices):
    """Add to cart from the product's page, as the buyer does."""
    return client.submit(f"/shop/{slug}", _choices(app, slug, **choices), button="Add to cart")


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_anyone_sees_list_prices(client, demo):
    assert "MailSuite Mail Server" in client.get("/shop").get_data(as_text=True)
    page = client.get("/shop/mailsuite").get_data(as_text=True)
    assert "Sign in to buy" in page and "$4.00 per mailbox" in page


def test_the_price_follows_the_choices_and_htmx_gets_only_the_price(app, client, demo):
    ids = _ids(app, "mailsuite", "Enterprise", ("antispam", "archiving"))
    query = f"edition={ids['edition']}&quantity=50&" + "&".join(f"addons={a}" for a in ids["addons"])
    fragment = client.get(f"/shop/mailsuite?{query}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and "$800.00" in text  # 50 x $7 + $150 + $300
    assert "HX-Request" in fragment.headers["Vary"]
    assert "$800.00" in client.get(f"/shop/mailsuite?{query}").get_data(as_text=True)  # the same without JS


def test_update_price_without_javascript_shows_the_price_and_keeps_the_token_out_of_the_address(app, client, demo):
    ids = _ids(app, "mailsuite", "Enterprise", ("antispam", "archiving"))
    page = client.page("/shop/mailsuite")

    shown = client.submit(page, {"edition": ids["edition"], "quantity": 50, "addons": ids["addons"]},
                          button="Update price")

    assert shown.status_code == 200 and shown.request.method == "POST" and "csrf_token" not in shown.request.url
    assert "$800.00" in shown.get_data(as_text=True)  # 50 x $7 + $150 + $300
    assert _count(app, CartItem) == 0
    # htmx asks for the price by a GET of the same choices, leaving the token out of that address too
    [configure] = [form for form in page.forms if form.id == "configure"]
    assert configure.attrs["hx-get"] == "/shop/mailsuite" and configure.attrs["hx-params"] == "not csrf_token"


def test_a_quantity_not_offered_is_explained_beside_the_field(app, client, demo):
    ids = _ids(app, "mailsuite", "Enterprise")
    response = client.get(f"/shop/mailsuite?edition={ids['edition']}&quantity=7")
    assert response.status_code == 422
    assert 'id="quantity-error"' in response.get_data(as_text=True)


def test_the_cart_survives_sign_out_and_shows_the_count(app, login, client, demo):
    alice = login("alice")
    assert _add(alice, app, copies=2).status_code == 302
    alice.submit("/cart", action="/logout")
    client.login("alice@northwind.example.com")
    page = client.get("/cart").get_data(as_text=True)
    assert "MailSuite Mail Server" in page and '<span class="badge">2</span>' in page


def test_adding_with_htmx_updates_the_header_count_out_of_band(app, login, demo):
    alice = login("alice")
    response = alice.submit("/shop/webstats", _choices(app, "webstats", "Standard", quantity=5, addons=()),
                            button="Add to cart", htmx=True)  # the button's hx-post
    text = response.get_data(as_text=True)
    assert "Added to your cart" in text and 'id="cart-count"' in text and 'hx-swap-oob="true"' in text


def test_cart_items_are_changed_and_removed_inline(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    with app.app_context():
        item = db.session.scalars(select(CartItem)).one()
        item_id, edition = item.id, item.edition_id
    response = alice.submit("/cart", {f"item-{item_id}-edition": edition, f"item-{item_id}-quantity": 100,
                                      f"item-{item_id}-copies": 3, f"item-{item_id}-addons": None},
                            action=f"/cart/items/{item_id}", htmx=True)
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    with app.app_context():
        item = db.session.get(CartItem, item_id)
        assert (item.quantity, item.copies, item.addon_ids) == (100, 3, [])
    assert alice.submit("/cart", action=f"/cart/items/{item_id}/remove").status_code == 302
    assert _count(app, CartItem) == 0


def test_another_users_cart_item_is_not_found(app, login, demo):
    alice, bob = login("alice"), login("bob")
    _add(alice, app)
    with app.app_context():
        item_id = db.session.scalars(select(CartItem.id)).one()
    # bob's cart has no such button: forged, with his own session's token
    assert bob.post(f"/cart/items/{item_id}/remove", data={"csrf_token": bob.csrf_token()}).status_code == 404
    assert _count(app, CartItem) == 1


def test_checkout_shows_the_discount_as_its_own_line(app, login, demo):
    alice = login("alice")
    _add(alice, app)  # 25 x $4 + $150 = $250.00 list; Gold 20 %
    page = alice.get("/checkout").get_data(as_text=True)
    assert "Gold partner discount (20%)" in page and "−$50.00" in page and "$200.00" in page
    assert "Invoice me" in page and "Wire transfer" not in page  # under USD 1,000.00


def test_alice_is_invoiced_monthly_with_the_summarized_note(app, login, demo, mailbox):
    alice = login("alice")
    _add(alice, app, copies=2)
    response = alice.submit("/checkout", {"payment_kind": "invoice"})
    assert response.status_code == 302
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "This invoice will be summarized in the monthly summarized invoice" in page
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED and invoice.total_minor == 40_000
        assert db.session.scalar(select(func.count()).select_from(License).where(BOUGHT)) == 2
    assert mailbox.to("alice@northwind.example.com")
    assert _count(app, CartItem) == 0


def test_frank_pays_by_card_declined_then_approved(app, login, demo):
    frank = login("frank")
    _add(frank, app, slug="livedesk", edition="Enterprise", quantity=5, addons=("sms",))
    card = {"payment_kind": "card", "saved_card": 0}
    sent = frank.submit("/checkout", {**card, "save_card": True})  # no JavaScript: to the processor's page
    declined = frank.at_processor(sent, DECLINED_VISA)
    assert declined.status_code == 422
    assert "declined" in declined.get_data(as_text=True)  # said on the processor's page, where the buyer stays
    assert (_count(app, Order), _count(app, License, BOUGHT), _count(app, Invoice)) == (0, 0, 0)
    approved = frank.at_processor(sent, APPROVED_VISA)  # another card on the same page
    assert approved.status_code == 302 and "/orders/ORD-" in approved.headers["Location"]
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        assert invoice.status is InvoiceStatus.PAID
        saved = db.session.scalars(select(PaymentMethod)).one()
        assert saved.last4 == "4242" and "4242424242424242" not in repr(saved.__dict__)


def _intent_states(app) -> list[str]:
    with app.app_context():
        return [str(intent.state) for intent in db.session.scalars(select(SandboxIntent))]


def test_frank_pays_with_a_card_that_needs_3d_secure_on_the_processors_page(app, login, demo):
    frank = login("frank")
    _add(frank, app)
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})  # no JavaScript
    assert sent.status_code == 303 and "/sandbox-processor/pay/" in sent.headers["Location"]

    placed = frank.at_processor(sent, THREE_D_SECURE_VISA)  # typed there, then authenticated at the bank's page
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]
    again = frank.get(placed.request.full_path)  # the return page reloaded
    assert again.status_code == 302 and again.headers["Location"] == placed.headers["Location"]

    assert (_count(app, Order), _count(app, Invoice), _count(app, License, BOUGHT)) == (1, 1, 1)
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert order.card_label == "Visa ending 3184"
        assert db.session.scalars(select(Invoice)).one().status is InvoiceStatus.PAID
    assert _intent_states(app) == ["succeeded"]
    assert _count(app, CartItem) == 0


def test_frank_cancelling_3d_secure_is_back_at_checkout_with_nothing_placed_or_charged(app, login, demo):
    frank = login("frank")
    _add(frank, app)
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})

    back = frank.at_processor(sent, THREE_D_SECURE_VISA, authenticate=False)  # "Cancel" at the bank's page

    page = back.get_data(as_text=True)
    assert back.status_code == 422 and back.request.path == "/checkout/return"  # the portal's page, not the bank's
    assert 'action="/checkout"' in page and "Place order" in page
    assert "authentication was cancelled" in page and "not charged" in page
    assert (_count(app, Order), _count(app, Invoice), _count(app, License, BOUGHT)) == (0, 0, 0)
    assert _intent_states(app) == ["canceled"]  # nothing taken, and it cannot be paid later without its order
    with app.app_context():
        assert db.session.scalar(select(func.sum(SandboxIntent.amount_refunded_minor))) == 0
    assert _count(app, CartItem) == 1  # the cart waits for another try
    retried = frank.at_processor(frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0}), APPROVED_VISA)
    assert retried.status_code == 302 and "/orders/ORD-" in retried.headers["Location"]


def test_invoice_me_is_refused_to_an_account_that_pays_on_order(app, login, demo):
    frank = login("frank")
    _add(frank, app)
    page = frank.page("/checkout")
    assert 'value="invoice"' not in page.html
    # the page offers no "Invoice me": forged, with the page's own fields (its token among them)
    form = {**dict(page.find(action="/checkout")[0].successful()), "payment_kind": "invoice"}
    response = frank.post("/checkout", data=form)
    assert response.status_code == 422 and _count(app, Order) == 0


def test_a_po_box_billing_address_is_refused_beside_the_field(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    response = alice.submit("/checkout", {"payment_kind": "invoice", "address_line1": "P.O. Box 42"})
    assert response.status_code == 422
    assert 'id="address_line1-error"' in response.get_data(as_text=True)
    assert _count(app, Order) == 0


def test_a_price_change_is_shown_before_any_money_is_taken(app, login, demo):
    frank = login("frank")
    _add(frank, app)
    page = frank.page("/checkout")  # opened before the price changes
    with app.app_context():
        edition = next(e for e in product_by_slug("mailsuite").editions if e.name == "Professional")
        edition.unit_price_minor = 500
        db.session.commit()
    response = frank.submit(page, {"payment_kind": "card", "saved_card": 0})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Prices changed" in page and "was $250.00, now $275.00" in page
    assert _count(app, SandboxIntent) == 0 and _count(app, Order) == 0


def test_submitting_the_same_checkout_twice_places_one_order(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    page = alice.page("/checkout")  # "Place order" pressed twice on the same page
    first, second = (alice.submit(page, {"payment_kind": "invoice"}) for _ in range(2))
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(app, Order) == 1


def test_orders_are_listed_with_their_detail(app, login, demo):
    alice = login("alice")
    _add(alice, app)
    detail = alice.submit("/checkout", {"payment_kind": "invoice"}).headers["Location"]
    number = detail.rsplit("/", 1)[1]
    assert number in alice.get("/orders").get_data(as_text=True)
    assert "Orders" in login("bob").get(detail).get_data(as_text=True)  # a Master user of the chain sees it
    assert login("frank").get(detail).status_code == 404


def test_managers_add_choose_and_remove_saved_cards(app, login, demo):
    dave = login("dave")
    save = {"button": "Save card"}
    for number in ("5555 5555 5555 4444", "3782 822463 10005"):
        saved = dave.at_processor(dave.submit("/payment-methods", {}, **save), number, name="Dave Diaz")
        assert saved.status_code == 302 and saved.headers["Location"].endswith("/payment-methods")
    mistyped = dave.at_processor(dave.submit("/payment-methods", {}, **save), "4242 4242 4242 4241")
    assert mistyped.status_code == 422 and "not valid" in mistyped.get_data(as_text=True)
    with app.app_context():
        first, second = db.session.scalars(select(PaymentMethod).order_by(PaymentMethod.id)).all()
        assert first.is_default and not second.is_default
    assert dave.submit("/payment-methods", action=f"/payment-methods/{second.id}/default").status_code == 302
    # Remove asks first: its button leads to the confirmation page, whose form removes the card
    assert dave.submit(f"/payment-methods/{second.id}/remove").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(PaymentMethod)).one().is_default


@pytest.mark.postgres_only
def test_concurrent_submissions_of_one_checkout_make_one_order_and_one_charge(app, login, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "100 per minute")  # frank opens nine sessions
    frank = login("frank")
    _add(frank, app, copies=3)
    card = {"payment_kind": "card", "saved_card": 0}
    clients = [login("frank") for _ in range(8)]
    pages = [c.page("/checkout") for c in clients]  # the same cart, seen by eight tabs
    barrier, statuses = threading.Barrier(len(clients)), []

    def submit(c, page):
        barrier.wait()
        statuses.append(c.submit(page, card))

    threads = [threading.Thread(target=submit, args=(c, page)) for c, page in zip(clients, pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every tab is sent to the processor's page of one payment: the same cart and card share one payment intent.
    assert {r.status_code for r in statuses} == {303}
    assert len({r.headers["Location"] for r in statuses}) == 1
    processor_page = urlsplit(statuses[0].headers["Location"]).path
    stale = clients[1].page(processor_page)  # the processor's page, open in a second tab too
    paid = frank.at_processor(statuses[0], APPROVED_VISA)  # paid in one tab
    assert paid.status_code == 302 and "/orders/ORD-" in paid.headers["Location"]
    # the other tab's buyer pays on the page opened before: the processor finds it paid and sends them back
    back = clients[1].submit(stale, {"holder_name": "Frank Fischer", "number": APPROVED_VISA, "exp_month": "12",
                                     "exp_year": "2031", "cvc": "123"})
    assert back.status_code == 303 and "/checkout/return?" in back.headers["Location"]
    returned = urlsplit(back.headers["Location"])
    again = clients[1].get(f"{returned.path}?{returned.query}")
    assert again.status_code == 302 and again.headers["Location"] == paid.headers["Location"]  # the same order
    assert _count(app, Order) == 1 and _count(app, Invoice) == 1 and _count(app, License, BOUGHT) == 3
    with app.app_context():
        states = db.session.scalars(select(SandboxIntent.state)).all()
    assert [str(s) for s in states] == ["succeeded"]


def test_viewers_installers_and_sub_chain_users_cannot_buy(app, login, client, demo):
    """carol (a sub-chain's viewer), a viewer of Fabrikam and erin (Fabrikam's Installation Partner) cannot buy."""
    from portal.accounts.models import Organization, Role
    from tests.factories import make_member

    with app.app_context():
        viewer = make_member(db.session.get(Organization, demo.orgs["Fabrikam Stores"]), Role.VIEWER).user
        db.session.commit()
        viewer_email = viewer.email
    client.login(viewer_email, "a-long-password")
    for buyer in (login("carol"), login("erin"), client):
        assert buyer.get("/cart").status_code == 403
        assert buyer.get("/checkout").status_code == 403
        assert "Add to cart" not in buyer.get("/shop/mailsuite").get_data(as_text=True)
        # no page offers them the button: forged, with the product page's fields and their session's token
        forged = {**_ids(app, "mailsuite", "Professional", ("antispam",)), "quantity": 25, "copies": 1,
                  "csrf_token": buyer.csrf_token()}
        assert buyer.post("/cart", data=forged).status_code == 403
    assert _count(app, CartItem) == 0


def test_frank_never_sees_northwinds_cart_or_orders(app, login, demo):
    alice, frank = login("alice"), login("frank")
    _add(alice, app)
    detail = alice.submit("/checkout", {"payment_kind": "invoice"}).headers["Location"]
    _add(alice, app)
    with app.app_context():
        item_id = db.session.scalars(select(CartItem.id)).one()
    assert frank.get(detail).status_code == 404
    assert frank.post(f"/cart/items/{item_id}/remove", data={"csrf_token": frank.csrf_token()}).status_code == 404
    assert detail.rsplit("/", 1)[1] not in frank.get("/orders").get_data(as_text=True)
    assert "MailSuite" not in frank.get("/cart").get_data(as_text=True)


def test_other_payment_methods_are_offered_from_usd_1000(app, login, demo):
    frank = login("frank")
    _add(frank, app, slug="livedesk", edition="Enterprise", quantity=5, addons=())  # 5 x $249 = $1,245 - 10 %
    page = frank.get("/checkout").get_data(as_text=True)
    assert "Wire transfer" in page and "ACH" in page and "Check" in page
    response = frank.submit("/checkout", {"payment_kind": "wire"})
    assert response.status_code == 302
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        assert invoice.status is InvoiceStatus.UNPAID and invoice.due_on is not None
        assert "wire transfer" in invoice.note.lower()


def test_a_license_product_without_an_edition_on_offer_still_shows_its_page(app, client, demo):
    with app.app_context():
        for edition in product_by_slug("webstats").editions:
            edition.active = False
        db.session.commit()
    page = client.get("/shop/webstats")
    assert page.status_code == 200 and "Choose an edition" in page.get_data(as_text=True)


def test_a_declined_card_number_is_not_sent_back_in_the_page(app, login, demo):
    frank = login("frank")
    _add(frank, app)
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})
    page = frank.at_processor(sent, DECLINED_VISA).get_data(as_text=True)
    assert "declined" in page and "4000 0000 0000 0002" not in page and "4000000000000002" not in page
