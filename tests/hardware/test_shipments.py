"""Shipments: one per location of an order's hardware lines with a unit (and serial number) per box, the state
machine (awaiting shipment → shipped → delivered, or cancelled before shipping), the emails and audit of each step."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, Role
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import IssuedLine, buyer_snapshot, issue_invoice
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware import shipping
from portal.hardware.models import Shipment, ShipmentState, ShipmentUnit
from portal.orders.models import Order
from portal.outbox.models import OutboxMessage
from tests.factories import (
    DEMO_EMAILS,
    demo_org,
    demo_user,
    make_hardware_order,
    make_hardware_product,
    make_member,
    make_org,
    make_shipment,
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



# ---------------------------------------------------------------- the state machine


@pytest.fixture
def shipment(world):
    order = make_hardware_order(world["reseller"], world["buyer"], [(world["counter"], world["kiosk"], 2)])
    [shipment] = shipping.create_shipments(order)
    return shipment


STAFF = Actor(None, "192.0.2.1")


def _move(shipment, to: ShipmentState):
    if to is ShipmentState.SHIPPED:
        return shipping.mark_shipped(shipment, "UPS", "1Z999AA10123456784", STAFF)
    if to is ShipmentState.DELIVERED:
        return shipping.mark_delivered(shipment, STAFF)
    return shipping.cancel(shipment, "Out of stock", STAFF)


PATHS = {  # how to reach each state from awaiting shipment
    ShipmentState.AWAITING_SHIPMENT: [],
    ShipmentState.SHIPPED: [ShipmentState.SHIPPED],
    ShipmentState.DELIVERED: [ShipmentState.SHIPPED, ShipmentState.DELIVERED],
    ShipmentState.CANCELLED: [ShipmentState.CANCELLED],
}
ALLOWED = {(ShipmentState.AWAITING_SHIPMENT, ShipmentState.SHIPPED),
           (ShipmentState.AWAITING_SHIPMENT, ShipmentState.CANCELLED),
           (ShipmentState.SHIPPED, ShipmentState.DELIVERED)}


@pytest.mark.parametrize("start", list(ShipmentState))
@pytest.mark.parametrize("to", [ShipmentState.SHIPPED, ShipmentState.DELIVERED, ShipmentState.CANCELLED])
def test_a_shipment_moves_only_along_the_allowed_transitions(shipment, start, to):
    for step in PATHS[start]:
        _move(shipment, step)
    assert shipment.state is start
    audits = db.session.scalar(select(func.count()).select_from(AuditEntry))
    if (start, to) in ALLOWED:
        _move(shipment, to)
        assert shipment.state is to
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audits + 1
    else:
        with pytest.raises(RuleError):
            _move(shipment, to)
        assert shipment.state is start
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audits


def test_each_step_is_audited_and_emailed_to_both_organizations_managers(world, shipment):
    shipping.mark_shipped(shipment, " DHL ", "JD0146000012345", STAFF)
    assert (shipment.carrier, shipment.tracking_number) == ("DHL", "JD0146000012345")
    assert shipment.shipped_at is not None
    shipping.mark_delivered(shipment, STAFF)
    assert shipment.delivered_at is not None
    expected = [[world["buyer"].email], [world["customer_manager"].email]]
    assert _emails("shipment_shipped") == expected and _emails("shipment_delivered") == expected
    shipped = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "shipment_shipped")).first()
    assert "DHL" in shipped.body_text and "JD0146000012345" in shipped.body_text
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(shipment.id))
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["shipment.created", "shipment.shipped", "shipment.delivered"]


@pytest.mark.parametrize(("carrier", "tracking", "field"), [
    ("", "1Z999", "carrier"),
    ("UPS", "   ", "tracking_number"),
    ("UPS", "1Z\x00999", "tracking_number"),
    ("UP\x1bS", "1Z999", "carrier"),
    ("UPS", "1Z\u202e999", "tracking_number"),  # right-to-left override
    ("U" * 61, "1Z999", "carrier"),
    ("UPS", "9" * 61, "tracking_number"),
])
def test_bad_carrier_or_tracking_is_refused_beside_the_field(shipment, carrier, tracking, field):
    with pytest.raises(RuleError) as refused:
        shipping.mark_shipped(shipment, carrier, tracking, STAFF)
    assert refused.value.field == field
    assert shipment.state is ShipmentState.AWAITING_SHIPMENT and not _emails("shipment_shipped")


@pytest.mark.parametrize("reason", ["", "  \n ", "a\x07b", "x" * (shipping.REASON_MAX + 1)])
def test_cancelling_needs_a_plain_reason(shipment, reason):
    with pytest.raises(RuleError) as refused:
        shipping.cancel(shipment, reason, STAFF)
    assert refused.value.field == "reason" and shipment.state is ShipmentState.AWAITING_SHIPMENT


# ---------------------------------------------------------------- cancelling: the credit note


def _invoice_order(order, status: InvoiceStatus):
    """The order invoice checkout issues: one invoice line per order line, at its tax."""
    lines = [IssuedLine(line.product_name, line.quantity, line.unit_list_minor, line.list_minor + line.shipping_minor,
                        0, line.tax_category, line.tax_rate_bp, line.tax_minor, line.total_minor)
             for line in order.lines]
    org = db.session.get(Organization, order.organization_id)
    return issue_invoice(org.id, buyer_snapshot(org), "USD", lines, status, None, "Paid by card.",
                         utcnow().date(), order_id=order.id,
                         paid_at=utcnow() if status is InvoiceStatus.PAID else None)


def test_cancelling_a_paid_shipment_credits_its_lines_with_shipping_and_tax(world):
    w = world
    order = make_hardware_order(w["reseller"], w["buyer"], [(w["counter"], w["kiosk"], 2, 825),
                                                            (w["sensor"], w["kiosk"], 1, 825),
                                                            (w["counter"], w["store"], 1, 600)])
    invoice = _invoice_order(order, InvoiceStatus.PAID)
    kiosk = next(s for s in shipping.create_shipments(order) if s.location_id == w["kiosk"].id)
    notes = shipping.cancel(kiosk, "The customer closed the kiosk", STAFF)

    kiosk_lines = [line for line in order.lines if line.location_id == w["kiosk"].id]
    [note] = notes  # both kiosk lines are taxed at one rate: one credit note
    assert note.corrects_id == invoice.id and note.is_credit_note
    assert note.total_minor == sum(line.total_minor for line in kiosk_lines)
    # the tax of the lines, split again from their gross at their rate (one rounding: within a cent per line)
    assert abs(note.tax_minor - sum(line.tax_minor for line in kiosk_lines)) <= len(kiosk_lines)
    assert note.lines[0].tax_rate_bp == 825
    assert note.status is InvoiceStatus.CREDIT_AVAILABLE  # paid: the credit waits for the next invoices
    assert kiosk.number in note.lines[0].description
    cancelled = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "shipment_cancelled")).first()
    assert note.number in cancelled.body_text and "The customer closed the kiosk" in cancelled.body_text


def test_cancelling_an_unpaid_shipment_pays_down_its_invoice(world):
    w = world
    order = make_hardware_order(w["reseller"], w["buyer"],
                                [(w["counter"], w["kiosk"], 1), (w["counter"], w["store"], 2)])
    invoice = _invoice_order(order, InvoiceStatus.UNPAID)
    store = next(s for s in shipping.create_shipments(order) if s.location_id == w["store"].id)
    [note] = shipping.cancel(store, "Wrong address", STAFF)
    store_line = next(line for line in order.lines if line.location_id == w["store"].id)
    assert note.total_minor == store_line.total_minor
    assert invoice.amount_due_minor == invoice.total_minor - store_line.total_minor and invoice.is_open


def test_cancelling_without_an_invoice_or_for_a_replacement_credits_nothing(world, shipment):
    assert shipping.cancel(shipment, "Out of stock", STAFF) == []
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


# ---------------------------------------------------------------- the pages


def _fabrikam_shipment(app, location_name: str = "Dock 1", quantity: int = 2) -> tuple[int, str, str]:
    """dave's order shipped to a new Fabrikam location: (shipment id, shipment number, order number)."""
    with app.app_context():
        fabrikam = demo_org("Fabrikam Stores")
        shipment = make_shipment(make_shippable_location(fabrikam, location_name), demo_user("dave"), quantity)
        number, order_id = shipment.number, shipment.order_id
        order_number = db.session.get(Order, order_id).number
        db.session.commit()
        return shipment.id, number, order_number


def _state(app, shipment_id: int) -> Shipment:
    with app.app_context():
        shipment = db.session.get(Shipment, shipment_id)
        db.session.expunge(shipment)
        return shipment


def test_staff_ship_and_deliver_a_shipment_and_dave_follows_it(app, login, demo, mailbox):
    shipment_id, number, order_number = _fabrikam_shipment(app)
    mailbox.clear()
    ops = login("ops")
    page = ops.page("/admin/shipments")
    assert number in page.html and "Dock 1" in page.html
    response = ops.submit(page, {f"ship-{shipment_id}-carrier": "UPS",
                                 f"ship-{shipment_id}-tracking_number": "1Z999AA10123456784"},
                          button=f"Mark shipped {number}")
    assert response.status_code == 302
    assert _state(app, shipment_id).state is ShipmentState.SHIPPED
    [mail] = mailbox.to(DEMO_EMAILS["dave"])
    assert number in mail["Subject"] and "1Z999AA10123456784" in mail.get_content()

    dave = login("dave")
    shipments = dave.get("/shipments").get_data(as_text=True)
    assert number in shipments and "UPS 1Z999AA10123456784" in shipments and order_number in shipments
    order_page = dave.get(f"/orders/{order_number}").get_data(as_text=True)
    assert number in order_page and "Shipped" in order_page and "1Z999AA10123456784" in order_page

    mailbox.clear()
    assert ops.submit("/admin/shipments", button=f"Mark delivered {number}").status_code == 302
    assert _state(app, shipment_id).state is ShipmentState.DELIVERED
    assert [m["To"] for m in mailbox.messages] == [DEMO_EMAILS["dave"]]
    assert f'id="shipment-{shipment_id}"' not in ops.get("/admin/shipments").get_data(as_text=True)  # not open
    assert f'id="shipment-{shipment_id}"' in ops.get("/admin/shipments?state=delivered").get_data(as_text=True)


@pytest.mark.parametrize(("carrier", "tracking", "message"), [
    ("UPS", "1Z\x07999", "control or invisible characters"),
    ("UPS", "9" * 61, "at most 60 characters"),
    ("", "1Z999", "Enter the carrier."),
])
def test_bad_tracking_on_the_staff_page_is_explained_beside_the_field(app, login, demo, mailbox, carrier, tracking,
                                                                      message):
    shipment_id, number, _ = _fabrikam_shipment(app)
    mailbox.clear()
    ops = login("ops")
    response = ops.submit("/admin/shipments", {f"ship-{shipment_id}-carrier": carrier,
                                               f"ship-{shipment_id}-tracking_number": tracking},
                          button=f"Mark shipped {number}")
    assert response.status_code == 422
    field = "carrier" if not carrier else "tracking_number"
    error = re.search(rf'id="ship-{shipment_id}-{field}-error">([^<]*)<', response.get_data(as_text=True))
    assert error and message in error.group(1)
    assert _state(app, shipment_id).state is ShipmentState.AWAITING_SHIPMENT and not mailbox.messages


def test_staff_cancel_a_shipment_after_confirming_with_a_reason(app, login, demo, mailbox):
    shipment_id, number, _ = _fabrikam_shipment(app)
    mailbox.clear()
    ops = login("ops")
    assert f'href="/admin/shipments/{shipment_id}/cancel"' in ops.get("/admin/shipments").get_data(as_text=True)
    confirm = ops.page(f"/admin/shipments/{shipment_id}/cancel")
    refused = ops.submit(confirm, {"reason": "  "}, button="Cancel the shipment")
    assert refused.status_code == 422 and "Enter the reason." in refused.get_data(as_text=True)
    assert _state(app, shipment_id).state is ShipmentState.AWAITING_SHIPMENT
    response = ops.submit(confirm, {"reason": "The kiosk closed"}, button="Cancel the shipment")
    assert response.status_code == 302
    cancelled = _state(app, shipment_id)
    assert cancelled.state is ShipmentState.CANCELLED and cancelled.cancel_reason == "The kiosk closed"
    [mail] = mailbox.to(DEMO_EMAILS["dave"])
    assert "The kiosk closed" in mail.get_content()
    # no cancelling twice: the page says why and offers no form
    again = ops.get(f"/admin/shipments/{shipment_id}/cancel").get_data(as_text=True)
    assert "only a shipment awaiting shipment can be cancelled" in again and "Cancel the shipment" not in again


def test_a_chain_sees_its_own_and_its_sub_chains_shipments_only(app, login, demo):
    _, fabrikam_number, _ = _fabrikam_shipment(app)
    with app.app_context():
        contoso = demo_org("Contoso Retail")  # Northwind's sub-chain: alice ordered for its location
        order = make_hardware_order(demo_org("Northwind IT"), demo_user("alice"),
                                    [(make_hardware_product(), make_shippable_location(contoso, "Dock C"), 1)])
        [contoso_shipment] = shipping.create_shipments(order)
        contoso_number, contoso_order = contoso_shipment.number, order.number
        db.session.commit()
    frank = login("frank").get("/shipments").get_data(as_text=True)
    assert fabrikam_number not in frank and contoso_number not in frank
    alice = login("alice").get("/shipments").get_data(as_text=True)
    assert contoso_number in alice and fabrikam_number not in alice
    assert f'href="/orders/{contoso_order}"' in alice
    carol = login("carol").get("/shipments").get_data(as_text=True)  # Contoso's viewer: the shipment, no order link
    assert contoso_number in carol and fabrikam_number not in carol and f'href="/orders/{contoso_order}"' not in carol
    dave = login("dave").get("/shipments").get_data(as_text=True)
    assert fabrikam_number in dave and contoso_number not in dave


def test_staff_pages_are_a_404_to_anyone_else(app, login, demo):
    shipment_id, _, _ = _fabrikam_shipment(app)
    dave = login("dave")
    assert dave.get("/admin/shipments").status_code == 403
    assert dave.get(f"/admin/shipments/{shipment_id}/cancel").status_code == 404
    forged = dave.post(f"/admin/shipments/{shipment_id}/ship",
                       data={f"ship-{shipment_id}-carrier": "UPS", f"ship-{shipment_id}-tracking_number": "1",
                             "csrf_token": dave.csrf_token()})
    assert forged.status_code == 404 and _state(app, shipment_id).state is ShipmentState.AWAITING_SHIPMENT


def test_a_stale_queue_cannot_ship_a_shipment_twice(app, login, demo, mailbox):
    shipment_id, number, _ = _fabrikam_shipment(app)
    ops = login("ops")
    stale = ops.page("/admin/shipments")
    first = ops.submit(stale, {f"ship-{shipment_id}-carrier": "UPS", f"ship-{shipment_id}-tracking_number": "1Z1"},
                       button=f"Mark shipped {number}")
    assert first.status_code == 302
    mailbox.clear()
    again = ops.submit(stale, {f"ship-{shipment_id}-carrier": "DHL", f"ship-{shipment_id}-tracking_number": "JD2"},
                       button=f"Mark shipped {number}", follow_redirects=True)
    assert f"Shipment {number} is shipped: it cannot be marked shipped." in again.get_data(as_text=True)
    shipment = _state(app, shipment_id)
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z1") and not mailbox.messages


@pytest.mark.postgres_only
def test_concurrent_cancellations_of_a_paid_shipment_credit_it_once(app, demo):
    """Staff cancelling one shipment at once from several pages: one cancellation, one credit note."""
    import threading

    with app.app_context():
        fabrikam, dave = demo_org("Fabrikam Stores"), demo_user("dave")
        order = make_hardware_order(fabrikam, dave, [(make_hardware_product(), make_shippable_location(fabrikam), 2)])
        _invoice_order(order, InvoiceStatus.PAID)
        [shipment] = shipping.create_shipments(order)
        db.session.commit()
        shipment_id = shipment.id
    attempts = 6
    barrier, lock, outcomes = threading.Barrier(attempts, timeout=30), threading.Lock(), []

    def attempt(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                shipping.cancel(db.session.get(Shipment, shipment_id), f"Cancelled by {n}", STAFF)
                db.session.commit()
                result = "cancelled"
            except RuleError as error:
                db.session.rollback()
                result = error.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("cancelled") == 1, outcomes
    assert all("is cancelled: it cannot become cancelled" in o for o in outcomes if o != "cancelled"), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invoice).where(Invoice.corrects_id.is_not(None))) == 1


def test_cancelling_a_shipment_of_an_order_to_be_summarized_leaves_its_credit_for_the_summary(world):
    w = world
    order = make_hardware_order(w["reseller"], w["buyer"],
                                [(w["counter"], w["kiosk"], 1), (w["counter"], w["store"], 1)])
    invoice = _invoice_order(order, InvoiceStatus.TO_BE_SUMMARIZED)
    kiosk = next(s for s in shipping.create_shipments(order) if s.location_id == w["kiosk"].id)
    [note] = shipping.cancel(kiosk, "Kiosk closed", STAFF)
    # nothing is owed on the order invoice itself yet: the credit waits, and the month's summary consumes it
    assert note.status is InvoiceStatus.CREDIT_AVAILABLE and note.credit_left_minor == note.total_minor
    assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED and invoice.credit_applied_minor == 0


def test_staff_cancel_a_paid_shipment_and_the_page_names_its_credit_note(app, login, demo, mailbox):
    with app.app_context():
        fabrikam, dave = demo_org("Fabrikam Stores"), demo_user("dave")
        order = make_hardware_order(fabrikam, dave, [(make_hardware_product(), make_shippable_location(fabrikam), 2)])
        invoice = _invoice_order(order, InvoiceStatus.PAID)
        [shipment] = shipping.create_shipments(order)
        db.session.commit()
        shipment_id, total, invoice_id = shipment.id, order.total_minor, invoice.id
    ops = login("ops")
    response = ops.submit(f"/admin/shipments/{shipment_id}/cancel", {"reason": "Out of stock"},
                          button="Cancel the shipment", follow_redirects=True)
    with app.app_context():
        note = db.session.scalars(select(Invoice).where(Invoice.corrects_id == invoice_id)).one()
        assert note.total_minor == total  # the whole order shipped here
        assert f"Credit note {note.number} credits it." in response.get_data(as_text=True)
