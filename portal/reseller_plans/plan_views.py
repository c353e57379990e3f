"""The Reseller plans page (/account/plan): the chain's plan, the comparison of Basic, Free and Standard, buying a
plan through the cart, cancelling, withdrawing a change, moving Standard to Free, the storefront's notification
recipients, and the storefront alias check that checkout's field calls as it is typed."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import InputRequired

from portal.accounts.context import current_actor
from portal.authz import Permission, active_organization, requires
from portal.cart.services import add_to_cart, cart_items
from portal.catalog.services import configure
from portal.errors import RuleError
from portal.extensions import db
from portal.rendering import render, show_rule_error, submit
from portal.reseller_plans import aliases, plans

bp = Blueprint("reseller_plans", __name__)


class ChoosePlanForm(FlaskForm):
    """Add Free or Standard to the cart."""

    plan = HiddenField(validators=[InputRequired()])


class ConfirmForm(FlaskForm):
    """A button that confirms a change (cancel, withdraw, switch to Free)."""


class NotifyForm(FlaskForm):
    """Who else receives the storefront's notifications (the welcome email…), one address a line."""

    notify_emails = TextAreaField("Also send storefront notifications to",
                                  description="One email address a line, at most 10. Your Chain & User Managers "
                                              "always receive them.")


def _page(status: int = 200, notify: NotifyForm | None = None, choose: ChoosePlanForm | None = None):
    org = active_organization()
    state = plans.reseller_plan(org)
    if notify is None:
        notify = NotifyForm(notify_emails="\n".join(state.storefront.notify_emails or []) if state.storefront
                            else "")
    return render("reseller_plans/plan.html", status=status, org=org, state=state, products=plans.plan_products(),
                  reseller=plans.is_reseller(org), choose=choose or ChoosePlanForm(), confirm=ConfirmForm(),
                  notify=notify, PlanName=plans.PlanName, FREE=plans.FREE, STANDARD=plans.STANDARD)


@bp.route("/account/plan")
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan():
    """Your reseller plan, what each plan offers, and the buttons that buy, change or cancel it."""
    return _page()


@bp.route("/account/plan/choose", methods=["POST"])
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan_choose():
    """Put Free or Standard in the cart (checkout asks for the storefront alias)."""
    org = active_organization()
    form = ChoosePlanForm()
    product = plans.plan_products().get(form.plan.data or "")
    try:
        if not form.validate_on_submit() or product is None:
            raise RuleError("Choose Free or Standard.", field="plan")
        if not plans.is_reseller(org):
            raise RuleError("Reseller plans are for resellers' main chains (a chain with a partner tier).")
        if any(plans.is_plan_product(item.product) for item in cart_items(current_user, org)):
            raise RuleError("A reseller plan is already in your cart: check out, or remove it first.")
        plans.check_plan_choice(org, product)
        add_to_cart(current_user, org, configure(product, None, 1, []), None, current_actor())
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        flash(error.message, "error")
        return _page(422, choose=form)
    db.session.commit()
    flash(f"Added to your cart: {product.name}. Check out to start it.", "success")
    return redirect(url_for("cart.show"))


@bp.route("/account/plan/cancel", methods=["GET", "POST"])
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan_cancel():
    """Cancel the plan at the end of its paid period (a confirmation page first)."""
    org = active_organization()
    state = plans.reseller_plan(org)
    form = ConfirmForm()
    if request.method == "POST":
        saved = submit(form, lambda: plans.cancel_plan(org, current_user.id, current_actor()))
        if saved is not None:
            last = saved.value.next_payment_on - timedelta(days=1)
            flash(f"Your plan is cancelled at the end of its paid period: the storefront works until {last} "
                  "included. You can withdraw the cancellation until then.", "success")
            return redirect(url_for("reseller_plans.plan"))
    if not state.has_plan:
        return redirect(url_for("reseller_plans.plan"))
    return render("reseller_plans/plan_cancel.html", status=422 if form.errors else 200, state=state, form=form,
                  last_day=state.subscription.next_payment_on - timedelta(days=1))


@bp.route("/account/plan/withdraw", methods=["POST"])
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan_withdraw():
    """Withdraw a scheduled cancellation or move to Free: the plan renews as it is."""
    org = active_organization()
    form = ConfirmForm()
    if submit(form, lambda: plans.withdraw_change(org, current_actor())) is not None:
        flash("The scheduled change is withdrawn: your plan renews as it is.", "success")
    else:
        flash(" ".join(form.form_errors) or "The page expired: try again.", "error")
    return redirect(url_for("reseller_plans.plan"))


@bp.route("/account/plan/switch-to-free", methods=["POST"])
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan_switch_free():
    """Move Standard to Free at the end of the paid period."""
    org = active_organization()
    form = ConfirmForm()
    if submit(form, lambda: plans.schedule_free(org, current_user.id, current_actor())) is not None:
        flash("Your plan moves to Free at its next payment; until then Standard's prices and branding apply.",
              "success")
    else:
        flash(" ".join(form.form_errors) or "The page expired: try again.", "error")
    return redirect(url_for("reseller_plans.plan"))


@bp.route("/account/plan/notifications", methods=["POST"])
@requires(Permission.MANAGE_SUBSCRIPTIONS)
def plan_notifications():
    """Who else receives the storefront's notifications (the welcome email…)."""
    org = active_organization()
    form = NotifyForm()
    storefront = plans.storefront_of(org.main_chain_id)
    if storefront is None:
        flash("Your chain has no storefront yet.", "error")
        return redirect(url_for("reseller_plans.plan"))
    if submit(form, lambda: plans.set_notify_emails(storefront, form.notify_emails.data or "",
                                                    current_actor())) is None:
        return _page(422, notify=form)
    flash("Saved: who receives the storefront's notifications.", "success")
    return redirect(url_for("reseller_plans.plan"))


@bp.route("/account/plan/alias")
@requires(Permission.BUY)
def alias_check():
    """The storefront alias field with its verdict (checkout's field asks as it is typed)."""
    typed = request.args.get("alias", request.args.get("storefront_alias", ""))
    storefront = plans.storefront_of(active_organization().main_chain_id)
    verdict = aliases.verdict(typed[:200], storefront.id if storefront else None)
    return render("reseller_plans/_alias_field.html", alias_value=typed[:200], alias_errors=[], verdict=verdict)
