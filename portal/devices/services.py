"""Locations and devices: add, rename, move and remove them; the lists their pages show (DOMAIN §5).

Services flush, never commit; the caller (a view or a CLI command) commits once. Every change writes an audit
entry in the same transaction; adding a device also writes one email per Chain & User Manager of the main chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from portal.accounts.models import Organization, User
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.authz import Permission, chain_ids, scoped
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.notifications.models import EmailCategory
from portal.outbox.services import enqueue_optional_email, external_url
from portal.subscriptions.usage import location_subscriptions_required

NAME_MAX = Location.name.type.length
ADDRESS_MAX = Location.address.type.length
SERIAL_MAX = Device.serial_number.type.length
PER_PAGE = 50


# ---------------------------------------------------------------- checks


def _clean_name(raw: str | None, what: str) -> str:
    name = " ".join((raw or "").split())  # trimmed, and inner runs of spaces are one: names are compared as shown
    if not name:
        raise RuleError(f"Give the {what} a name.", field="name")
    if len(name) > NAME_MAX:
        raise RuleError(f"Keep the {what}'s name to {NAME_MAX} characters or fewer.", field="name")
    return name


def _clean_text(raw: str | None, field: str, label: str, limit: int) -> str:
    text = (raw or "").strip()
    if len(text) > limit:
        raise RuleError(f"Keep the {label} to {limit} characters or fewer.", field=field)
    return text


def _name_taken(model: type[Location] | type[Device], org_id: int, name: str, exclude_id: int | None) -> bool:
    # Case-insensitive: "Airport kiosk" beside "Airport Kiosk" would be two names for one place on every list.
    stmt = select(func.count()).select_from(model).where(model.organization_id == org_id,
                                                         func.lower(model.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return bool(db.session.scalar(stmt))


def _name_in_use(model: type[Location] | type[Device], org: Organization, name: str) -> RuleError:
    what = "location" if model is Location else "device"
    return RuleError(f"{org.name} already has a {what} called {name}. Choose another name.", field="name")


def _check_unique(model: type[Location] | type[Device], org: Organization, name: str,
                  exclude_id: int | None = None) -> None:
    if _name_taken(model, org.id, name, exclude_id):
        raise _name_in_use(model, org, name)


def _flush_unique(obj: Location | Device, org: Organization, name: str) -> None:
    """Flush now: of two requests giving the same name at once, the later one gets the message beside the field
    instead of an error page (the caller rolls back on a RuleError, as after any refusal)."""
    db.session.add(obj)
    try:
        db.session.flush()
    except IntegrityError as error:
        raise _name_in_use(type(obj), org, name) from error


# ---------------------------------------------------------------- locations


def add_location(org: Organization, name: str, address: str, actor: Actor) -> Location:
    """Add a location (a store, a site) to an organization, where its devices are installed."""
    name = _clean_name(name, "location")
    address = _clean_text(address, "address", "address", ADDRESS_MAX)
    _check_unique(Location, org, name)
    location = Location(organization_id=org.id, name=name, address=address)
    location.organization = org
    _flush_unique(location, org, name)
    record(actor, "location.added", location, org.id, name=name, address=address or None)
    return location


def edit_location(location: Location, name: str, address: str, actor: Actor) -> None:
    """Rename a location or change its address."""
    org = location.organization
    name = _clean_name(name, "location")
    address = _clean_text(address, "address", "address", ADDRESS_MAX)
    changes = {key: [getattr(location, key), value] for key, value in (("name", name), ("address", address))
               if getattr(location, key) != value}
    if not changes:
        return
    if "name" in changes:
        _check_unique(Location, org, name, exclude_id=location.id)
    location.name, location.address = name, address
    _flush_unique(location, org, name)
    record(actor, "location.updated", location, location.organization_id, changes=changes)


def device_counts(location: Location) -> tuple[int, int]:
    """How many devices are at the location, and how many of them count towards the location plan."""
    total, counting = _device_counts()
    row = db.session.execute(select(total, counting).where(Device.location_id == location.id)).one()
    return row.devices, row.counting


def remove_location(location: Location, actor: Actor) -> None:
    """Remove a location that has no devices left (its devices are moved or removed first)."""
    count, _ = device_counts(location)
    if count:
        noun = "device" if count == 1 else "devices"
        raise RuleError(f"{location.name} still has {count} {noun}. Move them to another location or remove them "
                        "first, then remove the location.")
    record(actor, "location.removed", location, location.organization_id, name=location.name)
    db.session.delete(location)
    db.session.flush()


# ---------------------------------------------------------------- devices


def support_address() -> str:
    """Where a manager reports a device nobody authorized: SUPPORT_EMAIL if set, else the portal's sender."""
    return current_app.config.get("SUPPORT_EMAIL") or parseaddr(current_app.config["MAIL_FROM"])[1]


@dataclass(frozen=True)
class AddedDevice:
    """A new device and the managers emailed about it."""

    device: Device
    main_chain: Organization
    notified: list[str]


def add_device(location: Location, name: str, serial_number: str, counts: bool, actor: Actor) -> AddedDevice:
    """Add a device at a location; every Chain & User Manager of the main chain is emailed about it."""
    org = location.organization
    name = _clean_name(name, "device")
    serial_number = _clean_text(serial_number, "serial_number", "serial number", SERIAL_MAX)
    _check_unique(Device, org, name)
    device = Device(organization_id=location.organization_id, location_id=location.id, name=name,
                    serial_number=serial_number, counts=bool(counts), added_by_id=actor.user_id)
    device.location = location
    _flush_unique(device, org, name)
    record(actor, "device.added", device, org.id, name=name, location=location.name,
           serial_number=serial_number or None, counts=bool(counts))
    main_chain = org if org.is_main_chain else db.session.get(Organization, org.main_chain_id)
    return AddedDevice(device, main_chain, _notify_managers(device, location, org, main_chain, actor))


def _notify_managers(device: Device, location: Location, org: Organization, main_chain: Organization,
                     actor: Actor) -> list[str]:
    adder = db.session.get(User, actor.user_id) if actor.user_id else None
    link = external_url("devices.device", device_id=device.id)
    # One email per manager (each is a notice to that person, with their own unsubscribe link), to those who did
    # not opt out of new-device notices.
    messages = enqueue_optional_email(managers_emails(main_chain), "device_added", EmailCategory.DEVICE_NOTICES,
                                      device=device, location=location, organization=org, main_chain=main_chain,
                                      adder=adder, support=support_address(), link=link)
    return [message.to_addrs[0] for message in messages]


def edit_device(device: Device, name: str, serial_number: str, counts: bool, actor: Actor) -> None:
    """Rename a device, correct its serial number, or say whether it counts towards the plan (a spare does not)."""
    org = device.location.organization
    name = _clean_name(name, "device")
    serial_number = _clean_text(serial_number, "serial_number", "serial number", SERIAL_MAX)
    wanted = (("name", name), ("serial_number", serial_number), ("counts", bool(counts)))
    changes = {key: [getattr(device, key), value] for key, value in wanted if getattr(device, key) != value}
    if not changes:
        return
    if "name" in changes:
        _check_unique(Device, org, name, exclude_id=device.id)
    device.name, device.serial_number, device.counts = name, serial_number, bool(counts)
    _flush_unique(device, org, name)
    record(actor, "device.updated", device, device.organization_id, changes=changes)


def move_device(device: Device, to: Location, actor: Actor) -> None:
    """Move a device to another location of the same organization."""
    if to.id == device.location_id:
        raise RuleError(f"{device.name} is already at {to.name}.", field="location_id")
    if to.organization_id != device.organization_id:
        raise RuleError(f"{to.name} belongs to another organization; choose one of "
                        f"{device.location.organization.name}'s locations.", field="location_id")
    before = device.location
    device.location_id, device.location = to.id, to
    device.organization_id = to.organization_id  # kept equal to its location's (see models.py)
    db.session.flush()
    record(actor, "device.moved", device, device.organization_id, name=device.name, before=before.name,
           after=to.name)


def remove_device(device: Device, actor: Actor) -> None:
    """Remove a device; the subscription quantity is not lowered here (billing changes go through the vendor)."""
    record(actor, "device.removed", device, device.organization_id, name=device.name,
           location=device.location.name, serial_number=device.serial_number or None)
    db.session.delete(device)
    db.session.flush()


# ---------------------------------------------------------------- what the pages list


def organizations_for(user: User, org: Organization, permission: Permission) -> list[Organization]:
    """The organizations of the chain on which the user holds `permission`, the working one first."""
    stmt = scoped(select(Organization).where(Organization.id.in_(chain_ids(org.id))), Organization.id, user, permission)
    return list(db.session.scalars(stmt.order_by(Organization.parent_id.is_not(None), Organization.name)))


def locations_for(user: User, org: Organization, permission: Permission,
                  with_sub_chains: bool = True) -> list[tuple[int, str, str]]:
    """(id, name, organization name) of the locations of the chain (or of `org` alone) on which the user holds
    `permission`: the choices of the location fields."""
    owners = chain_ids(org.id) if with_sub_chains else [org.id]
    stmt = scoped(
        select(Location.id, Location.name, Organization.name)
        .join(Organization, Organization.id == Location.organization_id)
        .where(Location.organization_id.in_(owners)),
        Location.organization_id, user, permission)
    return [tuple(row) for row in db.session.execute(
        stmt.order_by(Organization.parent_id.is_not(None), Organization.name, Location.name, Location.id))]


def _device_counts():
    total = func.count(Device.id)
    counting = func.count(Device.id).filter(Device.counts.is_(True))
    return total.label("devices"), counting.label("counting")


def locations_with_counts(user: User, org: Organization, search: str = "") -> Select:
    """Rows (location, devices, counting devices) of the chain's locations, by organization and name."""
    total, counting = _device_counts()
    stmt = scoped(
        select(Location, total, counting)
        .join(Organization, Organization.id == Location.organization_id)
        .outerjoin(Device, Device.location_id == Location.id)
        .where(Location.organization_id.in_(chain_ids(org.id)))
        .options(contains_eager(Location.organization)),
        Location.organization_id, user, Permission.VIEW_DEVICES)
    if search:
        stmt = stmt.where(Location.name.icontains(search, autoescape=True))
    return (stmt.group_by(Location.id, Organization.id)
            .order_by(Organization.parent_id.is_not(None), Organization.name, Location.name, Location.id))


def subscriptions_needed(user: User, org: Organization) -> int:
    """Location subscriptions the chain's locations need by the rule (DOMAIN §5), summed over all of them."""
    return location_subscriptions_required(
        scoped(chain_ids(org.id), Organization.id, user, Permission.VIEW_DEVICES))


def location_devices(user: User, location: Location) -> Select:
    """The devices at one location, by name."""
    return _devices(user).where(Device.location_id == location.id).order_by(Device.name, Device.id)


def chain_devices(user: User, org: Organization, location_id: int | None = None, search: str = "") -> Select:
    """The chain's devices, optionally at one location and matching a name or serial number."""
    stmt = _devices(user).where(Device.organization_id.in_(chain_ids(org.id)))
    if location_id is not None:
        stmt = stmt.where(Device.location_id == location_id)
    if search:
        stmt = stmt.where(or_(Device.name.icontains(search, autoescape=True),
                              Device.serial_number.icontains(search, autoescape=True)))
    return stmt.join(Location, Location.id == Device.location_id).order_by(Location.name, Device.name, Device.id)


def _devices(user: User) -> Select:
    return scoped(
        select(Device).options(joinedload(Device.location).joinedload(Location.organization),
                               joinedload(Device.added_by)),
        Device.organization_id, user, Permission.VIEW_DEVICES)
