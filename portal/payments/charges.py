"""Charging a card through the gateway: a saved card (its token) or a new one (tokenized first), once per attempt.

Checkout and invoice payments both charge this way. Each charge is first recorded as a payment attempt
(portal/payments/intents.py), whose idempotency key names what is paid for, the card and the amount: concurrent
submissions with the same card share one charge at the gateway, a declined card does not block another card for
the same purchase, and an approved charge voids the earlier attempts for the purchase that never committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.errors import RuleError
from portal.payments import intents
from portal.payments.cards import CardInput
from portal.payments.gateway import PaymentGateway
from portal.payments.models import PaymentMethod


@dataclass(frozen=True)
class CardCharge:
    """What the gateway took: the charge (None for a zero amount), the card in words, a new card's token."""

    charge_id: str | None
    card_label: str
    new_card_token: str | None = None
    intent_id: int | None = None  # the payment attempt to mark succeeded with the purchase (intents.succeed)


def charge_card(saved_card: PaymentMethod | None, new_card: CardInput | None, amount_minor: int, currency: str,
                purchase: intents.Purchase, gateway: PaymentGateway) -> CardCharge:
    """Charge `amount_minor` once for the purchase and this card, recorded first as a payment attempt. RuleError
    (beside the card field) when the bank declines: nothing was taken."""
    if saved_card is not None:
        card, token, new_token = saved_card, saved_card.gateway_token, None
    elif new_card is not None:
        card = new_card
        token = new_token = gateway.tokenize(new_card)
    else:
        raise RuleError("Choose a saved card or enter a new one.", field="saved_card")
    label = f"{card.brand.label} ending {card.last4}"
    if amount_minor == 0:
        return CardCharge(None, label, new_token)
    card_key = f"{card.brand.value}-{card.last4}-{card.exp_month:02d}{card.exp_year}"
    attempt = intents.begin(purchase, card_key, amount_minor, currency)
    result = gateway.charge(token, amount_minor, currency, attempt.idempotency_key)
    intents.record_answer(attempt, result, gateway)
    if not result.approved:
        raise RuleError(result.message, field="card_number" if new_card is not None and saved_card is None
                        else "saved_card")
    return CardCharge(result.charge_id, label, new_token, attempt.id)
