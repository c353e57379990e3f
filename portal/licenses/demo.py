"""Demo licenses: Northwind IT holds a few unassigned MailSuite and WebStats licenses, has assigned two to its
customer Contoso Retail (one active on an installation, its M&S renewing automatically; MailSuite bears a reseller
fee) and uses one itself; Litware Solutions holds one.
Created directly (not through orders) with fresh keys; idempotent: an organization that already has demo
licenses gets none added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.keys import generate_key
from portal.licenses.models import Activation, License


@dataclass(frozen=True)
class DemoLicense:
    owner: str
    customer: str | None  # None: unassigned; the owner's name: personal
    product: str  # slug
    edition: str
    quantity: int
    addons: tuple[str, ...] = ()
    active_on: str | None = None  # an installation it is activated on
    auto_renew: bool = False  # its M&S renews automatically (issue 13)


LICENSES = (
    DemoLicense("Northwind IT", None, "mailsuite", "Professional", 25),
    DemoLicense("Northwind IT", None, "mailsuite", "Professional", 50, ("antispam",)),
    DemoLicense("Northwind IT", None, "webstats", "Standard", 5),
    DemoLicense("Northwind IT", "Contoso Retail", "mailsuite", "Enterprise", 100, ("antispam", "activesync"),
                active_on="contoso-mail-01", auto_renew=True),
    DemoLicense("Northwind IT", "Contoso Retail", "webstats", "Enterprise", 10, ("data-export",)),
    DemoLicense("Northwind IT", "Northwind IT", "webstats", "Standard", 1),
    DemoLicense("Litware Solutions", None, "mailsuite", "Enterprise", 10),
)
ASSIGNED_BY = {"Northwind IT": "alice@northwind.example.com"}


def seed_licenses(orgs: dict[str, Organization]) -> None:
    """Create the demo licenses of each organization that has none from the demo yet."""
    products = {p.slug: p for p in db.session.scalars(
        select(Product).options(selectinload(Product.editions), selectinload(Product.addons)))}
    seeded = set(db.session.scalars(select(License.owner_id).where(License.order_line_id.is_(None)).distinct()))
    users = {u.email: u.id for u in db.session.scalars(select(User).where(User.email.in_(ASSIGNED_BY.values())))}
    now = utcnow()
    for spec in LICENSES:
        owner = orgs[spec.owner]
        if owner.id in seeded:
            continue
        product = products[spec.product]
        license_ = License(
            key=generate_key(), owner_id=owner.id, product_id=product.id,
            edition_id=next(e.id for e in product.editions if e.name == spec.edition), quantity=spec.quantity,
            ms_expires_on=(now + timedelta(days=300)).date(),
            addons=[a for a in product.addons if a.slug in spec.addons], auto_renew=spec.auto_renew,
        )
        if spec.customer:
            license_.customer_id = orgs[spec.customer].id
            # Before the end of the month before last, so both summaries of the demo carry LiveDesk's reseller fee.
            license_.assigned_at = now - timedelta(days=75)
            license_.assigned_by_id = users.get(ASSIGNED_BY.get(spec.owner, ""))
        db.session.add(license_)
        if spec.active_on:
            db.session.add(Activation(license=license_, installation_id=spec.active_on,
                                      activated_at=now - timedelta(days=74)))
    db.session.flush()
