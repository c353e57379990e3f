"""Issuing a credit note: staff correct an issued invoice with a reason and a tax-inclusive amount.

The credit note is an Invoice row of its own gapless series (CRN-000001…), billed to whom the corrected invoice
was, with one line "Credit on invoice INV-…: <reason>" at that invoice's tax category and rate, the amount split
into net and tax by pricing.split_gross. Its credit first pays what the corrected invoice still owes (or, for an
order invoice gathered into a summary still owed, that summary); whatever is left is consumed by the
organization's next owed invoices (portal/credits/services.apply_available_credit). When the corrected invoice was
paid by card, staff may instead refund the credit to that card (portal/credits/refunds.py): the refund uses the
whole credit, which then pays no invoice. All the credit notes against one invoice credit at most its total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus
from portal.billing.services import invoice_attachment, issue_number
from portal.credits.services import consume_credit
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_money, parse_amount
from portal.pricing import split_gross
from portal.seller.details import seller_snapshot
from portal.seller.taxes import STANDARD
from portal.webhooks import events as webhook_events

REASON_LENGTH = 500
SEVERAL_RATES = "This invoice has several tax rates: credit one of its order invoices instead."
NOT_CREDITABLE = "A credit note cannot be credited; credit the invoice it corrects."
DESCRIPTION_LENGTH = 255  # InvoiceLine.description


@dataclass(frozen=True)
class Creditable:
    """What may still be credited on an invoice: its total, what its credit notes credited so far, and the one
    (tax category, rate) its lines are taxed at (None when they have several)."""

    total_minor: int
    credited_minor: int
    tax: tuple[str, int] | None

    @property
    def left_minor(self) -> int:
        return max(self.total_minor - self.credited_minor, 0)


def credited_minor(invoice: Invoice) -> int:
    """The total of the credit notes issued against `invoice`."""
    return int(db.session.scalar(select(func.coalesce(func.sum(Invoice.total_minor), 0))  # a Decimal on PostgreSQL
                                 .where(Invoice.corrects_id == invoice.id)) or 0)


def creditable(invoice: Invoice) -> Creditable:
    """What staff may still credit on `invoice` (see Creditable)."""
    groups = {(category, rate) for category, rate in db.session.execute(
        select(InvoiceLine.tax_category, InvoiceLine.tax_rate_bp)
        .where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.total_minor > 0))}
    if not groups and invoice.total_minor > 0:  # issued before invoices had lines: one rate, from its totals
        net = invoice.subtotal_minor - invoice.discount_minor
        rate = round(invoice.tax_minor * 10_000 / net) if invoice.tax_minor and net else 0
        groups = {(STANDARD if rate else "Z", rate)}
    return Creditable(invoice.total_minor, credited_minor(invoice), groups.pop() if len(groups) == 1 else None)


def parse_credit_amount(invoice: Invoice, amount_text: str, currency_text: str) -> int:
    """The amount staff typed, in the invoice's currency, as minor units (RuleError beside the field)."""
    if currency_text.strip().upper() != invoice.currency:
        raise RuleError(f"A credit note is in the currency of the invoice it corrects: {invoice.currency}.",
                        field="currency")
    return parse_amount(amount_text, invoice.currency, field="amount")


def _money(minor: int, currency: str) -> str:
    return format_money(Money(minor, currency))


def issue_credit_note(invoice: Invoice, amount_minor: int, reason: str, actor: Actor,
                      today: date | None = None, tax: tuple[str, int] | None = None, *,
                      refunded_to: str | None = None) -> Invoice:
    """Issue a credit note of `amount_minor` (tax included) against `invoice`, for `reason`: numbered, audited,
    its credit applied to what the invoice (or its summary) still owes, and emailed with its PDF to the invoice
    contact, else the managers. RuleError beside the field for anything refused; nothing is issued then.
    `tax`: the (category, rate) of the lines credited, for a caller that knows them (a cancelled shipment's lines
    on an invoice with several rates); else the invoice's one rate. `refunded_to`: the card the credit is refunded
    to ("Visa ending 4242", by portal/credits/refunds.py): the note says so, and the refund uses all of its credit
    (Credit used), none of which pays an invoice. Flushes; the caller commits."""
    reason = " ".join(reason.split())
    if invoice.is_credit_note:
        raise RuleError(NOT_CREDITABLE, field="invoice")
    if not reason:
        raise RuleError("Give the reason: the credit note prints it.", field="reason")
    if len(reason) > REASON_LENGTH:
        raise RuleError(f"Keep the reason within {REASON_LENGTH} characters.", field="reason")
    if amount_minor <= 0:
        raise RuleError("Enter an amount above zero.", field="amount")
    # Lock the corrected invoice: two credit notes against it at once queue here, so together they never
    # credit more than its total.
    db.session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    room = creditable(invoice)
    if tax is None and room.tax is None and room.left_minor:
        raise RuleError(SEVERAL_RATES, field="amount")
    if amount_minor > room.left_minor:
        raise RuleError(f"At most {_money(room.left_minor, invoice.currency)} can still be credited on "
                        f"{invoice.number} (total {_money(room.total_minor, invoice.currency)}, credited so far "
                        f"{_money(room.credited_minor, invoice.currency)}).", field="amount")
    category, rate_bp = tax or room.tax
    net, tax = split_gross(amount_minor, rate_bp) if rate_bp else (amount_minor, 0)
    today = today or utcnow().date()
    sequence, number = issue_number(InvoiceSeries.CREDIT)
    description = f"Credit on invoice {invoice.number}: {reason}"
    if len(description) > DESCRIPTION_LENGTH:
        description = description[:DESCRIPTION_LENGTH - 1] + "…"
    note = Invoice(
        series=InvoiceSeries.CREDIT, sequence=sequence, number=number, organization_id=invoice.organization_id,
        corrects_id=invoice.id, status=InvoiceStatus.CREDIT_AVAILABLE, currency=invoice.currency,
        subtotal_minor=net, discount_minor=0, tax_minor=tax, total_minor=amount_minor, issued_on=today,
        due_on=None, buyer=dict(invoice.buyer or {}), seller=seller_snapshot(),
        note=(f"This credit note corrects invoice {invoice.number} of {invoice.issued_on:%B} {invoice.issued_on.day}, "
              f"{invoice.issued_on.year}. Reason: {reason}" + (f" Refunded to {refunded_to}." if refunded_to else "")),
    )
    note.lines = [InvoiceLine(position=1, description=description, quantity=1, unit_price_minor=net, list_minor=net,
                              discount_minor=0, tax_category=category, tax_rate_bp=rate_bp, tax_minor=tax,
                              total_minor=amount_minor)]
    db.session.add(note)
    db.session.flush()
    if refunded_to:  # the refund takes the whole credit (CreditRefund, recorded by the caller)
        note.credit_used_minor, note.status = amount_minor, InvoiceStatus.CREDIT_USED
        applied_to = []
    else:
        applied_to = _pay_what_is_owed(note, invoice)
    record(actor, "invoice.credit_note_issued", note, note.organization_id, number=number,
           corrects=invoice.number, amount_minor=amount_minor, net_minor=net, tax_minor=tax, reason=reason,
           applied_to={target.number: amount for target, amount in applied_to} or None)
    _announce(note, invoice, applied_to)
    return note


def _pay_what_is_owed(note: Invoice, invoice: Invoice) -> list[tuple[Invoice, int]]:
    """The credit pays what the corrected invoice still owes, else what its summary owes: the allocation, the
    credit applied (its amount due drops; its document does not change) and, once nothing is owed, paid now."""
    target = invoice if invoice.is_open else db.session.get(Invoice, invoice.summary_id) if invoice.summary_id else None
    if target is None:
        return []
    # What it owes now, held until the commit (the lock on its row alone: PostgreSQL locks no outer-joined row).
    db.session.execute(select(Invoice.id).where(Invoice.id == target.id).with_for_update())
    db.session.refresh(target)
    if not target.is_open:
        return []
    amount = min(note.credit_left_minor, target.amount_due_minor)
    if amount <= 0:
        return []
    consume_credit(note, target, amount)
    target.credit_applied_minor += amount
    if target.amount_due_minor == 0:
        target.status, target.paid_at = InvoiceStatus.PAID, utcnow()
        webhook_events.invoice_paid(target)
    return [(target, amount)]


def _announce(note: Invoice, corrected: Invoice, applied_to: list[tuple[Invoice, int]]) -> None:
    """The credit note to the organization's invoice contact (else its managers), its PDF attached: made when
    the email is delivered, after this transaction commits (see billing.services.invoice_attachment)."""
    from portal.outbox.services import enqueue_email, external_url

    org = db.session.get(Organization, note.organization_id)
    recipients = [org.invoice_email] if org.invoice_email else managers_emails(org)
    if recipients:
        enqueue_email(recipients, "credit_note", organization=org, note=note, corrected=corrected,
                      applied_to=applied_to, link=external_url("invoices.detail", invoice_number=note.number),
                      attachments=[invoice_attachment(note)])
