"""The home page's view: core.home renders it for every signed-in user (see portal/core/views.py)."""

from __future__ import annotations

from flask import current_app, url_for
from flask_login import current_user

from portal.authz import active_organization, can
from portal.catalog.models import SubscriptionBasis
from portal.dashboard import services
from portal.db_types import utcnow
from portal.rendering import render

RENEWALS_ENDPOINT = "renewals.index"  # a page of its own for renewals, when the portal has one


def _renewals_links() -> dict[int, str]:
    """The renewals page's address for each window (30, 60, 90 days), when the portal has that page and the user
    may open it; else none, and the panel links to the licenses and plans instead."""
    view = current_app.view_functions.get(RENEWALS_ENDPOINT)
    permission = getattr(view, "required_permission", None)
    if view is None or (permission is not None and not can(current_user, permission, active_organization())):
        return {}
    return {days: url_for(RENEWALS_ENDPOINT, window=days) for days in services.WINDOWS}


def dashboard():
    """What needs your attention: the panels of your role in the organization you work in, each linking to the
    page where it is acted on."""
    today = utcnow().date()
    board = services.dashboard_for(current_user, active_organization(), today)
    return render("dashboard/index.html", "dashboard/_panels.html", board=board, today=today,
                  windows=services.WINDOWS, renewals=_renewals_links(), Basis=SubscriptionBasis)
