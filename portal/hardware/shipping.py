"""Shipments: what an order ships to each location, and the one state machine that moves them.

awaiting shipment → shipped (carrier, tracking number) → delivered, or awaiting shipment → cancelled (a reason).
Every step is audited and emails the Chain & User Managers of the buying organization and of the location's
organization (one email per organization, so that a reseller's and its customer's managers do not see each other's
addresses). Services flush, never commit.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections import defaultdict

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.authz import Permission, chain_ids, scoped
from portal.billing.models import Invoice, InvoiceSeries
from portal.catalog.models import Product, ProductKind
from portal.credits.issuing import issue_credit_note
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware.models import Shipment, ShipmentState, ShipmentUnit
from portal.orders.models import Order, OrderLine
from portal.outbox.services import enqueue_email, external_url

BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CARRIER_MAX = 60  # the columns' lengths
TRACKING_MAX = 60
REASON_MAX = 400  # a credit note prints it after "shipment SHP-… cancelled: " (at most 500)

# The state machine, in one place: each state and the states it may move to.
TRANSITIONS: dict[ShipmentState, frozenset[ShipmentState]] = {
    ShipmentState.AWAITING_SHIPMENT: frozenset({ShipmentState.SHIPPED, ShipmentState.CANCELLED}),
    ShipmentState.SHIPPED: frozenset({ShipmentState.DELIVERED}),
    ShipmentState.DELIVERED: frozenset(),
    ShipmentState.CANCELLED: frozenset(),
}


def _symbols(n: int = 10) -> str:
    return "".join(secrets.choice(BASE32) for _ in range(n))


def shipment_number() -> str:
    """SHP- and ten random base32 symbols (50 bits): unique without a shared counter."""
    return "SHP-" + _symbols()


def serial_number(product: Product) -> str:
    """The product's SKU (or its slug) and ten random base32 symbols."""
    return f"{product.sku or product.slug.upper()}-{_symbols()}"


def can_move(shipment: Shipment, to: ShipmentState) -> bool:
    """Whether the state machine lets the shipment move to `to` from where it is."""
    return to in TRANSITIONS[shipment.state]


def _require(shipment: Shipment, to: ShipmentState) -> None:
    # Lock the shipment's row and read its state again (PostgreSQL): of two staff moving it at once, the later one
    # waits, then finds where the first one left it.
    db.session.execute(select(Shipment.id).where(Shipment.id == shipment.id).with_for_update())
    db.session.refresh(shipment, ["state"])
    if not can_move(shipment, to):
        raise RuleError(f"Shipment {shipment.number} is {shipment.state.label.lower()}: it cannot become "
                        f"{to.label.lower()}.")


def _hardware_lines(order_id: int) -> list[OrderLine]:
    """The order's hardware lines that ship somewhere, in their order."""
    return list(db.session.scalars(select(OrderLine).where(
        OrderLine.order_id == order_id, OrderLine.kind == ProductKind.HARDWARE, OrderLine.location_id.is_not(None))
        .order_by(OrderLine.position)))


def create_shipments(order: Order) -> list[Shipment]:
    """One shipment per location of the order's hardware lines, one unit (with its serial number) per box;
    audited, and the buyer's and the location's managers emailed that the order awaits shipment."""
    lines = _hardware_lines(order.id)
    if not lines:
        return []
    by_location: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        by_location[line.location_id].append(line)
    locations = {loc.id: loc for loc in db.session.scalars(select(Location).where(Location.id.in_(by_location)))}
    products = {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_({line.product_id for line in lines})))}
    actor = Actor(order.placed_by_id)
    shipments = []
    for location_id, its_lines in by_location.items():
        location = locations[location_id]
        shipment = Shipment(number=shipment_number(), order_id=order.id, organization_id=location.organization_id,
                            location_id=location.id, ship_to=its_lines[0].ship_to or location.shipping_address,
                            state=ShipmentState.AWAITING_SHIPMENT)
        db.session.add(shipment)
        db.session.flush()
        for line in its_lines:
            product = products[line.product_id]
            for _ in range(line.quantity * line.copies):
                db.session.add(ShipmentUnit(shipment_id=shipment.id, product_id=product.id, order_line_id=line.id,
                                            serial_number=serial_number(product)))
        db.session.flush()
        record(actor, "shipment.created", shipment, shipment.organization_id, number=shipment.number,
               order=order.number, location=location.name,
               units=sum(line.quantity * line.copies for line in its_lines))
        _notify(shipment, "shipment_created", order=order, lines=its_lines)
        shipments.append(shipment)
    return shipments


def clean_text(value: str, label: str, field: str, max_length: int, *, multiline: bool = False) -> str:
    """`value` stripped; a RuleError beside `field` when it is empty, too long, or holds control characters."""
    value = (value or "").strip()
    if not value:
        raise RuleError(f"Enter the {label}.", field=field)
    if len(value) > max_length:
        raise RuleError(f"The {label} is at most {max_length} characters.", field=field)
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and ch not in allowed for ch in value):
        raise RuleError(f"The {label} holds control or invisible characters; type it again.", field=field)
    return value


def mark_shipped(shipment: Shipment, carrier: str, tracking_number: str, actor: Actor) -> Shipment:
    """Staff: the shipment left with `carrier` under `tracking_number`."""
    carrier = clean_text(carrier, "carrier", "carrier", CARRIER_MAX)
    tracking_number = clean_text(tracking_number, "tracking number", "tracking_number", TRACKING_MAX)
    _require(shipment, ShipmentState.SHIPPED)
    shipment.state = ShipmentState.SHIPPED
    shipment.carrier, shipment.tracking_number = carrier, tracking_number
    shipment.shipped_at = utcnow()
    db.session.flush()
    record(actor, "shipment.shipped", shipment, shipment.organization_id, number=shipment.number, carrier=carrier,
           tracking_number=tracking_number)
    _notify(shipment, "shipment_shipped")
    return shipment


def mark_delivered(shipment: Shipment, actor: Actor) -> Shipment:
    """Staff: the carrier delivered the shipment; its units wait at the location to be installed."""
    _require(shipment, ShipmentState.DELIVERED)
    shipment.state = ShipmentState.DELIVERED
    shipment.delivered_at = utcnow()
    db.session.flush()
    record(actor, "shipment.delivered", shipment, shipment.organization_id, number=shipment.number)
    _notify(shipment, "shipment_delivered")
    return shipment


def cancel(shipment: Shipment, reason: str, actor: Actor) -> list[Invoice]:
    """Staff: cancel a shipment that has not shipped (a reason is required), and credit what its lines were
    billed (`credit_cancelled`); the credit notes issued."""
    reason = clean_text(reason, "reason", "reason", REASON_MAX, multiline=True)
    _require(shipment, ShipmentState.CANCELLED)
    shipment.state = ShipmentState.CANCELLED
    shipment.cancel_reason = reason
    shipment.cancelled_at = utcnow()
    db.session.flush()
    notes = credit_cancelled(shipment, reason, actor)
    record(actor, "shipment.cancelled", shipment, shipment.organization_id, number=shipment.number, reason=reason,
           credit_notes=[note.number for note in notes] or None)
    _notify(shipment, "shipment_cancelled", credit_notes=notes)
    return notes


def credit_cancelled(shipment: Shipment, reason: str, actor: Actor) -> list[Invoice]:
    """Credit notes against the order's invoice for a cancelled shipment's lines (their totals, shipping and tax
    included), one per tax rate of those lines. Whatever the invoice's state, since a credit note does the right
    thing with each (portal/credits/issuing): paid, the credit waits for the organization's next invoices; unpaid or
    payment pending, it pays down what is owed; gathered into a summary, it pays down the summary; to be
    summarized, it is consumed when the summary is issued. An order with no vendor's order invoice (nothing
    billed; a storefront sale's invoice is the reseller's to correct) and an RMA replacement (no charge) are
    credited nothing."""
    order = _order_of(shipment)
    if order is None:
        return []
    invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id,
                                                       Invoice.series == InvoiceSeries.ORDER)).first()
    if invoice is None:
        return []
    amounts: dict[tuple[str, int], int] = defaultdict(int)
    for line in _hardware_lines(order.id):
        if line.location_id == shipment.location_id:
            amounts[(line.tax_category, line.tax_rate_bp)] += line.total_minor
    return [issue_credit_note(invoice, amount, f"shipment {shipment.number} cancelled: {reason}", actor, tax=tax)
            for tax, amount in sorted(amounts.items()) if amount > 0]


def _order_of(shipment: Shipment) -> Order | None:
    return db.session.get(Order, shipment.order_id) if shipment.order_id else None


def recipients(shipment: Shipment, order: Order | None = None) -> list[list[str]]:
    """The managers to email about a shipment, one list per organization: the buyer's, then the location's."""
    order = order if order is not None else _order_of(shipment)
    org_ids = [order.organization_id] if order is not None else []
    if shipment.organization_id not in org_ids:
        org_ids.append(shipment.organization_id)
    groups = []
    for org_id in org_ids:
        if emails := managers_emails(db.session.get(Organization, org_id)):
            groups.append(emails)
    return groups


def _notify(shipment: Shipment, template: str, order: Order | None = None, **context) -> None:
    order = order if order is not None else _order_of(shipment)
    for emails in recipients(shipment, order):
        link = external_url("orders.detail", number=order.number) if order else external_url("orders.index")
        enqueue_email(emails, template, shipment=shipment, order=order, link=link, **context)


def create_replacement(location: Location, product: Product, replaces_device_id: int, actor: Actor) -> Shipment:
    """An approved return's replacement: a shipment with no order (no charge) of one unit of `product` to
    `location`, which takes device `replaces_device_id`'s place once installed. The caller emails about it."""
    if not location.ships_here:
        raise RuleError(f"{location.name} has no street address to ship to: add its street, city, postal code and "
                        "country on the location's page first.", field="product_id")
    if not product.is_hardware:
        raise RuleError("Choose a hardware product.", field="product_id")
    shipment = Shipment(number=shipment_number(), order_id=None, organization_id=location.organization_id,
                        location_id=location.id, ship_to=location.shipping_address,
                        state=ShipmentState.AWAITING_SHIPMENT)
    db.session.add(shipment)
    db.session.flush()
    db.session.add(ShipmentUnit(shipment_id=shipment.id, product_id=product.id, serial_number=serial_number(product),
                                replaces_device_id=replaces_device_id))
    record(actor, "shipment.created", shipment, shipment.organization_id, number=shipment.number,
           location=location.name, units=1, replaces_device_id=replaces_device_id)
    return shipment


# ---------------------------------------------------------------- lists


OPEN_STATES = (ShipmentState.AWAITING_SHIPMENT, ShipmentState.SHIPPED)
_RANK = case({ShipmentState.AWAITING_SHIPMENT.value: 0, ShipmentState.SHIPPED.value: 1,
              ShipmentState.DELIVERED.value: 2}, value=Shipment.state, else_=3)


def _units():
    return (select(func.count(ShipmentUnit.id)).where(ShipmentUnit.shipment_id == Shipment.id)
            .correlate(Shipment).scalar_subquery().label("units"))


def staff_queue(states: tuple[ShipmentState, ...]) -> Select:
    """Rows (shipment, order number, units) of every chain in `states`: awaiting shipment first (oldest first,
    the order they are packed in), then shipped, delivered, cancelled."""
    stmt = (select(Shipment, Order.number, _units()).outerjoin(Order, Order.id == Shipment.order_id)
            .options(joinedload(Shipment.organization)))
    if states:
        stmt = stmt.where(Shipment.state.in_(states))
    return stmt.order_by(_RANK, Shipment.created_at, Shipment.id)


def chain_shipments(user: User, org: Organization, state: ShipmentState | None, with_orders: bool) -> Select:
    """Rows (shipment, order number, order's organization id, units), newest first, of the shipments to the
    locations of `org` and its sub-chains the user may see (devices and locations), and, `with_orders`, of those
    `org` ordered (a reseller's order for a customer's location)."""
    visible = scoped(select(Organization.id).where(Organization.id.in_(chain_ids(org.id))), Organization.id, user,
                     Permission.VIEW_DEVICES)
    reach = Shipment.organization_id.in_(visible)
    if with_orders:
        reach = or_(reach, Order.organization_id == org.id)
    stmt = (select(Shipment, Order.number, Order.organization_id, _units())
            .outerjoin(Order, Order.id == Shipment.order_id).where(reach)
            .options(joinedload(Shipment.organization)))
    if state is not None:
        stmt = stmt.where(Shipment.state == state)
    return stmt.order_by(Shipment.created_at.desc(), Shipment.id.desc())


def order_shipments(order_id: int) -> list[Shipment]:
    """An order's shipments, in the order they were made."""
    return list(db.session.scalars(select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id)))
