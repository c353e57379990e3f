"""Events: written in the caller's transaction for the main chain's subscribed endpoints, and emitted by the
services where each thing happens (checkout, assignment, modification, invoicing, payment, renewal, devices)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, select

from portal.accounts.models import Organization, User
from portal.billing.models import InvoiceStatus, PaymentMethodKind
from portal.billing.services import invoice_for_order
from portal.cart.services import add_modification, add_to_cart, cart_items
from portal.catalog.services import configure, product_by_slug
from portal.db_types import utcnow
from portal.devices.services import add_device
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.services import assign_licenses
from portal.orders.checkout import place_order
from portal.orders.models import PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary
from portal.payments.gateway import gateway
from portal.receipts.paying import record_transfer
from portal.recurring.run import renew
from portal.subscriptions.models import Subscription
from portal.webhooks.events import emit
from portal.webhooks.models import WebhookDelivery
from tests.factories import actor, demo_product, make_invoice, make_license, make_location, make_org
from tests.webhooks.helpers import make_endpoint


@pytest.fixture
def northwind(app, demo):
    """Northwind IT with an endpoint subscribed to every event, and alice, in an application context."""
    with app.app_context():
        org = db.session.get(Organization, demo.orgs["Northwind IT"])
        make_endpoint(org)
        db.session.commit()
        yield org, db.session.get(User, demo.users["alice"])
        db.session.rollback()


def sent(event_type: str) -> list[dict]:
    """The `data` of each delivery of `event_type` queued so far."""
    return [json.loads(d.payload)["data"] for d in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == event_type).order_by(WebhookDelivery.id))]


def _check_out(org: Organization, user: User, kind: PaymentKind = PaymentKind.INVOICE):
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    order = place_order(org, user, items, summary.signature, summary.quote.total_minor, PaymentChoice(kind),
                        BillingDetails.of(org), actor(user), gateway())
    db.session.commit()
    return order


def _buy(org: Organization, user: User, kind: PaymentKind = PaymentKind.INVOICE):
    product = product_by_slug("mailsuite")
    edition_id = next(e.id for e in product.editions if e.name == "Professional")
    add_to_cart(user, org, configure(product, edition_id, 25, []), 1, actor(user))
    db.session.commit()
    return _check_out(org, user, kind)


# ---------------------------------------------------------------- emit


def test_emit_writes_in_the_callers_transaction_and_a_rollback_takes_it_back(northwind):
    org, _ = northwind
    assert emit("device.added", org.id, {"object": "device", "id": 1}) == 1
    assert len(sent("device.added")) == 1  # flushed, visible in the transaction
    db.session.rollback()
    assert sent("device.added") == []


def test_a_sub_chains_event_goes_to_its_main_chains_endpoints_once_per_subscribed_enabled_endpoint(northwind):
    org, _ = northwind
    branch = make_org("Northwind Branch", parent=org)
    make_endpoint(org, url="https://other.example.com/x", event_types=["invoice.paid"])
    make_endpoint(org, url="https://off.example.com/x", disabled_at=utcnow())
    make_endpoint(make_org("Elsewhere"), url="https://elsewhere.example.com/x")
    assert emit("device.added", branch.id, {"object": "device", "id": 1}) == 1
    assert emit("invoice.paid", branch.id, {"object": "invoice", "number": "INV-1"}) == 2
    ids = {d.event_id for d in db.session.scalars(select(WebhookDelivery)
                                                  .where(WebhookDelivery.event_type == "invoice.paid"))}
    assert len(ids) == 1  # one event, one id, whichever endpoint receives it


def test_emit_without_endpoints_reads_once_and_writes_nothing(app, demo):
    with app.app_context():
        org = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert emit("order.placed", org.id, {"object": "order"}) == 0
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
        assert emit("order.placed", None, {}) == 0


# ---------------------------------------------------------------- each event from its service


def test_a_checkout_emits_order_placed_and_invoice_issued(northwind):
    org, alice = northwind
    order = _buy(org, alice)
    invoice = invoice_for_order(order)
    assert sent("order.placed") == [{"object": "order", "number": order.number, "organization_id": org.id,
                                     "total_minor": order.total_minor, "currency": order.currency}]
    [issued] = sent("invoice.issued")
    assert issued["number"] == invoice.number and issued["total_minor"] == invoice.total_minor
    assert sent("invoice.paid") == []  # invoiced monthly: not paid yet


def test_assigning_licenses_emits_license_assigned(northwind):
    org, alice = northwind
    licenses = [make_license(org), make_license(org)]
    db.session.commit()
    assignment = assign_licenses(licenses, "buyer@customer.example.com", actor(alice),
                                 customer_name="Customer Co")
    db.session.commit()
    assert sorted(d["key"] for d in sent("license.assigned")) == sorted(lic.key for lic in licenses)
    assert {d["customer_id"] for d in sent("license.assigned")} == {assignment.customer.id}
    assert {d["customer_email"] for d in sent("license.assigned")} == {"buyer@customer.example.com"}


def test_an_upgrade_bought_emits_license_modified(northwind):
    org, alice = northwind
    license_ = make_license(org, edition="Professional", quantity=25)
    db.session.commit()
    product = product_by_slug("mailsuite")
    enterprise = next(e.id for e in product.editions if e.name == "Enterprise")
    change = modify.quote_upgrade(license_, product, enterprise, 25, [])
    add_modification(alice, org, change, change.list_minor, actor(alice))
    db.session.commit()
    _check_out(org, alice)
    [modified] = sent("license.modified")
    assert modified["key"] == license_.key and modified["change"] == "upgrade"
    assert modified["after"]["edition"] == "Enterprise"


def test_paying_an_invoice_emits_invoice_paid(northwind, demo):
    org, _ = northwind
    invoice = make_invoice(org)  # unpaid, due in 30 days
    db.session.commit()
    assert invoice.status is InvoiceStatus.UNPAID and sent("invoice.paid") == []
    record_transfer(invoice, PaymentMethodKind.WIRE, invoice.amount_due_minor, "FED-1",
                    actor(db.session.get(User, demo.users["ops"])))
    db.session.commit()
    assert [d["number"] for d in sent("invoice.paid")] == [invoice.number]


def test_a_renewal_emits_subscription_renewed_and_its_invoice(northwind):
    org, _ = northwind
    today = utcnow().date()
    plan = Subscription(organization_id=org.id, product_id=demo_product("device-protection").id, quantity=3,
                        started_on=today.replace(year=today.year - 1), next_payment_on=today, anchor_day=today.day)
    db.session.add(plan)
    db.session.commit()
    renew(today)
    renewed = [d for d in sent("subscription.renewed") if d["id"] == plan.id]
    assert len(renewed) == 1 and renewed[0]["quantity"] == 3 and renewed[0]["period_start"] == today.isoformat()
    assert renewed[0]["invoice_number"] in [d["number"] for d in sent("invoice.issued")]


def test_adding_a_device_emits_device_added(northwind):
    org, alice = northwind
    location = make_location(org)
    added = add_device(location, "Till 1", "SN-1", True, actor(alice))
    db.session.commit()
    assert sent("device.added") == [{"object": "device", "id": added.device.id, "organization_id": org.id,
                                     "location_id": location.id, "name": "Till 1", "serial_number": "SN-1",
                                     "counts": True}]
