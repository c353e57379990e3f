"""What the Manage Subscriptions page shows: a main chain's plans, and how much of each kind of plan is used.

Plans of one basis (device or location) share its usage: the rule in `usage.py` counts what the chain needs per
basis, and every plan of that basis covers part of it. Three statements whatever the number of plans, locations
and devices.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from portal.catalog.models import Product, SubscriptionBasis
from portal.extensions import db
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import Usage, plan_usage

BASIS_ORDER = (SubscriptionBasis.LOCATION, SubscriptionBasis.DEVICE)


@dataclass(frozen=True)
class UsageBar:
    """A usage bar: the share of its length (in %) that is used within the purchase (green), available (grey)
    and used beyond the purchase (yellow); the length stands for the larger of purchased and used."""

    usage: Usage

    def _share(self, part: int) -> float:
        scale = max(self.usage.purchased, self.usage.used)
        return round(100 * part / scale, 2) if scale else 0.0

    @property
    def within_percent(self) -> float:
        return self._share(self.usage.within)

    @property
    def available_percent(self) -> float:
        return self._share(self.usage.available)

    @property
    def over_percent(self) -> float:
        return self._share(self.usage.over)

    @property
    def summary(self) -> str:
        """The bar in words, so that colour is never the only signal."""
        usage = self.usage
        if usage.over:
            return (f"{usage.used} used, {usage.purchased} purchased: {usage.over} over — "
                    f"add {usage.over} to stay covered")
        return f"{usage.used} of {usage.purchased} used, {usage.available} available"


@dataclass(frozen=True)
class PlanGroup:
    """The plans of one basis and their shared usage."""

    basis: SubscriptionBasis
    plans: list[Subscription]
    usage: Usage

    @property
    def bar(self) -> UsageBar:
        return UsageBar(self.usage)


def chain_plans(main_chain_id: int) -> list[Subscription]:
    """The chain's plans with their catalog products, in catalog order."""
    return list(db.session.scalars(
        select(Subscription).join(Subscription.product)
        .options(contains_eager(Subscription.product), joinedload(Subscription.scheduled_product))
        .where(Subscription.organization_id == main_chain_id)
        .order_by(Product.position, Product.id)
    ))


def plan_groups(main_chain_id: int) -> tuple[list[PlanGroup], dict[SubscriptionBasis, int]]:
    """The chain's plans grouped by basis with their usage, and what each basis needs (also for a basis the
    chain has no plan of: devices it added before buying one)."""
    plans = chain_plans(main_chain_id)
    needed = plan_usage(main_chain_id)
    groups = []
    for basis in BASIS_ORDER:
        of_basis = [p for p in plans if p.product.basis is basis]
        if of_basis:
            purchased = sum(p.quantity for p in of_basis if p.quantity > 0 and p.ended_on is None)  # running
            groups.append(PlanGroup(basis, of_basis, Usage(purchased=purchased, used=needed[basis])))
    return groups, needed
