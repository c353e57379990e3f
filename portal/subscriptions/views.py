"""Manage Subscriptions: a main chain's device and location plans, how much of each is used, and their changes.

Each change is posted twice: first to see its price or effect (nothing changes), then with `confirm` to make it.
Every form works without JavaScript; htmx swaps only the change page's forms and follows a confirmed change to
the page that shows it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, make_response, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal.accounts.context import choose_organization, current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires
from portal.catalog.models import SubscriptionBasis
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db, htmx
from portal.hardware.installing import install_preview
from portal.money import Money, format_money
from portal.recurring.status import past_due_invoices
from portal.rendering import render, show_rule_error
from portal.seller.details import support_address
from portal.subscriptions import changes
from portal.subscriptions.forms import DecreaseForm, IncreaseForm, SwitchForm
from portal.subscriptions.models import Subscription
from portal.subscriptions.overview import plan_groups
from portal.subscriptions.services import current_period, is_running

bp = Blueprint("subscriptions", __name__)

BASIS_LABELS = {SubscriptionBasis.DEVICE: "Device plan", SubscriptionBasis.LOCATION: "Location plan"}


@bp.route("/subscriptions")
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def index():
    """Your plans: what each costs per unit at list price, when it renews and for how much, any change scheduled,
    a renewal past due, and how much of each you use."""
    org = active_organization()
    groups, needed = plan_groups(org.id)
    plans = [plan for group in groups for plan in group.plans]
    # Devices and locations are covered by one kind of plan or the other: a chain on a location plan needs no
    # device plan, so only a chain with no plan at all is told what its devices and locations would need.
    return render("subscriptions/index.html", org=org, groups=groups, basis_labels=BASIS_LABELS,
                  unplanned={} if groups else {basis: n for basis, n in needed.items() if n},
                  today=utcnow().date(), past_due=past_due_invoices(p.id for p in plans),
                  renewal_product=changes.renewal_product, is_running=is_running,
                  withdraw_form=ConfirmForm(), support=support_address(),
                  install_preview=install_preview(org.id, groups, needed))


def _plan_or_404(subscription_id: int) -> Subscription:
    """A device or location plan of a main chain the user manages subscriptions of; anyone else's is a 404, and
    so is a reseller plan (changed on /account/plan, portal/reseller_plans/plans.py)."""
    plan = get_in_scope_or_404(Subscription, subscription_id, Subscription.organization_id, current_user,
                               Permission.MANAGE_SUBSCRIPTIONS, joinedload(Subscription.product),
                               joinedload(Subscription.scheduled_product))
    if plan.product.basis is SubscriptionBasis.RESELLER:
        abort(404)
    return plan


def _change_page(plan: Subscription, status: int = 200, increase: IncreaseForm | None = None,
                 decrease: DecreaseForm | None = None, switch: SwitchForm | None = None, **quotes):
    today = utcnow().date()
    switch_offer, switch_refusal = None, None
    if is_running(plan):
        try:
            switch_offer = changes.quote_switch(plan)
        except RuleError as error:
            switch_refusal = error.message
    least, used, covered = changes.lowest_quantity(plan)
    return render("subscriptions/change.html", "subscriptions/_change.html", status=status, plan=plan,
                  product=plan.product, running=is_running(plan), period=current_period(plan), today=today,
                  last_paid=plan.next_payment_on - timedelta(days=1),
                  increase_form=increase or IncreaseForm(formdata=None),
                  decrease_form=decrease or DecreaseForm(formdata=None),
                  switch_form=switch or SwitchForm(formdata=None), switch_offer=switch_offer,
                  switch_refusal=switch_refusal, least=least, used=used, covered=covered, units=changes.units,
                  period_names=changes.PERIOD_NAMES, billed=changes.BILLED,
                  renewal_product=changes.renewal_product(plan), support=support_address(), **quotes)


def _done(message: str, target: str):
    """A confirmed change: say so on the page that shows it (htmx follows with a full page load)."""
    flash(message, "success")
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.route("/subscriptions/<int:subscription_id>/change")
@login_required  # the scoped lookup decides: another chain's plan is a 404
def change(subscription_id: int):
    """Change a plan: increase it now (prorated), lower or cancel it, or switch its interval at the end of the
    paid period; each shows its price or effect before you confirm it."""
    return _change_page(_plan_or_404(subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/increase", methods=["POST"])
@login_required
def increase(subscription_id: int):
    """Preview the prorated price of more of this plan, then put it in the cart (bought at checkout)."""
    plan = _plan_or_404(subscription_id)
    form = IncreaseForm()
    today = utcnow().date()
    try:
        if not form.validate_on_submit():
            raise RuleError("Check the quantity to add.")
        if form.confirm.data:
            org = db.session.get(Organization, plan.organization_id)
            item = changes.add_increase_to_cart(current_user, org, plan, form.quantity.data, form.quoted_minor,
                                                today, current_actor())
            quote = changes.quote_increase(plan, form.quantity.data, today)
            db.session.commit()
            active = active_organization()
            if active is None or active.id != org.id:
                choose_organization(org.id)  # the increase waits in the plan's chain's cart
            return _done(f"Added to your cart: {item.quantity} more {plan.product.unit_label} of {plan.product.name}, "
                         f"{quote.proration.description}. Check out to buy them.", url_for("cart.show"))
        quote = changes.quote_increase(plan, form.quantity.data, today)
    except RuleError as error:
        db.session.rollback()
        if error.field is None and form.confirm.data and not form.errors:  # the price moved: show the new one
            try:
                fresh = changes.quote_increase(plan, form.quantity.data, today)
            except RuleError:
                fresh = None
            form.form_errors.append(error.message)
            form.quoted.data = str(fresh.proration.list_minor) if fresh else ""
            return _change_page(plan, 422, increase=form, increase_quote=fresh)
        show_rule_error(form, error)
        return _change_page(plan, 422, increase=form)
    form.quoted.data = str(quote.proration.list_minor)
    return _change_page(plan, increase=form, increase_quote=quote)


@bp.route("/subscriptions/<int:subscription_id>/decrease", methods=["POST"])
@login_required
def decrease(subscription_id: int):
    """Preview a lower quantity (0 cancels) from the next payment on, then schedule it."""
    plan = _plan_or_404(subscription_id)
    form = DecreaseForm()
    try:
        if not form.validate_on_submit():
            raise RuleError("Check the new quantity.")
        if form.confirm.data:
            quote = changes.schedule_decrease(plan, form.quantity.data, current_user, current_actor())
            db.session.commit()
            return _done(_scheduled_message(quote), url_for("subscriptions.index"))
        quote = changes.quote_decrease(plan, form.quantity.data)
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return _change_page(plan, 422, decrease=form)
    return _change_page(plan, decrease=form, decrease_quote=quote)


def _scheduled_message(quote: changes.DecreaseQuote) -> str:
    name = quote.plan.product.name
    if quote.cancels:
        return (f"{name} is scheduled to be cancelled: it ends on {quote.last_paid_day.isoformat()}, the last day "
                "paid for. You can withdraw this until then.")
    price = format_money(Money(quote.new_price_minor, quote.product.currency))
    return (f"{name} is scheduled to lower to {quote.quantity} {quote.product.unit_label} on "
            f"{quote.takes_effect_on.isoformat()}, for {price} per {quote.period} at list price. You can withdraw "
            "this until then.")


@bp.route("/subscriptions/<int:subscription_id>/switch", methods=["POST"])
@login_required
def switch(subscription_id: int):
    """Preview the plan on the other billing interval from the next payment on, then schedule the switch."""
    plan = _plan_or_404(subscription_id)
    form = SwitchForm()
    try:
        if not form.validate_on_submit():
            raise RuleError("The form expired: try again.")
        if form.confirm.data:
            quote = changes.schedule_switch(plan, current_user, current_actor())
            db.session.commit()
            return _done(f"{plan.product.name} is scheduled to switch to {quote.target.name} ({quote.new_interval}) "
                         f"on {quote.takes_effect_on.isoformat()}. You can withdraw this until then.",
                         url_for("subscriptions.index"))
        quote = changes.quote_switch(plan)
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return _change_page(plan, 422, switch=form)
    return _change_page(plan, switch=form, switch_quote=quote)


@bp.route("/subscriptions/<int:subscription_id>/withdraw", methods=["POST"])
@login_required
def withdraw(subscription_id: int):
    """Withdraw the plan's scheduled change: it renews as it is."""
    plan = _plan_or_404(subscription_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        changes.withdraw_change(plan, current_user, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("subscriptions.index"))
    db.session.commit()
    return _done(f"The change scheduled for {plan.product.name} is withdrawn: it renews as it is on "
                 f"{plan.next_payment_on.isoformat()}.", url_for("subscriptions.index"))
