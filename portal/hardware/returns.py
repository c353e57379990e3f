"""Returns under RMA: a manager or installer asks to return a device (one open request per device); staff approve
it, which ships a replacement (shipping.create_replacement: no order, no charge), or refuse it with a note. The
vendor's support address is told of each request; the chain's managers of each decision. Flushes, never commits."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductKind
from portal.db_types import utcnow
from portal.devices.models import Device, Location
from portal.devices.services import replacement_of
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware.models import ReturnRequest, ReturnState, Shipment, ShipmentState, ShipmentUnit
from portal.hardware.shipping import clean_text, create_replacement
from portal.outbox.services import enqueue_email, external_url
from portal.seller.details import support_address

REASON_MAX = 2000
NOTE_MAX = 2000


def open_request(device_id: int) -> ReturnRequest | None:
    """The device's return request awaiting staff's decision, if any."""
    return db.session.scalars(select(ReturnRequest).where(ReturnRequest.device_id == device_id,
                                                          ReturnRequest.state == ReturnState.REQUESTED)).first()


def request_return(device: Device, reason: str, actor: Actor) -> ReturnRequest:
    """Ask the vendor to take `device` back under RMA, for `reason`; the vendor's support address is emailed."""
    reason = clean_text(reason, "reason", "reason", REASON_MAX, multiline=True)
    # Lock the device's row (PostgreSQL): of two requests at once, the later one waits and then finds the first.
    db.session.execute(select(Device.id).where(Device.id == device.id).with_for_update())
    if open_request(device.id) is not None:
        raise RuleError(f"{device.name} already has a return request waiting for the vendor's decision.",
                        field="reason")
    if (replacement := replacement_of(device)) is not None:
        raise RuleError(f"{device.name} was already replaced by {replacement.name} under RMA.", field="reason")
    if replacement_on_its_way(device.id):
        raise RuleError(f"A replacement of {device.name} is on its way: install it in its place once delivered.",
                        field="reason")
    request = ReturnRequest(device_id=device.id, organization_id=device.organization_id,
                            requested_by_id=actor.user_id, reason=reason, state=ReturnState.REQUESTED)
    db.session.add(request)
    db.session.flush()
    record(actor, "return.requested", request, request.organization_id, device=device.name,
           serial_number=device.serial_number or None, reason=reason)
    organization = db.session.get(Organization, device.organization_id)
    enqueue_email(support_address(), "return_requested", request=request, device=device, organization=organization,
                  link=external_url("hardware.admin_shipments"))
    return request


def replacement_on_its_way(device_id: int) -> bool:
    """Whether an approved return of the device ships a replacement not installed yet (nor cancelled)."""
    return db.session.scalar(
        select(ShipmentUnit.id).join(Shipment, Shipment.id == ShipmentUnit.shipment_id)
        .where(ShipmentUnit.replaces_device_id == device_id, ShipmentUnit.device_id.is_(None),
               Shipment.state != ShipmentState.CANCELLED).limit(1)) is not None


def original_product_id(device: Device) -> int | None:
    """The hardware product the device was shipped as, when it came from a shipment."""
    return db.session.scalar(select(ShipmentUnit.product_id).where(ShipmentUnit.device_id == device.id))


def _decide(request: ReturnRequest, state: ReturnState, note: str, actor: Actor) -> None:
    # Lock the request's row and read its state again (PostgreSQL): a request is decided once.
    db.session.execute(select(ReturnRequest.id).where(ReturnRequest.id == request.id).with_for_update())
    db.session.refresh(request, ["state"])
    if request.state is not ReturnState.REQUESTED:
        raise RuleError(f"This return request was already {request.state.label.lower()}.")
    request.state, request.decision_note = state, note
    request.decided_by_id, request.decided_at = actor.user_id, utcnow()


def approve(request: ReturnRequest, product: Product | None, actor: Actor) -> Shipment:
    """Staff: approve the return; a replacement unit of `product` (by default what the device shipped as) ships
    to the device's location at no charge, and the chain's managers are emailed."""
    device = db.session.get(Device, request.device_id)
    if product is None:
        product_id = original_product_id(device)
        product = db.session.get(Product, product_id) if product_id else None
    if product is None or product.kind is not ProductKind.HARDWARE:
        raise RuleError("Choose the hardware product to ship as the replacement.", field="product_id")
    _decide(request, ReturnState.APPROVED, "", actor)
    location = db.session.get(Location, device.location_id)
    shipment = create_replacement(location, product, device.id, actor)
    request.replacement_shipment_id = shipment.id
    db.session.flush()
    record(actor, "return.approved", request, request.organization_id, device=device.name,
           shipment=shipment.number, product=product.name)
    _notify(request, device, "return_approved", shipment=shipment, product=product)
    return shipment


def refuse(request: ReturnRequest, note: str, actor: Actor) -> ReturnRequest:
    """Staff: refuse the return with a note the chain's managers read."""
    note = clean_text(note, "note", "note", NOTE_MAX, multiline=True)
    _decide(request, ReturnState.REFUSED, note, actor)
    db.session.flush()
    device = db.session.get(Device, request.device_id)
    record(actor, "return.refused", request, request.organization_id, device=device.name, note=note)
    _notify(request, device, "return_refused")
    return request


def _notify(request: ReturnRequest, device: Device, template: str, **context) -> None:
    """The managers of the device's organization and, for a sub-chain, of its main chain (one email each)."""
    organization = db.session.get(Organization, device.organization_id)
    orgs = [organization] + ([db.session.get(Organization, organization.parent_id)] if organization.parent_id else [])
    for org in orgs:
        if emails := managers_emails(org):
            enqueue_email(emails, template, request=request, device=device, organization=organization,
                          link=external_url("devices.device", device_id=device.id), **context)


def staff_requests() -> Select:
    """Return requests awaiting a decision, oldest first, with their device, location and organization."""
    return (select(ReturnRequest).where(ReturnRequest.state == ReturnState.REQUESTED)
            .options(joinedload(ReturnRequest.device).joinedload(Device.location).joinedload(Location.organization),
                     joinedload(ReturnRequest.requested_by))
            .order_by(ReturnRequest.created_at, ReturnRequest.id))


def original_products(device_ids: list[int]) -> dict[int, int]:
    """Device id -> the hardware product it shipped as, for the devices that came from a shipment."""
    if not device_ids:
        return {}
    return dict(db.session.execute(select(ShipmentUnit.device_id, ShipmentUnit.product_id)
                                   .where(ShipmentUnit.device_id.in_(device_ids))).all())


def hardware_products() -> list[tuple[int, str]]:
    """(id, name) of the active hardware products: what staff may ship as a replacement."""
    return [tuple(row) for row in db.session.execute(
        select(Product.id, Product.name).where(Product.kind == ProductKind.HARDWARE, Product.active.is_(True))
        .order_by(Product.position, Product.name))]
