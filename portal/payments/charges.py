"""Charging a card through the processor, once per attempt: a saved card, a card the buyer entered in the
processor's hosted fields (JavaScript), or a card the buyer enters on the processor's hosted payment page (no
JavaScript). The portal never sees the card's number: it gets a payment method id, or nothing until the buyer is
back.

Checkout, storefront checkout and invoice payments all charge this way. Each charge is first recorded as a
payment attempt (portal/payments/intents.py), whose idempotency key names what is paid for, the card and the
amount: concurrent submissions with the same card share one payment intent at the processor, a declined card does
not block another card for the same purchase, and an approved charge voids the earlier attempts for the purchase
that never committed.

When the processor needs the buyer (3-D Secure, or the hosted page), `charge_card` raises `BuyerMustAct` with the
address to send the buyer to; the attempt stays open with what completes the purchase (`details`), and
`resume` answers it when the buyer comes back or the processor's webhook arrives (portal/payments/completion.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import has_request_context, url_for
from sqlalchemy import select

from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import external_url
from portal.payments import intents
from portal.payments.gateway import NOT_COMPLETED, ChargeResult, ChargeStatus, PaymentGateway
from portal.payments.models import CardBrand, IntentStatus, PaymentIntent, PaymentMethod
from portal.payments.processor import CardDetails, ProcessorError, UnknownObject

CARD_FIELD = "saved_card"  # where a card's refusal is shown on the portal's payment forms
GIVEN_BACK = ("This payment was given back in full, so nothing was bought with it: the cart or what was owed "
              "changed while you were with the card processor. Review this page and pay again.")
UNUSABLE_CARD = "The card processor cannot use this card, so nothing was charged. Enter the card again or choose " \
                "another one."


@dataclass(frozen=True)
class CardChoice:
    """The card the buyer chose: a saved card, a card entered in the processor's hosted fields (its payment
    method id), or neither: the buyer enters it on the processor's hosted page. `save` keeps a new card."""

    saved_card: PaymentMethod | None = None
    payment_method_id: str | None = None
    save: bool = False


@dataclass(frozen=True)
class CardCharge:
    """What the processor took: the charge (None for a zero amount), the card in words, and the new card that
    paid (to save when the buyer asked)."""

    charge_id: str | None
    card_label: str
    new_card: CardDetails | None = None
    intent_id: int | None = None  # the payment attempt to mark succeeded with the purchase (intents.succeed)


class BuyerMustAct(Exception):
    """The processor needs the buyer: authenticate (3-D Secure) or enter the card on its hosted page, at `url`.
    Nothing is taken yet; the attempt waits, and the purchase completes when the buyer returns."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


def return_to(endpoint: str, **values) -> str:
    """The absolute address the processor sends the buyer back to: this request's host, or PUBLIC_URL."""
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return external_url(endpoint, **values)


def card_label(brand: str, last4: str) -> str:
    try:
        name = CardBrand(brand).label
    except ValueError:
        name = brand.title()
    return f"{name} ending {last4}"


def charge_card(card: CardChoice, amount_minor: int, currency: str, purchase: intents.Purchase,
                gateway: PaymentGateway, *, return_url: str, details: dict | None = None,
                off_session: bool = False) -> CardCharge:
    """Charge `amount_minor` once for the purchase and this card, recorded first as a payment attempt. RuleError
    (beside the card field) when the bank declines: nothing was taken. BuyerMustAct when the buyer must go to the
    processor first."""
    if card.saved_card is not None:
        method, card_key = card.saved_card.gateway_token, f"saved-{card.saved_card.id}"
    elif card.payment_method_id:
        method, card_key = card.payment_method_id, f"new-{card.payment_method_id}"
    else:
        method, card_key = None, "hosted"
    if amount_minor == 0:
        label = card_label(card.saved_card.brand, card.saved_card.last4) if card.saved_card else "Card"
        return CardCharge(None, label)
    attempt = intents.begin(purchase, card_key, amount_minor, currency, {**(details or {}), "save": card.save})
    metadata = {"purpose": purchase.purpose.value, "reference": purchase.key[:64],
                "organization_id": str(purchase.organization_id)}
    hosted_url = None
    if method is not None:
        try:
            result = gateway.charge(method, amount_minor, currency, attempt.idempotency_key, return_url=return_url,
                                    off_session=off_session, metadata=metadata)
        except UnknownObject:  # a payment method the processor does not know (forged, or stale): nothing charged
            intents.record_answer(attempt, ChargeResult(ChargeStatus.DECLINED, None), gateway)
            raise RuleError(UNUSABLE_CARD, field=CARD_FIELD) from None
    else:
        result, hosted_url = gateway.hosted_payment(amount_minor, currency, attempt.idempotency_key, return_url,
                                                    metadata)
    intents.record_answer(attempt, result, gateway)
    if result.status is ChargeStatus.OPEN:
        raise BuyerMustAct(result.action_url or hosted_url or return_url)
    return _answered(result, attempt.id, card, gateway)


def resume(charge_id: str, organization_id: int, gateway: PaymentGateway) -> tuple[PaymentIntent, CardCharge]:
    """Answer the open attempt of this charge from the processor, once the buyer is back (or its webhook
    arrived): the attempt, and what was taken. RuleError if nothing was (declined, or the buyer gave up: the
    payment is cancelled so that it cannot be paid later without its purchase); LookupError if the organization
    has no such attempt."""
    row = attempt_of_charge(charge_id, organization_id)
    if row is None:
        raise LookupError(charge_id)
    result = gateway.outcome(charge_id)
    attempt = intents.Attempt(row.id, intents.Purchase(row.organization_id, intents.Purpose(row.purpose),
                                                       row.purpose_key), row.idempotency_key, row.created_at)
    if result.status is ChargeStatus.OPEN:  # back without paying or authenticating: nothing may be taken later
        gateway.void(charge_id)
        result = gateway.outcome(charge_id)
        if result.status is ChargeStatus.VOIDED:
            result = replace(result, message=NOT_COMPLETED)
    if row.status in (IntentStatus.VOIDING, IntentStatus.VOIDED) and result.approved:
        # Settled already: the webhook or reconcile found its purchase could not be completed, and gives it back.
        intents.give_back(row.id, charge_id, gateway)
        raise RuleError(GIVEN_BACK, field=CARD_FIELD)
    intents.record_answer(attempt, result, gateway)
    return row, _answered(result, row.id, CardChoice(save=bool(row.details.get("save"))), gateway)


def attempt_for(returned_id: str, organization_id: int | None, gateway: PaymentGateway) -> PaymentIntent | None:
    """The organization's payment attempt of the charge a return or a webhook event names (None if none). A hosted
    page may pay with a payment intent of its own (Stripe Checkout), which names the attempt's in `replaces`: it
    becomes the attempt's charge (what refunds name), and the intent created first is cancelled."""
    if not returned_id:
        return None
    try:
        result = gateway.outcome(returned_id)
    except (ProcessorError, LookupError):
        return None
    row = attempt_of_charge(result.charge_id, organization_id)
    if row is None and result.replaces:
        row = attempt_of_charge(result.replaces, organization_id)
    if row is not None and result.replaces and row.gateway_charge_id == result.replaces \
            and intents.rename_charge(row.id, result.replaces, result.charge_id):
        gateway.void(result.replaces)  # never paid: nothing can be taken on it later
        db.session.refresh(row)
    return row


def attempt_of_charge(charge_id: str, organization_id: int | None = None) -> PaymentIntent | None:
    stmt = select(PaymentIntent).where(PaymentIntent.gateway_charge_id == charge_id)
    if organization_id is not None:
        stmt = stmt.where(PaymentIntent.organization_id == organization_id)
    return db.session.scalars(stmt).first()


def _answered(result: ChargeResult, attempt_id: int, card: CardChoice, gateway: PaymentGateway) -> CardCharge:
    if result.status is ChargeStatus.DECLINED:
        gateway.void(result.charge_id)  # no later payment of this intent without its purchase
        raise RuleError(result.message, field=CARD_FIELD)
    if not result.approved:
        raise RuleError(result.message, field=CARD_FIELD)
    if card.saved_card is not None:
        return CardCharge(result.charge_id, card_label(card.saved_card.brand, card.saved_card.last4),
                          intent_id=attempt_id)
    details = gateway.card(result.payment_method_id)
    return CardCharge(result.charge_id, card_label(details.brand, details.last4), details, attempt_id)
