"""Refunds to the card (issue 21 item 6): a credit note whose credit goes back to the card that paid the invoice
it corrects, instead of paying the organization's next invoices.

The invoice must have been paid by card (its InvoicePayment has the processor's payment intent id, checkout's
order invoices included). Refunding is two steps, so that money never moves without a record:

1. `record_refund` issues the credit note (its note says "Refunded to Visa ending 4242"; its whole credit is used
   by the refund and pays no invoice), records the CreditRefund `pending` and audits "invoice.refunded"; the caller
   commits.
2. `send_refund` asks the processor under the idempotency key `credit-refund-<id>`, then marks the refund succeeded
   (with the processor's refund id), or, if the processor refuses, failed: the credit goes back to the credit note
   (Credit available, for the organization's next invoices). Committed.

A process that stops between the two leaves the refund pending: `flask --app wsgi payments reconcile` sends it
again (`retry_pending_refunds`) under the same key, so the card is never refunded twice. The refunds of one charge
never give back more than it took: checked here against the refunds pending or succeeded before issuing anything,
and by the processor.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.credits.issuing import issue_credit_note
from portal.credits.models import CreditRefund, RefundStatus
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_money
from portal.payments.gateway import CardGateway
from portal.payments.processor import ProcessorError

log = logging.getLogger(__name__)

NOT_PAID_BY_CARD = "This invoice was not paid by card: its credit cannot be refunded to a card."
TAKEN = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


def card_payment(invoice: Invoice) -> InvoicePayment | None:
    """The card payment of `invoice` that a refund goes back to (None if it was not paid by card)."""
    return db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == invoice.id,
                                                           InvoicePayment.gateway_charge_id.is_not(None))).first()


def card_label(payment: InvoicePayment) -> str:
    """The card in words, as its receipt names it: "Visa ending 4242"."""
    return payment.reference or "the card that paid"


def refunded_minor(charge_id: str) -> int:
    """What the refunds of this charge give back: those succeeded, and those pending (being sent)."""
    return int(db.session.scalar(select(func.coalesce(func.sum(CreditRefund.amount_minor), 0))
                                 .where(CreditRefund.charge_id == charge_id, CreditRefund.status.in_(TAKEN))) or 0)


def refundable_minor(payment: InvoicePayment) -> int:
    """What may still be refunded to the card that made `payment`."""
    return max(payment.amount_minor - refunded_minor(payment.gateway_charge_id), 0)


def _money(minor: int, currency: str) -> str:
    return format_money(Money(minor, currency))


def record_refund(invoice: Invoice, amount_minor: int, reason: str, actor: Actor) -> CreditRefund:
    """Issue a credit note of `amount_minor` against `invoice` whose credit is refunded to the card that paid it:
    the credit note (Credit used), the refund recorded pending, audited. RuleError beside the field for anything
    refused (the `refund` field when the invoice was not paid by card, `amount` above what the card may still get
    back); nothing is issued then. Flushes; the caller commits, then calls `send_refund`."""
    payment = card_payment(invoice)
    if payment is None:
        raise RuleError(NOT_PAID_BY_CARD, field="refund")
    # The corrected invoice's lock (issue_credit_note takes it too): two refunds of its payment at once queue here.
    db.session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    label = card_label(payment)
    refunded = refunded_minor(payment.gateway_charge_id)
    left = max(payment.amount_minor - refunded, 0)
    if amount_minor > left:
        raise RuleError(f"At most {_money(left, invoice.currency)} can still be refunded to {label} (paid "
                        f"{_money(payment.amount_minor, invoice.currency)}, refunded so far "
                        f"{_money(refunded, invoice.currency)}).", field="amount")
    note = issue_credit_note(invoice, amount_minor, reason, actor, refunded_to=label)
    refund = CreditRefund(credit_note_id=note.id, charge_id=payment.gateway_charge_id, amount_minor=amount_minor,
                          status=RefundStatus.PENDING)
    db.session.add(refund)
    db.session.flush()
    record(actor, "invoice.refunded", invoice, invoice.organization_id, number=invoice.number,
           credit_note=note.number, amount_minor=amount_minor, card=label, charge_id=payment.gateway_charge_id,
           refund=refund.id)
    return refund


def send_refund(refund: CreditRefund, gateway: CardGateway, actor: Actor) -> RefundStatus:
    """Ask the processor for a refund recorded pending (committed), under its idempotency key, and record the
    answer, committed: succeeded, or failed with the credit back on its credit note. A refund settled meanwhile
    (by another process) is left as it is. An error other than the processor's refusal (the processor not
    answering) leaves it pending, for `payments reconcile`. Returns its status now."""
    refund_id = refund.id
    try:
        processor_refund_id = gateway.refund(refund.charge_id, refund.amount_minor, refund.idempotency_key)
    except ProcessorError as refused:
        _fail(refund_id, str(refused) or "refused", actor)
    except Exception:  # the processor did not answer: the refund stays pending, sent again by reconcile
        log.exception("credit refund %s: the processor did not answer; it stays pending", refund_id)
        db.session.rollback()
    else:
        _succeed(refund_id, processor_refund_id, actor)
    refund = db.session.get(CreditRefund, refund_id)
    db.session.refresh(refund)
    return refund.status


def _move(row_id: int, status: RefundStatus, **values) -> bool:
    """Settle a pending refund (a conditional update: one process settles it)."""
    return db.session.execute(
        update(CreditRefund).where(CreditRefund.id == row_id, CreditRefund.status == RefundStatus.PENDING)
        .values(status=status, settled_at=utcnow(), **values).execution_options(synchronize_session=False)
    ).rowcount == 1


def _succeed(refund_id: int, processor_refund_id: str, actor: Actor) -> None:
    if _move(refund_id, RefundStatus.SUCCEEDED, refund_id=processor_refund_id):
        refund = db.session.get(CreditRefund, refund_id)
        note = db.session.get(Invoice, refund.credit_note_id)
        record(actor, "invoice.refund_succeeded", note, note.organization_id, credit_note=note.number,
               amount_minor=refund.amount_minor, charge_id=refund.charge_id, processor_refund=processor_refund_id)
    db.session.commit()


def _fail(refund_id: int, message: str, actor: Actor) -> None:
    """The processor refused: the refund failed, and the credit it used is the credit note's again."""
    if _move(refund_id, RefundStatus.FAILED, message=message[:1000]):
        refund = db.session.get(CreditRefund, refund_id)
        db.session.execute(select(Invoice.id).where(Invoice.id == refund.credit_note_id).with_for_update())
        note = db.session.get(Invoice, refund.credit_note_id)
        db.session.refresh(note)
        note.credit_used_minor -= refund.amount_minor
        note.status = InvoiceStatus.CREDIT_USED if note.credit_left_minor == 0 else InvoiceStatus.CREDIT_AVAILABLE
        record(actor, "invoice.refund_refused", note, note.organization_id, credit_note=note.number,
               amount_minor=refund.amount_minor, charge_id=refund.charge_id, message=message[:500])
    db.session.commit()


def refund_to_card(invoice: Invoice, amount_minor: int, reason: str, actor: Actor,
                   gateway: CardGateway) -> tuple[CreditRefund, RefundStatus]:
    """Both steps, for a caller outside a request: record (committed), then send. RuleError: nothing issued."""
    try:
        refund = record_refund(invoice, amount_minor, reason, actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return refund, send_refund(refund, gateway, actor)


def retry_pending_refunds(gateway: CardGateway, grace: timedelta,
                          now: datetime | None = None) -> list[tuple[CreditRefund, RefundStatus]]:
    """Send again every refund still pending `grace` after it was recorded (its process stopped before the
    processor answered), under its own idempotency key: the processor refunds at most once. Returns the refunds
    tried, with their status now."""
    cutoff = (now or utcnow()) - grace
    pending = db.session.scalars(select(CreditRefund).where(CreditRefund.status == RefundStatus.PENDING,
                                                            CreditRefund.created_at <= cutoff)
                                 .order_by(CreditRefund.created_at, CreditRefund.id)).all()
    db.session.commit()  # no transaction held while the processor is asked
    return [(refund, send_refund(refund, gateway, Actor.system())) for refund in pending]
