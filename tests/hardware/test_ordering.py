"""Ordering hardware without JavaScript (issue 20, items 1 and 2): staff add a hardware product, the shop lists it,
a buyer puts units in the cart for one of its locations (or a customer's it may order for), checkout shows shipping
and tax per destination, and the order lines and the invoice say where each line ships."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceLine
from portal.cart.models import CartItem
from portal.catalog.models import Product, ProductKind
from portal.devices.models import Location
from portal.extensions import db
from portal.hardware.models import Shipment
from portal.orders.models import Order, OrderLine
from portal.partners.models import GrantState, PartnerGrant
from tests.factories import make_hardware_product

APPROVED_VISA = "4242 4242 4242 4242"
CARD = {"payment_kind": "card", "saved_card": 0}  # a new card, typed on the processor's page (no JavaScript)
KIOSK_STREET = {"street": "8500 Peña Blvd", "city": "Denver", "region": "CO", "postal_code": "80249",
                "country": "US"}


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _location(app, org: str, name: str, **address) -> int:
    """The id of a demo location, with a street address set when given (as the location form sets it)."""
    with app.app_context():
        location = db.session.scalars(select(Location).join(Organization, Organization.id == Location.organization_id)
                                      .where(Organization.name == org, Location.name == name)).one()
        for key, value in address.items():
            setattr(location, key, value)
        db.session.commit()
        return location.id


def _new_location(app, org: str, name: str, **address) -> int:
    with app.app_context():
        org_id = db.session.scalars(select(Organization.id).where(Organization.name == org)).one()
        location = Location(organization_id=org_id, name=name, **address)
        db.session.add(location)
        db.session.commit()
        return location.id


@pytest.fixture
def counter(app, demo):
    """The People counter at $349.00: $15.00 shipping per order and location, $5.00 per unit; ships to the US."""
    with app.app_context():
        product = make_hardware_product("People counter", ships_to=("US",))
        product.active = True
        db.session.commit()
        return {"id": product.id, "slug": product.slug}


def _add(client, counter: dict, location_id, quantity=2):
    return client.submit(f"/shop/{counter['slug']}", {"quantity": quantity, "location": location_id},
                         button="Add to cart")


def test_staff_add_a_hardware_product_through_the_form_and_the_shop_lists_it(app, login, demo, client):
    ops = login("ops")
    response = ops.submit("/admin/catalog/new", {
        "kind": "hardware", "name": "People counter", "slug": "people-counter", "unit_label": "units",
        "active": True, "sku": "pc-100", "hardware_unit_price_minor": "349.00", "shipping_per_order_minor": "15",
        "shipping_per_unit_minor": "5.00", "ships_to": "us, ca", "becomes_device": True}, button="Add product")

    assert response.status_code == 302
    with app.app_context():
        product = db.session.scalars(select(Product).where(Product.slug == "people-counter")).one()
        assert (product.kind, product.sku, product.unit_price_minor, product.shipping_per_order_minor,
                product.shipping_per_unit_minor, product.ships_to, product.becomes_device) == (
            ProductKind.HARDWARE, "PC-100", 34_900, 1_500, 500, ["CA", "US"], True)
    shop = client.get("/shop").get_data(as_text=True)
    assert "People counter" in shop and "$349.00 per unit" in shop and "$15.00 per order and location" in shop
    page = client.get("/shop/people-counter").get_data(as_text=True)
    assert "$5.00 per unit" in page and "Ships to CA, US" in page
    edit = ops.page(response.headers["Location"])
    assert 'value="349.00"' in edit.html and 'value="CA, US"' in edit.html  # the edit form shows what was saved


def test_staff_change_a_hardware_products_price_and_countries_on_its_page(app, login, counter):
    ops = login("ops")
    response = ops.submit(f"/admin/catalog/{counter['id']}", {"product-hardware_unit_price_minor": "399.00",
                                                             "product-ships_to": "US CA MX"}, button="Save product")
    assert response.status_code == 302
    with app.app_context():
        product = db.session.get(Product, counter["id"])
        assert (product.unit_price_minor, product.ships_to, product.kind) == (39_900, ["CA", "MX", "US"],
                                                                            ProductKind.HARDWARE)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ships_to", "US, XX", "Not a country code: XX"),
    ("sku", "PC 100!", "Enter a SKU"),
    ("hardware_unit_price_minor", "", "Enter a price."),
])
def test_a_hardware_product_with_a_mistake_is_refused_beside_the_field(app, login, demo, field, value, message):
    fields = {"kind": "hardware", "name": "People counter", "slug": "people-counter", "unit_label": "units",
              "sku": "PC-100", "hardware_unit_price_minor": "349.00", "ships_to": "US", field: value}
    response = login("ops").submit("/admin/catalog/new", fields, button="Add product")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f'id="{field}-error"' in text and message in text
    assert _count(app, Product, Product.slug == "people-counter") == 0


def test_dave_orders_two_counters_for_airport_kiosk_and_the_lines_and_invoice_say_where(app, login, counter,
                                                                                          mailbox):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk")
    dave = login("dave")
    _refused(app, _add(dave, counter, kiosk), "Add a street address to Airport Kiosk first")
    saved = dave.submit(f"/locations/{kiosk}", {**KIOSK_STREET, "country": "us"}, button="Save")
    assert saved.status_code == 302
    page = dave.page(f"/shop/{counter['slug']}")
    assert "Airport Kiosk (Fabrikam Stores)" in page.html
    assert _add(dave, counter, kiosk).status_code == 302

    checkout = dave.get("/checkout").get_data(as_text=True)
    assert "Ships to Airport Kiosk, 8500 Peña Blvd, Denver CO 80249, US" in checkout
    assert "Shipping to Airport Kiosk" in checkout and "$25.00" in checkout  # $15.00 + 2 x $5.00
    assert "$723.00" in checkout  # 2 x $349.00 + $25.00, no tax in Colorado
    response = dave.at_processor(dave.submit("/checkout", CARD), APPROVED_VISA, name="Dave Diaz")
    assert response.status_code == 302 and "/orders/ORD-" in response.headers["Location"], \
        response.get_data(as_text=True)

    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        [line] = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
        assert (line.kind, line.quantity, line.location_id, line.shipping_minor, line.total_minor) == (
            ProductKind.HARDWARE, 2, kiosk, 2_500, 72_300)
        assert line.ship_to == {"name": "Airport Kiosk", **KIOSK_STREET}
        assert order.total_minor == 72_300
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
        lines = db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                                   .order_by(InvoiceLine.position)).all()
        assert [(x.description, x.quantity, x.unit_price_minor, x.total_minor) for x in lines] == [
            ("People counter ×2 — ships to Airport Kiosk, 8500 Peña Blvd, Denver CO 80249, US", 2, 34_900, 69_800),
            ("Shipping: People counter ×2 to Airport Kiosk", 1, 2_500, 2_500)]
        assert invoice.total_minor == order.total_minor
        assert db.session.scalars(select(Shipment.location_id).where(Shipment.order_id == order.id)).all() == [kiosk]
    assert _count(app, CartItem) == 0
    [email] = [m for m in mailbox.to("dave@fabrikam.example.com") if m["Subject"].endswith(" confirmed")]
    assert "Ships to Airport Kiosk, 8500 Peña Blvd, Denver CO 80249, US (shipping $25.00)" in \
        email.get_body(preferencelist=("plain",)).get_content()
    detail = dave.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Ships to Airport Kiosk, 8500 Peña Blvd, Denver CO 80249, US; shipping $25.00" in detail


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({**KIOSK_STREET, "street": "P.O. Box 42"}, "street", "A shipping address must be a street address"),
    ({**KIOSK_STREET, "country": "Colorado"}, "country", "2-letter ISO code"),
    ({**KIOSK_STREET, "city": ""}, "city", "Give the city too"),
])
def test_a_locations_street_address_is_checked_beside_the_field(app, login, demo, fields, field, message):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk")
    response = login("dave").submit(f"/locations/{kiosk}", fields, button="Save")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f'id="{field}-error"' in text and message in text
    with app.app_context():
        assert db.session.get(Location, kiosk).street == ""


def test_a_location_is_added_with_its_street_address(app, login, demo):
    response = login("dave").submit("/locations", {"name": "Boulder Outlet", **KIOSK_STREET, "city": "Boulder"},
                                    button="Add location")
    assert response.status_code == 302
    with app.app_context():
        location = db.session.scalars(select(Location).where(Location.name == "Boulder Outlet")).one()
        assert location.ships_here and location.shipping_address["city"] == "Boulder"


def test_one_order_ships_to_two_locations_each_taxed_at_its_destination(app, login, counter):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk", **KIOSK_STREET)  # Colorado: no rate set
    buffalo = _new_location(app, "Fabrikam Stores", "Buffalo Store", street="1 Main St", city="Buffalo",
                            region="NY", postal_code="14202", country="US")  # New York State sales tax, 4 %
    dave = login("dave")
    _add(dave, counter, kiosk)
    _add(dave, counter, buffalo, quantity=1)

    checkout = dave.get("/checkout").get_data(as_text=True)
    assert "Shipping to Airport Kiosk" in checkout and "Shipping to Buffalo Store" in checkout
    assert "Tax, shipping to Buffalo Store: New York State sales tax (4%)" in checkout
    assert "$14.76" in checkout  # 4 % of $349.00 + $20.00 shipping
    placed = dave.at_processor(dave.submit("/checkout", CARD), APPROVED_VISA, name="Dave Diaz")
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"]

    with app.app_context():
        lines = {line.location_id: line for line in db.session.scalars(select(OrderLine))}
        assert (lines[kiosk].tax_rate_bp, lines[kiosk].tax_minor) == (0, 0)
        assert (lines[buffalo].tax_rate_bp, lines[buffalo].tax_minor, lines[buffalo].total_minor) == (
            400, 1_476, 34_900 + 2_000 + 1_476)
        assert db.session.scalar(select(func.count()).select_from(Shipment)) == 2


def test_an_order_of_hardware_invoiced_monthly(app, login, counter):
    """A reseller invoiced monthly orders for its sub-chain's (its customer's) store with "Invoice me"."""
    portland = _location(app, "Contoso Retail", "Portland Flagship", street="12 Market Street", city="Portland",
                         region="OR", postal_code="97204", country="US")
    alice = login("alice")
    assert _add(alice, counter, portland, quantity=1).status_code == 302
    assert alice.submit("/checkout", {"payment_kind": "invoice"}).status_code == 302
    with app.app_context():
        [line] = db.session.scalars(select(OrderLine)).all()
        assert line.location_id == portland and line.discount_minor == 6_980  # Gold 20 % on the goods only
        assert line.shipping_minor == 2_000 and line.tax_minor == 0  # Northwind buys for resale: exempt


def _refused(app, response, message: str) -> None:
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="location-error"' in text and message in text
    assert _count(app, CartItem) == 0


def test_another_tenants_location_is_refused_beside_the_field(app, login, counter):
    litware = _new_location(app, "Litware Solutions", "Austin HQ", **{**KIOSK_STREET, "city": "Austin"})
    _refused(app, _add(login("dave"), counter, litware), "Choose one of your locations")


def test_a_location_without_a_street_address_is_refused_beside_the_field(app, login, counter):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk")
    _refused(app, _add(login("dave"), counter, kiosk), "Add a street address to Airport Kiosk first")


def test_a_country_the_product_does_not_ship_to_is_refused_beside_the_field(app, login, counter):
    toronto = _new_location(app, "Fabrikam Stores", "Toronto", street="1 King St W", city="Toronto", region="ON",
                            postal_code="M5H 1A1", country="CA")
    _refused(app, _add(login("dave"), counter, toronto), "People counter does not ship to CA")


def test_a_reseller_orders_for_a_customers_location_only_while_its_grant_is_active(app, login, counter):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk", **KIOSK_STREET)
    alice = login("alice")  # Northwind IT holds Fabrikam's Installation Partner grant (the demo's)
    assert "Airport Kiosk (Fabrikam Stores)" in alice.page(f"/shop/{counter['slug']}").html
    assert _add(alice, counter, kiosk).status_code == 302
    page = alice.page("/checkout")  # opened while the grant is in force
    with app.app_context():
        for grant in db.session.scalars(select(PartnerGrant)):
            grant.state = GrantState.REVOKED
        db.session.commit()

    # checkout checks the destination again: the line is blocked and nothing is ordered
    response = alice.submit(page, {"payment_kind": "invoice"})
    assert response.status_code == 422 and _count(app, Order) == 0
    assert "Change the location or remove this item" in alice.get("/cart").get_data(as_text=True)
    with app.app_context():
        db.session.execute(db.delete(CartItem))
        db.session.commit()
    _refused(app, _add(alice, counter, kiosk), "Choose one of your locations")
    assert "Airport Kiosk (Fabrikam Stores)" not in alice.page(f"/shop/{counter['slug']}").html


def test_the_cart_changes_where_a_line_ships(app, login, counter):
    kiosk = _location(app, "Fabrikam Stores", "Airport Kiosk", **KIOSK_STREET)
    downtown = _location(app, "Fabrikam Stores", "Downtown Denver", street="48 Elm Avenue", city="Denver",
                         region="CO", postal_code="80202", country="US")
    dave = login("dave")
    _add(dave, counter, kiosk)
    with app.app_context():
        item_id = db.session.scalars(select(CartItem.id)).one()

    response = dave.submit("/cart", {f"item-{item_id}-location": downtown, f"item-{item_id}-quantity": 3},
                           action=f"/cart/items/{item_id}")
    assert response.status_code == 302
    with app.app_context():
        item = db.session.get(CartItem, item_id)
        assert (item.location_id, item.quantity) == (downtown, 3)
    litware = _new_location(app, "Litware Solutions", "Austin HQ", **{**KIOSK_STREET, "city": "Austin"})
    refused = dave.submit("/cart", {f"item-{item_id}-location": litware}, action=f"/cart/items/{item_id}")
    assert refused.status_code == 422 and "Choose one of your locations" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CartItem, item_id).location_id == downtown
