"""Staff pages of organizations (/admin/organizations): find one, and set a main chain's commercial terms (billing
mode, partner tier, grandfathered payment methods); see its plans with their renewals, and correct a plan's next
payment date with a reason."""

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
from portal.admin.forms import CommercialTermsForm, NextPaymentCorrectionForm, PutOnPlanForm
from portal.authz import Permission, can, requires
from portal.billing.models import Invoice
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.services import place_plan_order_for
from portal.pagination import window
from portal.recurring import corrections
from portal.recurring.status import past_due_invoices, renewal_history
from portal.rendering import render, submit
from portal.reseller_plans import plans
from portal.subscriptions.models import Subscription
from portal.subscriptions.overview import chain_plans

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


def _plans_context(org: Organization, correction_forms: dict[int, NextPaymentCorrectionForm]) -> dict:
    """The organization's plans with their past-due invoices and a correction form each, and its renewal history
    with each renewal's invoice and product (each loaded in one statement, whatever the number of renewals)."""
    plans = chain_plans(org.id)
    ids = [plan.id for plan in plans]
    history = renewal_history(ids)
    invoice_ids = {renewal.invoice_id for renewal, _ in history}
    product_ids = {renewal.product_id for renewal, _ in history}
    invoices = {i.id: i for i in db.session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))} \
        if invoice_ids else {}
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(product_ids)))} \
        if product_ids else {}
    forms = {plan.id: correction_forms.get(plan.id) or NextPaymentCorrectionForm(
        formdata=None, prefix=f"plan-{plan.id}", data={"next_payment_on": plan.next_payment_on}) for plan in plans}
    return {"plans": plans, "past_due": past_due_invoices(ids), "history": history, "history_invoices": invoices,
            "history_products": products, "correction_forms": forms, "today": utcnow().date()}


def _organization_page(org: Organization, form: CommercialTermsForm,
                       correction_forms: dict[int, NextPaymentCorrectionForm] | None = None, status: int = 200,
                       plan_form: PutOnPlanForm | None = None):
    sub_chains = _sub_chains_window(org, request.args.get("page", 1, type=int))
    return render("admin/organization.html", "admin/_sub_chains_table.html", org=org, form=form,
                  sub_chains=sub_chains, status=status, **_plans_context(org, correction_forms or {}),
                  reseller_state=plans.reseller_plan(org) if org.is_main_chain else None,
                  is_reseller=plans.is_reseller(org), plan_form=plan_form or PutOnPlanForm(formdata=None))


@bp.route("/organizations/<int:org_id>/plan", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def put_on_plan(org_id: int):
    """Put a reseller on Free or Standard: the order placed on its behalf, billed by its terms (audited)."""
    org = _organization_or_404(org_id)
    form = PutOnPlanForm()
    product = plans.plan_products().get(form.plan.data or "")
    saved = submit(form, lambda: place_plan_order_for(
        org, product, (form.storefront_alias.data or "").strip(), current_user, current_actor()) if product
        else _no_plan())
    if saved:
        flash(f"{org.name} is on {product.name} (order {saved.value.number}).", "success")
        return redirect(url_for("admin.organization", org_id=org.id))
    org = _organization_or_404(org_id)  # read again: the refused change was rolled back
    return _organization_page(org, CommercialTermsForm(obj=org, formdata=None), status=422, plan_form=form)


def _no_plan():
    raise RuleError("Choose Free or Standard.", field="plan")


@bp.route("/organizations/<int:org_id>", methods=["GET", "POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def organization(org_id: int):
    """One organization: a main chain's commercial terms, editable; its plans, renewals and past-due state; its
    sub-chains, read-only."""
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
    return _organization_page(org, form, status=422 if form.errors else 200)


@bp.route("/organizations/<int:org_id>/plans/<int:plan_id>/next-payment", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def correct_next_payment(org_id: int, plan_id: int):
    """Correct a plan's next payment date, with the reason (audited); a plan of another organization is a 404."""
    org = _organization_or_404(org_id)
    plan = db.session.scalars(select(Subscription).where(Subscription.id == plan_id,
                                                         Subscription.organization_id == org.id)
                              .options(joinedload(Subscription.product))).first()
    if plan is None:
        abort(404)
    correction = NextPaymentCorrectionForm(prefix=f"plan-{plan.id}")
    old = plan.next_payment_on
    if submit(correction, lambda: corrections.correct_next_payment(
            plan, correction.next_payment_on.data, correction.reason.data, current_actor(), utcnow().date())):
        flash(f"Next payment date of {plan.product.name} corrected: {old.isoformat()} → "
              f"{plan.next_payment_on.isoformat()}.", "success")
        return redirect(url_for("admin.organization", org_id=org.id) + "#plans-heading")
    org = _organization_or_404(org_id)  # read again: the refused change was rolled back
    return _organization_page(org, CommercialTermsForm(obj=org, formdata=None), {plan.id: correction}, status=422)
