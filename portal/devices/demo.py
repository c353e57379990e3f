"""Demo locations and devices: Fabrikam Stores has two locations, one past the 4-device limit, and a location plan
of 2 where the rule asks for 3 (the yellow part of its usage bar); Contoso Retail, set up by Northwind, has one.
Created directly (no emails); idempotent: an organization that already has locations gets none added, and a
location plan that exists is left as it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import add_months


@dataclass(frozen=True)
class DemoLocation:
    organization: str
    name: str
    address: str
    devices: tuple[tuple[str, str], ...]  # (name, serial number)
    added_by: str  # the email of who installed them


LOCATIONS = (
    DemoLocation("Fabrikam Stores", "Downtown Denver", "48 Elm Avenue, Denver, CO 80202",
                 (("Denver till 1", "FAB-DEN-0001"), ("Denver till 2", "FAB-DEN-0002"),
                  ("Denver back office", "FAB-DEN-0003")), "erin@northwind.example.com"),
    DemoLocation("Fabrikam Stores", "Airport Kiosk", "Denver International Airport, Concourse B",
                 tuple((f"Airport kiosk {n}", f"FAB-DIA-{n:04d}") for n in range(1, 7)), "erin@northwind.example.com"),
    DemoLocation("Contoso Retail", "Portland Flagship", "12 Market Street, Portland, OR 97204",
                 (("Portland till 1", "CON-PDX-0001"), ("Portland till 2", "CON-PDX-0002")),
                 "alice@northwind.example.com"),
)
LOCATION_PLAN = "location-plan"
PLAN_QUANTITY = {"Fabrikam Stores": 2}  # fewer than the 1 + 2 its locations need


def seed_devices(orgs: dict[str, Organization]) -> None:
    """Create the demo locations and devices of each organization that has no location yet, and its plan."""
    seeded = set(db.session.scalars(select(Location.organization_id).distinct()))
    installers = {u.email: u.id for u in db.session.scalars(
        select(User).where(User.email.in_({spec.added_by for spec in LOCATIONS})))}
    now = utcnow()
    for spec in LOCATIONS:
        org = orgs[spec.organization]
        if org.id in seeded:
            continue
        location = Location(organization_id=org.id, name=spec.name, address=spec.address,
                            created_at=now - timedelta(days=90))
        db.session.add(location)
        db.session.flush()
        for age, (name, serial) in enumerate(spec.devices):
            db.session.add(Device(organization_id=org.id, location_id=location.id, name=name, serial_number=serial,
                                  added_by_id=installers.get(spec.added_by), created_at=now - timedelta(days=60 - age)))
    plan = db.session.scalars(select(Product).where(Product.slug == LOCATION_PLAN)).one()
    # Started nearly a year ago, so the annual plan renews within the coming weeks (issue 13's demo).
    started = (now - timedelta(days=349)).date()
    for name, quantity in PLAN_QUANTITY.items():
        org = orgs[name]
        exists = db.session.scalars(select(Subscription.id).where(Subscription.organization_id == org.id,
                                                                  Subscription.product_id == plan.id)).first()
        if exists is None:
            db.session.add(Subscription(organization_id=org.id, product_id=plan.id, quantity=quantity,
                                        started_on=started, next_payment_on=add_months(started, plan.interval.months)))
    db.session.flush()
