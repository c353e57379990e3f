"""Collecting a renewal invoice's money: the saved default card charged by the run, and dunning when it is declined.

The dunning schedule, stated once: after a declined renewal charge the card is tried again `RETRY_DAYS` days after
that first failed attempt (days 1, 3 and 7). The managers are emailed after the first decline (the bank's reason,
the next try, a link to pay the invoice with another card); when the last retry fails too the invoice is past due
(RenewalCollection.state PAST_DUE, from that day): the plans on it show "Past due" on Manage Subscriptions and on
staff's organization page, and the managers are emailed. Nothing is suspended or deleted. Paying the invoice (from
/invoices, with any card or by wire) clears it: an invoice no longer owed is never charged and its collection is
marked paid. An account that removed its default card meanwhile gets the invoice to pay instead (awaiting payment).

Each charge is a unit of work: `receipts.paying.pay_by_card` records the payment attempt before asking the gateway,
is idempotent per invoice, card and amount, commits the payment and sends the receipt; the collection's new state
is committed right after, on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select, update

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.services import invoice_attachment
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.payments import intents
from portal.payments.charges import BuyerMustAct, CardChoice
from portal.payments.gateway import PaymentGateway
from portal.payments.models import PaymentMethod
from portal.recurring.models import CollectionState, Renewal, RenewalCollection

RETRY_DAYS = (1, 3, 7)  # days after the first declined attempt; after the last one the invoice is past due
ANNOUNCED_MESSAGE = "A wire transfer, ACH or check payment was announced: the card is not charged."
AUTHENTICATION_MESSAGE = ("The card's bank asks the cardholder to approve this payment (3-D Secure): the managers "
                          "were emailed a link to pay the invoice.")
NO_CARD_MESSAGE = "No default card is saved any more: the renewal invoice is to be paid from the Invoices page."


@dataclass
class CollectionTally:
    """What the charging did in one run."""

    charged: int = 0
    declined: int = 0
    past_due_plans: int = 0
    paid_meanwhile: int = 0  # paid from /invoices, or a wire, ACH or check announced: not charged
    without_card: int = 0
    failed: int = 0  # an unexpected error (logged): left charging for the next run
    seconds: float = 0.0  # spent charging (the gateway and the payments' own commits), for the benchmark


def _renewed_plans(invoice_id: int) -> list[str]:
    """The plans and licenses a renewal invoice renews, in words, for the emails."""
    from portal.catalog.models import Product

    rows = db.session.execute(select(Product.name, Renewal.quantity, Product.unit_label, Renewal.subscription_id)
                              .join(Product, Product.id == Renewal.product_id)
                              .where(Renewal.invoice_id == invoice_id).order_by(Renewal.position))
    return [f"{name}, {quantity} {unit}" if plan else f"{name} (Maintenance & Support)"
            for name, quantity, unit, plan in rows]


def _recipients(org: Organization) -> list[str]:
    return managers_emails(org) or ([org.invoice_email] if org.invoice_email else [])


def send_renewal_invoice(org: Organization, invoice: Invoice, reason: str = "",
                         renewed: list[str] | None = None) -> int:
    """The renewal invoice to the chain's Chain & User Managers (else its invoice contact), its PDF attached and a
    link to pay it; 1 if an email was queued. `renewed`: what it renews in words (default: read from its rows)."""
    recipients = _recipients(org)
    if not recipients:
        return 0
    enqueue_email(recipients, "renewal_invoice", organization=org, invoice=invoice, reason=reason,
                  renewed=renewed if renewed is not None else _renewed_plans(invoice.id),
                  link=external_url("invoices.pay", invoice_number=invoice.number),
                  attachments=[invoice_attachment(invoice)])
    return 1


def next_attempt(first_failed_on: date, failed_attempts: int) -> date | None:
    """When to try the card again after `failed_attempts` declines, the first on `first_failed_on`; None when the
    schedule is over (the invoice is past due)."""
    if failed_attempts > len(RETRY_DAYS):
        return None
    return first_failed_on + timedelta(days=RETRY_DAYS[failed_attempts - 1])


def _first_failed_on(collection: RenewalCollection, today: date) -> date:
    """The day of the first declined attempt, from the schedule: the attempt being made now was due on
    next_attempt_on, RETRY_DAYS[attempts - 1] days after it (a run that came late does not shift the schedule)."""
    if collection.attempts == 0 or collection.next_attempt_on is None:
        return today
    return collection.next_attempt_on - timedelta(days=RETRY_DAYS[collection.attempts - 1])


def charge_renewal(invoice_id: int, today: date, gateway: PaymentGateway, actor: Actor,
                   tally: CollectionTally) -> CollectionState:
    """Charge one renewal invoice to its organization's default card, or move it along the dunning schedule;
    commits. Returns the collection's new state."""
    from portal.receipts.paying import pay_by_card

    collection = db.session.get(RenewalCollection, invoice_id)
    invoice = db.session.get(Invoice, invoice_id)
    org = db.session.get(Organization, collection.organization_id)
    if collection.state is not CollectionState.CHARGING:
        db.session.rollback()
        return collection.state
    if not invoice.is_open:  # paid meanwhile from /invoices (or settled otherwise): nothing to charge
        collection.state, collection.next_attempt_on = CollectionState.PAID, None
        db.session.commit()
        tally.paid_meanwhile += 1
        return CollectionState.PAID
    if invoice.status is InvoiceStatus.PAYMENT_PENDING:  # the buyer announced a wire, ACH or check: not the card
        collection.state, collection.next_attempt_on = CollectionState.AWAITING_PAYMENT, None
        collection.last_message = ANNOUNCED_MESSAGE
        db.session.commit()
        tally.paid_meanwhile += 1
        return collection.state
    card = db.session.scalars(select(PaymentMethod).where(PaymentMethod.organization_id == org.id,
                                                          PaymentMethod.is_default.is_(True))
                              .order_by(PaymentMethod.id)).first()
    if card is None:
        collection.state, collection.next_attempt_on = CollectionState.AWAITING_PAYMENT, None
        collection.last_message = NO_CARD_MESSAGE
        record(actor, "renewal.no_card", invoice, org.id, number=invoice.number)
        send_renewal_invoice(org, invoice, reason=NO_CARD_MESSAGE)
        db.session.commit()
        tally.without_card += 1
        return collection.state
    first_failed_on = _first_failed_on(collection, today)
    try:  # commits the payment and sends the receipt
        payment = pay_by_card(invoice, CardChoice(saved_card=card), gateway, actor, off_session=True)
    except RuleError as declined:
        db.session.rollback()
        return _declined(invoice_id, declined.message, first_failed_on, today, actor, tally)
    except BuyerMustAct:  # the bank wants the cardholder: nothing is taken off session
        db.session.rollback()
        return _authentication_needed(invoice_id, gateway, actor, tally)
    collection = db.session.get(RenewalCollection, invoice_id)
    collection.state, collection.next_attempt_on = CollectionState.PAID, None
    collection.attempts += 1
    collection.last_attempt_at = utcnow()
    collection.last_message = f"Paid by {payment.reference}."
    db.session.commit()
    tally.charged += 1
    return CollectionState.PAID


def _authentication_needed(invoice_id: int, gateway: PaymentGateway, actor: Actor,
                           tally: CollectionTally) -> CollectionState:
    """The off-session charge needs the cardholder (3-D Secure): it is cancelled, the invoice waits for a manager
    to pay it from its page (where the bank asks them to approve), and the managers are emailed the link."""
    collection = db.session.get(RenewalCollection, invoice_id)
    invoice = db.session.get(Invoice, invoice_id)
    org = db.session.get(Organization, collection.organization_id)
    intents.abandon(intents.Purchase(org.id, intents.Purpose.INVOICE, invoice.number), gateway,
                    "the bank wants the cardholder to approve an off-session charge")
    collection.attempts += 1
    collection.last_attempt_at = utcnow()
    collection.state, collection.next_attempt_on = CollectionState.AWAITING_PAYMENT, None
    collection.last_message = AUTHENTICATION_MESSAGE
    tally.declined += 1
    record(actor, "renewal.authentication_needed", invoice, org.id, number=invoice.number)
    recipients = _recipients(org)
    if recipients:
        enqueue_email(recipients, "renewal_authentication_needed", organization=org, invoice=invoice,
                      renewed=_renewed_plans(invoice_id),
                      link=external_url("invoices.pay", invoice_number=invoice.number))
    db.session.commit()
    return collection.state


def _declined(invoice_id: int, message: str, first_failed_on: date, today: date, actor: Actor,
              tally: CollectionTally) -> CollectionState:
    collection = db.session.get(RenewalCollection, invoice_id)
    invoice = db.session.get(Invoice, invoice_id)
    org = db.session.get(Organization, collection.organization_id)
    collection.attempts += 1
    collection.last_attempt_at = utcnow()
    collection.last_message = message[:500]
    retry_on = next_attempt(first_failed_on, collection.attempts)
    tally.declined += 1
    record(actor, "renewal.declined", invoice, org.id, number=invoice.number, attempt=collection.attempts,
           message=message, retry_on=retry_on.isoformat() if retry_on else None)
    recipients = _recipients(org)
    link = external_url("invoices.pay", invoice_number=invoice.number)
    if retry_on is None:
        collection.state, collection.next_attempt_on, collection.past_due_on = (CollectionState.PAST_DUE, None,
                                                                                today)
        plans = _renewed_plans(invoice_id)
        tally.past_due_plans += db.session.scalar(
            select(db.func.count()).select_from(Renewal).where(Renewal.invoice_id == invoice_id,
                                                               Renewal.subscription_id.is_not(None)))
        record(actor, "renewal.past_due", invoice, org.id, number=invoice.number, attempts=collection.attempts)
        if recipients:
            enqueue_email(recipients, "renewal_past_due", organization=org, invoice=invoice, message=message,
                          attempts=collection.attempts, renewed=plans, link=link)
    else:
        collection.next_attempt_on = retry_on
        if collection.attempts == 1 and recipients:
            enqueue_email(recipients, "renewal_payment_failed", organization=org, invoice=invoice, message=message,
                          retry_on=retry_on, retries=len(RETRY_DAYS), renewed=_renewed_plans(invoice_id), link=link)
    db.session.commit()
    return collection.state


def settle_paid() -> int:
    """Collections whose invoice is no longer owed (paid from /invoices, or by wire) are marked paid: a past-due
    plan shows as cleared everywhere. Returns how many; commits."""
    paid = select(Invoice.id).where(Invoice.status == InvoiceStatus.PAID)
    done = db.session.execute(
        update(RenewalCollection)
        .where(RenewalCollection.state.in_((CollectionState.CHARGING, CollectionState.AWAITING_PAYMENT,
                                            CollectionState.PAST_DUE)),
               RenewalCollection.invoice_id.in_(paid))
        .values(state=CollectionState.PAID, next_attempt_on=None)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return done or 0


def collect_due(today: date, gateway: PaymentGateway, actor: Actor, tally: CollectionTally,
                tried: set[int] | None = None) -> CollectionTally:
    """Charge every renewal invoice whose card is due to be charged by `today` (first attempts and retries of
    earlier runs), each committed on its own. `tried` keeps one run from trying an invoice twice."""
    started = time.perf_counter()
    tried = tried if tried is not None else set()
    due = [invoice_id for invoice_id in db.session.scalars(
        select(RenewalCollection.invoice_id)
        .where(RenewalCollection.state == CollectionState.CHARGING, RenewalCollection.next_attempt_on <= today)
        .order_by(RenewalCollection.next_attempt_on, RenewalCollection.invoice_id)) if invoice_id not in tried]
    db.session.rollback()
    for invoice_id in due:
        tried.add(invoice_id)
        try:
            charge_renewal(invoice_id, today, gateway, actor, tally)
        except Exception:  # one failing charge (the gateway unreachable) must not stop the others: next run
            db.session.rollback()
            current_app.logger.exception("renewal invoice %s: charging failed", invoice_id)
            tally.failed += 1
    tally.seconds += time.perf_counter() - started
    return tally
