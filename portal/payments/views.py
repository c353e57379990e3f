"""Payment methods of a main chain: add a card, remove one, choose the default (Chain & User Managers).

Adding a card is a setup intent at the processor: the card is entered in its hosted fields (JavaScript) or on its
hosted page (without), perhaps authenticated (3-D Secure), and saved when the manager comes back to
`/payment-methods/return` (or the processor's webhook says so first).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires
from portal.errors import RuleError
from portal.extensions import db
from portal.payments import services
from portal.payments.charges import return_to
from portal.payments.forms import AddCardForm
from portal.payments.gateway import processor
from portal.payments.models import PaymentMethod
from portal.payments.processor import IntentState, ProcessorError
from portal.rendering import confirmation, render, show_rule_error

bp = Blueprint("payments", __name__, url_prefix="/payment-methods")
SEE_OTHER = 303


@bp.route("", methods=["GET", "POST"])
@requires(Permission.MANAGE_PAYMENT_METHODS)
def index():
    """Saved cards; add one."""
    org = active_organization()
    form = AddCardForm()
    if form.validate_on_submit():
        card_processor = processor()
        try:
            intent = services.start_saving(org, card_processor, f"setup-{org.id}-{secrets.token_hex(8)}",
                                           return_to("payments.saved"), make_default=form.make_default.data,
                                           payment_method_id=(form.payment_method_id.data or "").strip() or None)
        except ProcessorError:
            form.form_errors.append("That card could not be used. Enter it again, or use another card.")
        else:
            if intent.state is IntentState.REQUIRES_ACTION:  # 3-D Secure first
                return redirect(intent.next_action_url, SEE_OTHER)
            if intent.state is IntentState.REQUIRES_PAYMENT_METHOD and not intent.decline_message:
                return redirect(card_processor.hosted_page_url(intent, return_to("payments.saved")), SEE_OTHER)
            return _finish(org, intent.id)
    return _page(org, form)


@bp.get("/return")
@requires(Permission.MANAGE_PAYMENT_METHODS)
def saved():
    """Where the processor sends the manager back (`?setup_intent=`): the card is saved, or the page says why
    not."""
    return _finish(active_organization(), request.args.get("setup_intent", ""))


def _finish(org, setup_intent_id: str):
    form = AddCardForm(formdata=None)
    try:
        method = services.finish_saving(org, setup_intent_id, processor(), current_actor())
        db.session.commit()
    except ProcessorError:  # no such setup intent (or none named)
        db.session.rollback()
        flash("That card setup is not one this page can complete; no card was saved.", "error")
        return redirect(url_for("payments.index"))
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return _page(org, form, status=422)
    flash(f"{method.label} saved.", "success")
    return redirect(url_for("payments.index"))


def _page(org, form: AddCardForm, status: int | None = None):
    form.payment_method_id.data = ""  # a card the hosted fields gave is used once
    return render("payments/index.html", status=status or (422 if form.errors or form.form_errors else 200),
                  form=form, cards=services.saved_cards(org), confirm_form=ConfirmForm())


@bp.app_template_global()
def card_processor():
    """What a payment form loads from the processor: its script and the hosted card fields' address."""
    return processor().browser_side()


def _card(method_id: int) -> PaymentMethod:
    return get_in_scope_or_404(PaymentMethod, method_id, PaymentMethod.organization_id, current_user,
                               Permission.MANAGE_PAYMENT_METHODS)


@bp.route("/<int:method_id>/default", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def make_default(method_id: int):
    """Use this card by default at checkout."""
    card = _card(method_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_default(card, current_actor())
    db.session.commit()
    flash(f"{card.label} is now the default card.", "success")
    return redirect(url_for("payments.index"))


@bp.route("/<int:method_id>/remove", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def remove(method_id: int):
    """Forget a saved card, once asked."""
    card = _card(method_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Remove {card.label}?", button=f"Remove {card.label}",
                            message="The card is no longer offered at checkout; enter it again to use it.",
                            back=url_for("payments.index"))
    label = card.label
    services.remove_card(card, current_actor())
    db.session.commit()
    flash(f"{label} removed.", "success")
    return redirect(url_for("payments.index"))
