"""Shipments and returns in a browser (issue 20): staff's queue with its forms, the cancel dialog, a chain's
shipments, the device page's return request and the order page's shipments fit a phone and pass axe; staff cancel
a shipment through the modal dialog."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.audit.services import Actor
from portal.extensions import db
from portal.hardware import returns
from portal.hardware.shipping import mark_shipped
from portal.orders.models import Order
from tests.browser.test_phone_layout import check_on_a_laptop, check_on_a_phone
from tests.browser.test_sign_in_journeys import sign_in
from tests.factories import DEMO_EMAILS, demo_org, demo_user, make_device, make_shipment, make_shippable_location

pytestmark = pytest.mark.browser


@pytest.fixture
def shipped(app, demo):
    """Fabrikam's shipments (one awaiting shipment, one shipped) and a return request of one of its devices."""
    with app.app_context():
        fabrikam, dave = demo_org("Fabrikam Stores"), demo_user("dave")
        waiting = make_shipment(make_shippable_location(fabrikam, "Dock 1"), dave, quantity=2)
        sent = make_shipment(make_shippable_location(fabrikam, "Dock 2"), dave, quantity=1)
        mark_shipped(sent, "UPS", "1Z999AA10123456784", Actor.system())
        device = make_device(waiting.location, "Door counter 1")
        returns.request_return(device, "It counts nobody", Actor(dave.id))
        ids = {"waiting": waiting.id, "waiting_number": waiting.number, "device": device.id,
               "order": db.session.get(Order, sent.order_id).number}
        db.session.commit()
        return ids


def _check(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    check_on_a_phone(page)
    check_on_a_laptop(page)


def test_staff_shipment_pages_fit_a_phone_pass_axe_and_cancel_through_the_dialog(page, shipped, script_errors):
    page.goto("/login")
    sign_in(page, DEMO_EMAILS["ops"])
    for path in ("/admin/shipments", f"/admin/shipments/{shipped['waiting']}/cancel", "/admin/shipments?state=all"):
        _check(page, path)
    page.goto("/admin/shipments")
    page.get_by_role("link", name=f"Cancel {shipped['waiting_number']}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("The kiosk closed")
    dialog.get_by_role("button", name="Cancel the shipment").click()
    expect(page.get_by_role("status")).to_contain_text(f"Shipment {shipped['waiting_number']} cancelled")
    assert not script_errors, "\n".join(script_errors)


def test_a_chains_shipment_pages_fit_a_phone_and_pass_axe(page, shipped, script_errors):
    page.goto("/login")
    sign_in(page, DEMO_EMAILS["dave"])
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    for path in ("/shipments", f"/orders/{shipped['order']}", f"/devices/{shipped['device']}",
                 f"/devices/{shipped['device']}/return"):
        _check(page, path)
    assert not script_errors, "\n".join(script_errors)
