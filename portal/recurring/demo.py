"""Demo renewals (`seed-demo`, not the tests' demo): every state of a plan is visible on first run.

- Northwind IT's monthly Device Protection plan (bought by a demo order) has a decrease scheduled for its next
  payment date (its chain counts 2 devices, at Contoso Retail); a plan of 5 renewing in 10 days if it has none.
- Litware Solutions had a Device Protection plan of 3 due 8 days ago, and its saved default card declines: the
  renewal run of that day and its dunning retries (1, 3 and 7 days after the first decline) ran, so the plan is past
  due on an unpaid renewal invoice, and frank was told each time.
- Fabrikam Stores' Location Plan renews within the coming weeks (portal/devices/demo.py).

Made by the renewal run itself (`recurring.run.renew` on the past days), so the invoices, emails and audit entries
are the ones a real run writes. Made once: when Litware already has a Device Protection plan, nothing is touched
(so a decrease withdrawn by alice stays withdrawn).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.extensions import db
from portal.payments.models import CardBrand, PaymentMethod
from portal.recurring.collection import RETRY_DAYS
from portal.recurring.run import renew
from portal.sandbox_processor.processor import sandbox_processor
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import add_months

DEVICE_PLAN = "device-protection"
DECLINING_CARD = "4000000000000002"  # the sandbox processor declines it (portal/sandbox_processor/processor.py)
DUE_DAYS_AGO = 8


def _plan(org: Organization, product: Product, quantity: int, next_payment_on: date) -> Subscription:
    started = add_months(next_payment_on, -product.interval.months)
    plan = Subscription(organization_id=org.id, product_id=product.id, quantity=quantity, started_on=started,
                        anchor_day=next_payment_on.day, next_payment_on=next_payment_on)
    db.session.add(plan)
    return plan


def seed_renewals(today: date | None = None) -> None:
    """Create the demo's scheduled decrease and past-due renewal if missing. Commits: the renewal run is a unit
    of work of its own (call it after the rest of the demo is committed)."""
    today = today or utcnow().date()
    product = db.session.scalars(select(Product).where(Product.slug == DEVICE_PLAN)).first()
    orgs = {o.name: o for o in db.session.scalars(
        select(Organization).where(Organization.name.in_(["Northwind IT", "Litware Solutions"])))}
    if product is None or len(orgs) != 2:
        return
    plans = {plan.organization_id: plan for plan in db.session.scalars(select(Subscription).where(
        Subscription.product_id == product.id, Subscription.organization_id.in_([o.id for o in orgs.values()])))}
    northwind, litware = orgs["Northwind IT"], orgs["Litware Solutions"]
    if litware.id in plans:
        return
    plan = plans.get(northwind.id) or _plan(northwind, product, 5, today + timedelta(days=10))
    if not plan.has_scheduled_change:
        alice = db.session.scalars(select(User).where(User.email == "alice@northwind.example.com")).first()
        plan.scheduled_quantity = max(plan.quantity - 2, 2)
        plan.scheduled_at, plan.scheduled_by_id = utcnow(), alice.id if alice else None
    due = today - timedelta(days=DUE_DAYS_AGO)
    _plan(litware, product, 3, due)
    # The card as the processor's hosted fields would have taken it: the portal keeps its payment method id.
    card = sandbox_processor().create_payment_method(DECLINING_CARD, 12, today.year + 3, "123", "Frank Fischer")
    db.session.add(PaymentMethod(organization_id=litware.id, brand=CardBrand(card.brand), last4=card.last4,
                                 exp_month=card.exp_month, exp_year=card.exp_year, holder_name="Frank Fischer",
                                 gateway_token=card.payment_method_id, is_default=True))
    db.session.commit()
    for day in (due, *(due + timedelta(days=retry) for retry in RETRY_DAYS)):
        renew(day)
