"""Receipts: every payment the portal records is a numbered receipt, sent to the payer with its PDF.

Money arrives three ways: a card at checkout (the order's invoice is issued paid), a card paying an invoice, and a
wire, ACH or check that staff record. Each records an `InvoicePayment` per invoice it settles and, in the same
transaction, one `Receipt`: its number from the gapless RCP series (`InvoiceSeries.RECEIPT`, a rollback gives it
back), the date, the method in words, the amount, the payer as the invoices were billed to, and the invoices it
paid (`InvoicePayment.receipt_id`). Its audit entry and its email are written in that transaction too.

The PDF is not rendered there (WeasyPrint would hold the paying transaction, and the receipt number's counter row,
for as long as it takes). The email names it as an attachment the outbox makes when it delivers the email (the
"receipt" attachment maker below); a download before then renders it. Either way it is rendered once and stored
like an invoice's (portal/storage.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import groupby
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoicePayment, InvoiceSeries, PaymentMethodKind
from portal.billing.services import Period, issue_number
from portal.csv_export import csv_amount
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.services import Attachment, attachment_maker, enqueue_email, external_url
from portal.receipts.models import Receipt
from portal.seller.details import invoice_seller
from portal.storage import store_once

RECEIPT_ATTACHMENT = "receipt"  # the outbox's name for the maker of a receipt's PDF


def method_label(payment: InvoicePayment) -> str:
    """How the money came, in words: the card ("Visa ending 4242"), or the transfer with its reference."""
    if payment.method is PaymentMethodKind.CARD:
        return payment.reference or payment.method.label
    return f"{payment.method.label}, reference {payment.reference}" if payment.reference else payment.method.label


def issue_receipt(paid: Sequence[tuple[Invoice, InvoicePayment]], actor: Actor) -> Receipt:
    """Number and keep the receipt of one payment, which settled these invoices (of one organization and
    currency, by one method): link each invoice's payment to it, audit it, and email it with its PDF to the
    payer (the invoice contact the invoices were billed to). Flushes; the caller commits."""
    if not paid:
        raise ValueError("a receipt is for a payment of at least one invoice")
    invoices, payments = [invoice for invoice, _ in paid], [payment for _, payment in paid]
    first_invoice, first = paid[0]
    if (len({(i.organization_id, i.currency) for i in invoices}) != 1
            or len({(p.method, p.reference, p.gateway_charge_id) for p in payments}) != 1):
        raise ValueError("one receipt is for one payment: one payer, one currency, one method")
    payer = dict(first_invoice.buyer or {})
    sequence, number = issue_number(InvoiceSeries.RECEIPT)
    receipt = Receipt(sequence=sequence, number=number, organization_id=first_invoice.organization_id,
                      method=first.method.value, method_label=method_label(first)[:120],
                      amount_minor=sum(p.amount_minor for p in payments), currency=first_invoice.currency,
                      gateway_charge_id=first.gateway_charge_id, payer=payer,
                      payer_email=payer.get("invoice_email") or "", received_at=first.received_at or utcnow(),
                      recorded_by_id=actor.user_id)
    db.session.add(receipt)
    db.session.flush()
    for payment in payments:
        payment.receipt_id = receipt.id
    record(actor, "receipt.issued", receipt, receipt.organization_id, number=number,
           amount_minor=receipt.amount_minor, method=receipt.method, invoices=[i.number for i in invoices])
    if receipt.payer_email:
        enqueue_email(receipt.payer_email, "receipt", receipt=receipt, invoices=paid,
                      seller=invoice_seller(first_invoice),
                      link=external_url("receipts.detail", receipt_number=number),
                      attachments=[Attachment("", receipt.pdf_filename, made_by=(RECEIPT_ATTACHMENT, number))])
    return receipt


def record_checkout_payment(invoice: Invoice, card_label: str, charge_id: str | None, actor: Actor,
                            received_at: datetime | None = None) -> Receipt:
    """The card payment taken at checkout, recorded on the order's invoice (issued paid) with its receipt.
    Flushes; the caller (checkout's transaction) commits."""
    payment = InvoicePayment(invoice_id=invoice.id, amount_minor=invoice.total_minor, method=PaymentMethodKind.CARD,
                             reference=card_label[:120], gateway_charge_id=charge_id, recorded_by_id=actor.user_id,
                             received_at=received_at or utcnow())
    db.session.add(payment)
    db.session.flush()
    return issue_receipt([(invoice, payment)], actor)


# ---------------------------------------------------------------- the Payments page and its CSV


def _month(period: Period) -> tuple[datetime, datetime]:
    return (datetime.combine(period.first_day, time(), tzinfo=UTC),
            datetime.combine(period.next().first_day, time(), tzinfo=UTC))


def receipts_query(org_id: int, period: Period | None = None) -> Select:
    """The organization's receipts, newest first, optionally those received in one month (UTC): the order and
    filter of the index ix_receipt_org_received. (Views add the user's scope: portal/authz.py.)"""
    stmt = select(Receipt).where(Receipt.organization_id == org_id)
    if period is not None:
        start, end = _month(period)
        stmt = stmt.where(Receipt.received_at >= start, Receipt.received_at < end)
    return stmt.order_by(Receipt.received_at.desc(), Receipt.id.desc())


@dataclass(frozen=True)
class PaidInvoiceRow:
    """An invoice a receipt paid, as the Payments page lists it."""

    number: str
    issued_on: date
    amount_minor: int


def invoices_paid(receipt_ids: Sequence[int]) -> dict[int, list[PaidInvoiceRow]]:
    """The invoices each receipt paid, in number order (one query for a page of receipts)."""
    if not receipt_ids:
        return {}
    rows = db.session.execute(
        select(InvoicePayment.receipt_id, Invoice.number, Invoice.issued_on, InvoicePayment.amount_minor)
        .join(Invoice, Invoice.id == InvoicePayment.invoice_id)
        .where(InvoicePayment.receipt_id.in_(receipt_ids)).order_by(InvoicePayment.receipt_id, Invoice.number))
    paid: dict[int, list[PaidInvoiceRow]] = {}
    for row in rows:
        paid.setdefault(row.receipt_id, []).append(PaidInvoiceRow(row.number, row.issued_on, row.amount_minor))
    return paid


CSV_HEADER = ("Receipt", "Received", "Method", "Paid by", "Currency", "Amount", "Invoices paid", "Payer")


def csv_rows(receipts: Select) -> Iterator[tuple]:
    """One row per receipt of `receipts` (a receipts_query, scoped), with the invoices it paid, read as one
    streamed query of plain columns (1,000 rows at a time, no Receipt objects)."""
    stmt = (receipts.with_only_columns(
        Receipt.id, Receipt.number, Receipt.received_at, Receipt.method, Receipt.method_label, Receipt.currency,
        Receipt.amount_minor, Receipt.payer["legal_name"].as_string(), Invoice.number)
            .join(InvoicePayment, InvoicePayment.receipt_id == Receipt.id)
            .join(Invoice, Invoice.id == InvoicePayment.invoice_id)
            .order_by(Invoice.number).execution_options(yield_per=1000))
    labels = {kind.value: kind.label for kind in PaymentMethodKind}
    for _, group in groupby(db.session.execute(stmt), key=lambda row: row[0]):
        rows = list(group)
        _, number, received_at, method, method_text, currency, amount_minor, payer, _ = rows[0]
        yield (number, received_at.date().isoformat(), labels[method], method_text, currency,
               csv_amount(amount_minor, currency), "; ".join(row[-1] for row in rows), payer or "")


# ---------------------------------------------------------------- the document and its PDF


def paid_invoices_of(receipt: Receipt) -> list[tuple[Invoice, int]]:
    """The invoices `receipt` paid, each with the amount paid on it, in number order."""
    return [(row[0], row[1]) for row in db.session.execute(
        select(Invoice, InvoicePayment.amount_minor).join(InvoicePayment, InvoicePayment.invoice_id == Invoice.id)
        .where(InvoicePayment.receipt_id == receipt.id).options(joinedload(Invoice.organization))
        .order_by(Invoice.number))]


def receipt_document(receipt: Receipt):
    """The receipt as the `invoices` package's ReceiptDocument: issued by the seller of the invoices it paid
    (as they were issued), to the payer they were billed to."""
    from invoices.receipt import PaidInvoice, ReceiptDocument
    from portal.billing.documents import buyer_party, seller_party

    paid = paid_invoices_of(receipt)
    first = paid[0][0]
    return ReceiptDocument(
        number=receipt.number, received_on=receipt.received_at.date(), currency=receipt.currency,
        amount_minor=receipt.amount_minor, method=receipt.method_label, seller=seller_party(first),
        payer=buyer_party(first),
        invoices=tuple(PaidInvoice(invoice.number, invoice.issued_on, amount) for invoice, amount in paid))


def _render(receipt: Receipt) -> bytes:
    from portal.billing.documents import PdfUnavailable

    try:
        from invoices.receipt import render_pdf
    except ImportError as exc:  # WeasyPrint missing: the receipt stays pending, nothing is stored
        raise PdfUnavailable("PDF rendering is not available (install the invoices package's dependencies)") from exc
    return render_pdf(receipt_document(receipt))


def store_receipt_pdf(receipt: Receipt) -> Path:
    """The receipt's stored PDF, rendered and stored now if it has none yet (flushes; the caller commits)."""
    return store_once(receipt, f"receipts/{receipt.received_at:%Y}", receipt.number, lambda: _render(receipt))


@attachment_maker(RECEIPT_ATTACHMENT)
def _receipt_attachment(number: str) -> str:
    """The outbox delivering a receipt's email: its PDF, stored now if it is not yet."""
    receipt = db.session.scalars(select(Receipt).where(Receipt.number == number)).one()
    store_receipt_pdf(receipt)
    return receipt.pdf_path
