"""Payment intents: every attempt to take money by card is written, and committed on its own, before the gateway
is asked, so that no approved charge outlives a process that died before its order or invoice payment committed.

An attempt's life (`PaymentIntent.status`):

    pending --approved--> charged --committed with the order / invoice payment--> succeeded
    (pending stays pending while the buyer is at the processor: 3-D Secure, the hosted page)
    pending --declined--> declined
    pending or charged --claimed--> voiding --voided at the gateway--> voided

- The move to `succeeded` is made in the caller's transaction, from `charged` only; the claim for voiding is made
  on a connection of its own, from `pending` or `charged` only. Both are conditional updates of the same row, so
  the database lets exactly one of them happen: an order never commits on a charge being voided, and the charge of
  a committed order is never voided.
- The same card paying the same amount for the same purchase shares one attempt while it is open (one idempotency
  key, so one charge at the gateway): a double submission, or a retry after a crash, reuses the charge. A finished
  attempt (declined, voided) is not reused: the next one gets a fresh key.
- An approved attempt voids the attempts begun earlier for the same purchase that are still open: a process killed
  between charge and commit, or another tab paying with another card. Of concurrent attempts the last one begun
  keeps its charge, unless an earlier one committed first.
- `reconcile` (`flask --app wsgi payments reconcile`) settles what no retry came back for: after a grace period it
  asks the gateway about every attempt still open, marks those behind a committed order or payment succeeded, and
  voids the others' charges, with an audit entry for each charge voided.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit.services import Actor, audit_entry
from portal.billing.models import InvoicePayment
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.models import Order
from portal.payments.gateway import ChargeResult, ChargeStatus, PaymentGateway
from portal.payments.models import IntentStatus, PaymentIntent

PENDING, CHARGED, SUCCEEDED = IntentStatus.PENDING, IntentStatus.CHARGED, IntentStatus.SUCCEEDED
DECLINED, VOIDING, VOIDED = IntentStatus.DECLINED, IntentStatus.VOIDING, IntentStatus.VOIDED
OPEN = (PENDING, CHARGED)  # money may be taken and nothing is committed behind it yet
UNSETTLED = (*OPEN, VOIDING)  # what the reconcile job looks at


class Purpose(enum.StrEnum):
    CHECKOUT = "checkout"  # purpose key: the cart signature (the portal's checkout, or a storefront's)
    INVOICE = "invoice"  # purpose key: the invoice number


# Where a committed purchase keeps its charge: how reconcile tells a paid attempt from an orphan.
_COMMITTED_CHARGE = {Purpose.CHECKOUT: Order.gateway_charge_id, Purpose.INVOICE: InvoicePayment.gateway_charge_id}


@dataclass(frozen=True)
class Purchase:
    """What is paid for: one organization's checkout of a cart (its signature), or one invoice (its number)."""

    organization_id: int
    purpose: Purpose
    key: str


@dataclass(frozen=True)
class Attempt:
    """An attempt recorded before the charge: its row, the gateway's key for it, and when it (last) began."""

    id: int
    purchase: Purchase
    idempotency_key: str
    began_at: datetime


@dataclass(frozen=True)
class Settled:
    """What `reconcile` (or a retry) did with an attempt left open."""

    intent_id: int
    organization_id: int
    purpose: str
    purpose_key: str
    amount_minor: int
    currency: str
    charge_id: str | None
    status: IntentStatus  # succeeded (its order committed), voided, or declined
    charge_voided: bool  # an approved charge was given back (False: nothing had been taken)


class PaymentCancelled(RuleError):
    """The attempt was voided while it charged (a later attempt for the same purchase, or reconcile): the caller
    keeps nothing."""

    def __init__(self) -> None:
        super().__init__("This payment was cancelled because another payment for the same purchase was made at "
                         "the same time; nothing was taken from this card. Check your orders and invoices before "
                         "paying again.")


def begin(purchase: Purchase, card_key: str, amount_minor: int, currency: str,
          details: dict | None = None) -> Attempt:
    """Record, committed on a connection of its own, that this card is about to pay `amount_minor` for the
    purchase; call it before asking the gateway. An open or succeeded attempt of the same card and amount is
    reused (its key, hence its charge); a declined or voided one is followed by a new key. `details` are what
    completes the purchase should the buyer be sent to the processor (portal/payments/completion.py)."""
    digest = hashlib.sha256(f"{card_key}|{amount_minor}|{currency}".encode()).hexdigest()[:16]
    base = f"{purchase.purpose}-{purchase.organization_id}-{purchase.key}-{digest}"
    number = 1
    while True:
        key = base if number == 1 else f"{base}-{number}"
        began = utcnow()
        reused = _reuse(key, began)
        if reused is None:
            try:
                with db.engine.begin() as conn:
                    intent_id = conn.execute(insert(PaymentIntent).values(
                        organization_id=purchase.organization_id, purpose=purchase.purpose.value,
                        purpose_key=purchase.key, idempotency_key=key, amount_minor=amount_minor, currency=currency,
                        status=PENDING, details=details or {}, created_at=began,
                        updated_at=began)).inserted_primary_key[0]
                return Attempt(intent_id, purchase, key, began)
            except IntegrityError:  # the key exists: begun just now by a twin submission, or finished
                if _status_of_key(key) is None:
                    raise  # not the key: nothing to retry with another one
                reused = _reuse(key, began)
        if reused is not None:
            return Attempt(reused[0], purchase, key, reused[1])
        number += 1


def _reuse(key: str, began: datetime) -> tuple[int, datetime] | None:
    """The attempt of this key if it may be reused: open (it begins again now) or succeeded."""
    with db.engine.begin() as conn:
        bumped = conn.execute(update(PaymentIntent).where(PaymentIntent.idempotency_key == key,
                                                          PaymentIntent.status.in_(OPEN))
                              .values(created_at=began)).rowcount
        row = conn.execute(select(PaymentIntent.id, PaymentIntent.status, PaymentIntent.created_at)
                           .where(PaymentIntent.idempotency_key == key)).first()
    if row is not None and (bumped or row.status is SUCCEEDED):
        return row.id, row.created_at
    return None


def record_answer(attempt: Attempt, result: ChargeResult, gateway: PaymentGateway) -> None:
    """Record, committed, what the gateway answered. An approved charge then voids the attempts begun earlier for
    the same purchase and still open. PaymentCancelled if this attempt was claimed for voiding while it charged:
    the charge is given back. An open charge (the buyer must act at the processor) leaves the attempt pending,
    with the charge's id, to be answered again when the buyer returns or the processor's webhook arrives."""
    if result.status is ChargeStatus.OPEN:
        _move(attempt.id, (PENDING,), PENDING, result.charge_id)
        return
    if not result.approved:
        _move(attempt.id, OPEN, VOIDED if result.status is ChargeStatus.VOIDED else DECLINED, result.charge_id)
        return
    if not _move(attempt.id, (PENDING,), CHARGED, result.charge_id):
        status, known_charge = _status(attempt.id)
        if status not in (CHARGED, SUCCEEDED):  # claimed for voiding, or voided (maybe before this charge existed)
            if known_charge != result.charge_id or status is not VOIDED:  # else whoever voided it voided this too
                _void(attempt.id, result.charge_id, gateway, "cancelled while it charged",
                      claim=(*UNSETTLED, VOIDED))
            raise PaymentCancelled
        if status is SUCCEEDED:
            return  # the purchase committed on this very charge (a twin submission): nothing earlier is open
    with db.engine.connect() as conn:
        earlier = conn.scalars(select(PaymentIntent.id).where(
            PaymentIntent.purpose_key == attempt.purchase.key,
            PaymentIntent.organization_id == attempt.purchase.organization_id,
            PaymentIntent.purpose == attempt.purchase.purpose.value, PaymentIntent.id != attempt.id,
            PaymentIntent.status.in_(UNSETTLED), PaymentIntent.created_at < attempt.began_at)).all()
    for intent_id in earlier:
        _settle(intent_id, gateway, "replaced by a later payment attempt for the same purchase")


def succeed(intent_id: int | None) -> None:
    """In the caller's transaction, the one that records the order or the invoice payment: the attempt's charge
    is behind what commits. PaymentCancelled if the attempt was claimed for voiding meanwhile (roll back, then
    `give_back`). Nothing to do without an attempt (nothing was charged)."""
    if intent_id is None:
        return
    moved = db.session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                           PaymentIntent.status == CHARGED)
                               .values(status=SUCCEEDED, updated_at=utcnow())).rowcount
    if not moved:
        raise PaymentCancelled


def give_back(intent_id: int | None, charge_id: str | None, gateway: PaymentGateway) -> None:
    """After the caller rolled back: void the charge whose order or payment was not recorded, unless its attempt
    succeeded (a twin submission with the same card committed on the same charge)."""
    if intent_id is not None and charge_id:
        _void(intent_id, charge_id, gateway, "its order or payment could not be saved")


def rename_charge(intent_id: int, old_charge_id: str, new_charge_id: str) -> bool:
    """The attempt's charge is now `new_charge_id` (a hosted page paid with a payment intent of its own),
    committed on a connection of its own; False if it no longer named `old_charge_id`."""
    with db.engine.begin() as conn:
        return conn.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                        PaymentIntent.gateway_charge_id == old_charge_id)
                            .values(gateway_charge_id=new_charge_id, updated_at=utcnow())).rowcount == 1


def abandon(purchase: Purchase, gateway: PaymentGateway, reason: str) -> None:
    """Settle now every attempt of the purchase still open (an off-session charge that wanted the cardholder):
    its payment intent is cancelled, so that nothing can be taken for it later."""
    with db.engine.connect() as conn:
        ids = conn.scalars(select(PaymentIntent.id).where(
            PaymentIntent.organization_id == purchase.organization_id, PaymentIntent.purpose == purchase.purpose.value,
            PaymentIntent.purpose_key == purchase.key, PaymentIntent.status.in_(UNSETTLED))).all()
    for intent_id in ids:
        _settle(intent_id, gateway, reason)


def reconcile(gateway: PaymentGateway, grace: timedelta, now: datetime | None = None) -> list[Settled]:
    """Settle every attempt still open `grace` after it began: succeeded if its order or payment committed,
    otherwise its approved charge voided (with an audit entry) or the attempt closed. A second run finds nothing."""
    cutoff = (now or utcnow()) - grace
    with db.engine.connect() as conn:
        ids = conn.scalars(select(PaymentIntent.id).where(PaymentIntent.status.in_(UNSETTLED),
                                                          PaymentIntent.created_at <= cutoff)
                           .order_by(PaymentIntent.created_at, PaymentIntent.id)).all()
    minutes = int(grace.total_seconds() // 60)
    reason = f"no order or payment {minutes} minute{'s' if minutes != 1 else ''} after the attempt began"
    return [settled for settled in (_settle(intent_id, gateway, reason) for intent_id in ids) if settled]


def _settle(intent_id: int, gateway: PaymentGateway, reason: str) -> Settled | None:
    """Decide an open attempt from the gateway's record and the database: None if it was settled otherwise."""
    with db.engine.connect() as conn:
        intent = conn.execute(select(PaymentIntent.__table__).where(PaymentIntent.id == intent_id)).first()
    if intent is None or intent.status not in UNSETTLED:
        return None
    found = gateway.find_charge(intent.idempotency_key)
    charge_id = found.charge_id if found is not None else intent.gateway_charge_id
    voided = False
    if charge_id and _committed(Purpose(intent.purpose), charge_id):
        status = SUCCEEDED if _move(intent_id, OPEN, SUCCEEDED, charge_id) else None
    elif found is None:  # nothing taken yet; only if its status did not move meanwhile (its process charging now)
        status = VOIDED if _move(intent_id, (intent.status,), VOIDED) else None
    elif found.status is not ChargeStatus.DECLINED:  # approved, open (the buyer never came back) or voided
        status = VOIDED if _void(intent_id, charge_id, gateway, reason) else None
        voided = found.approved
    else:
        status = DECLINED if _move(intent_id, (intent.status,), DECLINED, charge_id) else None
    if status is None:
        return None
    return Settled(intent_id, intent.organization_id, intent.purpose, intent.purpose_key, intent.amount_minor,
                   intent.currency, charge_id, status, voided)


def _committed(purpose: Purpose, charge_id: str) -> bool:
    column = _COMMITTED_CHARGE[purpose]
    with db.engine.connect() as conn:
        return conn.scalar(select(column).where(column == charge_id).limit(1)) is not None


def _void(intent_id: int, charge_id: str, gateway: PaymentGateway, reason: str,
          claim: tuple[IntentStatus, ...] = UNSETTLED) -> bool:
    """Claim the attempt for voiding (committed), void its charge at the gateway, then mark it voided with an
    audit entry. False if it had succeeded (or was settled otherwise) first. A process dying between the steps
    leaves it `voiding`, which reconcile finishes (voiding twice does no harm)."""
    if not _move(intent_id, claim, VOIDING, charge_id):
        return False
    gateway.void(charge_id)
    with Session(db.engine) as session, session.begin():
        finished = session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                               PaymentIntent.status == VOIDING)
                                   .values(status=VOIDED, updated_at=utcnow())).rowcount
        if finished:
            intent = session.get(PaymentIntent, intent_id)
            session.add(audit_entry(Actor.system(), "payment.voided", intent, intent.organization_id,
                                    charge=charge_id, amount_minor=intent.amount_minor, currency=intent.currency,
                                    purpose=intent.purpose, reference=intent.purpose_key, reason=reason))
    return True


def _move(intent_id: int, from_: tuple[IntentStatus, ...], to: IntentStatus, charge_id: str | None = None) -> bool:
    """Move the attempt to `to` if it is in one of `from_`, committed on a connection of its own."""
    values = {"status": to, "updated_at": utcnow()}
    if charge_id:
        values["gateway_charge_id"] = charge_id
    with db.engine.begin() as conn:
        return conn.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                        PaymentIntent.status.in_(from_)).values(**values)).rowcount == 1


def _status(intent_id: int) -> tuple[IntentStatus, str | None]:
    with db.engine.connect() as conn:
        return conn.execute(select(PaymentIntent.status, PaymentIntent.gateway_charge_id)
                            .where(PaymentIntent.id == intent_id)).one()


def _status_of_key(key: str) -> IntentStatus | None:
    with db.engine.connect() as conn:
        return conn.scalar(select(PaymentIntent.status).where(PaymentIntent.idempotency_key == key))
