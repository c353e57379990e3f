"""Locations and devices: add, rename, move and remove them; the lists their pages show (DOMAIN §5).

Services flush, never commit; the caller (a view or a CLI command) commits once. Every change writes an audit
entry in the same transaction. Adding a device, and every change to what the plans count (a device marked or
unmarked as a spare, moved, removed), also writes one email per Chain & User Manager of the main chain who did not
opt out of device notices (DOMAIN §5), saying what it does to the plans' usage. A replacement under RMA takes the
place of the device it replaces, which stops counting: the usage does not change and nobody is emailed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from portal.accounts.addresses import COUNTRY_CODES, refuse_po_box
from portal.accounts.models import Organization, User
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.authz import Permission, chain_ids, scoped, scoped_to
from portal.catalog.models import SubscriptionBasis
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.notifications.models import EmailCategory
from portal.outbox.services import enqueue_optional_email, external_url
from portal.seller.details import support_address
from portal.subscriptions.overview import chain_plans
from portal.subscriptions.services import is_running
from portal.subscriptions.usage import location_subscriptions_required, plan_usage
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType

NAME_MAX = Location.name.type.length
ADDRESS_MAX = Location.address.type.length
SERIAL_MAX = Device.serial_number.type.length
PER_PAGE = 50
REPLACEABLE_MAX = 200  # devices offered as "replacement of" on the add form; past it, choose a location first


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


@dataclass(frozen=True)
class StreetAddress:
    """Where hardware ships to a location (issue 20): all empty, or a street (no P.O. box), city, postal code and
    country (ISO 3166 alpha-2), the region where the country has them."""

    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""

    def checked(self) -> dict[str, str]:
        """The address's columns, trimmed and checked; RuleError beside the field that is wrong."""
        values = {name: _clean_text(getattr(self, name), name, label, STREET_LIMITS[name])
                  for name, label in STREET_LABELS.items()}
        values["country"] = values["country"].upper()
        if not any(values.values()):
            return values
        for name in ("street", "city", "postal_code", "country"):
            if not values[name]:
                raise RuleError(f"Give the {STREET_LABELS[name]} too, or leave the whole street address empty.",
                                field=name)
        refuse_po_box(values["street"], "street", "A shipping address")
        if values["country"] not in COUNTRY_CODES:
            raise RuleError("Give the country as its 2-letter ISO code, such as US or CA.", field="country")
        return values


STREET_LABELS = {"street": "street", "city": "city", "region": "state or region", "postal_code": "postal code",
                 "country": "country"}
STREET_LIMITS = {name: getattr(Location, name).type.length for name in STREET_LABELS}


def add_location(org: Organization, name: str, address: str, actor: Actor,
                 street: StreetAddress = StreetAddress()) -> Location:
    """Add a location (a store, a site) to an organization, where its devices are installed, with the street
    address hardware ships to if given."""
    name = _clean_name(name, "location")
    address = _clean_text(address, "address", "address", ADDRESS_MAX)
    shipping = street.checked()
    _check_unique(Location, org, name)
    location = Location(organization_id=org.id, name=name, address=address, **shipping)
    location.organization = org
    _flush_unique(location, org, name)
    record(actor, "location.added", location, org.id, name=name, address=address or None,
           **{key: value for key, value in shipping.items() if value})
    return location


def edit_location(location: Location, name: str, address: str, actor: Actor,
                  street: StreetAddress | None = None) -> None:
    """Rename a location or change its address (and, when given, its street address hardware ships to)."""
    org = location.organization
    name = _clean_name(name, "location")
    address = _clean_text(address, "address", "address", ADDRESS_MAX)
    values = {"name": name, "address": address, **(street.checked() if street is not None else {})}
    changes = {key: [getattr(location, key), value] for key, value in values.items()
               if getattr(location, key) != value}
    if not changes:
        return
    if "name" in changes:
        _check_unique(Location, org, name, exclude_id=location.id)
    for key, value in values.items():
        setattr(location, key, value)
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


@dataclass(frozen=True)
class Notified:
    """The main chain whose Chain & User Managers were told about a device change, and the addresses emailed."""

    main_chain: Organization
    notified: list[str]


@dataclass(frozen=True)
class AddedDevice(Notified):
    """A new device and the managers emailed about it (nobody for a replacement under RMA)."""

    device: Device
    replaces: Device | None = None


def _main_chain(org: Organization) -> Organization:
    return org if org.is_main_chain else db.session.get(Organization, org.main_chain_id)


def add_device(location: Location, name: str, serial_number: str, counts: bool, actor: Actor,
               replaces: Device | None = None) -> AddedDevice:
    """Add a device at a location; every Chain & User Manager of the main chain is emailed about it. A replacement
    under RMA (`replaces`) takes the replaced device's place: that one stops counting, and nobody is emailed."""
    org = location.organization
    main_chain = _main_chain(org)
    name = _clean_name(name, "device")
    serial_number = _clean_text(serial_number, "serial_number", "serial number", SERIAL_MAX)
    if replaces is not None:
        _check_replaceable(replaces, main_chain)
    _check_unique(Device, org, name)
    device = Device(organization_id=location.organization_id, location_id=location.id, name=name,
                    serial_number=serial_number, counts=bool(counts), added_by_id=actor.user_id,
                    replaces_id=replaces.id if replaces is not None else None)
    device.location = location
    _flush_unique(device, org, name)
    if replaces is not None:
        replaces.counts = False  # the replacement counts in its place: never both (DOMAIN §5)
        db.session.flush()
        record(actor, "device.replaced", device, org.id, name=name, location=location.name,
               serial_number=serial_number or None, counts=bool(counts), replaces=replaces.name,
               replaces_id=replaces.id, replaces_serial_number=replaces.serial_number or None)
        return AddedDevice(main_chain, [], device, replaces)
    record(actor, "device.added", device, org.id, name=name, location=location.name,
           serial_number=serial_number or None, counts=bool(counts))
    webhook_events.emit(EventType.DEVICE_ADDED, org.id, {
        "object": "device", "id": device.id, "organization_id": org.id, "location_id": location.id,
        "name": name, "serial_number": serial_number or None, "counts": bool(counts)})
    link = external_url("devices.device", device_id=device.id)
    notified = _notify_managers("device_added", main_chain, actor, device=device, location=location,
                                organization=org, link=link)
    return AddedDevice(main_chain, notified, device)


def replacement_of(device: Device) -> Device | None:
    """The device that replaced this one under RMA, if any."""
    return db.session.scalars(select(Device).where(Device.replaces_id == device.id)).first()


def _check_replaceable(replaced: Device, main_chain: Organization) -> None:
    """A device is replaced under RMA once, while it counts, by a device of its own chain."""
    # Lock the replaced device's row (PostgreSQL): of two replacements of it at once, the later one waits and
    # then finds the first.
    db.session.execute(select(Device.id).where(Device.id == replaced.id).with_for_update())
    if db.session.get(Organization, replaced.organization_id).main_chain_id != main_chain.id:
        raise RuleError(f"{replaced.name} belongs to another chain: a replacement is added where the device it "
                        "replaces is.", field="replaces_id")
    if (replacement := replacement_of(replaced)) is not None:
        raise RuleError(f"{replaced.name} was already replaced by {replacement.name} under RMA; a device is "
                        "replaced once.", field="replaces_id")
    db.session.refresh(replaced, ["counts"])
    if not replaced.counts:
        raise RuleError(f"{replaced.name} is a spare and does not count: only a counting device is replaced under "
                        "RMA. Add the new device as a device of its own.", field="replaces_id")


def _notify_managers(template: str, main_chain: Organization, actor: Actor, **context) -> list[str]:
    """Email each Chain & User Manager of the main chain about a device (the addresses emailed)."""
    by = db.session.get(User, actor.user_id) if actor.user_id else None
    # One email per manager (each is a notice to that person, with their own unsubscribe link), to those who did
    # not opt out of device notices.
    messages = enqueue_optional_email(managers_emails(main_chain), template, EmailCategory.DEVICE_NOTICES,
                                      main_chain=main_chain, by=by, support=support_address(),
                                      subscriptions_link=external_url("subscriptions.index"), **context)
    return [message.to_addrs[0] for message in messages]


@dataclass(frozen=True)
class UsageLine:
    """What one kind of plan counts before and after a change, and what the chain's plans of that kind cover."""

    what: str  # "Devices counted"
    before: int
    after: int
    covered: int | None  # None: the chain has no plan of this kind
    plans: str  # "your Device Protection plan", "your plans (Device Protection, Device Protection Annual)"

    def __str__(self) -> str:
        change = f"{self.before} -> {self.after}" if self.before != self.after else f"{self.after} (unchanged)"
        if self.covered is None:
            return f"{self.what}: {change}; you have no plan of this kind"
        verb = "cover" if self.plans.startswith("your plans") else "covers"
        short = f", {self.after - self.covered} more than it covers" if self.after > self.covered else ""
        return f"{self.what}: {change}; {self.plans} {verb} {self.covered}{short}"


USAGE_LABELS = {SubscriptionBasis.DEVICE: "Devices counted",
                SubscriptionBasis.LOCATION: "Location subscriptions needed"}


def _usage_lines(main_chain: Organization, before: dict[SubscriptionBasis, int]) -> list[UsageLine]:
    """The usage of each kind of plan the chain has, or whose count the change moved, before and after it."""
    after = plan_usage(main_chain.id)
    plans = [p for p in chain_plans(main_chain.id) if is_running(p)]
    lines = []
    for basis in (SubscriptionBasis.DEVICE, SubscriptionBasis.LOCATION):
        of_basis = [p for p in plans if p.product.basis is basis]
        if not of_basis and before[basis] == after[basis]:
            continue
        names = [p.product.name for p in of_basis]
        if len(names) == 1:  # "your Device Protection plan", "your Location Plan"
            label = f"your {names[0]}" if names[0].lower().endswith("plan") else f"your {names[0]} plan"
        else:
            label = f"your plans ({', '.join(names)})"
        lines.append(UsageLine(USAGE_LABELS[basis], before[basis], after[basis],
                               sum(p.quantity for p in of_basis) if of_basis else None, label))
    return lines


def _notify_change(device: Device, change: str, main_chain: Organization, before: dict[SubscriptionBasis, int],
                   actor: Actor, link: str, **context) -> Notified:
    """Email the managers what changed about a device and what it does to the plans' usage."""
    notified = _notify_managers("device_changed", main_chain, actor, device=device, change=change,
                                usage=_usage_lines(main_chain, before), link=link, **context)
    return Notified(main_chain, notified)


def edit_device(device: Device, name: str, serial_number: str, counts: bool, actor: Actor) -> Notified | None:
    """Rename a device, correct its serial number, or say whether it counts towards the plan (a spare does not);
    marking or unmarking a spare emails the managers (None when nothing the plans count changed)."""
    org = device.location.organization
    name = _clean_name(name, "device")
    serial_number = _clean_text(serial_number, "serial_number", "serial number", SERIAL_MAX)
    wanted = (("name", name), ("serial_number", serial_number), ("counts", bool(counts)))
    changes = {key: [getattr(device, key), value] for key, value in wanted if getattr(device, key) != value}
    if not changes:
        return None
    if "counts" in changes and counts and (replacement := replacement_of(device)) is not None:
        raise RuleError(f"{device.name} was replaced by {replacement.name} under RMA: it no longer counts, so "
                        "that the plans never count both.", field="counts")
    if "name" in changes:
        _check_unique(Device, org, name, exclude_id=device.id)
    main_chain = _main_chain(org)
    before = plan_usage(main_chain.id) if "counts" in changes else None
    device.name, device.serial_number, device.counts = name, serial_number, bool(counts)
    _flush_unique(device, org, name)
    record(actor, "device.updated", device, device.organization_id, changes=changes)
    if before is None:
        return None
    change = "counted again" if counts else "marked as a spare"
    return _notify_change(device, change, main_chain, before, actor,
                          external_url("devices.device", device_id=device.id), location=device.location,
                          organization=org)


def move_device(device: Device, to: Location, actor: Actor) -> Notified:
    """Move a device to another location of the same organization; the managers are emailed (a location plan
    counts devices per location)."""
    if to.id == device.location_id:
        raise RuleError(f"{device.name} is already at {to.name}.", field="location_id")
    if to.organization_id != device.organization_id:
        raise RuleError(f"{to.name} belongs to another organization; choose one of "
                        f"{device.location.organization.name}'s locations.", field="location_id")
    org = device.location.organization
    main_chain = _main_chain(org)
    before_usage = plan_usage(main_chain.id)
    before = device.location
    device.location_id, device.location = to.id, to
    device.organization_id = to.organization_id  # kept equal to its location's (see models.py)
    db.session.flush()
    record(actor, "device.moved", device, device.organization_id, name=device.name, before=before.name,
           after=to.name)
    return _notify_change(device, f"moved from {before.name} to {to.name}", main_chain, before_usage, actor,
                          external_url("devices.device", device_id=device.id), location=to, organization=org,
                          moved_from=before)


def remove_device(device: Device, actor: Actor) -> Notified:
    """Remove a device; the managers are emailed. The plan quantity is not lowered here: a manager lowers it on
    Manage Subscriptions."""
    location, org = device.location, device.location.organization
    main_chain = _main_chain(org)
    before = plan_usage(main_chain.id)
    record(actor, "device.removed", device, device.organization_id, name=device.name,
           location=location.name, serial_number=device.serial_number or None)
    # A replacement keeps no link to a device that is gone (the audit entries keep the story).
    db.session.execute(update(Device).where(Device.replaces_id == device.id).values(replaces_id=None))
    db.session.delete(device)
    db.session.flush()
    return _notify_change(device, "removed", main_chain, before, actor,
                          external_url("devices.location", location_id=location.id), location=location,
                          organization=org)


def replaceable_devices(user: User, org: Organization, location_id: int | None) -> list[tuple[int, str]] | None:
    """(id, label) of the counting devices of the chain (or at one location) the user may replace under RMA,
    by location and name; None when the chain has more than REPLACEABLE_MAX (choose a location first)."""
    stmt = scoped_to(
        org, select(Device.id, Device.name, Location.name).join(Location, Location.id == Device.location_id)
        .where(Device.organization_id.in_(chain_ids(org.id)), Device.counts.is_(True)),
        Device.organization_id, user, Permission.MANAGE_DEVICES)
    if location_id is not None:
        stmt = stmt.where(Device.location_id == location_id)
    rows = db.session.execute(stmt.order_by(Location.name, Device.name, Device.id).limit(REPLACEABLE_MAX + 1)).all()
    if len(rows) > REPLACEABLE_MAX:
        return None
    return [(device_id, f"{name} ({place})") for device_id, name, place in rows]


def device_to_replace(user: User, org: Organization, device_id: int) -> Device:
    """A device of the working chain the user may manage, named as "replacement of"; anything else is refused
    beside the field with the same words, whether it exists or not."""
    device = db.session.scalars(scoped_to(
        org, select(Device).where(Device.id == device_id, Device.organization_id.in_(chain_ids(org.id))),
        Device.organization_id, user, Permission.MANAGE_DEVICES)).first()
    if device is None:
        raise RuleError("Choose one of the listed devices.", field="replaces_id")
    return device


# ---------------------------------------------------------------- what the pages list


# The organizations a location field offers at most: a reseller with thousands of customers (sub-chains) finds
# the one by name instead of scrolling a select of them all.
ORGANIZATIONS_MAX = 50
MATCHES_MAX = 20


def _chain_organizations(user: User, org: Organization, permission: Permission) -> Select:
    """The chain's organizations (as chain_ids names them: the organization and its sub-chains, through the primary
    key and ix_organization_parent_id), the working one first, then by name."""
    in_chain = or_(Organization.id == org.id, Organization.parent_id == org.id)
    return scoped_to(org, select(Organization).where(in_chain), Organization.id, user, permission).order_by(
        Organization.parent_id.is_not(None), Organization.name, Organization.id)


def organizations_for(user: User, org: Organization, permission: Permission) -> list[Organization] | None:
    """The organizations of the chain on which the user holds `permission`, the working one first; None when the
    chain has more than ORGANIZATIONS_MAX (find_organizations then offers a search). One statement: the chain is
    counted up to that limit (an uncorrelated subquery, read once) before anything is sorted, and a big one returns
    no row (the working organization is always in its own chain)."""
    counted = select(func.count()).select_from(chain_ids(org.id).limit(ORGANIZATIONS_MAX + 1).subquery())
    small = counted.scalar_subquery() <= ORGANIZATIONS_MAX
    return list(db.session.scalars(_chain_organizations(user, org, permission).where(small))) or None


def find_organizations(user: User, org: Organization, permission: Permission, search: str,
                       chosen_id: int | None = None) -> list[Organization]:
    """A big chain's organizations to choose from: the working one, the one already chosen (a posted id, if the
    user may use it) and at most MATCHES_MAX whose name contains `search`."""
    base = _chain_organizations(user, org, permission)
    wanted = [org.id] + ([chosen_id] if chosen_id else [])
    kept = list(db.session.scalars(base.where(Organization.id.in_(wanted))))
    matches = list(db.session.scalars(
        base.where(Organization.name.icontains(search, autoescape=True), Organization.id.not_in(wanted))
        .limit(MATCHES_MAX))) if search else []
    return kept + matches


def locations_for(user: User, org: Organization, permission: Permission,
                  with_sub_chains: bool = True) -> list[tuple[int, str, str]]:
    """(id, name, organization name) of the locations of the chain (or of `org` alone) on which the user holds
    `permission`: the choices of the location fields."""
    owners = chain_ids(org.id) if with_sub_chains else [org.id]
    stmt = scoped_to(
        org, select(Location.id, Location.name, Organization.name)
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
    """Rows (location, devices, counting devices) of the chain's locations, by organization and name; with a
    search, those whose name, city or postal code contains it. Each row's devices are counted on their own
    (ix_device_location_id), for the page's rows only, instead of grouping every device of the chain."""
    at_location = (Device.location_id == Location.id,)
    total = (select(func.count(Device.id)).where(*at_location).correlate(Location).scalar_subquery()
             .label("devices"))
    counting = (select(func.count(Device.id)).where(*at_location, Device.counts.is_(True)).correlate(Location)
                .scalar_subquery().label("counting"))
    stmt = scoped_to(
        org, select(Location, total, counting)
        .join(Organization, Organization.id == Location.organization_id)
        .where(Location.organization_id.in_(chain_ids(org.id)))
        .options(contains_eager(Location.organization)),
        Location.organization_id, user, Permission.VIEW_DEVICES)
    if search:  # as the location picker finds them (picker.py): by name, city or postal code
        stmt = stmt.where(or_(Location.name.icontains(search, autoescape=True),
                              Location.city.icontains(search, autoescape=True),
                              Location.postal_code.icontains(search, autoescape=True)))
    return stmt.order_by(Organization.parent_id.is_not(None), Organization.name, Location.name, Location.id)


def subscriptions_needed(user: User, org: Organization) -> int:
    """Location subscriptions the chain's locations need by the rule (DOMAIN §5), summed over all of them."""
    return location_subscriptions_required(
        scoped_to(org, chain_ids(org.id), Organization.id, user, Permission.VIEW_DEVICES))


def location_devices(user: User, location: Location) -> Select:
    """The devices at one location, by name."""
    return _devices(user).where(Device.location_id == location.id).order_by(Device.name, Device.id)


def chain_devices(user: User, org: Organization, location_id: int | None = None, search: str = "") -> Select:
    """The chain's devices, optionally at one location and matching a name or serial number."""
    stmt = _devices(user, org).where(Device.organization_id.in_(chain_ids(org.id)))
    if location_id is not None:
        stmt = stmt.where(Device.location_id == location_id)
    if search:
        stmt = stmt.where(or_(Device.name.icontains(search, autoescape=True),
                              Device.serial_number.icontains(search, autoescape=True)))
    return stmt.join(Location, Location.id == Device.location_id).order_by(Location.name, Device.name, Device.id)


def _devices(user: User, org: Organization | None = None) -> Select:
    """Devices with what their rows show, as far as `user` may view them (in `org`'s chain, when the caller limits
    the query to it: authz.scoped_to)."""
    stmt = select(Device).options(joinedload(Device.location).joinedload(Location.organization),
                                  joinedload(Device.added_by))
    if org is not None:
        return scoped_to(org, stmt, Device.organization_id, user, Permission.VIEW_DEVICES)
    return scoped(stmt, Device.organization_id, user, Permission.VIEW_DEVICES)
