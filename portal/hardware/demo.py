"""Demo hardware (issue 20), part of the CLI's demo history (`seed_demo(history=True)`): the People counter, street
addresses for the demo locations, and two Fabrikam orders placed as checkout places them — two counters shipped to
Downtown Denver with a carrier and tracking number, and three delivered at Airport Kiosk and not installed yet
(Manage Subscriptions then says that installing them needs one more location subscription).

Idempotent: the product is created once (by its slug), an address is filled in only where a location has none,
and the orders are placed only while Fabrikam has never ordered a People counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.catalog.models import Product, ProductKind
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.extensions import db
from portal.hardware.models import Shipment
from portal.hardware.shipping import mark_delivered, mark_shipped
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, TakenPayment, checkout_summary, record_order
from portal.pricing import hardware_list_price

COUNTER_SLUG = "people-counter"
BUYER = "dave@fabrikam.example.com"
STAFF = "ops@vendor.example.com"

# (organization, location): street, city, region, postal code, country
ADDRESSES = {
    ("Fabrikam Stores", "Downtown Denver"): ("48 Elm Avenue", "Denver", "CO", "80202", "US"),
    ("Fabrikam Stores", "Airport Kiosk"): ("8500 Peña Boulevard", "Denver", "CO", "80249", "US"),
    ("Contoso Retail", "Portland Flagship"): ("12 Market Street", "Portland", "OR", "97204", "US"),
}


@dataclass(frozen=True)
class DemoShipment:
    location: str
    units: int
    carrier: str
    tracking_number: str
    delivered: bool
    days_ago: int  # when it shipped


ORDERS = (
    DemoShipment("Downtown Denver", 2, "UPS", "1Z999AA10123456784", delivered=False, days_ago=1),
    DemoShipment("Airport Kiosk", 3, "FedEx", "794644790138", delivered=True, days_ago=4),
)


def seed_counter() -> Product:
    """The People counter: $349.00 a unit, $15.00 shipping per order, to the US and Canada; each unit becomes a
    counting device once installed."""
    product = db.session.scalars(select(Product).where(Product.slug == COUNTER_SLUG)).first()
    if product is None:
        product = Product(slug=COUNTER_SLUG, name="People counter", kind=ProductKind.HARDWARE, unit_label="units",
                          summary="A ceiling-mounted sensor that counts visitors in and out; installed at a "
                                  "location, it is one more device on your plan.",
                          sku="PC-100", unit_price_minor=34_900, currency="USD", shipping_per_order_minor=1_500,
                          ships_to=["US", "CA"], becomes_device=True, position=30)
        db.session.add(product)
        db.session.flush()
    return product


def seed_addresses(orgs: dict[str, Organization]) -> None:
    """A street address for each demo location that has none (never over one a user entered)."""
    for (org_name, name), (street, city, region, postal_code, country) in ADDRESSES.items():
        org = orgs.get(org_name)
        location = org and db.session.scalars(select(Location).where(Location.organization_id == org.id,
                                                                      Location.name == name)).first()
        if location is not None and not location.street:
            location.street, location.city, location.region = street, city, region
            location.postal_code, location.country = postal_code, country
    db.session.flush()


def seed_hardware(orgs: dict[str, Organization]) -> None:
    """The counter, the locations' addresses, and Fabrikam's two orders of counters (see the module docstring)."""
    counter = seed_counter()
    seed_addresses(orgs)
    fabrikam = orgs.get("Fabrikam Stores")
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_((BUYER, STAFF))))}
    if fabrikam is None or BUYER not in users or STAFF not in users:
        return
    ordered = db.session.scalar(select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(
        Order.organization_id == fabrikam.id, OrderLine.product_id == counter.id).limit(1))
    if ordered is not None:
        return
    buyer, staff = users[BUYER], Actor(users[STAFF].id)
    locations = {loc.name: loc for loc in db.session.scalars(
        select(Location).where(Location.organization_id == fabrikam.id))}
    now = utcnow()
    for spec in ORDERS:
        location = locations[spec.location]
        item = CartItem(user_id=buyer.id, organization_id=fabrikam.id, product_id=counter.id, quantity=spec.units,
                        copies=1, addon_ids=[], location_id=location.id,
                        quoted_list_minor=hardware_list_price(counter.unit_price_minor, spec.units))
        db.session.add(item)
        db.session.flush()
        # Placed as checkout places it (order, invoice by wire, shipment with its units' serial numbers).
        order = record_order(fabrikam, buyer, checkout_summary(fabrikam, [item]), PaymentChoice(PaymentKind.WIRE),
                             BillingDetails.of(fabrikam), TakenPayment(), Actor(buyer.id))
        shipment = db.session.scalars(select(Shipment).where(Shipment.order_id == order.id)).one()
        mark_shipped(shipment, spec.carrier, spec.tracking_number, staff)
        shipment.shipped_at = now - timedelta(days=spec.days_ago)
        if spec.delivered:
            mark_delivered(shipment, staff)
            shipment.delivered_at = now - timedelta(days=spec.days_ago - 2)
    db.session.flush()
