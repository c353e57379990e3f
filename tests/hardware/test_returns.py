"""Returns under RMA: a manager or installer asks from the device's page (one open request per device), the vendor's
support address is told; staff approve (a replacement shipment, no order and no charge, its unit replacing the
device) or refuse with a note; the chain's managers are emailed each decision."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware import returns
from portal.hardware.models import ReturnRequest, ReturnState, Shipment, ShipmentState, ShipmentUnit
from portal.orders.models import Order
from tests.factories import (
    DEMO_EMAILS,
    demo_org,
    make_device,
    make_hardware_product,
    make_shippable_location,
)

STAFF = Actor(None, "192.0.2.1")


def _fabrikam_device(app, shippable: bool = True) -> tuple[int, str, int]:
    """A counting device at a Fabrikam location (with a street address unless not `shippable`), and a hardware
    product: (device id, device name, product id)."""
    with app.app_context():
        fabrikam = demo_org("Fabrikam Stores")
        location = make_shippable_location(fabrikam, "Dock R")
        if not shippable:
            location.street = ""
        device = make_device(location, "Door counter 1")
        product = make_hardware_product("People counter")
        db.session.commit()
        return device.id, device.name, product.id


def _requests(app) -> list[ReturnRequest]:
    with app.app_context():
        found = list(db.session.scalars(select(ReturnRequest).order_by(ReturnRequest.id)))
        db.session.expunge_all()
        return found


def test_dave_requests_a_return_from_the_device_page_and_support_is_told(app, login, demo, mailbox):
    device_id, name, _ = _fabrikam_device(app)
    dave = login("dave")
    page = dave.page(f"/devices/{device_id}")
    assert "Request a return (RMA)" in page.html
    response = dave.submit(page, {"reason": "The sensor reads zero all day"}, action=f"/devices/{device_id}/return")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/devices/{device_id}")
    [request] = _requests(app)
    assert (request.device_id, request.state, request.reason) == (device_id, ReturnState.REQUESTED,
                                                                  "The sensor reads zero all day")
    [mail] = mailbox.messages
    assert mail["To"] == "portal@vendor.example.com"  # the support address (the sender's when none is set)
    assert name in mail["Subject"] and "The sensor reads zero all day" in mail.get_content()
    # one open request per device: the page says it waits, and a second request is refused beside the field
    assert "waits for the vendor" in dave.get(f"/devices/{device_id}").get_data(as_text=True)
    again = dave.submit(f"/devices/{device_id}/return", {"reason": "Still broken"})
    assert again.status_code == 422 and "already has a return request waiting" in again.get_data(as_text=True)
    assert len(_requests(app)) == 1


@pytest.mark.parametrize("reason", ["", "   ", "bad\x1bbyte", "x" * (returns.REASON_MAX + 1)])
def test_a_bad_reason_is_explained_beside_the_field_and_nothing_is_requested(app, login, demo, mailbox, reason):
    device_id, _, _ = _fabrikam_device(app)
    response = login("dave").submit(f"/devices/{device_id}/return", {"reason": reason})
    assert response.status_code == 422 and 'id="reason-error"' in response.get_data(as_text=True)
    assert _requests(app) == [] and not mailbox.messages


def test_only_managers_and_installers_of_the_devices_organization_request_a_return(app, login, demo):
    device_id, _, _ = _fabrikam_device(app)
    assert login("frank").get(f"/devices/{device_id}/return").status_code == 404  # another tenant's device
    bob = login("bob")
    assert bob.get(f"/devices/{device_id}/return").status_code == 404
    erin = login("erin")  # Fabrikam's installer through Northwind's partner grant
    assert erin.submit(f"/devices/{device_id}/return", {"reason": "Cracked case"}).status_code == 302
    assert [r.requested_by_id for r in _requests(app)] == [demo.users["erin"]]


def test_staff_approve_a_return_and_a_replacement_ships_at_no_charge(app, login, demo, mailbox):
    device_id, name, product_id = _fabrikam_device(app)
    login("dave").submit(f"/devices/{device_id}/return", {"reason": "Dead on arrival"})
    [request] = _requests(app)
    mailbox.clear()
    ops = login("ops")
    page = ops.page("/admin/shipments")
    assert "Dead on arrival" in page.html
    response = ops.submit(page, {f"approve-{request.id}-product_id": product_id},
                          button=f"Approve and ship a replacement for {name}")
    assert response.status_code == 302
    with app.app_context():
        decided = db.session.get(ReturnRequest, request.id)
        shipment = db.session.get(Shipment, decided.replacement_shipment_id)
        [unit] = db.session.scalars(select(ShipmentUnit).where(ShipmentUnit.shipment_id == shipment.id)).all()
        assert decided.state is ReturnState.APPROVED and decided.decided_at is not None
        assert shipment.order_id is None and shipment.state is ShipmentState.AWAITING_SHIPMENT
        assert (unit.product_id, unit.replaces_device_id) == (product_id, device_id)
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0  # nothing charged
        assert {"return.approved", "shipment.created"} <= set(db.session.scalars(select(AuditEntry.action)))
        number = shipment.number
    [mail] = mailbox.to(DEMO_EMAILS["dave"])
    assert number in mail["Subject"] and name in mail.get_content()
    # the replacement is a shipment like any other: in the queue, and on dave's shipments as a replacement
    assert number in ops.get("/admin/shipments").get_data(as_text=True)
    assert "Replacement (RMA)" in login("dave").get("/shipments").get_data(as_text=True)


def test_staff_refuse_a_return_with_a_note(app, login, demo, mailbox):
    device_id, name, _ = _fabrikam_device(app)
    login("dave").submit(f"/devices/{device_id}/return", {"reason": "Scratched"})
    [request] = _requests(app)
    mailbox.clear()
    ops = login("ops")
    refused = ops.submit("/admin/shipments", {f"refuse-{request.id}-note": " "},
                         button=f"Refuse the return of {name}")
    assert refused.status_code == 422 and f'id="refuse-{request.id}-note-error"' in refused.get_data(as_text=True)
    assert _requests(app)[0].state is ReturnState.REQUESTED and not mailbox.messages
    response = ops.submit("/admin/shipments", {f"refuse-{request.id}-note": "Scratches are not covered"},
                          button=f"Refuse the return of {name}")
    assert response.status_code == 302
    [decided] = _requests(app)
    assert decided.state is ReturnState.REFUSED and decided.decision_note == "Scratches are not covered"
    [mail] = mailbox.to(DEMO_EMAILS["dave"])
    assert "Scratches are not covered" in mail.get_content()
    # a new request may follow a decision
    assert login("dave").submit(f"/devices/{device_id}/return", {"reason": "Now it is dead"}).status_code == 302


def test_a_return_is_decided_once_and_needs_an_address_to_ship_to(app, demo):
    device_id, _, product_id = _fabrikam_device(app, shippable=False)
    with app.app_context():
        from portal.catalog.models import Product
        from portal.devices.models import Device

        device, product = db.session.get(Device, device_id), db.session.get(Product, product_id)
        request = returns.request_return(device, "Broken", Actor(demo.users["dave"]))
        with pytest.raises(RuleError) as refused:
            returns.approve(request, product, STAFF)
        assert "no street address" in refused.value.message
        db.session.rollback()
        request = returns.request_return(device, "Broken", Actor(demo.users["dave"]))
        returns.refuse(request, "Not covered", STAFF)
        for decide in (lambda: returns.refuse(request, "Again", STAFF), lambda: returns.approve(request, product,
                                                                                                 STAFF)):
            with pytest.raises(RuleError):
                decide()
        assert request.state is ReturnState.REFUSED
        db.session.rollback()


def test_a_device_that_did_not_come_from_a_shipment_needs_a_product_chosen(app, demo):
    device_id, _, _ = _fabrikam_device(app)
    with app.app_context():
        from portal.devices.models import Device

        request = returns.request_return(db.session.get(Device, device_id), "Broken", Actor(demo.users["dave"]))
        with pytest.raises(RuleError) as refused:
            returns.approve(request, None, STAFF)
        assert refused.value.field == "product_id" and request.state is ReturnState.REQUESTED
        db.session.rollback()



def test_a_stale_queue_cannot_decide_a_return_twice(app, login, demo, mailbox):
    device_id, name, product_id = _fabrikam_device(app)
    login("dave").submit(f"/devices/{device_id}/return", {"reason": "Broken"})
    [request] = _requests(app)
    ops = login("ops")
    stale = ops.page("/admin/shipments")
    assert ops.submit(stale, {f"refuse-{request.id}-note": "Not covered"},
                      button=f"Refuse the return of {name}").status_code == 302
    mailbox.clear()
    again = ops.submit(stale, {f"approve-{request.id}-product_id": product_id},
                       button=f"Approve and ship a replacement for {name}", follow_redirects=True)
    assert "That return request was already refused." in again.get_data(as_text=True)
    assert _requests(app)[0].replacement_shipment_id is None and not mailbox.messages


def test_no_new_return_while_a_replacement_is_on_its_way_or_once_replaced(app, demo):
    device_id, _, product_id = _fabrikam_device(app)
    with app.app_context():
        from portal.catalog.models import Product
        from portal.devices.models import Device
        from portal.hardware import shipping

        device, dave = db.session.get(Device, device_id), Actor(demo.users["dave"])
        shipment = returns.approve(returns.request_return(device, "Broken", dave),
                                   db.session.get(Product, product_id), STAFF)
        with pytest.raises(RuleError, match="is on its way"):
            returns.request_return(device, "Still broken", dave)
        shipping.cancel(shipment, "Out of stock", STAFF)  # a cancelled replacement: the device may be returned again
        assert returns.request_return(device, "Still broken", dave).state is ReturnState.REQUESTED
        db.session.rollback()
        replacement = make_device(device.location, "Door counter 2")
        replacement.replaces_id, device.counts = device.id, False
        db.session.flush()
        with pytest.raises(RuleError, match="already replaced by Door counter 2"):
            returns.request_return(device, "Broken", dave)
        db.session.rollback()
