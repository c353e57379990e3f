"""Builders for the renewal tests: the demo catalog and tax rates only (no demo organizations, whose plans would
renew too), organizations with plans on a chosen anchor day, saved cards that the sandbox approves or declines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import BillingMode, Organization, PartnerTier, Role
from portal.catalog.models import BillingInterval, Product, ProductKind, SubscriptionBasis
from portal.extensions import db
from portal.payments.models import CardBrand, PaymentMethod
from portal.sandbox_processor.processor import sandbox_processor
from portal.subscriptions.models import Subscription
from tests.factories import demo_product, make_member, make_org, make_user, processor_card

APPROVED = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"


@pytest.fixture
def catalog(app) -> Iterator[None]:
    """The demo catalog (Device Protection monthly at USD 4.00, Location Plan annual at USD 240.00), the tier
    discounts and the tax rates, with an application context."""
    from portal.billing.demo import seed_tax_rates
    from portal.catalog.demo import seed_catalog

    with app.app_context():
        seed_catalog()
        seed_tax_rates()
        db.session.commit()
        yield
        db.session.rollback()


def chain(billing_mode: BillingMode = BillingMode.PAY_ON_ORDER, tier: PartnerTier = PartnerTier.NONE,
          region: str = "WA", manager: bool = True, **fields) -> Organization:
    """A main chain (in Washington: 6.5 % sales tax) with one Chain & User Manager."""
    org = make_org(billing_mode=billing_mode, partner_tier=tier, region=region, **fields)
    if manager:
        make_member(org, Role.MANAGER, make_user(f"manager-{org.id}@chain{org.id}.example.com"))
    return org


def plan(org: Organization, slug: str = "device-protection", quantity: int = 7, next_payment_on: date | None = None,
         anchor_day: int | None = None, **fields) -> Subscription:
    next_payment_on = next_payment_on or date(2027, 1, 15)
    subscription = Subscription(organization_id=org.id, product_id=demo_product(slug).id, quantity=quantity,
                                started_on=date(2026, 1, 1), next_payment_on=next_payment_on,
                                anchor_day=anchor_day or next_payment_on.day, **fields)
    db.session.add(subscription)
    db.session.flush()
    return subscription


def saved_card(org: Organization, number: str = APPROVED) -> PaymentMethod:
    """A default card saved at the sandbox processor, as the payment methods page saves it (committed first: the
    sandbox writes on a connection of its own)."""
    db.session.commit()
    card = sandbox_processor().retrieve_card(processor_card(number))
    method = PaymentMethod(organization_id=org.id, brand=CardBrand(card.brand), last4=card.last4, exp_month=12,
                           exp_year=card.exp_year, holder_name="Card Holder", gateway_token=card.payment_method_id,
                           is_default=True)
    db.session.add(method)
    db.session.flush()
    return method


def annual_twin(slug: str = "device-protection") -> Product:
    """The annual product of a monthly plan (a switch of interval moves a plan to it)."""
    monthly = demo_product(slug)
    found = db.session.scalars(select(Product).where(Product.slug == f"{slug}-annual")).first()
    if found:
        return found
    product = Product(slug=f"{slug}-annual", name=f"{monthly.name} (annual)", kind=ProductKind.SUBSCRIPTION,
                      unit_label=monthly.unit_label, basis=monthly.basis or SubscriptionBasis.DEVICE,
                      interval=BillingInterval.ANNUAL, unit_price_minor=4_000)
    db.session.add(product)
    db.session.flush()
    return product
