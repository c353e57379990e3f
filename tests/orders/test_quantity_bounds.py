"""Quantities have stated upper bounds (portal/pricing.py: MAX_UNITS a line, MAX_COPIES licenses a line): the
shop's configurator, the cart and Modify a License refuse more beside the field, with a 422 and nothing added,
however large the number typed; 100,000 location plans can still be bought. The forms are read from the pages,
as a browser without JavaScript would send them."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.cart.models import CartItem
from portal.catalog.services import product_by_slug
from portal.extensions import db
from portal.pricing import MAX_COPIES, MAX_UNITS
from tests.factories import make_license
from tests.forms import Page

HUGE = 10**30  # more than any database integer holds


class _Form(HTMLParser):
    """The fields of one form of a page (found by a fragment of its opening tag), as a browser would post them."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker, self.inside, self.fields, self._select = marker, False, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = self.marker in self.get_starttag_text()
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select = attrs.get("name")
            self.fields.setdefault(self._select, "")
        elif tag == "option" and self._select and ("selected" in attrs or not self.fields[self._select]):
            self.fields[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None


def form_on(page: str, marker: str) -> dict:
    parser = _Form(marker)
    parser.feed(page)
    assert parser.fields, f"no form {marker!r} on the page"
    return parser.fields


def _fields(page: Page, button: str, action: str | None = None) -> dict:
    """The fields of the page's form with that button, as a browser would post them untouched."""
    form, _ = page.find(action, button)
    return dict(form.successful())


def _items(app) -> list[CartItem]:
    with app.app_context():
        items = list(db.session.scalars(select(CartItem)))
        db.session.expunge_all()
        return items


def _offer_any_quantity(app, slug: str = "mailsuite") -> None:
    """Staff may leave a license product's quantities open (any number of units)."""
    with app.app_context():
        product_by_slug(slug).quantities = []
        db.session.commit()


@pytest.mark.parametrize("quantity", [MAX_UNITS + 1, HUGE])
def test_more_location_plans_than_one_line_takes_are_refused_beside_the_field(app, login, demo, quantity):
    alice = login("alice")
    page = alice.page("/shop/location-plan")
    assert "csrf_token" in _fields(page, "Add to cart")

    response = alice.submit(page, {"quantity": quantity}, button="Add to cart")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="quantity-error"' in text and f"Choose from 1 to {MAX_UNITS:,}" in text
    assert _items(app) == []


def test_a_hundred_thousand_location_plans_go_into_the_cart(app, login, demo):
    alice = login("alice")
    assert alice.submit("/shop/location-plan", {"quantity": 100_000}, button="Add to cart").status_code == 302

    [item] = _items(app)
    assert (item.quantity, item.quoted_list_minor) == (100_000, 2_400_000_000)  # $24,000,000.00
    assert "$24,000,000.00" in alice.get("/cart").get_data(as_text=True)


@pytest.mark.parametrize("quantity", [MAX_UNITS + 1, HUGE])
def test_a_license_of_more_units_than_a_line_takes_is_refused_where_any_quantity_is_offered(app, login, demo,
                                                                                            quantity):
    _offer_any_quantity(app)
    alice = login("alice")
    page = alice.get(f"/shop/mailsuite?quantity={quantity}")  # the configurator's price box says it too
    assert page.status_code == 422 and 'id="quantity-error"' in page.get_data(as_text=True)
    page = alice.page("/shop/mailsuite")

    response = alice.submit(page, {"quantity": quantity}, button="Add to cart")

    assert response.status_code == 422
    assert 'id="quantity-error"' in response.get_data(as_text=True)
    assert _items(app) == []
    assert alice.submit(page, {"quantity": MAX_UNITS}, button="Add to cart").status_code == 302


@pytest.mark.parametrize("copies", [MAX_COPIES + 1, HUGE])
def test_more_copies_than_a_line_takes_are_refused_beside_the_field(app, login, demo, copies):
    alice = login("alice")
    page = alice.page("/shop/webstats")
    assert _fields(page, "Add to cart")["copies"] == "1"

    response = alice.submit(page, {"copies": copies}, button="Add to cart")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="copies-error"' in text and f"Buy between 1 and {MAX_COPIES} licenses" in text
    assert _items(app) == []


def test_the_cart_refuses_to_grow_an_item_beyond_the_bounds_and_says_why(app, login, demo):
    alice = login("alice")
    assert alice.submit("/shop/webstats", {"copies": 2}, button="Add to cart").status_code == 302
    [item] = _items(app)
    cart = alice.page("/cart")
    edit = _fields(cart, "Update", f"/cart/items/{item.id}")
    assert edit[f"item-{item.id}-copies"] == "2" and f'max="{MAX_COPIES}"' in cart.html

    response = alice.submit(cart, {f"item-{item.id}-copies": HUGE}, action=f"/cart/items/{item.id}")

    assert response.status_code == 422
    assert f"Number of licenses: Buy between 1 and {MAX_COPIES} licenses." in response.get_data(as_text=True)
    [unchanged] = _items(app)
    assert unchanged.copies == 2


@pytest.mark.parametrize("quantity", [MAX_UNITS + 1, HUGE])
def test_an_upgrade_to_more_units_than_a_line_takes_is_refused_beside_the_field(app, login, demo, quantity):
    _offer_any_quantity(app)
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        key = make_license(northwind, northwind, quantity=25).key
        db.session.commit()
    alice = login("alice")
    page = alice.page(f"/licenses/{key}/modify")
    form = _fields(page, "Add upgrade to cart")

    # "quoted" stands for a price htmx showed (any: the quantity is refused before the price is compared)
    response = alice.submit(page, {"quantity": quantity, "quoted": 1}, button="Add upgrade to cart")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="quantity-error"' in text and f"Choose from 1 to {MAX_UNITS:,}" in text
    assert _items(app) == []
    shown = alice.get(f"/licenses/{key}/modify", query_string={"edition": form["edition"], "quantity": quantity})
    assert shown.status_code == 422 and f"At most {MAX_UNITS:,} mailboxes on one line" in shown.get_data(as_text=True)
