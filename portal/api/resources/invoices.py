"""Invoices: the vendor's invoices to the key's main chain, as /invoices lists them; one invoice by number with
its lines, totals and payment; its PDF (the stored file the page downloads); and paying it with a saved card,
off session, through the same service as /invoices/<number>/pay (portal/receipts/paying.py)."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask import jsonify, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.context import current_actor
from portal.api import idempotency
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.pagination import Order, PageQuery, page_json, page_schema, paginate
from portal.api.problems import ApiProblem, not_found, refused
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, can, scoped_to
from portal.billing import documents
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.errors import RuleError
from portal.extensions import db
from portal.payments import intents
from portal.payments.charges import CARD_FIELD, BuyerMustAct, CardChoice
from portal.payments.gateway import gateway
from portal.payments.models import PaymentMethod
from portal.receipts import paying
from portal.storage import send_stored

blp = key_blueprint("api_invoices", __name__, url_prefix="/invoices",
                    description="Your chain's invoices from the vendor: list, detail, PDF, pay with a saved card.")

_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _problems(*codes: str) -> dict:
    """The problems an operation may answer: those of every operation (a NUL anywhere, no key, scope, rate)
    and its own."""
    return {code: _PROBLEM for code in ("400", "401", "403", "429", *codes)}
STATUSES = [s.value for s in InvoiceStatus]
TYPES = {"order": "order", "summary": "summary", "credit": "credit_note", "renewal": "order"}
# newest first from ix_invoice_org_issued (organization_id, issued_on, id), partial on the vendor's invoices
ORDER = Order(columns=(Invoice.issued_on, Invoice.id), descending=True, parse=(date.fromisoformat,))


class InvoiceLineSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    description = ma.fields.String(required=True)
    quantity = ma.fields.Integer(required=True)
    unit_price = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    tax_rate_bp = ma.fields.Integer(required=True, metadata={"description": "Tax rate in basis points."})
    total = ma.fields.Nested(MoneySchema, required=True)
    service_start = ma.fields.Date(required=True, allow_none=True)
    service_end = ma.fields.Date(required=True, allow_none=True)


class PaymentSchema(ma.Schema):
    method = ma.fields.String(required=True, metadata={"enum": ["card", "wire", "ach", "check"]})
    reference = ma.fields.String(required=True)
    amount = ma.fields.Nested(MoneySchema, required=True)
    received_at = ma.fields.DateTime(required=True)
    receipt_number = ma.fields.String(required=True, allow_none=True)


class InvoiceSchema(ma.Schema):
    object = ma.fields.Constant("invoice", required=True, metadata={"enum": ["invoice"]})
    number = ma.fields.String(required=True)
    type = ma.fields.String(required=True, metadata={"enum": ["order", "summary", "credit_note"]})
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    issued_on = ma.fields.Date(required=True)
    due_on = ma.fields.Date(required=True, allow_none=True)
    paid_at = ma.fields.DateTime(required=True, allow_none=True)
    period = ma.fields.String(required=True, allow_none=True, metadata={"description": "A summary's YYYY-MM."})
    summary_number = ma.fields.String(required=True, allow_none=True,
                                      metadata={"description": "The summary invoice that includes this one."})
    subtotal = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    credit_applied = ma.fields.Nested(MoneySchema, required=True)
    amount_due = ma.fields.Nested(MoneySchema, required=True)
    pdf_url = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)


class InvoiceDetailSchema(InvoiceSchema):
    lines = ma.fields.List(ma.fields.Nested(InvoiceLineSchema), required=True)
    payment = ma.fields.Nested(PaymentSchema, required=True, allow_none=True)


class InvoiceQuery(PageQuery):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STATUSES),
                              metadata={"description": "Only invoices in this status."})
    issued_after = ma.fields.Date(load_default=None, metadata={"description": "Issued on or after this day."})
    issued_before = ma.fields.Date(load_default=None, metadata={"description": "Issued on or before this day."})


class PaymentRequestSchema(ma.Schema):
    payment_method_id = ma.fields.Integer(
        load_default=None, strict=True, validate=ma.validate.Range(min=1, max=2**62),
        metadata={"description": "The id of one of your chain's saved cards; omit it for the default card."})


InvoicePage = page_schema(InvoiceSchema, "InvoicePage")


def _money(invoice: Invoice, amount: int) -> dict:
    return money_json(amount, invoice.currency)


def invoice_json(invoice: Invoice) -> dict:
    return {
        "object": "invoice", "number": invoice.number, "type": TYPES.get(invoice.series.value, "order"),
        "status": invoice.status.value, "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat() if invoice.due_on else None,
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None, "period": invoice.period,
        "summary_number": invoice.summary.number if invoice.summary_id is not None else None,
        "subtotal": _money(invoice, invoice.subtotal_minor), "discount": _money(invoice, invoice.discount_minor),
        "tax": _money(invoice, invoice.tax_minor), "total": _money(invoice, invoice.total_minor),
        "credit_applied": _money(invoice, invoice.credit_applied_minor),
        "amount_due": _money(invoice, invoice.amount_due_minor),
        "pdf_url": url_for("api_invoices.invoice_pdf", invoice_number=invoice.number),
        "created_at": invoice.created_at.isoformat(),
    }


def invoice_detail_json(invoice: Invoice) -> dict:
    payment = invoice.payment
    return {**invoice_json(invoice), "lines": [{
        "position": line.position, "description": line.description, "quantity": line.quantity,
        "unit_price": _money(invoice, line.unit_price_minor), "discount": _money(invoice, line.discount_minor),
        "tax": _money(invoice, line.tax_minor), "tax_rate_bp": line.tax_rate_bp,
        "total": _money(invoice, line.total_minor),
        "service_start": line.service_start.isoformat() if line.service_start else None,
        "service_end": line.service_end.isoformat() if line.service_end else None,
    } for line in invoice.lines], "payment": None if payment is None else {
        "method": payment.method.value, "reference": payment.reference,
        "amount": _money(invoice, payment.amount_minor), "received_at": payment.received_at.isoformat(),
        "receipt_number": payment.receipt.number if payment.receipt is not None else None,
    }}


def _listed(org, stmt):
    # the vendor's invoices to the key's organization only (a reseller's storefront invoices are its own)
    return scoped_to(org, stmt.where(Invoice.organization_id == org.id, Invoice.issuer_id.is_(None)),
                     Invoice.organization_id, current_user, Permission.VIEW_INVOICES)


def _invoice(number: str, *options) -> Invoice:
    """The key's organization's invoice with this number; anyone else's (or none) is a 404."""
    if len(number) > 48 or not number.isprintable():
        raise not_found("No invoice of yours has this number.")
    org = active_organization()
    invoice = db.session.scalars(_listed(org, select(Invoice).where(Invoice.number == number))
                                 .options(joinedload(Invoice.summary), *options)).first()
    if invoice is None:
        raise not_found("No invoice of yours has this number.")
    return invoice


def _detailed(number: str) -> Invoice:
    return _invoice(number, selectinload(Invoice.lines),
                    selectinload(Invoice.payment).joinedload(InvoicePayment.receipt))


@blp.route("")
@requires_scope(Scope.INVOICES_READ)
@blp.arguments(InvoiceQuery, location="query")
@blp.response(200, InvoicePage)
@blp.doc(responses=_problems("422"))
def list_invoices(query: dict):
    """Your chain's invoices from the vendor, newest first; filter by status and by the day they were issued."""
    stmt = _listed(active_organization(), select(Invoice)).options(joinedload(Invoice.summary))
    if query["status"]:
        stmt = stmt.where(Invoice.status == InvoiceStatus(query["status"]))
    if query["issued_after"]:
        stmt = stmt.where(Invoice.issued_on >= query["issued_after"])
    if query["issued_before"]:
        stmt = stmt.where(Invoice.issued_on <= query["issued_before"])
    page = paginate(db.session, stmt, ORDER, limit=query["limit"], cursor=query["cursor"],
                    key=lambda invoice: (invoice.issued_on, invoice.id))
    return jsonify(page_json(page, invoice_json))


@blp.route("/<invoice_number>")
@requires_scope(Scope.INVOICES_READ)
@blp.response(200, InvoiceDetailSchema)
@blp.doc(responses=_problems("404"))
def get_invoice(invoice_number: str):
    """One invoice: its lines, totals, amount due, status and payment (with an ETag)."""
    return resource_response(invoice_detail_json(_detailed(invoice_number)))


@blp.route("/<invoice_number>/pdf")
@requires_scope(Scope.INVOICES_READ)
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf",
              description="The invoice as PDF/A-3 with its Factur-X XML, as the portal's download gives it.")
@blp.doc(responses=_problems("404", "503"))
def invoice_pdf(invoice_number: str):
    """The invoice's PDF: the file stored when it was first rendered, the same bytes as the page's download."""
    invoice = _invoice(invoice_number)
    try:
        documents.store_pdf(invoice)  # renders only the first time; the blueprint commits the stored file
    except documents.PdfUnavailable:
        raise ApiProblem("server-error", "The PDF cannot be made right now; try again later.", status=503) from None
    return send_stored(invoice, invoice.pdf_filename)


def _saved_card(org, card_id: int | None) -> PaymentMethod:
    stmt = scoped_to(org, select(PaymentMethod).where(PaymentMethod.organization_id == org.id),
                     PaymentMethod.organization_id, current_user, Permission.PAY_INVOICES)
    if card_id is None:
        card = db.session.scalars(stmt.order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)).first()
        if card is None:
            raise refused("Your chain has no saved card: add one at /account/payment-methods, or pay in the "
                          "portal.", field="payment_method_id")
        return card
    card = db.session.scalars(stmt.where(PaymentMethod.id == card_id)).first()
    if card is None:
        raise refused("This is not one of your chain's saved cards.", field="payment_method_id")
    return card


@blp.route("/<invoice_number>/payments", methods=["POST"])
@requires_scope(Scope.INVOICES_READ)
@blp.arguments(PaymentRequestSchema, location="json")
@blp.response(201, InvoiceDetailSchema, description="Paid: the invoice, with its payment and receipt.")
@blp.doc(responses=_problems("402", "404", "409", "412", "422"))
def pay_invoice(body: dict, invoice_number: str):
    """Pay the invoice's amount due with a saved card, off session. The key's creator must be allowed to pay
    invoices (a Chain & User Manager). A card that needs 3-D Secure is a 402: pay that one in the portal."""
    number = invoice_number
    invoice = _invoice(number)
    org = invoice.organization
    org_id = org.id  # read before a rollback expires it
    if not can(current_user, Permission.PAY_INVOICES, org):
        raise ApiProblem("forbidden", f"The user who created this key may not pay {org.name}'s invoices: only its "
                         "Chain & User Managers may.")
    if idempotency.recovered() == f"invoice:{number}" and invoice.status is InvoiceStatus.PAID:
        return _paid_answer(number)  # this key's first request paid it, then died before answering
    check_if_match(invoice_detail_json(_detailed(number)))
    card = _saved_card(org, body["payment_method_id"])
    try:
        paying.check_payable(invoice)
    except RuleError as error:
        raise refused(error.message) from None
    # pay_by_card is its own unit of work, as on the page: it records the attempt on a connection of its own,
    # charges, then records the payment and commits. Nothing of this request is pending but the key's last use;
    # committed first, so that the attempt's connection never waits on this session's write (SQLite's one writer).
    db.session.commit()
    idempotency.remember(f"invoice:{number}")
    try:
        paying.pay_by_card(invoice, CardChoice(saved_card=card), gateway(), current_actor(), off_session=True)
    except BuyerMustAct:  # the bank wants the cardholder: nothing may be taken without them
        db.session.rollback()
        intents.abandon(intents.Purchase(org_id, intents.Purpose.INVOICE, number), gateway(),
                        "the bank wants the cardholder to approve a charge made through the API")
        raise ApiProblem("payment-failed", f"The card's bank wants the cardholder to approve this payment (3-D "
                         f"Secure), so nothing was charged. Pay invoice {number} in the portal, at "
                         f"{url_for('invoices.pay', invoice_number=number, _external=True)}.",
                         field="payment_method_id", pay_url=url_for("invoices.pay", invoice_number=number,
                                                                    _external=True)) from None
    except RuleError as error:
        db.session.rollback()
        if error.field == CARD_FIELD:  # declined: nothing was charged or kept
            raise ApiProblem("payment-failed", error.message, field="payment_method_id") from None
        raise refused(error.message) from None
    db.session.expire_all()
    return _paid_answer(number)


def _paid_answer(number: str):
    response = resource_response(invoice_detail_json(_detailed(number)), status=201)
    response.headers["Location"] = url_for("api_invoices.get_invoice", invoice_number=number)
    return response
