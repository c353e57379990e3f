"""Payment methods of a main chain: add a card, remove one, choose the default (Chain & User Managers); and
Payments, the receipts of the money it paid, with the invoices each paid (whoever sees its invoices).

A receipt is looked up by number within what the user may see (Permission.VIEW_INVOICES, like its invoices):
another tenant's receipt is a 404, its PDF included."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires, scoped
from portal.billing.documents import PdfUnavailable
from portal.billing.services import Period
from portal.csv_export import streamed_csv
from portal.extensions import db
from portal.pagination import window
from portal.payments import receipts, services
from portal.payments.cards import check_card
from portal.payments.forms import AddCardForm
from portal.payments.gateway import gateway
from portal.payments.models import PaymentMethod, Receipt
from portal.rendering import render, submit
from portal.storage import send_stored

bp = Blueprint("payments", __name__, url_prefix="/payment-methods")
receipts_bp = Blueprint("receipts", __name__)
RECEIPTS_PER_PAGE = 25


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
    card = get_in_scope_or_404(PaymentMethod, method_id, PaymentMethod.organization_id, current_user,
                               Permission.MANAGE_PAYMENT_METHODS)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return card


@bp.route("/<int:method_id>/default", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def make_default(method_id: int):
    """Use this card by default at checkout."""
    card = _card(method_id)
    services.set_default(card, current_actor())
    db.session.commit()
    flash(f"{card.label} is now the default card.", "success")
    return redirect(url_for("payments.index"))


@bp.route("/<int:method_id>/remove", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def remove(method_id: int):
    """Forget a saved card."""
    card = _card(method_id)
    label = card.label
    services.remove_card(card, current_actor())
    db.session.commit()
    flash(f"{label} removed.", "success")
    return redirect(url_for("payments.index"))


# ---------------------------------------------------------------- Payments: receipts


def _listed_receipts(stmt):
    return scoped(stmt, Receipt.organization_id, current_user, Permission.VIEW_INVOICES)


def _receipts_in_view() -> tuple[object, str]:
    """The active organization's receipts, of the month in ?period=YYYY-MM if one is given (else every month)."""
    period = Period.from_filter(request.args.get("period", ""))
    stmt = _listed_receipts(receipts.receipts_query(active_organization().id, period))
    return stmt, str(period) if period else ""


@receipts_bp.route("/payments", endpoint="index")
@requires(Permission.VIEW_INVOICES)
def payments_page():
    """Payments your chain made, newest first: each receipt with its date, method, amount and the invoices it
    paid; by month."""
    stmt, period = _receipts_in_view()
    page = window(stmt, request.args.get("page", 1, type=int), RECEIPTS_PER_PAGE)
    return render("payments/receipts.html", "payments/_receipts.html", receipts=page, period=period,
                  paid=receipts.invoices_paid([receipt.id for receipt in page.items]))


@receipts_bp.route("/payments.csv", endpoint="export")
@requires(Permission.VIEW_INVOICES)
def payments_csv():
    """The payments, with the month filter, as a CSV file for a spreadsheet or the accounts package."""
    stmt, period = _receipts_in_view()
    return streamed_csv(f"payments-{period or date.today().isoformat()}.csv", receipts.CSV_HEADER,
                        receipts.csv_rows(stmt))


def _receipt_or_404(number: str) -> Receipt:
    """The receipt with that number, if the user may see it; anything else is a 404."""
    receipt = db.session.scalars(_listed_receipts(select(Receipt).where(Receipt.number == number))).first()
    if receipt is None:
        abort(404)
    return receipt


@receipts_bp.route("/payments/<receipt_number>", endpoint="detail")
@login_required  # the scoped lookup decides: another tenant's receipt is a 404
def receipt_page(receipt_number: str):
    """One receipt: when, how and how much was paid, by whom, and the invoices it paid."""
    receipt = _receipt_or_404(receipt_number)
    return render("payments/receipt.html", receipt=receipt,
                  paid=receipts.invoices_paid([receipt.id]).get(receipt.id, []))


@receipts_bp.route("/payments/<receipt_number>.pdf", endpoint="pdf")
@login_required  # the scoped lookup decides: another tenant's receipt is a 404
def receipt_pdf(receipt_number: str):
    """Download the receipt as PDF: the file stored when it was first rendered."""
    receipt = _receipt_or_404(receipt_number)
    try:
        path = receipts.store_receipt_pdf(receipt)  # renders only the first time
        db.session.commit()
    except PdfUnavailable:
        db.session.rollback()
        abort(503)
    return send_stored(receipt, path, receipt.pdf_filename)
