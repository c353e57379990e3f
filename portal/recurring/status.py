"""Where a plan stands with its renewals: past due, and its renewal history (for Manage Subscriptions and staff)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from portal.billing.models import Invoice, InvoiceStatus
from portal.extensions import db
from portal.recurring.models import CollectionState, Renewal, RenewalCollection

OPEN_STATUSES = (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)


def past_due_invoices(subscription_ids: Iterable[int]) -> dict[int, Invoice]:
    """For each of these plans that is past due, the renewal invoice it is past due on: every retry of its card
    failed and the invoice is still owed. Paying the invoice clears it (nothing else to reset)."""
    ids = list(subscription_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Renewal.subscription_id, Invoice)
        .join(Invoice, Invoice.id == Renewal.invoice_id)
        .join(RenewalCollection, RenewalCollection.invoice_id == Renewal.invoice_id)
        .where(Renewal.subscription_id.in_(ids), RenewalCollection.state == CollectionState.PAST_DUE,
               Invoice.status.in_(OPEN_STATUSES))
        .order_by(Invoice.issued_on, Invoice.id))
    found: dict[int, Invoice] = {}
    for subscription_id, invoice in rows:
        found.setdefault(subscription_id, invoice)
    return found


def renewal_history(subscription_ids: Iterable[int], limit: int = 50) -> list[tuple[Renewal, RenewalCollection | None]]:
    """The latest renewals of these plans, newest period first, with how each invoice was collected."""
    ids = list(subscription_ids)
    if not ids:
        return []
    return [(renewal, collection) for renewal, collection in db.session.execute(
        select(Renewal, RenewalCollection)
        .outerjoin(RenewalCollection, RenewalCollection.invoice_id == Renewal.invoice_id)
        .where(Renewal.subscription_id.in_(ids))
        .order_by(Renewal.period_start.desc(), Renewal.id.desc()).limit(limit))]
