"""Manage Subscriptions: a main chain's device and location plans and how much of each is used."""

from __future__ import annotations

from flask import Blueprint

from portal.authz import Permission, active_organization, requires
from portal.catalog.models import SubscriptionBasis
from portal.db_types import utcnow
from portal.rendering import render
from portal.subscriptions.overview import plan_groups

bp = Blueprint("subscriptions", __name__)

BASIS_LABELS = {SubscriptionBasis.DEVICE: "Device plan", SubscriptionBasis.LOCATION: "Location plan"}


@bp.route("/subscriptions")
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def index():
    """Your plans: what each costs per unit at list price, when it renews, and how much of it you use."""
    org = active_organization()
    groups, needed = plan_groups(org.id)
    # Devices and locations are covered by one kind of plan or the other: a chain on a location plan needs no
    # device plan, so only a chain with no plan at all is told what its devices and locations would need.
    return render("subscriptions/index.html", org=org, groups=groups, basis_labels=BASIS_LABELS,
                  unplanned={} if groups else {basis: n for basis, n in needed.items() if n},
                  today=utcnow().date())
