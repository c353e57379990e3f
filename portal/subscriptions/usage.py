"""How much of each plan a main chain uses (DOMAIN §5): the rule, and the queries that count it.

Devices and locations of the main chain and of its sub-chains count towards the main chain's plans, since only
a main chain is billed (DOMAIN §2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, case, func, select

from portal.authz import chain_ids
from portal.catalog.models import SubscriptionBasis
from portal.devices.models import Device, Location
from portal.extensions import db

DEVICES_PER_LOCATION_SUBSCRIPTION = 4


def location_subscriptions_needed(counting_devices: int) -> int:
    """One location subscription per 4 counting devices or part of 4, and at least one per location."""
    if counting_devices < 0:
        raise ValueError("a location cannot have fewer than no devices")
    return max(1, -(-counting_devices // DEVICES_PER_LOCATION_SUBSCRIPTION))


def required_location_quantity(devices_per_location: Iterable[int]) -> int:
    """Required = Σ over locations of max(1, ⌈devices/4⌉)."""
    return sum(location_subscriptions_needed(count) for count in devices_per_location)


@dataclass(frozen=True)
class Usage:
    """What a plan needs against what was bought: `used` may exceed `purchased` (the yellow part of the bar)."""

    purchased: int
    used: int

    @property
    def within(self) -> int:
        return min(self.used, self.purchased)

    @property
    def available(self) -> int:
        return max(self.purchased - self.used, 0)

    @property
    def over(self) -> int:
        return max(self.used - self.purchased, 0)


def plan_usage(main_chain_id: int) -> dict[SubscriptionBasis, int]:
    """Units each kind of plan needs for the chain: counting devices, and location subscriptions by the rule.
    Two statements whatever the number of locations and devices (the sums are done by the database)."""
    return _usage_of(chain_ids(main_chain_id))


def organization_usage(org_id: int) -> dict[SubscriptionBasis, int]:
    """Units each kind of plan needs for one organization's own devices and locations (not its sub-chains'):
    what an account transfer takes along from the reseller's plans."""
    return _usage_of([org_id])


def _usage_of(chain) -> dict[SubscriptionBasis, int]:
    devices = db.session.scalar(
        select(func.count(Device.id)).where(Device.organization_id.in_(chain), Device.counts.is_(True)))
    return {SubscriptionBasis.DEVICE: devices or 0, SubscriptionBasis.LOCATION: location_subscriptions_required(chain)}


def location_subscriptions_required(org_ids) -> int:
    """Σ max(1, ⌈counting devices / 4⌉) over the locations of `org_ids` (ids or a SELECT of them), summed by the
    database in one statement."""
    return int(db.session.scalar(location_subscriptions_required_select(org_ids)) or 0)


def location_subscriptions_required_select(org_ids) -> Select:
    """The SELECT of location_subscriptions_required, for a statement that asks it beside other counts (the home
    page's plan overrun)."""
    per_location = (
        select(func.count(Device.id).label("n"))
        .select_from(Location)
        .outerjoin(Device, (Device.location_id == Location.id) & Device.counts.is_(True))
        .where(Location.organization_id.in_(org_ids))
        .group_by(Location.id)
        .subquery()
    )
    # Floor division (`//` renders integer division on both databases): (n + 3) // 4 is ⌈n / 4⌉ for n >= 0.
    needed = case((per_location.c.n == 0, 1),
                  else_=(per_location.c.n + DEVICES_PER_LOCATION_SUBSCRIPTION - 1)
                  // DEVICES_PER_LOCATION_SUBSCRIPTION)
    return select(func.coalesce(func.sum(needed), 0))
