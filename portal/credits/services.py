"""Consuming credit: the organization's credit notes with credit left pay the next invoices it owes.

This module imports only the billing models, so the issuing code of every owed invoice (portal/billing/services.py,
the renewal engine) may call `apply_available_credit` without an import cycle; issuing credit notes lives in
portal/credits/issuing.py.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.billing.models import CreditAllocation, Invoice, InvoiceSeries, InvoiceStatus
from portal.db_types import utcnow
from portal.extensions import db

OWED = (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)


def available_credit_notes(organization_id: int, currency: str, lock: bool = True) -> list[Invoice]:
    """The organization's credit notes in `currency` with credit left, oldest first, locked (FOR UPDATE) until
    the transaction ends so two invoices issued at once never consume the same credit."""
    stmt = (select(Invoice)
            .where(Invoice.organization_id == organization_id, Invoice.series == InvoiceSeries.CREDIT,
                   Invoice.currency == currency, Invoice.status == InvoiceStatus.CREDIT_AVAILABLE)
            .order_by(Invoice.issued_on, Invoice.sequence))
    if lock:
        stmt = stmt.with_for_update()
    return [note for note in db.session.scalars(stmt) if note.credit_left_minor > 0]


def consume_credit(note: Invoice, invoice: Invoice, amount_minor: int) -> CreditAllocation:
    """`amount_minor` of `note`'s credit pays `invoice` (which must have an id): the allocation row and the note's
    credit used (status Credit used once all of it is)."""
    note.credit_used_minor += amount_minor
    note.status = InvoiceStatus.CREDIT_USED if note.credit_left_minor == 0 else InvoiceStatus.CREDIT_AVAILABLE
    allocation = CreditAllocation(credit_note_id=note.id, invoice_id=invoice.id, amount_minor=amount_minor)
    db.session.add(allocation)
    return allocation


def organizations_with_credit(org_ids: list[int]) -> set[int]:
    """Which of these organizations have a credit note with credit left: the batch jobs (the monthly summary, the
    renewal run) ask once per batch, and look for credit to apply only where there is some."""
    return set(db.session.scalars(
        select(Invoice.organization_id).where(Invoice.organization_id.in_(org_ids),
                                              Invoice.series == InvoiceSeries.CREDIT,
                                              Invoice.status == InvoiceStatus.CREDIT_AVAILABLE).distinct()))


def apply_available_credit(invoice: Invoice) -> int:
    """The organization's available credit pays what the invoice being issued owes: call it on the pending
    invoice (added, not yet flushed: its prepaid amount is part of the document) once its totals are set.
    Sets the prepaid amount (BT-113) and the credit applied, writes the allocations (flushing the invoice for its
    id) and raises each credit note's credit used; an invoice the credit pays in full is paid now. Does nothing
    to an invoice that is not owed (paid by card at issue, waiting for its summary, a credit note) and returns
    the amount of credit applied, in the invoice's minor units."""
    if invoice.is_credit_note or invoice.status not in OWED or invoice.total_minor <= 0:
        return 0
    owed = invoice.total_minor - (invoice.credit_applied_minor or 0)
    taken: list[tuple[Invoice, int]] = []
    with db.session.no_autoflush:  # the invoice may be pending: its prepaid amount is written with it, not after
        notes = available_credit_notes(invoice.organization_id, invoice.currency)
    for note in notes:
        if owed <= 0:
            break
        amount = min(note.credit_left_minor, owed)
        taken.append((note, amount))
        owed -= amount
    applied = sum(amount for _, amount in taken)
    if not applied:
        return 0
    invoice.prepaid_minor = (invoice.prepaid_minor or 0) + applied
    invoice.credit_applied_minor = (invoice.credit_applied_minor or 0) + applied
    if owed == 0:
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, utcnow()
    if invoice.id is None:
        db.session.add(invoice)
        db.session.flush()
    for note, amount in taken:
        consume_credit(note, invoice, amount)
    return applied


def allocations_to(invoice: Invoice) -> list[tuple[str, int]]:
    """The credit applied to `invoice`: (credit note number, amount) oldest first, as its page and PDF print it."""
    rows = db.session.execute(
        select(Invoice.number, CreditAllocation.amount_minor)
        .join(Invoice, Invoice.id == CreditAllocation.credit_note_id)
        .where(CreditAllocation.invoice_id == invoice.id).order_by(CreditAllocation.id))
    return [(number, amount) for number, amount in rows]


def allocations_of(note: Invoice) -> list[tuple[str, int]]:
    """Where a credit note's credit went: (invoice number, amount) oldest first."""
    rows = db.session.execute(
        select(Invoice.number, CreditAllocation.amount_minor)
        .join(Invoice, Invoice.id == CreditAllocation.invoice_id)
        .where(CreditAllocation.credit_note_id == note.id).order_by(CreditAllocation.id))
    return [(number, amount) for number, amount in rows]


def corrected_numbers(invoices: list[Invoice]) -> dict[int, tuple[str, date]]:
    """For the credit notes among `invoices`, the number and issue date of the invoice each corrects, by credit
    note id (one query for a page of invoices)."""
    ids = {invoice.id: invoice.corrects_id for invoice in invoices if invoice.corrects_id}
    if not ids:
        return {}
    found = {row.id: (row.number, row.issued_on) for row in db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.issued_on).where(Invoice.id.in_(set(ids.values()))))}
    return {note_id: found[corrected_id] for note_id, corrected_id in ids.items() if corrected_id in found}
