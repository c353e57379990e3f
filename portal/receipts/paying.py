"""Paying an invoice (DOMAIN §6): by card through the gateway, or by wire, ACH or check, which staff record when
the money arrives. An invoice is paid at most once: `invoice_payment.invoice_id` is unique, so a second payment
cannot be recorded even by concurrent requests, and a second charge is voided.

`pay_by_card` is this feature's unit of work, like `orders.checkout.place_order`: the gateway is outside the
database transaction, so it charges, records and commits, and on any failure rolls back before giving the money
back; the payment attempt recorded before the charge succeeds in the same commit, or is voided by a retry or the
`payments reconcile` job (portal/payments/intents.py). Everything else here only flushes; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus, PaymentMethodKind
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.payments import intents
from portal.payments.charges import CardCharge, CardChoice, attempt_for, charge_card, resume, return_to
from portal.payments.gateway import PaymentGateway
from portal.receipts.methods import OTHER_METHODS, payment_options
from portal.receipts.services import issue_receipt
from portal.webhooks import events as webhook_events


def payment_of(invoice: Invoice) -> InvoicePayment | None:
    return db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == invoice.id)).first()


def check_payable(invoice: Invoice) -> None:
    """RuleError unless money is owed on the invoice itself."""
    if invoice.status in (InvoiceStatus.TO_BE_SUMMARIZED, InvoiceStatus.SUMMARIZED):
        raise RuleError("This invoice is paid through the monthly summary invoice that includes it.")
    if invoice.status is InvoiceStatus.PAID or payment_of(invoice) is not None:
        raise RuleError(f"Invoice {invoice.number} is already paid.")
    if invoice.amount_due_minor <= 0:
        raise RuleError("Nothing is owed on this invoice.")


def pay_by_card(invoice: Invoice, card: CardChoice, gateway: PaymentGateway, actor: Actor, *,
                off_session: bool = False) -> InvoicePayment:
    """Charge the invoice's amount due (its total less the credit applied to it) to the card and mark it paid,
    committed. RuleError: nothing was charged or kept (declined, already paid, not payable on its own).
    BuyerMustAct: the buyer goes to the processor first (3-D Secure, the hosted page; off session, the
    managers are asked by email), and `complete_card_payment` records the payment when it succeeded."""
    check_payable(invoice)
    charge = charge_card(card, invoice.amount_due_minor, invoice.currency,
                         intents.Purchase(invoice.organization_id, intents.Purpose.INVOICE, invoice.number), gateway,
                         return_url=return_to("invoices.pay_return", invoice_number=invoice.number),
                         details={"flow": "invoice"}, off_session=off_session)
    return _record_card_payment(invoice, charge, gateway, actor)


def complete_card_payment(invoice: Invoice, returned_id: str, gateway: PaymentGateway,
                          actor: Actor) -> InvoicePayment:
    """The payment of an invoice paid at the processor, recorded now if it is not yet, committed. RuleError if
    the payment did not succeed (nothing kept); LookupError if it is not a payment of this invoice."""
    attempt = attempt_for(returned_id, invoice.organization_id, gateway)
    if attempt is None or attempt.purpose != intents.Purpose.INVOICE or attempt.purpose_key != invoice.number:
        raise LookupError(returned_id)
    charge_id = attempt.gateway_charge_id
    existing = payment_of(invoice)
    if existing is not None and existing.gateway_charge_id == charge_id:
        return existing
    _, charge = resume(charge_id, invoice.organization_id, gateway)
    return _record_card_payment(invoice, charge, gateway, actor)


def _record_card_payment(invoice: Invoice, charge: CardCharge, gateway: PaymentGateway,
                         actor: Actor) -> InvoicePayment:
    try:
        check_payable(invoice)
        payment = _record(invoice, PaymentMethodKind.CARD, charge.card_label, actor, charge)
        intents.succeed(charge.intent_id)  # the payment attempt succeeds with this commit, or not at all
        db.session.commit()
    except (IntegrityError, RuleError):  # paid meanwhile (another tab, staff recording a wire): keep one payment
        db.session.rollback()
        existing = payment_of(invoice)
        if existing is not None and existing.gateway_charge_id == charge.charge_id:
            return existing  # the same submission twice: the gateway handed back the charge already recorded
        _give_back(charge, gateway)
        raise RuleError(f"Invoice {invoice.number} is already paid; this card was not charged.") from None
    except BaseException:
        db.session.rollback()
        _give_back(charge, gateway)
        raise
    return payment


def _give_back(charge: CardCharge, gateway: PaymentGateway) -> None:
    intents.give_back(charge.intent_id, charge.charge_id, gateway)


def announce_transfer(invoice: Invoice, method: PaymentMethodKind, org: Organization, actor: Actor) -> None:
    """The buyer will pay by wire, ACH or check: the invoice shows "Payment pending" until staff record the
    money."""
    check_payable(invoice)
    if method not in OTHER_METHODS or method not in payment_options(invoice, org):
        raise RuleError("That payment method is not available for this invoice.", field="method")
    if invoice.status is not InvoiceStatus.PAYMENT_PENDING:
        invoice.status = InvoiceStatus.PAYMENT_PENDING
        record(actor, "invoice.payment_announced", invoice, invoice.organization_id, number=invoice.number,
               method=method.value)


def record_transfer(invoice: Invoice, method: PaymentMethodKind, amount_minor: int, reference: str,
                    actor: Actor) -> InvoicePayment:
    """Staff record a wire, ACH or check payment that arrived: the invoice is paid."""
    check_payable(invoice)
    if method not in OTHER_METHODS:
        raise RuleError("Card payments are taken by the portal; record a wire, ACH or check here.", field="method")
    if amount_minor != invoice.amount_due_minor:
        raise RuleError("Record the whole amount due on the invoice; partial payments are not supported.",
                        field="amount")
    if not reference.strip():
        raise RuleError("Enter the bank reference or the check number.", field="reference")
    try:
        return _record(invoice, method, reference.strip(), actor)
    except IntegrityError:
        raise RuleError(f"Invoice {invoice.number} is already paid.") from None


def _record(invoice: Invoice, method: PaymentMethodKind, reference: str, actor: Actor,
            charge: CardCharge | None = None) -> InvoicePayment:
    payment = InvoicePayment(invoice_id=invoice.id, amount_minor=invoice.amount_due_minor, method=method,
                             reference=reference[:120], gateway_charge_id=charge.charge_id if charge else None,
                             recorded_by_id=actor.user_id)
    db.session.add(payment)
    db.session.flush()  # the unique invoice_id refuses a second payment here
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = utcnow()
    record(actor, "invoice.paid", invoice, invoice.organization_id, number=invoice.number, method=method.value,
           amount_minor=payment.amount_minor, reference=reference or None)
    webhook_events.invoice_paid(invoice)
    issue_receipt([(invoice, payment)], actor)  # numbered, and emailed to the payer with its PDF
    return payment
