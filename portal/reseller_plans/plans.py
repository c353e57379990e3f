"""Reseller plans (DOMAIN §8): Basic, Free and Standard, and the storefront a plan opens.

The one home of the rules:
- a **reseller** is a main chain with a partner tier (Silver, Gold, Platinum): only a reseller may hold a plan;
- **Basic** is having no plan (today's behaviour); **Free** and **Standard** are subscription products of basis
  `reseller` (quantity 1, one running per chain), bought through the cart and renewed by the renewal run;
- buying a plan opens the chain's storefront (an alias chosen at checkout), or reopens the one kept after an earlier
  plan ended (same alias and settings); Free -> Standard is an upgrade through the cart, prorated, and switches the
  running subscription; Standard -> Free and a cancellation take effect at the end of the paid period;
- a plan that ends closes the storefront (`close_storefront`, called by the renewal run): nobody signs in or buys,
  and what the reseller set up is kept for STOREFRONT_RETENTION_DAYS, then purged (`purge_storefronts`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.cart.models import CartItem
from portal.catalog.models import Product, SubscriptionBasis
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.reseller_plans import aliases
from portal.reseller_plans.emails import send_welcome
from portal.storage import storage
from portal.storefronts.models import Storefront, StorefrontPrice, StorefrontProduct
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import Proration, add_subscription_quantity, prorate_addition

FREE, STANDARD = "reseller-free", "reseller-standard"  # the plan products' slugs (portal/catalog/demo.py)
DEFAULT_RETENTION_DAYS = 90


class PlanName(enum.StrEnum):
    BASIC = "Basic"
    FREE = "Free"
    STANDARD = "Standard"
    PENDING_CANCELLATION = "Pending Cancellation"


@dataclass(frozen=True)
class PlanState:
    """Where a reseller stands: its plan, the subscription that is it, the storefront (open or kept) and, for a
    plan pending cancellation or a switch to Free, the last day it is paid for."""

    name: PlanName
    subscription: Subscription | None = None
    storefront: Storefront | None = None
    ends_on: date | None = None  # Pending Cancellation: the last paid day
    switches_to: Product | None = None  # Standard -> Free at the next payment

    @property
    def product(self) -> Product | None:
        return self.subscription.product if self.subscription is not None else None

    @property
    def has_plan(self) -> bool:
        return self.subscription is not None

    @property
    def is_standard(self) -> bool:
        return self.product is not None and self.product.slug == STANDARD


def is_reseller(org: Organization) -> bool:
    """A reseller (Organization.is_reseller, the rule's one home)."""
    return org.is_reseller


def is_plan_product(product: Product | None) -> bool:
    return product is not None and product.basis is SubscriptionBasis.RESELLER


def plan_products() -> dict[str, Product]:
    """The active plan products by slug (Free, Standard)."""
    return {p.slug: p for p in db.session.scalars(select(Product).where(
        Product.basis == SubscriptionBasis.RESELLER, Product.active.is_(True)))}


def storefront_of(org_id: int) -> Storefront | None:
    """The chain's storefront, open or kept after its plan ended (None after the purge)."""
    return db.session.scalars(select(Storefront).where(Storefront.organization_id == org_id)).first()


def running_plan(org_id: int, lock: bool = False) -> Subscription | None:
    """The chain's running reseller plan (quantity 1, not ended), if any."""
    stmt = (select(Subscription).join(Product, Product.id == Subscription.product_id)
            .where(Subscription.organization_id == org_id, Product.basis == SubscriptionBasis.RESELLER,
                   Subscription.quantity > 0, Subscription.ended_on.is_(None))
            .options(joinedload(Subscription.product), joinedload(Subscription.scheduled_product)))
    if lock:
        stmt = stmt.with_for_update(of=Subscription)
    return db.session.scalars(stmt).first()


def reseller_plan(org: Organization) -> PlanState:
    """The plan the chain is on: Basic (no running plan), Free, Standard, or Pending Cancellation (a cancellation
    scheduled at the end of the paid period) with its last paid day, and its storefront."""
    storefront = storefront_of(org.main_chain_id)
    plan = running_plan(org.main_chain_id)
    if plan is None:
        return PlanState(PlanName.BASIC, storefront=storefront)
    if plan.scheduled_quantity == 0:
        return PlanState(PlanName.PENDING_CANCELLATION, plan, storefront, plan.next_payment_on - timedelta(days=1))
    name = PlanName.STANDARD if plan.product.slug == STANDARD else PlanName.FREE
    return PlanState(name, plan, storefront, switches_to=plan.scheduled_product)


def storefront_is_open(storefront: Storefront | None) -> bool:
    """Whether customers may sign in and buy: the storefront exists and its plan has not ended."""
    return storefront is not None and storefront.is_open


def has_standard_features(storefront: Storefront) -> bool:
    """Markups, special prices and the reseller's own branding are Standard's: True when the storefront's chain
    runs Standard (also while it is pending cancellation)."""
    plan = running_plan(storefront.organization_id)
    return plan is not None and plan.product.slug == STANDARD


def retention_days() -> int:
    return int(current_app.config.get("STOREFRONT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


# ---------------------------------------------------------------- buying a plan (cart, checkout, delivery)


def upgrade_proration(org_id: int, product: Product, today: date) -> Proration | None:
    """Standard bought while Free runs: the price difference for the rest of Free's paid period (the cart's
    pricing hook). None for anything else."""
    if not is_plan_product(product):
        return None
    plan = running_plan(_main_chain_id(org_id))
    if plan is None or plan.product_id == product.id:
        return None
    difference = max(product.unit_price_minor - plan.product.unit_price_minor, 0)
    return prorate_addition(plan, difference, 1, today)


def _main_chain_id(org_id: int) -> int:
    org = db.session.get(Organization, org_id)
    return org.main_chain_id if org is not None else org_id


def needs_alias(org: Organization, products: Iterable[Product]) -> bool:
    """Whether checkout must ask for a storefront alias: a plan is bought and the chain has no storefront (a kept
    one is reopened with its own alias)."""
    return any(is_plan_product(p) for p in products) and storefront_of(org.main_chain_id) is None


def check_plan_purchase(org: Organization, products_and_quantities: list[tuple[Product, int]],
                        alias: str) -> str | None:
    """Refuse a checkout whose plan lines break a rule (before any card is charged): only a reseller main chain,
    one plan line of quantity 1, never the plan it runs, never Free while Standard runs (that is a switch at the
    end of the period, on /account/plan). Returns the normalized alias to open the storefront with, if needed."""
    plans = [(p, q) for p, q in products_and_quantities if is_plan_product(p)]
    if not plans:
        return None
    if not is_reseller(org):
        raise RuleError("Reseller plans are for resellers' main chains (a chain with a partner tier). Remove the "
                        "plan from your cart.")
    if len(plans) > 1:
        raise RuleError("A chain holds one reseller plan: keep one plan in your cart.")
    product, quantity = plans[0]
    if quantity != 1:
        raise RuleError("A reseller plan is bought once (quantity 1): edit it in your cart.")
    check_plan_choice(org, product)
    if storefront_of(org.id) is not None:
        return None
    return aliases.check_alias(alias)


def check_plan_choice(org: Organization, product: Product) -> None:
    """Whether the chain may buy this plan now: a reseller, not the plan it runs, not a lower one (a move down
    is scheduled at the end of the period instead). RuleError otherwise."""
    if not is_reseller(org):
        raise RuleError("Reseller plans are for resellers' main chains (a chain with a partner tier).")
    running = running_plan(org.main_chain_id)
    if running is not None and running.product_id == product.id:
        raise RuleError(f"Your chain is already on {product.name}. Remove it from your cart.")
    if running is not None and running.product.unit_price_minor >= product.unit_price_minor:
        raise RuleError(f"Your chain is on {running.product.name}: a move to {product.name} takes effect at the end "
                        "of the paid period, from the Reseller plans page. Remove it from your cart.")


def deliver_plan(org: Organization, product: Product, alias: str | None, today: date,
                 actor: Actor) -> Subscription:
    """What an order's plan line does: an upgrade switches the running plan to `product` (same next payment);
    otherwise the plan starts today for a whole period (an ended row starts again). Then the storefront opens
    (or reopens, kept) and the welcome email goes out."""
    main = org if org.is_main_chain else org.parent
    running = running_plan(main.id, lock=True)
    if running is not None and running.product_id != product.id:
        subscription = _switch(running, product)
    else:
        subscription = add_subscription_quantity(main, product.id, 1, today)
    storefront = open_storefront(main, alias, today, actor)
    record(actor, "storefront.plan_started", subscription, main.id, plan=product.slug, alias=storefront.alias,
           upgrade=running is not None or None)
    if running is None:
        send_welcome(main, storefront, product.name)
    return subscription


def _switch(plan: Subscription, product: Product) -> Subscription:
    """The running plan becomes `product` from today, keeping its paid period and next payment."""
    kept = db.session.scalars(select(Subscription).where(Subscription.organization_id == plan.organization_id,
                                                         Subscription.product_id == product.id)).first()
    scheduled = dict(scheduled_quantity=None, scheduled_product_id=None, scheduled_at=None, scheduled_by_id=None)
    if kept is None:
        plan.product_id = product.id
        for name, value in scheduled.items():
            setattr(plan, name, value)
        db.session.flush()
        db.session.refresh(plan, ["product"])
        return plan
    # an ended row of the target plan (an earlier Standard) carries on the running plan's period
    kept.quantity, kept.ended_on, kept.expires_on = 1, None, None
    kept.started_on, kept.anchor_day, kept.next_payment_on = plan.started_on, plan.anchor_day, plan.next_payment_on
    for name, value in scheduled.items():
        setattr(kept, name, value)
    plan.quantity, plan.ended_on = 0, utcnow().date()
    for name, value in scheduled.items():
        setattr(plan, name, value)
    return kept


def open_storefront(org: Organization, alias: str | None, today: date, actor: Actor) -> Storefront:
    """Open the chain's storefront at `alias`, or reopen the kept one (its alias and settings as they were).
    A concurrent checkout that took the alias first makes the insert fail: RuleError beside the alias field (the
    caller rolls back and gives the card's money back)."""
    storefront = storefront_of(org.id)
    if storefront is not None:
        if not storefront.is_open:
            storefront.closed_on = storefront.purge_on = None
            record(actor, "storefront.reopened", storefront, org.id, alias=storefront.alias)
        return storefront
    alias = aliases.check_alias(alias)
    storefront = Storefront(organization_id=org.id, alias=alias, display_name=org.name, opened_on=today,
                            contact_email=org.invoice_email, contact_phone=org.phone,
                            contact_address="\n".join(org.billing_address), notify_emails=[])
    try:
        with db.session.begin_nested():
            db.session.add(storefront)
            db.session.flush()
    except IntegrityError as exc:
        raise aliases.taken_error(alias) from exc
    record(actor, "storefront.opened", storefront, org.id, alias=alias)
    return storefront


# ---------------------------------------------------------------- changes on /account/plan, and the plan's end


def cancel_plan(org: Organization, user_id: int, actor: Actor) -> Subscription:
    """Cancel the running plan at the end of its paid period: Pending Cancellation until then."""
    plan = running_plan(org.main_chain_id, lock=True)
    if plan is None:
        raise RuleError("Your chain is on Basic: there is no plan to cancel.")
    if plan.scheduled_quantity == 0:
        raise RuleError("This plan is already cancelled at the end of its paid period.")
    plan.scheduled_quantity, plan.scheduled_product_id = 0, None
    plan.scheduled_at, plan.scheduled_by_id = utcnow(), user_id
    record(actor, "storefront.plan_cancelled", plan, plan.organization_id, plan=plan.product.slug,
           last_day=(plan.next_payment_on - timedelta(days=1)).isoformat())
    return plan


def withdraw_change(org: Organization, actor: Actor) -> Subscription:
    """Withdraw a scheduled cancellation or switch to Free: the plan renews as it is."""
    plan = running_plan(org.main_chain_id, lock=True)
    if plan is None or not plan.has_scheduled_change:
        raise RuleError("There is no scheduled change to withdraw.")
    plan.scheduled_quantity = plan.scheduled_product_id = None
    plan.scheduled_at = plan.scheduled_by_id = None
    record(actor, "storefront.plan_change_withdrawn", plan, plan.organization_id, plan=plan.product.slug)
    return plan


def schedule_free(org: Organization, user_id: int, actor: Actor) -> Subscription:
    """Standard -> Free at the end of the paid period (the renewal run applies the scheduled product)."""
    plan = running_plan(org.main_chain_id, lock=True)
    free = plan_products().get(FREE)
    if plan is None or free is None or plan.product.slug != STANDARD:
        raise RuleError("Only a Standard plan can move to Free.")
    plan.scheduled_product_id, plan.scheduled_quantity = free.id, None
    plan.scheduled_at, plan.scheduled_by_id = utcnow(), user_id
    record(actor, "storefront.plan_switch_scheduled", plan, plan.organization_id, to=FREE,
           on=plan.next_payment_on.isoformat())
    return plan


def plan_ended(plan: Subscription, last_day: date) -> None:
    """The renewal run's hook: a reseller plan ended after `last_day` (its last paid day): close the storefront."""
    if plan.quantity == 0 and is_plan_product(db.session.get(Product, plan.product_id)):
        close_storefront(db.session.get(Organization, plan.organization_id), last_day)


def close_storefront(org: Organization, day: date) -> Storefront | None:
    """The plan ended on `day`: from the next day nobody signs in or buys, and what the reseller set up is kept
    until the purge date (retention)."""
    storefront = storefront_of(org.id)
    if storefront is None or not storefront.is_open:
        return storefront
    storefront.closed_on = day + timedelta(days=1)
    storefront.purge_on = storefront.closed_on + timedelta(days=retention_days())
    record(Actor.system(), "storefront.closed", storefront, org.id, alias=storefront.alias,
           purge_on=storefront.purge_on.isoformat())
    return storefront


def purge_storefronts(day: date) -> list[Storefront]:
    """Delete the storefronts kept past their purge date, with their price rules, how they showed products (names,
    descriptions, hidden) and logo files: their aliases are free again. Returns what was purged (idempotent: a
    second run finds nothing)."""
    due = list(db.session.scalars(select(Storefront).where(Storefront.purge_on.is_not(None),
                                                           Storefront.purge_on <= day,
                                                           Storefront.closed_on.is_not(None))
                                  .order_by(Storefront.id).with_for_update()))
    for storefront in due:
        db.session.execute(delete(StorefrontPrice).where(StorefrontPrice.storefront_id == storefront.id))
        db.session.execute(delete(StorefrontProduct).where(StorefrontProduct.storefront_id == storefront.id))
        db.session.execute(delete(CartItem).where(CartItem.storefront_id == storefront.id))  # customers' carts
        if storefront.logo_path:
            storage().delete(storefront.logo_path)
        record(Actor.system(), "storefront.purged", storefront, storefront.organization_id, alias=storefront.alias)
        db.session.delete(storefront)
    db.session.flush()
    return due


MAX_NOTIFY_EMAILS = 10


def set_notify_emails(storefront: Storefront, text: str, actor: Actor) -> list[str]:
    """Who else receives the storefront's notifications: one address a line (checked, at most 10), audited."""
    addresses: list[str] = []
    for line in (text or "").replace(",", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            address = validate_email(line, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise RuleError(f"“{line[:80]}” is not an email address. {exc}", field="notify_emails") from exc
        if address not in addresses:
            addresses.append(address)
    if len(addresses) > MAX_NOTIFY_EMAILS:
        raise RuleError(f"At most {MAX_NOTIFY_EMAILS} addresses; you gave {len(addresses)}.", field="notify_emails")
    storefront.notify_emails = addresses
    record(actor, "storefront.notify_emails_changed", storefront, storefront.organization_id, count=len(addresses))
    return addresses
