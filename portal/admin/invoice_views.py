"""Staff pages of invoicing: run the monthly summary (/admin/invoices), record wire, ACH and check payments as they
arrive, set the tax rates by billing country and region (/admin/taxes) and the seller and bank details invoices
print (/admin/settings)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization
from portal.admin import bp
from portal.admin.organization_views import not_found_unless_staff
from portal.audit.services import record
from portal.authz import Permission, requires
from portal.billing.forms import RecordPaymentForm, SellerSettingsForm, SummarizeForm, TaxRateForm
from portal.billing.jobs import run_monthly_summary
from portal.billing.models import Invoice, InvoiceStatus, PaymentMethodKind
from portal.billing.services import Period
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.money import format_amount
from portal.pagination import window
from portal.receipts import paying
from portal.receipts.methods import METHOD_LABELS
from portal.recurring.forms import RenewForm
from portal.recurring.run import renew, summary_lines
from portal.rendering import confirmation, render, show_rule_error, submit
from portal.seller import details, taxes
from portal.seller.models import TaxRate
from portal.words import plural

PER_PAGE = 50


def _open_invoices(search: str, page: int):
    stmt = (select(Invoice).join(Organization, Organization.id == Invoice.organization_id)
            .where(Invoice.status.in_((InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)),
                   Invoice.issuer_id.is_(None))  # the vendor's: a reseller's storefront invoices are its own
            .options(joinedload(Invoice.organization)))
    if search:
        stmt = stmt.where(or_(Invoice.number.icontains(search, autoescape=True),
                              Organization.name.icontains(search, autoescape=True)))
    # Announced transfers first: those are the payments staff are waiting to see arrive.
    stmt = stmt.order_by((Invoice.status == InvoiceStatus.PAYMENT_PENDING).desc(), Invoice.due_on, Invoice.id)
    return window(stmt, page, PER_PAGE)


def _invoices_page(summarize_form: SummarizeForm | None = None, payment_forms: dict | None = None,
                   made: list | None = None, status: int = 200, renew_form: RenewForm | None = None,
                   renewed: list[str] | None = None):
    search = request.args.get("q", "").strip()[:100]
    found = _open_invoices(search, request.args.get("page", 1, type=int))
    payment_forms = payment_forms or {}
    forms = {inv.number: payment_forms.get(inv.number) or RecordPaymentForm(
        formdata=None, prefix=f"pay-{inv.id}", data={"amount": inv.amount_due_minor}) for inv in found.items}
    if summarize_form is None:
        summarize_form = SummarizeForm(formdata=None, data={"period": str(Period.before(utcnow().date()))})
    if renew_form is None:
        renew_form = RenewForm(formdata=None, data={"day": utcnow().date()})
    return render("admin/invoices.html", "admin/_open_invoices.html", found=found, search=search, forms=forms,
                  summarize_form=summarize_form, made=made, status=status, renew_form=renew_form,
                  renewed=renewed)


@bp.route("/invoices")
@requires(Permission.STAFF)
def invoices():
    """Start the monthly summary; the invoices awaiting payment, to record wires, ACH and checks."""
    return _invoices_page()


@bp.route("/invoices/summarize", methods=["POST"])
@requires(Permission.STAFF)
def summarize():
    """Make the summary invoices of a month (what `flask invoices summarize` does), and show what was made."""
    form = SummarizeForm()
    if not form.validate_on_submit():
        return _invoices_page(summarize_form=form, status=422)
    try:
        period = Period.parse(form.period.data)
    except RuleError as error:
        show_rule_error(form, error)
        return _invoices_page(summarize_form=form, status=422)
    made = run_monthly_summary(period, actor=current_actor())  # commits per organization
    if made:
        flash(plural(len(made), "%(num)d summary invoice made for %(period)s.",
                     "%(num)d summary invoices made for %(period)s.", period=period), "success")
    else:
        flash(f"Nothing to summarize for {period}: every order invoice of that month is in a summary.", "info")
    return _invoices_page(made=made)


@bp.route("/invoices/renew", methods=["POST"])
@requires(Permission.STAFF)
def run_renewals():
    """Run the renewals due by a day (what `flask billing renew` does): bill, charge, and show what was done."""
    form = RenewForm()
    if not form.validate_on_submit():
        return _invoices_page(renew_form=form, status=422)
    run = renew(form.day.data, actor=current_actor())  # commits per batch of organizations, and per charge
    renewed = summary_lines(run)
    record(current_actor(), "renewal.run", form.day.data, None, day=form.day.data.isoformat(),
           invoices=run.invoices, plans=run.plans, licenses=run.licenses, charged=run.collection.charged,
           declined=run.collection.declined)
    db.session.commit()
    flash(renewed[0], "success" if run.invoices else "info")
    return _invoices_page(renewed=renewed)


@bp.route("/invoices/<invoice_number>/payment", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def record_payment(invoice_number: str):
    """Record a wire, ACH or check payment that arrived: the invoice is paid."""
    invoice = db.session.scalars(select(Invoice).where(Invoice.number == invoice_number)).first()
    if invoice is None:
        abort(404)
    form = RecordPaymentForm(prefix=f"pay-{invoice.id}")
    saved = submit(form, lambda: paying.record_transfer(
        invoice, PaymentMethodKind(form.method.data), form.amount.data, form.reference.data or "",
        current_actor()))
    if saved:
        flash(f"Invoice {invoice_number} is paid: {format_amount(saved.value.amount_minor)} "
              f"{invoice.currency} by {METHOD_LABELS[saved.value.method].lower()}.", "success")
        return redirect(url_for("admin.invoices"))
    if not form.errors:
        form.form_errors.append(f"Nothing was recorded for {invoice_number}.")
    return _invoices_page(payment_forms={invoice_number: form}, status=422)


# ---------------------------------------------------------------- tax rates


def _taxes_page(form: TaxRateForm | None = None, status: int = 200):
    return render("admin/taxes.html", rates=taxes.tax_rates(), form=form or TaxRateForm(formdata=None),
                  confirm_form=ConfirmForm(), categories=taxes.CATEGORY_LABELS, status=status)


@bp.route("/taxes", methods=["GET", "POST"])
@requires(Permission.STAFF)
def tax_rates():
    """The tax rate of each billing country (and region); set one, or replace a place's rate."""
    form = TaxRateForm()
    saved = submit(form, lambda: taxes.set_tax_rate(form.country.data, form.region.data or "", form.label.data,
                                                    form.rate.data, form.category.data, current_actor()))
    if saved:
        rate = saved.value
        flash(f"{rate.label} ({rate.country}{' ' + rate.region if rate.region else ''}) saved; orders placed from "
              "now on are taxed at this rate.", "success")
        return redirect(url_for("admin.tax_rates"))
    return _taxes_page(form, status=422 if form.errors else 200)


@bp.route("/taxes/<int:rate_id>/remove", methods=["GET", "POST"])
@requires(Permission.STAFF)
def remove_tax_rate(rate_id: int):
    """Stop charging a rate, once asked (orders already placed keep their tax)."""
    rate = db.session.get(TaxRate, rate_id) or abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Stop charging {rate.label}?",
                            message="New orders and invoices no longer charge it; those already placed keep their "
                                    "tax.", button=f"Remove {rate.label}", back=url_for("admin.tax_rates"))
    label = rate.label
    taxes.remove_tax_rate(rate, current_actor())
    db.session.commit()
    flash(f"{label} removed.", "success")
    return redirect(url_for("admin.tax_rates"))


# ---------------------------------------------------------------- seller and bank details


@bp.route("/settings", methods=["GET", "POST"])
@requires(Permission.STAFF)
def settings():
    """The seller and bank details invoices are issued with from now on (issued invoices keep theirs)."""
    form = SellerSettingsForm(data=details.current_seller().as_dict())  # a POST's own values win
    saved = submit(form, lambda: details.update_seller(form.data, current_actor()))
    if saved:
        flash("Seller and bank details saved. Invoices issued from now on carry them; invoices already issued keep "
              "the details they were issued with.", "success")
        return redirect(url_for("admin.settings"))
    return render("admin/settings.html", form=form, status=422 if form.errors or form.form_errors else 200)
