"""Staff issue credit notes (issue 13 item 5): find the invoice to correct (/admin/credit-notes, which also lists
the latest credit notes), then give the amount and the reason (/admin/invoices/<number>/credit-note). Routes
register on the admin blueprint; portal/admin/views.py imports this module."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.admin import bp
from portal.admin.organization_views import not_found_unless_staff
from portal.authz import Permission, requires
from portal.billing.models import Invoice, InvoiceSeries
from portal.credits import issuing
from portal.credits.forms import CreditNoteForm
from portal.extensions import db
from portal.money import Money, format_money
from portal.rendering import render, submit

LATEST = 50
NUMBER_LENGTH = 20  # Invoice.number


def _by_number(number: str) -> Invoice | None:
    return db.session.scalars(select(Invoice).where(Invoice.number == number)
                              .options(joinedload(Invoice.organization))).first()


@bp.route("/credit-notes")
@requires(Permission.STAFF)
def credit_notes():
    """Find the invoice to credit by its number; the latest credit notes, with what their credit paid."""
    typed = request.args.get("invoice", "").strip()
    error = None
    if typed:
        number = typed.upper()[:NUMBER_LENGTH]
        invoice = _by_number(number)
        if invoice is None:
            error = f"No invoice has the number {typed[:40]}."
        elif invoice.is_credit_note:
            error = issuing.NOT_CREDITABLE
        else:
            return redirect(url_for("admin.issue_credit_note", invoice_number=invoice.number))
    corrected = Invoice.__table__.alias("corrected")
    latest = db.session.execute(
        select(Invoice, corrected.c.number).join(corrected, corrected.c.id == Invoice.corrects_id)
        .where(Invoice.series == InvoiceSeries.CREDIT).options(joinedload(Invoice.organization))
        .order_by(Invoice.sequence.desc()).limit(LATEST)).all()
    return render("credits/index.html", status=422 if error else 200, typed=typed, error=error, latest=latest)


def _page(invoice: Invoice, form: CreditNoteForm, status: int = 200):
    room = issuing.creditable(invoice)
    notes = db.session.scalars(select(Invoice).where(Invoice.corrects_id == invoice.id)
                               .order_by(Invoice.sequence)).all()
    return render("credits/issue.html", status=status, invoice=invoice, form=form, room=room, notes=notes,
                  several_rates=issuing.SEVERAL_RATES)


@bp.route("/invoices/<invoice_number>/credit-note", methods=["GET", "POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def issue_credit_note(invoice_number: str):
    """Issue a credit note against an issued invoice: an amount (tax included) and a reason; its credit pays
    what the invoice still owes, else the organization's next invoices."""
    invoice = _by_number(invoice_number)
    if invoice is None:
        abort(404)
    if invoice.is_credit_note:
        flash(issuing.NOT_CREDITABLE, "error")
        return redirect(url_for("admin.credit_notes"))
    form = CreditNoteForm(data={"currency": invoice.currency} if request.method == "GET" else None)
    saved = submit(form, lambda: issuing.issue_credit_note(
        invoice, issuing.parse_credit_amount(invoice, form.amount.data, form.currency.data), form.reason.data,
        current_actor()))
    if saved:
        note = saved.value
        flash(f"Credit note {note.number} issued: {format_money(Money(note.total_minor, note.currency))} on "
              f"{invoice.number}, emailed to {invoice.organization.name}.", "success")
        return redirect(url_for("admin.credit_notes"))
    if request.method == "POST" and not (form.errors or form.form_errors):
        form.form_errors.append("Nothing was issued.")
    return _page(invoice, form, status=422 if request.method == "POST" else 200)

