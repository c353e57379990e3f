"""Payments: the receipts of the money a main chain paid, with the invoices each paid (whoever sees its invoices).

A receipt is looked up by number within what the user may see (Permission.VIEW_INVOICES, like its invoices):
another tenant's receipt is a 404, its PDF included."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, request
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.authz import Permission, active_organization, requires, scoped
from portal.billing.documents import PdfUnavailable
from portal.billing.services import Period
from portal.csv_export import streamed_csv
from portal.extensions import db
from portal.pagination import window
from portal.receipts import services
from portal.receipts.models import Receipt
from portal.rendering import render
from portal.storage import send_stored

bp = Blueprint("receipts", __name__)
PER_PAGE = 25



def _listed_receipts(stmt):
    return scoped(stmt, Receipt.organization_id, current_user, Permission.VIEW_INVOICES)


def _receipts_in_view() -> tuple[object, str]:
    """The active organization's receipts, of the month in ?period=YYYY-MM if one is given (else every month)."""
    period = Period.from_filter(request.args.get("period", ""))
    stmt = _listed_receipts(services.receipts_query(active_organization().id, period))
    return stmt, str(period) if period else ""


@bp.route("/payments", endpoint="index")
@requires(Permission.VIEW_INVOICES)
def payments_page():
    """Payments your chain made, newest first: each receipt with its date, method, amount and the invoices it
    paid; by month."""
    stmt, period = _receipts_in_view()
    page = window(stmt, request.args.get("page", 1, type=int), PER_PAGE)
    return render("receipts/index.html", "receipts/_list.html", receipts=page, period=period,
                  paid=services.invoices_paid([receipt.id for receipt in page.items]))


@bp.route("/payments.csv", endpoint="export")
@requires(Permission.VIEW_INVOICES)
def payments_csv():
    """The payments, with the month filter, as a CSV file for a spreadsheet or the accounts package."""
    stmt, period = _receipts_in_view()
    return streamed_csv(f"payments-{period or date.today().isoformat()}.csv", services.CSV_HEADER,
                        services.csv_rows(stmt))


def _receipt_or_404(number: str) -> Receipt:
    """The receipt with that number, if the user may see it; anything else is a 404."""
    receipt = db.session.scalars(_listed_receipts(select(Receipt).where(Receipt.number == number))).first()
    if receipt is None:
        abort(404)
    return receipt


@bp.route("/payments/<receipt_number>", endpoint="detail")
@login_required  # the scoped lookup decides: another tenant's receipt is a 404
def receipt_page(receipt_number: str):
    """One receipt: when, how and how much was paid, by whom, and the invoices it paid."""
    receipt = _receipt_or_404(receipt_number)
    return render("receipts/detail.html", receipt=receipt,
                  paid=services.invoices_paid([receipt.id]).get(receipt.id, []))


@bp.route("/payments/<receipt_number>.pdf", endpoint="pdf")
@login_required  # the scoped lookup decides: another tenant's receipt is a 404
def receipt_pdf(receipt_number: str):
    """Download the receipt as PDF: the file stored when it was first rendered."""
    receipt = _receipt_or_404(receipt_number)
    try:
        services.store_receipt_pdf(receipt)  # renders only the first time
        db.session.commit()
    except PdfUnavailable:
        db.session.rollback()
        abort(503)
    return send_stored(receipt, receipt.pdf_filename)
