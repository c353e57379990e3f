"""The CLI's demo (issue 20, item 6): the People counter, street addresses for the demo locations, one Fabrikam
order of counters shipped with a carrier and tracking number and one delivered at Airport Kiosk, not installed;
dave sees them, Manage Subscriptions says what installing them needs, and seeding again adds nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.catalog.models import Product, ProductKind
from portal.devices.models import Location
from portal.extensions import db
from portal.hardware.models import Shipment, ShipmentState, ShipmentUnit
from portal.orders.models import Order, OrderLine


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _seeded(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def test_the_demo_sells_the_people_counter_and_gives_its_locations_street_addresses(app):
    _seeded(app)
    with app.app_context():
        counter = db.session.scalars(select(Product).where(Product.slug == "people-counter")).one()
        assert (counter.kind, counter.name, counter.sku, counter.unit_price_minor, counter.shipping_per_order_minor,
                sorted(counter.ships_to), counter.becomes_device) == (
            ProductKind.HARDWARE, "People counter", "PC-100", 34_900, 1_500, ["CA", "US"], True)
        locations = list(db.session.scalars(select(Location)))
        assert locations and all(location.ships_here for location in locations)
        kiosk = db.session.scalars(select(Location).where(Location.name == "Airport Kiosk")).one()
        assert (kiosk.city, kiosk.region, kiosk.country) == ("Denver", "CO", "US")


def test_the_demo_has_a_fabrikam_order_in_transit_and_one_delivered_not_installed(app, login):
    _seeded(app)
    with app.app_context():
        rows = db.session.execute(
            select(Shipment, Location.name).join(Location, Location.id == Shipment.location_id)
            .join(Order, Order.id == Shipment.order_id).order_by(Shipment.id)).all()
        by_place = {name: shipment for shipment, name in rows}
        assert set(by_place) == {"Downtown Denver", "Airport Kiosk"}
        transit, delivered = by_place["Downtown Denver"], by_place["Airport Kiosk"]
        assert transit.state is ShipmentState.SHIPPED and transit.carrier and transit.tracking_number
        assert delivered.state is ShipmentState.DELIVERED and delivered.tracking_number
        units = db.session.scalars(select(ShipmentUnit).where(ShipmentUnit.shipment_id == delivered.id)).all()
        assert len(units) == 3 and all(unit.device_id is None for unit in units)
        serial = units[0].serial_number
        lines = db.session.scalars(select(OrderLine).where(OrderLine.location_id.is_not(None))).all()
        assert {line.shipping_minor for line in lines} == {1_500}  # $15.00 per order, nothing per unit
    dave = login("dave")
    devices = _text(dave.get("/devices"))
    assert "Delivered, not installed" in devices and serial in devices
    subscriptions = _text(dave.get("/subscriptions"))
    assert "Installing these 3 delivered devices needs <strong>1 more location subscription</strong>" in subscriptions
    assert "Buy 1 more<span class=\"visually-hidden\"> of Location Plan for the delivered devices" in subscriptions


def test_seeding_the_demo_again_adds_no_hardware(app):
    _seeded(app)

    def counts():
        with app.app_context():
            return tuple(db.session.scalar(select(func.count()).select_from(model))
                         for model in (Product, Order, Shipment, ShipmentUnit))

    before = counts()
    _seeded(app)
    assert counts() == before
