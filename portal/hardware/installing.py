"""From box to device: the units delivered to a location and not installed yet, installing one (it becomes a device
of the location and counts towards the plans from then on), and what installing them all will need.

Installing goes through devices.services.add_device, so a new device emails the managers as any device added does,
and an RMA replacement (`ShipmentUnit.replaces_device_id`) takes the returned device's place without an email and
without counting twice. Services flush, never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from portal.accounts.models import User
from portal.audit.services import Actor, record
from portal.authz import Permission, chain_ids, scoped
from portal.catalog.models import Product, SubscriptionBasis
from portal.db_types import utcnow
from portal.devices.models import Device, Location
from portal.devices.services import AddedDevice, add_device
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware.models import Shipment, ShipmentState, ShipmentUnit
from portal.subscriptions.overview import PlanGroup
from portal.subscriptions.services import is_running
from portal.subscriptions.usage import location_subscriptions_needed

LISTED_MAX = 100  # units listed on a page; past it, the page says that more wait


# ---------------------------------------------------------------- what waits to be installed


def _waiting(user: User) -> Select:
    """Units of delivered shipments not installed yet, at locations the user may see, with their shipment,
    location and product loaded."""
    return scoped(
        select(ShipmentUnit)
        .join(Shipment, Shipment.id == ShipmentUnit.shipment_id)
        .join(Location, Location.id == Shipment.location_id)
        .join(Product, Product.id == ShipmentUnit.product_id)
        .where(Shipment.state == ShipmentState.DELIVERED, ShipmentUnit.device_id.is_(None))
        .options(contains_eager(ShipmentUnit.shipment).contains_eager(Shipment.location)
                 .joinedload(Location.organization), contains_eager(ShipmentUnit.product)),
        Shipment.organization_id, user, Permission.VIEW_DEVICES)


@dataclass(frozen=True)
class Waiting:
    """Delivered units not installed yet: the first LISTED_MAX of them, and whether more wait (one statement
    whatever their number)."""

    units: list[ShipmentUnit]
    more: bool


def _listed(stmt: Select) -> Waiting:
    units = list(db.session.scalars(
        stmt.order_by(Location.name, Shipment.delivered_at, ShipmentUnit.id).limit(LISTED_MAX + 1)).unique())
    return Waiting(units[:LISTED_MAX], len(units) > LISTED_MAX)


def waiting_at(user: User, location: Location) -> Waiting:
    """The units delivered to one location and not installed yet."""
    return _listed(_waiting(user).where(Shipment.location_id == location.id))


def waiting_in_chain(user: User, org_id: int, location_id: int | None = None) -> Waiting:
    """The units delivered to the chain's locations (or to one of them) and not installed yet."""
    stmt = _waiting(user).where(Shipment.organization_id.in_(chain_ids(org_id)))
    if location_id is not None:
        stmt = stmt.where(Shipment.location_id == location_id)
    return _listed(stmt)


def unit_to_install(user: User, unit_id: int) -> ShipmentUnit | None:
    """A unit the user may see, whatever its state, with its shipment, location and product (None: not theirs)."""
    stmt = scoped(
        select(ShipmentUnit)
        .join(Shipment, Shipment.id == ShipmentUnit.shipment_id)
        .join(Location, Location.id == Shipment.location_id)
        .join(Product, Product.id == ShipmentUnit.product_id)
        .where(ShipmentUnit.id == unit_id)
        .options(contains_eager(ShipmentUnit.shipment).contains_eager(Shipment.location)
                 .joinedload(Location.organization), contains_eager(ShipmentUnit.product)),
        Shipment.organization_id, user, Permission.VIEW_DEVICES)
    return db.session.scalars(stmt).first()


# ---------------------------------------------------------------- installing


def default_device_name(unit: ShipmentUnit) -> str:
    """The name the install form offers: the product's name and the unit's serial number."""
    return f"{unit.product.name} {unit.serial_number}"


def why_not_installable(unit: ShipmentUnit) -> str | None:
    """Why the unit cannot be installed now (None: it can)."""
    if unit.device_id is not None:
        return f"Unit {unit.serial_number} is already installed."
    if unit.shipment.state is not ShipmentState.DELIVERED:
        return (f"Unit {unit.serial_number} has not been delivered yet (shipment {unit.shipment.number} is "
                f"{unit.shipment.state.label.lower()}): it is installed once it arrives.")
    return None


def install_unit(unit: ShipmentUnit, name: str, actor: Actor) -> AddedDevice:
    """Install a delivered unit at its shipment's location: it becomes a device there with its serial number and
    counts towards the plans if its product becomes a counting device. A new device emails the managers as any
    device added does; an RMA replacement takes the returned device's place (no email, never counted twice)."""
    # Lock the unit's row (PostgreSQL) and read it again: of two installs of one unit at once, the later one waits
    # and then finds it installed.
    unit = db.session.scalars(
        select(ShipmentUnit).where(ShipmentUnit.id == unit.id)
        .options(joinedload(ShipmentUnit.shipment, innerjoin=True).joinedload(Shipment.location, innerjoin=True)
                 .joinedload(Location.organization, innerjoin=True),
                 joinedload(ShipmentUnit.product, innerjoin=True))
        .with_for_update(of=ShipmentUnit).execution_options(populate_existing=True)).one()
    if (reason := why_not_installable(unit)) is not None:
        raise RuleError(reason)
    location = unit.shipment.location
    replaces = db.session.get(Device, unit.replaces_device_id) if unit.replaces_device_id is not None else None
    added = add_device(location, name, unit.serial_number, unit.product.becomes_device, actor, replaces=replaces)
    unit.device_id, unit.installed_at, unit.installed_by_id = added.device.id, utcnow(), actor.user_id
    db.session.flush()
    record(actor, "shipment_unit.installed", unit, location.organization_id, serial_number=unit.serial_number,
           shipment=unit.shipment.number, device=added.device.name, device_id=added.device.id,
           location=location.name, replaces_id=replaces.id if replaces is not None else None)
    return added


# ---------------------------------------------------------------- what installing them will need


@dataclass(frozen=True)
class InstallNeed:
    """What installing the delivered units adds to one kind of plan: `extra` more units needed (before → after),
    of which `to_buy` are beyond what the plans cover and are not already short; `product` is the plan to buy
    more of (None: the chain has no running plan of this kind on sale)."""

    basis: SubscriptionBasis
    before: int
    after: int
    purchased: int | None
    product: Product | None

    @property
    def extra(self) -> int:
        return self.after - self.before

    @property
    def to_buy(self) -> int:
        if self.purchased is None:
            return 0
        return max(self.after - self.purchased, 0) - max(self.before - self.purchased, 0)


@dataclass(frozen=True)
class InstallPreview:
    """The delivered units that will count once installed, and what that needs of each kind of plan."""

    units: int  # units waiting to be installed that count (new devices and replacements)
    needs: list[InstallNeed]


def install_preview(main_chain_id: int, groups: list[PlanGroup],
                    needed: dict[SubscriptionBasis, int]) -> InstallPreview | None:
    """What installing every delivered, not yet installed unit of the chain will need of its device and location
    plans, by the rule of subscriptions/usage.py (None when nothing waits that would count). One statement, and a
    second when units wait, whatever their number."""
    replaced = aliased(Device)
    rows = db.session.execute(
        select(Shipment.location_id, replaced.location_id, replaced.counts, func.count(ShipmentUnit.id))
        .select_from(ShipmentUnit)
        .join(Shipment, Shipment.id == ShipmentUnit.shipment_id)
        .join(Product, Product.id == ShipmentUnit.product_id)
        .outerjoin(replaced, replaced.id == ShipmentUnit.replaces_device_id)
        .where(Shipment.state == ShipmentState.DELIVERED, ShipmentUnit.device_id.is_(None),
               Product.becomes_device.is_(True), Shipment.organization_id.in_(chain_ids(main_chain_id)))
        .group_by(Shipment.location_id, replaced.location_id, replaced.counts)
    ).all()
    if not rows:
        return None
    # Counting devices per location once every unit is installed: each unit adds one where it ships; a
    # replacement takes one away where the device it replaces is (that one stops counting).
    change: Counter[int] = Counter()
    for location_id, replaced_location_id, replaced_counts, units in rows:
        change[location_id] += units
        if replaced_location_id is not None and replaced_counts:
            change[replaced_location_id] -= units
    counting = dict(db.session.execute(
        select(Location.id, func.count(Device.id))
        .outerjoin(Device, (Device.location_id == Location.id) & Device.counts.is_(True))
        .where(Location.id.in_(list(change))).group_by(Location.id)).all())
    location_change = sum(location_subscriptions_needed(max(counting.get(loc, 0) + delta, 0))
                          - location_subscriptions_needed(counting.get(loc, 0)) for loc, delta in change.items())
    after = {SubscriptionBasis.DEVICE: needed[SubscriptionBasis.DEVICE] + sum(change.values()),
             SubscriptionBasis.LOCATION: needed[SubscriptionBasis.LOCATION] + location_change}
    by_basis = {group.basis: group for group in groups}
    needs = []
    for basis in (SubscriptionBasis.LOCATION, SubscriptionBasis.DEVICE):
        group = by_basis.get(basis)
        if group is None and not (groups == [] and after[basis] > needed[basis]):
            continue  # a chain on one kind of plan needs nothing of the other
        running = [plan for plan in group.plans if is_running(plan)] if group is not None else []
        on_sale = next((plan.product for plan in running if plan.product.active), None)
        needs.append(InstallNeed(basis, needed[basis], after[basis],
                                 group.usage.purchased if group is not None else None, on_sale))
    return InstallPreview(sum(row[3] for row in rows), needs)
