"""A pay-on-order reseller's monthly fee invoice: issued by the renewal run for the month before the run's date,
charged to the reseller's saved default card like a renewal invoice (with the same dunning retries,
portal/recurring/collection.py), or due in 30 days without one. A monthly-invoiced reseller's fees go on its
summary instead (billing.services.summarize_month)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import BillingMode, Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import (
    PAYMENT_TERMS_DAYS,
    IssuedLine,
    Period,
    buyer_snapshot,
    invoice_attachment,
    issue_invoice,
)
from portal.credits.services import apply_available_credit, organizations_with_credit
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.recurring.autorenew import renewal_collections
from portal.recurring.models import CollectionMethod, CollectionState, RenewalCollection
from portal.reseller_fees.counting import resellers_with_fees
from portal.reseller_fees.invoicing import MonthFees, month_fees
from portal.seller.taxes import tax_terms
from portal.webhooks import events as webhook_events

CARD_NOTE = ("Reseller fees for {period}, counted on {last_day}: charged to {card} on {day}. Should the charge "
             "fail we try again, and you can pay it from the Invoices page with another card.")
INVOICE_NOTE = ("Reseller fees for {period}, counted on {last_day}. Payment is due within {days} days, by {due}: "
                "pay it by card from the Invoices page, quoting invoice {number}.")


@dataclass
class FeeRun:
    """What billing the fees did in one run."""

    invoices: int = 0
    accounts: int = 0
    amounts: dict = field(default_factory=dict)  # currency -> total billed, minor units
    skipped: int = 0  # billed meanwhile by a concurrent run


def _owing_on_order(period: Period) -> list[Organization]:
    owing = resellers_with_fees(period.last_day)
    if not owing:
        return []
    return list(db.session.scalars(select(Organization).where(
        Organization.id.in_(owing), Organization.billing_mode != BillingMode.MONTHLY_INVOICE)
        .order_by(Organization.id)))


def _issue(org: Organization, fees: MonthFees, period: Period, card_label: str | None, with_credit: bool,
           today: date, actor: Actor) -> Invoice:
    rows = fees.line_rows(org.currency, tax_terms(org), 1)
    lines = [IssuedLine(row["description"], row["quantity"], row["unit_price_minor"], row["list_minor"],
                        row["discount_minor"], row["tax_category"], row["tax_rate_bp"], row["tax_minor"],
                        row["total_minor"], row["service_start"], row["service_end"], row["position"])
             for row in rows]
    words = {"period": period.label, "last_day": period.last_day.isoformat()}
    if card_label is not None:
        due, state = today, CollectionState.CHARGING
        note = CARD_NOTE.format(card=card_label, day=today.isoformat(), **words)
    else:
        due, state = today + timedelta(days=PAYMENT_TERMS_DAYS), CollectionState.AWAITING_PAYMENT

        def note(number: str) -> str:
            return INVOICE_NOTE.format(days=PAYMENT_TERMS_DAYS, due=due.isoformat(), number=number, **words)

    invoice = issue_invoice(org.id, buyer_snapshot(org), org.currency, lines, InvoiceStatus.UNPAID, due, note, today,
                            before_issue=apply_available_credit if with_credit else None)
    fees.record(invoice.id, 1)
    if invoice.total_minor - invoice.credit_applied_minor <= 0:  # nothing to pay: no fee due, or all by credit
        state = CollectionState.PAID
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, utcnow()
        webhook_events.invoice_paid(invoice)
    db.session.add(RenewalCollection(
        invoice_id=invoice.id, organization_id=org.id,
        method=CollectionMethod.CARD if card_label is not None else CollectionMethod.INVOICE, state=state,
        attempts=0, next_attempt_on=today if state is CollectionState.CHARGING else None, last_message=""))
    record(actor, "reseller_fee.invoiced", invoice, org.id, number=invoice.number, period=fees.period,
           lines=len(fees.lines), accounts=fees.accounts,
           total_minor=invoice.total_minor)
    if state is CollectionState.AWAITING_PAYMENT:
        recipients = managers_emails(org) or ([org.invoice_email] if org.invoice_email else [])
        if recipients:
            enqueue_email(recipients, "reseller_fee_invoice", organization=org, invoice=invoice,
                          period=period.label, lines=[row["description"] for row in rows],
                          link=external_url("invoices.pay", invoice_number=invoice.number),
                          attachments=[invoice_attachment(invoice)])
    return invoice


def bill_month_fees(today: date, actor: Actor, run: FeeRun | None = None) -> FeeRun:
    """Issue each pay-on-order reseller's fee invoice for the month before `today`, once: one transaction per
    reseller (the unique charge rows refuse a concurrent run's second invoice, which is then rolled back). The
    cards are charged by the renewal run's collection (collect_due), as renewal invoices are."""
    run = run or FeeRun()
    period = Period.before(today)
    orgs = _owing_on_order(period)
    collections = renewal_collections(orgs)
    with_credit = organizations_with_credit([org.id for org in orgs])
    org_ids = [org.id for org in orgs]
    db.session.rollback()
    for org_id in org_ids:
        org = db.session.get(Organization, org_id)
        try:
            fees = month_fees(org, period)
            if not fees:
                db.session.rollback()
                continue
            collection = collections[org_id]
            card = collection.card.label if collection.method is CollectionMethod.CARD and collection.card else None
            invoice = _issue(org, fees, period, card, org_id in with_credit, today, actor)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            run.skipped += 1
            continue
        run.invoices += 1
        run.accounts += fees.accounts
        run.amounts[invoice.currency] = run.amounts.get(invoice.currency, 0) + invoice.total_minor
    return run
