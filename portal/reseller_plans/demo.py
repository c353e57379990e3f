"""Demo storefront (also in the tests' demo): Northwind IT is on Standard with the alias `northwind`, its plan
renewing within the coming weeks, a default markup of 25 %, a special price on LiveDesk Professional (per agent)
and one for Contoso Retail on MailSuite Professional (per mailbox); its tax and registration numbers make its
invoices valid. Litware Solutions stays on Basic (/s/litware is not a storefront).

Made once: when Northwind has a storefront (or had one purged and a plan again), nothing is touched, so what alice
changes stays changed."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.catalog.models import Edition, Product
from portal.db_types import utcnow
from portal.extensions import db
from portal.reseller_plans.plans import STANDARD, storefront_of
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import add_months

ALIAS = "northwind"
DEFAULT_MARKUP_BP = 2500
RENEWS_IN_DAYS = 12
# (product slug, edition, customer name or None, special price per unit per period in minor units)
SPECIAL_PRICES = (
    ("livedesk", "Professional", None, 16900),  # list 149.00 per agent; 25 % over would be 186.25
    ("mailsuite", "Professional", "Contoso Retail", 450),  # list 4.00 per mailbox; Contoso's negotiated price
)


def seed_storefronts(orgs: dict[str, Organization], today: date | None = None) -> None:
    """Put Northwind on Standard with its storefront, if it has none."""
    today = today or utcnow().date()
    northwind = orgs.get("Northwind IT")
    standard = db.session.scalars(select(Product).where(Product.slug == STANDARD)).first()
    if northwind is None or standard is None or storefront_of(northwind.id) is not None:
        return
    plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == northwind.id,
                                                         Subscription.product_id == standard.id)).first()
    if plan is None:
        next_payment_on = today + timedelta(days=RENEWS_IN_DAYS)
        started = add_months(next_payment_on, -1)
        db.session.add(Subscription(organization_id=northwind.id, product_id=standard.id, quantity=1,
                                    started_on=started, anchor_day=next_payment_on.day,
                                    next_payment_on=next_payment_on))
    storefront = Storefront(
        organization_id=northwind.id, alias=ALIAS, display_name="Northwind IT", accent_colour="#0b7a75",
        contact_email="store@northwind.example.com", contact_phone=northwind.phone,
        contact_address="\n".join(northwind.billing_address), tax_id="US91-1234567",
        registration_id="WA UBI 603 123 456", default_markup_bp=DEFAULT_MARKUP_BP,
        notify_emails=["store@northwind.example.com"], opened_on=today - timedelta(days=40))
    db.session.add(storefront)
    db.session.flush()
    for slug, edition_name, customer, special in SPECIAL_PRICES:
        edition = db.session.scalars(select(Edition).join(Product).where(Product.slug == slug,
                                                                         Edition.name == edition_name)).first()
        customer_org = orgs.get(customer) if customer else None
        if edition is None or (customer and customer_org is None):
            continue
        db.session.add(StorefrontPrice(storefront_id=storefront.id, product_id=edition.product_id,
                                       edition_id=edition.id, customer_id=customer_org.id if customer_org else None,
                                       special_minor=special))
    db.session.flush()
