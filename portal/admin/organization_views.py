"""Staff pages of organizations (/admin/organizations): find one, and set a main chain's commercial terms (billing
mode, partner tier, grandfathered payment methods)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts import services
from portal.accounts.context import current_actor
from portal.accounts.models import BillingMode, Organization, PartnerTier
from portal.admin import bp
from portal.admin.forms import CommercialTermsForm
from portal.authz import Permission, can, requires
from portal.extensions import db
from portal.pagination import window
from portal.rendering import render, submit

PER_PAGE = 50


def not_found_unless_staff(view: Callable) -> Callable:
    """For a staff page that names a tenant's object: to a signed-in user who is not staff the object is another
    tenant's, and another tenant's object is a 404 (portal/authz.py), the same answer as for an id that does not
    exist. Anonymous visitors still go to sign in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user.is_authenticated and not can(current_user, Permission.STAFF):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _organizations_window(search: str, page: int):
    stmt = select(Organization).options(joinedload(Organization.parent))
    if search:
        stmt = stmt.where(Organization.name.icontains(search, autoescape=True))
    return window(stmt.order_by(Organization.name, Organization.id), page, PER_PAGE)


@bp.route("/organizations")
@requires(Permission.STAFF)
def organizations():
    """Every organization, main chains and sub-chains, found by name."""
    search = request.args.get("q", "").strip()[:100]
    found = _organizations_window(search, request.args.get("page", 1, type=int))
    return render("admin/organizations.html", "admin/_organizations_table.html", found=found,
                  search=search)


def _organization_or_404(org_id: int) -> Organization:
    org = db.session.scalars(
        select(Organization).where(Organization.id == org_id).options(joinedload(Organization.parent))
        .execution_options(populate_existing=True)
    ).first()
    if org is None:
        abort(404)
    return org


def _sub_chains_window(org: Organization, page: int):
    stmt = select(Organization).where(Organization.parent_id == org.id)
    return window(stmt.order_by(Organization.name, Organization.id), page, PER_PAGE)


@bp.route("/organizations/<int:org_id>", methods=["GET", "POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def organization(org_id: int):
    """One organization: a main chain's commercial terms, editable; its sub-chains, read-only."""
    org = _organization_or_404(org_id)
    form = CommercialTermsForm(obj=org)
    saved = submit(form, lambda: services.update_commercial_terms(
        org, BillingMode(form.billing_mode.data), PartnerTier(form.partner_tier.data),
        form.grandfathered_payment_methods.data, current_actor(), tax_exempt=form.tax_exempt.data))
    if saved:
        flash(f"Commercial terms of {org.name} saved.", "success")
        return redirect(url_for("admin.organization", org_id=org.id))
    if form.errors:
        org = _organization_or_404(org_id)  # read again: a refused change was rolled back
    sub_chains = _sub_chains_window(org, request.args.get("page", 1, type=int))
    return render("admin/organization.html", "admin/_sub_chains_table.html", org=org, form=form,
                  sub_chains=sub_chains, status=422 if form.errors else 200)
