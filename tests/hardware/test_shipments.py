"""Shipments: one per location of an order's hardware lines with a unit (and serial number) per box, the state
machine (awaiting shipment → shipped → delivered, or cancelled before shipping), the emails and audit of each step."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.hardware import shipping
from portal.hardware.models import Shipment, ShipmentState, ShipmentUnit
from portal.outbox.models import OutboxMessage
from tests.factories import (
    make_hardware_order,
    make_hardware_product,
    make_member,
    make_org,
    make_shippable_location,
    make_user,
)


@pytest.fixture
def world(ctx):
    """A reseller, its customer with two shippable locations, a manager in each, and a hardware product."""
    reseller = make_org("Reseller")
    customer = make_org("Customer", parent=reseller)
    buyer = make_member(reseller, Role.MANAGER).user
    customer_manager = make_member(customer, Role.MANAGER).user
    make_member(customer, Role.MEMBER)  # members are not emailed
    return {"reseller": reseller, "customer": customer, "buyer": buyer, "customer_manager": customer_manager,
            "kiosk": make_shippable_location(customer, "Kiosk"), "store": make_shippable_location(customer, "Store"),
            "counter": make_hardware_product("People counter"), "sensor": make_hardware_product("Door sensor")}


def _emails(template: str) -> list[list[str]]:
    return [m.to_addrs for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == template)
                                                   .order_by(OutboxMessage.id))]


def test_an_order_makes_one_shipment_per_location_with_a_unit_per_box(world):
    w = world
    order = make_hardware_order(w["reseller"], w["buyer"], [(w["counter"], w["kiosk"], 2), (w["sensor"], w["kiosk"], 1),
                                                            (w["counter"], w["store"], 3)])
    shipments = shipping.create_shipments(order)

    by_location = {s.location_id: s for s in shipments}
    assert set(by_location) == {w["kiosk"].id, w["store"].id}
    kiosk, store = by_location[w["kiosk"].id], by_location[w["store"].id]
    assert [u.product_id for u in kiosk.units] == [w["counter"].id] * 2 + [w["sensor"].id]
    assert [u.product_id for u in store.units] == [w["counter"].id] * 3
    for s in shipments:
        assert s.state is ShipmentState.AWAITING_SHIPMENT and s.order_id == order.id
        assert s.organization_id == w["customer"].id  # the location's organization
        assert re.fullmatch(r"SHP-[0-9A-HJKMNP-TV-Z]{10}", s.number)
    assert kiosk.ship_to["name"] == "Kiosk" and kiosk.ship_to["street"] == "1 Dock Road"
    serials = db.session.scalars(select(ShipmentUnit.serial_number)).all()
    assert len(serials) == len(set(serials)) == 6
    assert all(re.fullmatch(rf"{w['counter'].sku}-[0-9A-HJKMNP-TV-Z]{{10}}", u.serial_number) for u in store.units)
    audited = db.session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "shipment.created")).all()
    assert sorted(audited) == sorted(str(s.id) for s in shipments)


def test_the_buyers_and_the_locations_managers_are_told_the_order_awaits_shipment(world):
    w = world
    order = make_hardware_order(w["reseller"], w["buyer"], [(w["counter"], w["kiosk"], 2)])
    [shipment] = shipping.create_shipments(order)
    # one email per organization: the reseller's managers do not see the customer's addresses, nor the reverse
    assert _emails("shipment_created") == [[w["buyer"].email], [w["customer_manager"].email]]
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "shipment_created")).first()
    assert shipment.number in message.subject and order.number in message.subject
    assert "2 x People counter" in message.body_text and "1 Dock Road" in message.body_text


def test_an_order_without_hardware_makes_no_shipment(world):
    from tests.factories import make_order

    order = make_order(world["reseller"], world["buyer"])
    assert shipping.create_shipments(order) == []
    assert db.session.scalar(select(Shipment.id)) is None and not _emails("shipment_created")


def test_a_chain_ordering_for_itself_gets_one_email(world):
    w = world
    user = make_user()
    make_member(w["customer"], Role.MANAGER, user)
    order = make_hardware_order(w["customer"], user, [(w["counter"], w["store"], 1)])
    shipping.create_shipments(order)
    assert _emails("shipment_created") == [sorted([user.email, w["customer_manager"].email])]

