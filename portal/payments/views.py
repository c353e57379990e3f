"""Payment methods of a main chain: add a card, remove one, choose the default (Chain & User Managers)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires
from portal.extensions import db
from portal.payments import services
from portal.payments.cards import check_card
from portal.payments.forms import AddCardForm
from portal.payments.gateway import gateway
from portal.payments.models import PaymentMethod
from portal.rendering import confirmation, render, submit

bp = Blueprint("payments", __name__, url_prefix="/payment-methods")


@bp.route("", methods=["GET", "POST"])
@requires(Permission.MANAGE_PAYMENT_METHODS)
def index():
    """Saved cards; add one."""
    org = active_organization()
    form = AddCardForm()

    def save():
        card = check_card(form.card_number.data, form.exp_month.data, form.exp_year.data, form.holder_name.data or "")
        return services.save_card(org, card, gateway(), current_actor(), make_default=form.make_default.data)

    if saved := submit(form, save):
        flash(f"{saved.value.label} saved.", "success")
        return redirect(url_for("payments.index"))
    form.card_number.data = ""  # a card number is never sent back to the browser
    return render("payments/index.html", status=422 if form.errors else 200, form=form,
                  cards=services.saved_cards(org), confirm_form=ConfirmForm())


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
