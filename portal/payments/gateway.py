"""Card charges as the portal's payment features use them, on top of the card processor's payment intents
(portal/payments/processor.py: the embedded sandbox, or Stripe).

The portal never sees a card number: a card is a payment method id that the processor's hosted fields (with
JavaScript) or a saved card give, or the buyer enters the card on the processor's hosted payment page (without
JavaScript). A charge is one payment intent, created under the payment attempt's idempotency key
(portal/payments/intents.py), so that a repeated request never charges twice; its id is what the portal keeps as
the charge's id (what refunds and voids name).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask import current_app

from portal.payments.processor import CardDetails, Intent, IntentState, Processor, ProcessorError

DECLINED = "The card was declined by its bank. Use another card or contact the bank."
NOT_COMPLETED = "The payment was not completed, so nothing was charged. Try again or use another card."


class ChargeStatus(enum.StrEnum):
    APPROVED = "approved"  # the money is taken
    DECLINED = "declined"  # nothing was taken (the bank declined, or the buyer cancelled the authentication)
    OPEN = "open"  # waiting for the buyer: 3-D Secure at `action_url`, or the card on the hosted page
    VOIDED = "voided"  # cancelled before anything was taken


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    charge_id: str | None  # the processor's payment intent id
    message: str = ""
    action_url: str | None = None  # where the buyer authenticates (3-D Secure)
    payment_method_id: str | None = None  # the card that paid or was tried
    replaces: str | None = None  # a hosted page's own payment intent names the one it pays for (Stripe Checkout)

    @property
    def approved(self) -> bool:
        return self.status is ChargeStatus.APPROVED


def result_of(intent: Intent) -> ChargeResult:
    """What a payment intent means for the portal."""
    if intent.state is IntentState.SUCCEEDED:
        status, message = ChargeStatus.APPROVED, "approved"
    elif intent.state is IntentState.CANCELED:
        status, message = ChargeStatus.VOIDED, "This payment was cancelled; nothing was taken."
    elif intent.state is IntentState.REQUIRES_PAYMENT_METHOD and intent.decline_message:
        status, message = ChargeStatus.DECLINED, intent.decline_message
    else:
        status, message = ChargeStatus.OPEN, NOT_COMPLETED
    return ChargeResult(status, intent.id, message, intent.next_action_url, intent.payment_method_id,
                        intent.metadata.get("replaces_payment_intent"))


class CardGateway:
    """Charges, voids and refunds through a processor, each under an idempotency key."""

    def __init__(self, card_processor: Processor):
        self.processor = card_processor

    def charge(self, payment_method_id: str, amount_minor: int, currency: str, idempotency_key: str, *,
               return_url: str | None = None, off_session: bool = False,
               metadata: dict[str, str] | None = None) -> ChargeResult:
        """Charge the card once per idempotency key: a repeated key answers with the same payment intent, as it
        stands now. OPEN with an `action_url` when the buyer must authenticate first (off session too: the buyer
        is then asked by email)."""
        intent = self.processor.create_payment_intent(
            amount_minor, currency, idempotency_key, payment_method_id=payment_method_id, off_session=off_session,
            confirm=True, return_url=return_url, metadata={**(metadata or {}), "idempotency_key": idempotency_key})
        if not intent.succeeded:  # a repeated key answers with the first answer: read where it stands now
            intent = self.processor.retrieve_payment_intent(intent.id)
        return result_of(intent)

    def hosted_payment(self, amount_minor: int, currency: str, idempotency_key: str, return_url: str,
                       metadata: dict[str, str] | None = None) -> tuple[ChargeResult, str]:
        """A payment the buyer makes on the processor's hosted page (no JavaScript): the intent, and the page's
        address; the processor sends the buyer back to `return_url`."""
        intent = self.processor.create_payment_intent(
            amount_minor, currency, idempotency_key, return_url=return_url,
            metadata={**(metadata or {}), "idempotency_key": idempotency_key})
        intent = self.processor.retrieve_payment_intent(intent.id)
        return result_of(intent), self.processor.hosted_page_url(intent, return_url)

    def outcome(self, charge_id: str) -> ChargeResult:
        return result_of(self.processor.retrieve_payment_intent(charge_id))

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """The charge made under this key, as it stands now; None if the processor never received it."""
        intent = self.processor.find_payment_intent(idempotency_key)
        return result_of(intent) if intent is not None else None

    def void(self, charge_id: str) -> None:
        """Take nothing for this charge: cancel it if it has not succeeded, else refund it whole. Doing it twice
        does no harm (the refund's idempotency key is the charge's)."""
        intent = self.processor.retrieve_payment_intent(charge_id)
        if intent.state is IntentState.CANCELED:
            return
        if not intent.succeeded:
            try:
                self.processor.cancel_payment_intent(charge_id, f"cancel-{charge_id}")
                return
            except ProcessorError:  # it succeeded in between: refund it instead
                if not self.processor.retrieve_payment_intent(charge_id).succeeded:
                    raise
        self.processor.refund(charge_id, intent.amount_minor, f"void-{charge_id}")

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> str:
        """Give back part of a charge (a credit note on a paid invoice); the refund's id."""
        return self.processor.refund(charge_id, amount_minor, idempotency_key).id

    def card(self, payment_method_id: str) -> CardDetails:
        return self.processor.retrieve_card(payment_method_id)


# The name the payment features use for the object they charge through.
PaymentGateway = CardGateway


def processor() -> Processor:
    """The app's card processor: the embedded sandbox unless PAYMENT_GATEWAY=stripe (tests may put their own in
    `app.extensions["card_processor"]`)."""
    found = current_app.extensions.get("card_processor")
    if found is None:
        if current_app.config.get("PAYMENT_GATEWAY", "sandbox") == "stripe":
            from portal.payments.stripe_processor import StripeProcessor

            found = StripeProcessor(current_app.config["STRIPE_SECRET_KEY"],
                                    current_app.config["STRIPE_PUBLISHABLE_KEY"],
                                    current_app.config["STRIPE_WEBHOOK_SECRET"],
                                    api_base=current_app.config.get("STRIPE_API_BASE"))
        else:
            from portal.sandbox_processor.processor import sandbox_processor

            found = sandbox_processor()
        current_app.extensions["card_processor"] = found
    return found


def gateway() -> CardGateway:
    """The app's gateway, on the app's processor (portal.payments.processor.processor)."""
    return CardGateway(processor())
