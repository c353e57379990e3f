"""Charging a card through the gateway: a saved card (its token) or a new one (tokenized first), once per key.

Checkout and invoice payments both charge this way. The idempotency key names what is paid for and the card, so
that concurrent submissions with the same card share one charge at the gateway, and a declined card does not
block another card for the same purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.errors import RuleError
from portal.payments.cards import CardInput
from portal.payments.gateway import PaymentGateway
from portal.payments.models import PaymentMethod


@dataclass(frozen=True)
class CardCharge:
    """What the gateway took: the charge (None for a zero amount), the card in words, a new card's token."""

    charge_id: str | None
    card_label: str
    new_card_token: str | None = None


def charge_card(saved_card: PaymentMethod | None, new_card: CardInput | None, amount_minor: int, currency: str,
                purpose_key: str, gateway: PaymentGateway) -> CardCharge:
    """Charge `amount_minor` once for `purpose_key` and this card. RuleError (beside the card field) when the
    bank declines: nothing was taken."""
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
    result = gateway.charge(token, amount_minor, currency, f"{purpose_key}-{card_key}")
    if not result.approved:
        raise RuleError(result.message, field="card_number" if new_card is not None and saved_card is None
                        else "saved_card")
    return CardCharge(result.charge_id, label, new_token)
