"""Helpers for the invoicing tests: the demo with an application context, and orders bought through checkout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.accounts.models import Organization, User
from portal.billing.models import Invoice
from portal.billing.services import invoice_for_order
from portal.cart.services import add_to_cart, cart_items
from portal.catalog.services import configure, product_by_slug
from portal.extensions import db
from portal.orders.checkout import place_order
from portal.orders.models import PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary
from portal.payments.charges import CardChoice
from portal.payments.gateway import gateway
from tests.factories import actor, processor_card

BUYERS = {"Northwind IT": "alice", "Litware Solutions": "frank", "Fabrikam Stores": "dave"}


@pytest.fixture
def billing(app, demo) -> Iterator:
    """The demo (organizations, users, catalog, tax rates) with an application context for the services."""
    with app.app_context():
        yield demo
        db.session.rollback()


def org_and_buyer(demo, name: str) -> tuple[Organization, User]:
    return db.session.get(Organization, demo.orgs[name]), db.session.get(User, demo.users[BUYERS[name]])


def card(number: str = "4242 4242 4242 4242") -> PaymentChoice:
    """A new card entered in the processor's hosted fields."""
    return PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=processor_card(number)))


def buy(demo, org_name: str, payment: PaymentChoice | PaymentKind = PaymentKind.INVOICE, slug: str = "mailsuite",
        edition: str | None = "Professional", quantity: int = 25, addons: tuple[str, ...] = (),
        copies: int = 1) -> Invoice:
    """Buy through checkout (as the view does, committed) and return the order's invoice."""
    org, user = org_and_buyer(demo, org_name)
    product = product_by_slug(slug)
    edition_id = next(e.id for e in product.editions if e.name == edition) if edition else None
    config = configure(product, edition_id, quantity, [a.id for a in product.addons if a.slug in addons])
    add_to_cart(user, org, config, copies, actor(user))
    db.session.commit()
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    choice = payment if isinstance(payment, PaymentChoice) else PaymentChoice(payment)
    order = place_order(org, user, items, summary.signature, summary.quote.total_minor, choice,
                        BillingDetails.of(org), actor(user), gateway())
    return invoice_for_order(order)
