"""Invoice pages: unpaid and all invoices, detail, pay, PDF, email, CSV export (DOMAIN §6).

Managers and Master users of the billed main chain see its invoices (Permission.VIEW_INVOICES, a main-chain
permission); only managers pay them (PAY_INVOICES). An invoice is looked up by number within what the user may
see: another tenant's invoice is a 404, its PDF included.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.context import current_actor
from portal.authz import Permission, active_organization, can, require, requires, scoped
from portal.billing import documents, lines, lists, services
from portal.billing.forms import EmailInvoiceForm, PayInvoiceForm
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus, PaymentMethodKind
from portal.credits import services as credits
from portal.csv_export import streamed_csv
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db, limiter
from portal.list_options import read_list, show
from portal.money import Money, format_money
from portal.payments.charges import BuyerMustAct
from portal.payments.gateway import gateway
from portal.payments.services import saved_cards
from portal.receipts import paying
from portal.receipts.methods import METHOD_LABELS, payment_options
from portal.rendering import render, show_rule_error, submit
from portal.reseller_fees.invoicing import charged_preview
from portal.seller.details import invoice_seller
from portal.seller.taxes import CATEGORY_LABELS, EXEMPTION_REASONS
from portal.storage import send_stored

bp = Blueprint("invoices", __name__)
SEE_OTHER = 303
PER_PAGE = 25
UNPAID_SHOWN = 25  # the earliest due; more are one link away (the Unpaid filter of the list below)


def _listed(stmt):
    # the vendor's invoices only: a reseller's invoices to its storefront customers are shown on the storefront
    return scoped(stmt.where(Invoice.issuer_id.is_(None)), Invoice.organization_id, current_user,
                  Permission.VIEW_INVOICES)


@bp.route("/invoices")
@requires(Permission.VIEW_INVOICES)
def index():
    """What your chain owes first (unpaid summary and pay-on-order invoices), then every invoice, filtered."""
    org = active_organization()
    unpaid = list(db.session.scalars(_listed(services.unpaid_query(org.id)).limit(UNPAID_SHOWN + 1)))
    more_unpaid, unpaid = len(unpaid) > UNPAID_SHOWN, unpaid[:UNPAID_SHOWN]
    invoices = show(read_list(lists.INVOICES, request.args, "invoices.index"),
                    _listed(services.invoices_query(org.id)).options(joinedload(Invoice.summary)))
    return render("invoices/index.html", "invoices/_list.html", unpaid=unpaid, more_unpaid=more_unpaid,
                  invoices=invoices, today=utcnow().date(),
                  may_pay=can(current_user, Permission.PAY_INVOICES, org),
                  corrected=credits.corrected_numbers(invoices.items))


@bp.route("/invoices.csv")
@requires(Permission.VIEW_INVOICES)
def export():
    """The invoice list, with its filters, as a CSV file for a spreadsheet or the accounts package."""
    org = active_organization()
    state = read_list(lists.INVOICES, request.args, "invoices.index")
    stmt = state.apply(_listed(services.invoices_query(org.id)))
    return streamed_csv(f"invoices-{date.today().isoformat()}.csv", services.INVOICE_CSV_HEADER,
                        services.invoice_csv_rows(stmt))


def _invoice_or_404(number: str, *options) -> Invoice:
    """The invoice with that number, if the user may see it; anything else is a 404."""
    stmt = _listed(select(Invoice).where(Invoice.number == number)).options(
        joinedload(Invoice.organization), *options)
    invoice = db.session.scalars(stmt).first()
    if invoice is None:
        abort(404)
    return invoice


def _detail_page(invoice_number: str, email_form: EmailInvoiceForm | None = None, status: int = 200):
    invoice = _invoice_or_404(invoice_number, selectinload(Invoice.lines),
                              selectinload(Invoice.payment).joinedload(InvoicePayment.receipt),
                              joinedload(Invoice.summary), joinedload(Invoice.order))
    if email_form is None:
        email_form = EmailInvoiceForm(formdata=None, data={"to": invoice.organization.invoice_email})
    if invoice.is_credit_note:
        credit_moves = credits.allocations_of(invoice)
    else:
        credit_moves = credits.allocations_to(invoice) if invoice.credit_applied_minor else []
    return render("invoices/detail.html", status=status, invoice=invoice, email_form=email_form,
                  credit_moves=credit_moves, corrected=credits.corrected_numbers([invoice]).get(invoice.id),
                  licenses=lines.line_licenses(invoice), fee_accounts=charged_preview(invoice.id),
                  parts=lines.summary_parts(invoice) if invoice.is_summary else {},
                  breakdown=_tax_breakdown(invoice), categories=CATEGORY_LABELS, reasons=EXEMPTION_REASONS,
                  today=utcnow().date(), may_pay=can(current_user, Permission.PAY_INVOICES, invoice.organization),
                  seller=invoice_seller(invoice), labels=METHOD_LABELS)


def _tax_breakdown(invoice: Invoice) -> list[dict]:
    """The invoice's tax per category and rate (what the printed invoice and Factur-X carry)."""
    groups: dict[tuple[str, int], dict] = {}
    for line in invoice.lines:
        group = groups.setdefault((line.tax_category, line.tax_rate_bp),
                                  {"category": line.tax_category, "rate_bp": line.tax_rate_bp, "basis": 0, "tax": 0})
        group["basis"] += line.list_minor - line.discount_minor
        group["tax"] += line.tax_minor
    return list(groups.values())


@bp.route("/invoices/<invoice_number>")
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
def detail(invoice_number: str):
    """One invoice: lines, taxes, totals, payments; a summary's order invoices, an order invoice's summary."""
    return _detail_page(invoice_number)


@bp.route("/invoices/<invoice_number>.csv")
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
def lines_csv(invoice_number: str):
    """Every line of the invoice as a CSV file, to re-bill from: a summary's are the products of each order
    invoice it includes, with list price, discount and net."""
    invoice = _invoice_or_404(invoice_number)
    return streamed_csv(f"{invoice.number}-lines.csv", lines.CSV_HEADINGS, lines.csv_rows(invoice))


@bp.route("/invoices/<invoice_number>.pdf")
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
def pdf(invoice_number: str):
    """Download the invoice as PDF (with its Factur-X XML): the file stored when it was first rendered."""
    invoice = _invoice_or_404(invoice_number)
    try:
        documents.store_pdf(invoice)  # renders only the first time (on any node: the row records its file)
        db.session.commit()
    except documents.PdfUnavailable:
        db.session.rollback()
        abort(503)
    return send_stored(invoice, invoice.pdf_filename)


def _email_key() -> str:
    return f"invoice-email:{current_user.id}" if current_user.is_authenticated else request.remote_addr or ""


@bp.route("/invoices/<invoice_number>/email", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
@limiter.limit(lambda: current_app.config["INVOICE_EMAIL_LIMIT"], key_func=_email_key, scope="invoice-email",
               deduct_when=lambda response: response.status_code < 400,
               error_message="You have emailed many invoices in a short time, so this one was not sent. Wait a "
                             "while (up to an hour) before emailing more invoices; downloading the PDF still works.")
def email(invoice_number: str):
    """Email the invoice's PDF to the invoice contact or an address typed in."""
    invoice = _invoice_or_404(invoice_number)
    form = EmailInvoiceForm()
    try:
        saved = submit(form, lambda: documents.email_invoice(invoice, form.to.data, current_actor()))
    except documents.PdfUnavailable:
        db.session.rollback()
        form.form_errors.append("The PDF cannot be made right now; nothing was sent. Please try again later.")
        saved = None
    if saved:
        flash(f"Invoice {invoice.number} is on its way to {saved.value.to_addrs[0]}, with its PDF attached.",
              "success")
        return redirect(url_for("invoices.detail", invoice_number=invoice.number))
    return _detail_page(invoice_number, form, status=422)


@bp.route("/invoices/<invoice_number>/pay", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
def pay(invoice_number: str):
    """Pay the invoice by card (saved or new), or say it will be paid by wire, ACH or check."""
    invoice = _invoice_or_404(invoice_number, joinedload(Invoice.summary))
    org = invoice.organization
    require(Permission.PAY_INVOICES, org)  # a Master user sees the invoice but does not pay it
    options = payment_options(invoice, org)
    form = PayInvoiceForm()
    if form.validate_on_submit():
        try:
            method = PaymentMethodKind(form.method.data)
            if method is PaymentMethodKind.CARD:
                card = form.card_choice(org, current_user, Permission.PAY_INVOICES)
                payment = paying.pay_by_card(invoice, card, gateway(), current_actor())
                flash(f"Thank you. Invoice {invoice.number} is paid: {payment.reference}.", "success")
            else:
                paying.announce_transfer(invoice, method, org, current_actor())
                db.session.commit()
                flash(f"Thank you. Invoice {invoice.number} shows “Payment pending” until your "
                      f"{METHOD_LABELS[method].lower()} arrives.", "success")
            return redirect(url_for("invoices.detail", invoice_number=invoice.number))
        except BuyerMustAct as sent:  # 3-D Secure, or the card on the processor's page
            return redirect(sent.url, SEE_OTHER)
        except ValueError as error:  # RuleError, or a method that is not one
            db.session.rollback()
            show_rule_error(form, error if isinstance(error, RuleError) else RuleError("Choose how to pay.",
                                                                                      field="method"))
            invoice = _invoice_or_404(invoice_number, joinedload(Invoice.summary))
    return _pay_page(invoice, org, options, form)


@bp.get("/invoices/<invoice_number>/pay/return")
@login_required  # the scoped lookup decides: another tenant's invoice is a 404
def pay_return(invoice_number: str):
    """Where the processor sends the payer back (`?payment_intent=`): the invoice is paid once the payment
    succeeded, or the page says why not."""
    invoice = _invoice_or_404(invoice_number, joinedload(Invoice.summary))
    org = invoice.organization
    require(Permission.PAY_INVOICES, org)
    try:
        payment = paying.complete_card_payment(invoice, request.args.get("payment_intent", ""), gateway(),
                                               current_actor())
    except LookupError:  # no such payment of this organization (or none named)
        flash("That payment is not one this page can complete; nothing was placed or charged.", "error")
        return redirect(url_for("invoices.pay", invoice_number=invoice_number))
    except RuleError as error:
        form = PayInvoiceForm(formdata=None)
        show_rule_error(form, error)
        invoice = _invoice_or_404(invoice_number, joinedload(Invoice.summary))
        return _pay_page(invoice, org, payment_options(invoice, org), form, status=422)
    flash(f"Thank you. Invoice {invoice.number} is paid: {payment.reference}.", "success")
    return redirect(url_for("invoices.detail", invoice_number=invoice.number))


def _pay_page(invoice: Invoice, org, options, form: PayInvoiceForm, status: int | None = None):
    form.payment_method_id.data = ""  # a card the hosted fields gave is used once
    cards = saved_cards(org)
    if request.method == "GET":
        form.saved_card.data = next((c.id for c in cards if c.is_default), 0)
    try:
        paying.check_payable(invoice)
        refusal = None
    except RuleError as error:
        refusal = error.message
    return render("invoices/pay.html", status=status or (422 if form.errors or form.form_errors else 200),
                  invoice=invoice,
                  form=form, options=options, cards=cards, refusal=refusal, seller=invoice_seller(invoice),
                  Method=PaymentMethodKind, labels=METHOD_LABELS, InvoiceStatus=InvoiceStatus,
                  total=format_money(Money(invoice.amount_due_minor, invoice.currency)))
