"""The demo data `flask seed-demo` writes: idempotent, so `make run` can run it every time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.models import BillingMode, Membership, Organization, PartnerTier, Role, User
from portal.accounts.passwords import hash_password
from portal.billing.demo import seed_invoices, seed_tax_rates
from portal.catalog.demo import seed_catalog
from portal.db_types import utcnow
from portal.devices.demo import seed_devices
from portal.extensions import db
from portal.hardware.demo import seed_hardware
from portal.licenses.demo import seed_licenses
from portal.partners.services import seed_partner_grant
from portal.recurring.demo import seed_renewals
from portal.reseller_plans.demo import seed_storefronts
from portal.signin.two_step import start_setup

DEMO_PASSWORD = "portal-demo-2026"  # noqa: S105 - published in the README on purpose
# Staff must sign in with two-step sign-in: the demo's staff user has this authenticator key (published too).
DEMO_TOTP_SECRET = "PORTALDEMOSTAFFKEYFORTWOSTEPSIGN"  # noqa: S105


@dataclass(frozen=True)
class DemoOrg:
    name: str
    parent: str | None
    billing_mode: BillingMode
    tier: PartnerTier
    address: tuple[str, str, str, str]  # street, city, region, postal code
    invoice_email: str
    phone: str
    tax_exempt: bool = False  # buys for resale (issue 5: no tax, category E)


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    memberships: tuple[tuple[str, Role], ...]
    is_staff: bool = False
    summary: str = ""


ORGS = (
    DemoOrg("Northwind IT", None, BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD,
            ("200 Harbor Way", "Seattle", "WA", "98101"), "billing@northwind.example.com", "+1 206 555 0100",
            tax_exempt=True),
    DemoOrg("Contoso Retail", "Northwind IT", BillingMode.PAY_ON_ORDER, PartnerTier.NONE,
            ("12 Market Street", "Portland", "OR", "97204"), "accounts@contoso.example.com", "+1 503 555 0142"),
    DemoOrg("Fabrikam Stores", None, BillingMode.PAY_ON_ORDER, PartnerTier.NONE,
            ("48 Elm Avenue", "Denver", "CO", "80202"), "ap@fabrikam.example.com", "+1 303 555 0175"),
    DemoOrg("Litware Solutions", None, BillingMode.PAY_ON_ORDER, PartnerTier.SILVER,
            ("9 Commerce Park", "Austin", "TX", "78701"), "finance@litware.example.com", "+1 512 555 0110",
            tax_exempt=True),
)

USERS = (
    DemoUser("ops@vendor.example.com", "Olivia Ops", (), is_staff=True, summary="vendor staff"),
    DemoUser("alice@northwind.example.com", "Alice Archer", (("Northwind IT", Role.MANAGER),),
             summary="Chain & User Manager of Northwind IT (reseller, invoiced monthly, Gold)"),
    DemoUser("bob@northwind.example.com", "Bob Baker", (("Northwind IT", Role.MEMBER),),
             summary="Master user of Northwind IT"),
    DemoUser("carol@contoso.example.com", "Carol Chen", (("Contoso Retail", Role.VIEWER),),
             summary="viewer of Contoso Retail, a sub-chain of Northwind IT (Scenario 1)"),
    DemoUser("dave@fabrikam.example.com", "Dave Diaz", (("Fabrikam Stores", Role.MANAGER),),
             summary="Chain & User Manager of Fabrikam Stores, an end customer's main chain (Scenario 2)"),
    DemoUser("erin@northwind.example.com", "Erin Evans", (("Northwind IT", Role.MEMBER),),
             summary="Master user of Northwind IT; exercises Northwind's Installation Partner grant on Fabrikam "
                     "Stores"),
    DemoUser("frank@litware.example.com", "Frank Fischer", (("Litware Solutions", Role.MANAGER),),
             summary="Chain & User Manager of Litware Solutions (reseller, pays on order)"),
)


# Scenario 2: Fabrikam (the paying customer) gave Northwind (the reseller) Installation Partner access; Northwind's
# managers chose erin to exercise it.
PARTNER_GRANTS = (("Fabrikam Stores", "Northwind IT", ("erin@northwind.example.com",)),)


def seed_partner_grants(orgs: dict[str, Organization]) -> None:
    """An active grant for each demo pair that has no open one, with its users assigned."""
    for customer, partner, emails in PARTNER_GRANTS:
        users = list(db.session.scalars(select(User).where(User.email.in_(emails))))
        seed_partner_grant(orgs[customer], orgs[partner], users)


def seed_demo(history: bool = False) -> dict[str, Organization]:
    """Create whatever of the demo is missing; never duplicates, never overwrites what users changed. `history`
    adds past orders and invoices (the CLI's demo; tests build the orders they need themselves)."""
    orgs: dict[str, Organization] = {
        o.name: o for o in db.session.scalars(select(Organization).where(Organization.name.in_([d.name for d in ORGS])))
    }
    for spec in ORGS:
        if spec.name in orgs:
            continue
        street, city, region, postal = spec.address
        org = Organization(
            name=spec.name, legal_name=f"{spec.name} LLC", parent=orgs.get(spec.parent) if spec.parent else None,
            billing_mode=spec.billing_mode, partner_tier=spec.tier, address_line1=street, city=city, region=region,
            postal_code=postal, country="US", invoice_email=spec.invoice_email, phone=spec.phone,
            tax_exempt=spec.tax_exempt,
        )
        db.session.add(org)
        orgs[spec.name] = org
    db.session.flush()

    password_hash = None
    for spec in USERS:
        user = db.session.scalars(select(User).where(User.email == spec.email)).first()
        if user is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            user = User(email=spec.email, full_name=spec.full_name, is_staff=spec.is_staff,
                        password_hash=password_hash)
            db.session.add(user)
            db.session.flush()
            if spec.is_staff:
                start_setup(user, DEMO_TOTP_SECRET).confirmed_at = utcnow()
        existing = set(db.session.scalars(
            select(Membership.organization_id).where(Membership.user_id == user.id)))
        for org_name, role in spec.memberships:
            if orgs[org_name].id not in existing:
                db.session.add(Membership(user_id=user.id, organization_id=orgs[org_name].id, role=role))
    db.session.flush()
    seed_partner_grants(orgs)
    seed_catalog()
    seed_licenses(orgs)
    seed_devices(orgs)
    seed_tax_rates()
    seed_storefronts(orgs)
    if history:
        seed_invoices()
        seed_hardware(orgs)  # orders of counters, shipped and delivered (issue 20)
        db.session.commit()  # the renewal run below commits as it goes, like any job
        seed_renewals()
    return orgs
