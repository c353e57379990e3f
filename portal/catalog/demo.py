"""The demo catalog: three license products (two editions or more, two add-ons or more each), a device plan and a
location plan, the two reseller plans (Free, Standard), and the partner tiers' discounts. Idempotent: only what
is missing is created."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import PartnerTier
from portal.catalog.models import (
    AddOn,
    BillingInterval,
    Edition,
    Product,
    ProductKind,
    SubscriptionBasis,
    TierDiscount,
)
from portal.extensions import db

TIER_DISCOUNTS = {PartnerTier.SILVER: 1000, PartnerTier.GOLD: 2000, PartnerTier.PLATINUM: 3000}

LICENSES = [
    # slug, name, unit, quantities, summary, editions (name, base, per unit), add-ons (slug, name, price)
    ("mailsuite", "MailSuite Mail Server", "mailboxes", [10, 25, 50, 100, 250, 500],
     "Secure business email, calendars and contacts on your own server.",
     [("Free", 0, 0), ("Professional", 0, 400), ("Enterprise", 0, 700)],
     [("antispam", "Advanced Anti-Spam", 15000), ("activesync", "ActiveSync Mobile Sync", 20000),
      ("archiving", "Compliance Archiving", 30000)]),
    ("webstats", "WebStats Analytics", "sites", [1, 5, 10, 25],
     "Privacy-friendly web analytics for the sites you host.",
     [("Standard", 9900, 5000), ("Enterprise", 19900, 9900)],
     [("priority-support", "Priority Support", 25000), ("data-export", "Raw Data Export", 10000)]),
    ("livedesk", "LiveDesk Help Desk", "agents", [1, 3, 5, 10, 25, 50],
     "Live chat, tickets and a knowledge base for support teams.",
     [("Professional", 0, 14900), ("Enterprise", 0, 24900)],
     [("sms", "SMS Channel", 9900), ("knowledge-base", "Public Knowledge Base", 14900),
      ("video-chat", "Video Chat", 19900)]),
]

# Reseller fees and recommended retail prices (DOMAIN §8, portal/reseller_fees): MailSuite costs a reseller $2.00 a
# month for every customer account holding it, and the vendor recommends a retail price per mailbox.
RESELLER_FEES = {"mailsuite": 200}
RECOMMENDED_RETAIL = {("mailsuite", "Professional"): 490, ("mailsuite", "Enterprise"): 850}

SUBSCRIPTIONS = [
    ("device-protection", "Device Protection", "devices", SubscriptionBasis.DEVICE, BillingInterval.MONTHLY, 400,
     "Monitoring and patching for each point-of-sale device."),
    ("location-plan", "Location Plan", "locations", SubscriptionBasis.LOCATION, BillingInterval.ANNUAL, 24000,
     "One subscription covers up to 4 devices at a location."),
    # Reseller plans (DOMAIN §8, portal/reseller_plans/plans.py): not in the shop's list, bought from /account/plan.
    ("reseller-free", "Reseller plan: Free", "storefront", SubscriptionBasis.RESELLER, BillingInterval.MONTHLY, 0,
     "A storefront at /s/<alias> selling at the vendor's recommended retail prices, with the default look and "
     "your contact "
     "details."),
    ("reseller-standard", "Reseller plan: Standard", "storefront", SubscriptionBasis.RESELLER,
     BillingInterval.MONTHLY, 4900,
     "Your storefront with your own prices (markups, special prices per product and per customer) and your own "
     "branding (logo, accent colour)."),
]


def seed_catalog() -> None:
    existing = set(db.session.scalars(select(Product.slug)))
    for position, (slug, name, unit, quantities, summary, editions, addons) in enumerate(LICENSES):
        if slug in existing:
            continue
        product = Product(slug=slug, name=name, unit_label=unit, kind=ProductKind.LICENSE, quantities=quantities,
                          summary=summary, position=position, ms_rate_bp=2000, reinstatement_fee_minor=5000,
                          reseller_fee_minor=RESELLER_FEES.get(slug))
        product.editions = [Edition(name=n, base_price_minor=b, unit_price_minor=u, position=i,
                                    rrp_unit_minor=RECOMMENDED_RETAIL.get((slug, n)))
                            for i, (n, b, u) in enumerate(editions)]
        product.addons = [AddOn(slug=s, name=n, price_minor=p, position=i) for i, (s, n, p) in enumerate(addons)]
        db.session.add(product)
    for position, (slug, name, unit, basis, interval, price, summary) in enumerate(SUBSCRIPTIONS, start=10):
        if slug not in existing:
            db.session.add(Product(slug=slug, name=name, unit_label=unit, kind=ProductKind.SUBSCRIPTION, basis=basis,
                                   interval=interval, unit_price_minor=price, summary=summary, position=position))
    tiers = set(db.session.scalars(select(TierDiscount.tier)))
    for tier, discount in TIER_DISCOUNTS.items():
        if tier not in tiers:
            db.session.add(TierDiscount(tier=tier, discount_bp=discount))
    db.session.flush()
