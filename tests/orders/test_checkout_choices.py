"""Checkout looks like a product (issue 17 item 9): an account invoiced monthly is invoiced by default and its card
fields stay out of sight until it chooses the card (CSS alone: with JavaScript off the choice still works, and
every field is in the page); only a user who may manage the chain's payment methods is offered to keep a card."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.catalog.services import product_by_slug
from portal.extensions import db
from portal.orders.models import Order, PaymentKind
from portal.payments.models import PaymentMethod

APPROVED_VISA = "4242 4242 4242 4242"
NEW_CARD = {"saved_card": "0"}  # "A new card": typed on the processor's page (no JavaScript), never in ours


def _fill_cart(app, client) -> None:
    with app.app_context():
        product = product_by_slug("mailsuite")
        data = {"edition": next(e.id for e in product.editions if e.name == "Professional"), "quantity": 25,
                "copies": 1}
        db.session.remove()
    assert client.submit("/shop/mailsuite", data, button="Add to cart").status_code == 302


def _checked_payment(page: str) -> list[str]:
    return re.findall(r'name="payment_kind" value="(\w+)" checked', page)


def _cards(app, org_name: str) -> int:
    with app.app_context():
        from portal.accounts.models import Organization

        return db.session.scalar(select(func.count(PaymentMethod.id)).join(
            Organization, Organization.id == PaymentMethod.organization_id).where(Organization.name == org_name))


def _last_order(app, org_name: str) -> Order:
    with app.app_context():
        from portal.accounts.models import Organization

        order = db.session.scalars(select(Order).join(Organization, Organization.id == Order.organization_id)
                                   .where(Organization.name == org_name).order_by(Order.id.desc())).first()
        db.session.expunge_all()
        return order


def test_northwind_invoiced_monthly_checks_out_by_invoice_unless_it_chooses_the_card(app, login, demo):
    alice = login("alice")
    _fill_cart(app, alice)
    page = alice.get("/checkout").get_data(as_text=True)

    assert _checked_payment(page) == ["invoice"]
    # the card's fields are in the page (a browser without :has() or a choice of card shows them), inside the
    # payment fieldset whose stylesheet rule hides them while another way to pay is chosen
    payment = page[page.index('<fieldset class="payment-choice">'):]
    assert 'class="card-choice"' in payment and 'name="saved_card"' in payment
    assert 'name="card_number"' not in page  # a new card is typed at the processor, never in the portal's page
    placed = alice.submit("/checkout")

    assert placed.status_code == 302
    assert _last_order(app, "Northwind IT").payment_kind is PaymentKind.INVOICE


def test_the_stylesheet_hides_the_card_fields_only_while_another_way_to_pay_is_chosen(client):
    css = client.get("/static/css/portal.css").get_data(as_text=True)
    assert ('.payment-choice:has(input[name="payment_kind"]:checked:not([value="card"])) .card-choice '
            '{ display: none; }') in css


def test_an_account_that_pays_on_order_is_offered_the_card_first(app, login, demo):
    frank = login("frank")
    _fill_cart(app, frank)
    page = frank.get("/checkout").get_data(as_text=True)
    assert _checked_payment(page) == ["card"] and 'value="invoice"' not in page


def test_northwind_choosing_the_card_pays_by_card(app, login, demo):
    alice = login("alice")
    _fill_cart(app, alice)
    sent = alice.submit("/checkout", {"payment_kind": "card", **NEW_CARD})
    placed = alice.at_processor(sent, APPROVED_VISA)
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]
    order = _last_order(app, "Northwind IT")
    assert order.payment_kind is PaymentKind.CARD and order.card_label.endswith("4242")


def test_bob_who_cannot_manage_cards_is_not_offered_to_save_one_and_cannot_sneak_it_in(app, login, demo):
    bob = login("bob")  # Master user: buys, never manages the chain's payment methods
    _fill_cart(app, bob)
    page = bob.get("/checkout").get_data(as_text=True)
    assert 'name="save_card"' not in page and 'name="saved_card"' in page
    cards_before = _cards(app, "Northwind IT")

    # the page has no such box: the field is added by hand, with the page's own fields and token
    form = dict(bob.page("/checkout").find(action="/checkout")[0].successful())
    sent = bob.post("/checkout", data={**form, "payment_kind": "card", "save_card": "y", **NEW_CARD})
    placed = bob.at_processor(sent, APPROVED_VISA)

    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]
    assert _last_order(app, "Northwind IT").payment_kind is PaymentKind.CARD
    assert _cards(app, "Northwind IT") == cards_before


def test_alice_who_manages_cards_is_offered_to_save_the_new_one(app, login, demo):
    alice = login("alice")
    _fill_cart(app, alice)
    page = alice.get("/checkout").get_data(as_text=True)
    assert 'name="save_card"' in page
    cards_before = _cards(app, "Northwind IT")

    sent = alice.submit("/checkout", {"payment_kind": "card", "save_card": True, **NEW_CARD})
    placed = alice.at_processor(sent, APPROVED_VISA)

    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]
    assert _cards(app, "Northwind IT") == cards_before + 1
