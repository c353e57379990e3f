"""Plan changes from Manage Subscriptions (DOMAIN §5): each is quoted first, then confirmed.

- **Increase now**: more of the plan, prorated to the day until its next payment, bought through the cart and
  checkout like any purchase (the cart prices it: portal/cart/services.py).
- **Decrease or cancel** at the end of the paid period: a scheduled quantity (0 cancels), never below what the
  chain's devices or locations use (the other plans of the same basis count towards it).
- **Switch monthly <-> annual** at the end of the paid period: a scheduled product of the same basis with the
  other interval. Taking effect when the paid period ends, it leaves no unused time to credit: nothing is refunded.

A scheduled change can be withdrawn until the renewal run applies it (portal/recurring). Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import inspect, select

from portal import pricing
from portal.accounts.models import Organization, User
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.cart.models import CartItem
from portal.cart.services import add_to_cart
from portal.catalog.models import BillingInterval, Product, ProductKind, SubscriptionBasis
from portal.catalog.services import check_units, configure
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_money
from portal.outbox.services import enqueue_email, external_url
from portal.seller.details import support_address
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import Proration, interval_of, is_running, prorate_addition
from portal.subscriptions.usage import plan_usage

UNIT_NAMES = {SubscriptionBasis.DEVICE: "device subscription", SubscriptionBasis.LOCATION: "location subscription"}
PERIOD_NAMES = {BillingInterval.MONTHLY: "month", BillingInterval.ANNUAL: "year"}
INTERVAL_NAMES = {BillingInterval.MONTHLY: "monthly", BillingInterval.ANNUAL: "annual"}
BILLED = {BillingInterval.MONTHLY: "monthly", BillingInterval.ANNUAL: "annually"}


def units(basis: SubscriptionBasis, count: int) -> str:
    """'1 location subscription', '9 location subscriptions'."""
    return f"{count} {UNIT_NAMES[basis]}{'' if count == 1 else 's'}"


def _require_running(plan: Subscription) -> None:
    if not is_running(plan):
        raise RuleError("This plan has ended: buy a new one in the shop.")


# ---------------------------------------------------------------- increase now


@dataclass(frozen=True)
class IncreaseQuote:
    """More of a running plan, priced for the rest of its paid period."""

    plan: Subscription
    proration: Proration

    @property
    def new_quantity(self) -> int:
        return self.plan.quantity + self.proration.quantity


def quote_increase(plan: Subscription, quantity: int | None, today: date) -> IncreaseQuote:
    """What adding `quantity` to the plan costs today: RuleError beside the quantity if it cannot be added."""
    _require_running(plan)
    product = plan.product
    if not product.active:
        raise RuleError(f"{product.name} is no longer sold: choose another plan in the shop.", field="quantity")
    check_units(product, quantity)
    if plan.quantity + quantity > pricing.MAX_UNITS:
        raise RuleError(f"A plan holds at most {pricing.MAX_UNITS:,} {product.unit_label}: this one has "
                        f"{plan.quantity:,}. Contact the vendor for more.", field="quantity")
    return IncreaseQuote(plan, prorate_addition(plan, product.unit_price_minor, quantity, today))


def add_increase_to_cart(user: User, org: Organization, plan: Subscription, quantity: int | None,
                         quoted_list_minor: int | None, today: date, actor: Actor) -> CartItem:
    """Put the increase the buyer was shown into the main chain's cart, at the prorated price shown
    (`quoted_list_minor`); if the price is no longer that (a day passed), RuleError says so and nothing is added.
    The plan grows when the order is placed."""
    quote = quote_increase(plan, quantity, today)
    if quoted_list_minor != quote.proration.list_minor:
        raise RuleError("The prorated price changed since it was shown: check the new price below and confirm again.")
    item = add_to_cart(user, org, configure(plan.product, None, quantity, []), 1, actor)
    record(actor, "subscription.increase_added_to_cart", plan, plan.organization_id, product=plan.product.slug,
           quantity=quantity, list_minor=quote.proration.list_minor, days_left=quote.proration.days_left)
    return item


# ---------------------------------------------------------------- decrease or cancel at the end of the period


def lowest_quantity(plan: Subscription) -> tuple[int, int, int]:
    """(the least this plan may be lowered to, what the chain uses of its basis, what its other plans of that basis
    will cover after their own scheduled changes)."""
    used = plan_usage(plan.organization_id)[plan.product.basis]
    others = db.session.scalars(
        select(Subscription).join(Subscription.product)
        .where(Subscription.organization_id == plan.organization_id, Subscription.id != plan.id,
               Product.basis == plan.product.basis, Subscription.quantity > 0, Subscription.ended_on.is_(None)))
    covered = sum(o.quantity if o.scheduled_quantity is None else o.scheduled_quantity for o in others)
    return max(used - covered, 0), used, covered


@dataclass(frozen=True)
class DecreaseQuote:
    """A lower quantity (0: a cancellation) from the plan's next payment on."""

    plan: Subscription
    product: Product  # the product the plan renews on (another interval if a switch is scheduled)
    quantity: int

    @property
    def cancels(self) -> bool:
        return self.quantity == 0

    @property
    def takes_effect_on(self) -> date:
        return self.plan.next_payment_on

    @property
    def last_paid_day(self) -> date:
        return self.plan.next_payment_on - timedelta(days=1)

    @property
    def new_price_minor(self) -> int:
        return self.product.unit_price_minor * self.quantity

    @property
    def current_price_minor(self) -> int:
        return self.product.unit_price_minor * self.plan.quantity

    @property
    def period(self) -> str:
        return PERIOD_NAMES[interval_of(self.product)]


def renewal_product(plan: Subscription) -> Product:
    """The product the plan renews on next: the scheduled switch's, or its own."""
    return plan.scheduled_product if plan.scheduled_product_id is not None else plan.product


def quote_decrease(plan: Subscription, quantity: int | None) -> DecreaseQuote:
    """A decrease or cancellation at the end of the paid period, checked: RuleError beside the quantity when it
    is not lower than today's, or below what the chain uses (with the numbers)."""
    _require_running(plan)
    basis = plan.product.basis
    if quantity is None or quantity < 0:
        raise RuleError("Give the new quantity as a whole number: 0 cancels the plan.", field="quantity")
    if quantity > pricing.MAX_UNITS or quantity > plan.quantity:
        raise RuleError(f"This plan has {units(basis, plan.quantity)}: to raise it, use Increase now (billed "
                        "today, prorated).", field="quantity")
    if quantity == plan.quantity:
        raise RuleError(f"This plan already has {units(basis, plan.quantity)}: give a lower quantity, or 0 to "
                        "cancel.", field="quantity")
    least, used, covered = lowest_quantity(plan)
    if quantity < least:
        others = f" and your other {UNIT_NAMES[basis]} plans cover {covered}" if covered else ""
        raise RuleError(f"Your chain uses {units(basis, used)}{others}; you can lower this plan to {least} at the "
                        "least. Remove devices or mark them as spares first.", field="quantity")
    return DecreaseQuote(plan, renewal_product(plan), quantity)


def schedule_decrease(plan: Subscription, quantity: int | None, user: User, actor: Actor) -> DecreaseQuote:
    """Schedule the decrease (or the cancellation) for the plan's next payment date, replacing any decrease
    scheduled before; audited."""
    _lock(plan)
    quote = quote_decrease(plan, quantity)
    previous = plan.scheduled_quantity
    plan.scheduled_quantity = quote.quantity
    _mark_scheduled(plan, user)
    _notify_managers(plan, user, "scheduled a change", describe_scheduled(plan))
    record(actor, "subscription.change_scheduled", plan, plan.organization_id, product=plan.product.slug,
           change="cancel" if quote.cancels else "decrease", quantity_from=plan.quantity, quantity_to=quote.quantity,
           takes_effect_on=quote.takes_effect_on.isoformat(), replaced=previous)
    return quote


# ---------------------------------------------------------------- switch monthly <-> annual


@dataclass(frozen=True)
class SwitchQuote:
    """The plan moving to `target` (same basis, the other interval) from its next payment on."""

    plan: Subscription
    target: Product

    @property
    def quantity(self) -> int:
        return self.plan.quantity if self.plan.scheduled_quantity is None else self.plan.scheduled_quantity

    @property
    def takes_effect_on(self) -> date:
        return self.plan.next_payment_on

    @property
    def new_price_minor(self) -> int:
        return self.target.unit_price_minor * self.quantity

    @property
    def current_price_minor(self) -> int:
        return self.plan.product.unit_price_minor * self.quantity

    @property
    def new_interval(self) -> str:
        return INTERVAL_NAMES[interval_of(self.target)]

    @property
    def new_period(self) -> str:
        return PERIOD_NAMES[interval_of(self.target)]

    @property
    def current_period(self) -> str:
        return PERIOD_NAMES[interval_of(self.plan.product)]


def switch_target(plan: Subscription) -> Product | None:
    """The product a plan may switch to: active, of the same basis, with the other interval, and not one the chain
    already has a plan on (a chain has one plan per product). None when there is none."""
    other = BillingInterval.ANNUAL if interval_of(plan.product) is BillingInterval.MONTHLY else BillingInterval.MONTHLY
    taken = select(Subscription.product_id).where(Subscription.organization_id == plan.organization_id)
    return db.session.scalars(
        select(Product).where(Product.kind == ProductKind.SUBSCRIPTION, Product.active.is_(True),
                              Product.basis == plan.product.basis, Product.interval == other,
                              Product.id.not_in(taken))
        .order_by(Product.position, Product.id).limit(1)).first()


def quote_switch(plan: Subscription) -> SwitchQuote:
    """The switch on offer for this plan: RuleError when there is none or one is already scheduled."""
    _require_running(plan)
    if plan.scheduled_quantity == 0:
        raise RuleError("This plan is scheduled to be cancelled: withdraw the cancellation first.")
    if plan.scheduled_product_id is not None:
        raise RuleError(f"A switch to {plan.scheduled_product.name} is already scheduled.")
    target = switch_target(plan)
    if target is None:
        raise RuleError("No plan with another billing interval is offered for this one: contact the vendor.")
    return SwitchQuote(plan, target)


def schedule_switch(plan: Subscription, user: User, actor: Actor) -> SwitchQuote:
    """Schedule the move to the other interval for the plan's next payment date; audited."""
    _lock(plan)
    quote = quote_switch(plan)
    plan.scheduled_product_id = quote.target.id
    plan.scheduled_product = quote.target
    _mark_scheduled(plan, user)
    _notify_managers(plan, user, "scheduled a change", describe_scheduled(plan))
    record(actor, "subscription.change_scheduled", plan, plan.organization_id, product=plan.product.slug,
           change="switch", switch_to=quote.target.slug, takes_effect_on=quote.takes_effect_on.isoformat())
    return quote


# ---------------------------------------------------------------- withdraw


def withdraw_change(plan: Subscription, user: User, actor: Actor) -> None:
    """Withdraw the plan's scheduled change (decrease, cancellation and/or switch): it renews as it is; audited,
    and the chain's managers are emailed."""
    _lock(plan)
    if not plan.has_scheduled_change:
        raise RuleError("This plan has no scheduled change to withdraw: it may have taken effect already.")
    was = describe_scheduled(plan)
    withdrawn = {"quantity_to": plan.scheduled_quantity,
                 "switch_to": plan.scheduled_product.slug if plan.scheduled_product_id is not None else None}
    plan.scheduled_quantity = plan.scheduled_product_id = plan.scheduled_at = plan.scheduled_by_id = None
    plan.scheduled_product = None
    _notify_managers(plan, user, "withdrew the scheduled change", "scheduled change withdrawn", was=was)
    record(actor, "subscription.change_withdrawn", plan, plan.organization_id, product=plan.product.slug,
           **withdrawn)


def _lock(plan: Subscription) -> None:
    """Re-read the plan's columns under a row lock, so a change and the renewal run applying it never cross."""
    db.session.refresh(plan, [c.key for c in inspect(Subscription).column_attrs], with_for_update=True)


def _mark_scheduled(plan: Subscription, user: User) -> None:
    plan.scheduled_at = utcnow()
    plan.scheduled_by_id = user.id


def describe_scheduled(plan: Subscription) -> str:
    """The plan's scheduled change in words: 'lowers to 5 on 2027-01-15', 'cancels on …', 'switches to annual on …'."""
    on = plan.next_payment_on.isoformat()
    if plan.scheduled_quantity == 0:
        return f"cancels on {on}"
    parts = []
    if plan.scheduled_quantity is not None:
        parts.append(f"lowers to {plan.scheduled_quantity} {plan.product.unit_label} on {on}")
    if plan.scheduled_product_id is not None:
        parts.append(f"switches to {INTERVAL_NAMES[interval_of(plan.scheduled_product)]} "
                     f"({plan.scheduled_product.name}) on {on}")
    return " and ".join(parts)


def _notify_managers(plan: Subscription, by: User, action: str, headline: str, was: str | None = None) -> None:
    """Email every Chain & User Manager of the plan's chain about a change to what it will be billed, in the
    change's transaction (the outbox)."""
    organization = db.session.get(Organization, plan.organization_id)
    recipients = managers_emails(organization)
    if not recipients:
        return
    product = plan.product
    renews_on = renewal_product(plan)
    quantity = plan.quantity if plan.scheduled_quantity is None else plan.scheduled_quantity
    enqueue_email(recipients, "plan_change", plan=plan, product=product, organization=organization, by=by,
                  action=action, headline=headline, was=was, period=PERIOD_NAMES[interval_of(product)],
                  current_amount=format_money(Money(product.unit_price_minor * plan.quantity, product.currency)),
                  next_amount=format_money(Money(renews_on.unit_price_minor * quantity, renews_on.currency))
                  if quantity else None,
                  last_paid_day=plan.next_payment_on - timedelta(days=1),
                  link=external_url("subscriptions.index"), support=support_address())
