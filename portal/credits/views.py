"""Staff issue credit notes (issue 13 item 5): find the invoice to correct (/admin/credit-notes, which also lists
the latest credit notes), then give the amount and the reason (/admin/invoices/<number>/credit-note) and, for an
invoice paid by card, whether to refund the credit to that card (issue 21 item 6). Routes register on the admin
blueprint; portal/admin/views.py imports this module."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.admin import bp
from portal.admin.organization_views import not_found_unless_staff
from portal.authz import Permission, requires
from portal.billing.models import Invoice, InvoicePayment, InvoiceSeries
from portal.credits import issuing, refunds
from portal.credits.forms import CreditNoteForm
from portal.credits.models import CreditRefund, RefundStatus
from portal.extensions import db
from portal.money import Money, format_money
from portal.payments.gateway import gateway
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


def _page(invoice: Invoice, form: CreditNoteForm, payment: InvoicePayment | None, status: int = 200):
    room = issuing.creditable(invoice)
    notes = db.session.scalars(select(Invoice).where(Invoice.corrects_id == invoice.id)
                               .order_by(Invoice.sequence)).all()
    refunds_of = {r.credit_note_id: r for r in db.session.scalars(
        select(CreditRefund).where(CreditRefund.credit_note_id.in_([n.id for n in notes])))} if notes else {}
    return render("credits/issue.html", status=status, invoice=invoice, form=form, room=room, notes=notes,
                  several_rates=issuing.SEVERAL_RATES, payment=payment, refunds_of=refunds_of,
                  refundable=refunds.refundable_minor(payment) if payment else 0)


@bp.route("/invoices/<invoice_number>/credit-note", methods=["GET", "POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def issue_credit_note(invoice_number: str):
    """Issue a credit note against an issued invoice: an amount (tax included) and a reason; its credit pays
    what the invoice still owes, else the organization's next invoices; or, for an invoice paid by card, is
    refunded to that card (portal/credits/refunds.py)."""
    invoice = _by_number(invoice_number)
    if invoice is None:
        abort(404)
    if invoice.is_credit_note:
        flash(issuing.NOT_CREDITABLE, "error")
        return redirect(url_for("admin.credit_notes"))
    payment = refunds.card_payment(invoice)
    form = CreditNoteForm(data={"currency": invoice.currency} if request.method == "GET" else None)
    if payment is not None:
        form.refund.label.text = f"Refund it to the card that paid: {refunds.card_label(payment)}"

    def issue():
        amount = issuing.parse_credit_amount(invoice, form.amount.data, form.currency.data)
        if form.refund.data:  # refused beside the field when the invoice was not paid by card (a forged post)
            return refunds.record_refund(invoice, amount, form.reason.data, current_actor())
        return issuing.issue_credit_note(invoice, amount, form.reason.data, current_actor())

    saved = submit(form, issue)  # committed: a refund is recorded before the processor is asked
    if saved:
        refund = saved.value if isinstance(saved.value, CreditRefund) else None
        note = db.session.get(Invoice, refund.credit_note_id) if refund else saved.value
        issued = (f"Credit note {note.number} issued: {format_money(Money(note.total_minor, note.currency))} on "
                  f"{invoice.number}, emailed to {invoice.organization.name}.")
        if refund is None:
            flash(issued, "success")
        else:
            card = refunds.card_label(payment)
            status = refunds.send_refund(refund, gateway(), current_actor())
            if status is RefundStatus.SUCCEEDED:
                flash(f"{issued} Refunded to {card}.", "success")
            elif status is RefundStatus.FAILED:
                flash(f"{issued} The card processor refused the refund to {card}: nothing was refunded, and the "
                      f"credit stays available for the organization's next invoices.", "error")
            else:
                flash(f"{issued} The card processor did not answer: the refund to {card} stays pending and is "
                      f"sent again by the payments reconcile job.", "error")
        return redirect(url_for("admin.credit_notes"))
    if request.method == "POST" and not (form.errors or form.form_errors):
        form.form_errors.append("Nothing was issued.")
    return _page(invoice, form, payment, status=422 if request.method == "POST" else 200)

