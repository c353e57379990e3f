"""The card processor interface (issue 21): card details are entered on the processor's side and never reach the
portal, which works with the processor's payment intents, setup intents and payment method ids, as it would with
Stripe, Adyen or Braintree.

Two implementations, chosen by PAYMENT_GATEWAY (`portal.payments.gateway.processor()`):
- `portal.sandbox_processor`: the embedded default, a blueprint that plays the processor's part (hosted fields, a
  hosted payment page for buyers without JavaScript, a 3-D Secure step) with documented test cards;
- `portal.payments.stripe_processor`: Stripe's API through the official `stripe` package.

Amounts are integer minor units; every call that creates or changes something takes an idempotency key, and a
repeated key returns the first answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class IntentState(enum.StrEnum):
    """A payment or setup intent's state, as the processor reports it (Stripe's names)."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # new, or the last attempt was declined
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # the buyer must authenticate (3-D Secure) at `next_action_url`
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


@dataclass(frozen=True)
class CardDetails:
    """What the portal keeps of a card: never its number."""

    payment_method_id: str
    brand: str  # visa, mastercard, amex …
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str = ""  # the name typed with the card, when the processor has it


@dataclass(frozen=True)
class Intent:
    """A payment intent (money to take) or a setup intent (a card to save for later), as the processor has it."""

    id: str
    state: IntentState
    amount_minor: int  # 0 for a setup intent
    currency: str
    client_secret: str  # what the processor's script in the buyer's browser needs to confirm it
    payment_method_id: str | None = None
    next_action_url: str | None = None  # where the buyer authenticates (REQUIRES_ACTION)
    decline_message: str | None = None  # why the last attempt failed, in words for the buyer
    charge_id: str | None = None  # the charge, once it succeeded (what a refund names)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.state is IntentState.SUCCEEDED


@dataclass(frozen=True)
class Refund:
    id: str
    amount_minor: int
    status: str  # succeeded | pending | failed


@dataclass(frozen=True)
class WebhookEvent:
    """A verified event from the processor: its id (to process each once), type and the intent it is about."""

    id: str
    type: str  # payment_intent.succeeded, payment_intent.payment_failed, setup_intent.succeeded, charge.refunded …
    intent: Intent | None


class ProcessorError(Exception):
    """A request the processor refuses (an unknown intent, a refund above what was taken …): the message says
    why, in words a developer reads (Stripe's invalid_request_error)."""


class UnknownObject(ProcessorError, LookupError):
    """No intent, payment method or event with this id."""


class CardError(ProcessorError):
    """Card details refused before any charge: a message per field (number, exp_month, exp_year, cvc, name)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class SignatureError(Exception):
    """A webhook whose signature does not verify (or too old): answered 400 and ignored."""


@dataclass(frozen=True)
class BrowserSide:
    """What the buyer's browser loads from the processor: its script (hosted fields) and frame origin, for the
    page and for the portal's Content-Security-Policy (one place: the processor says what it needs)."""

    script_url: str  # "" when card entry is the processor's hosted page only
    publishable_key: str
    script_origins: tuple[str, ...]
    frame_origins: tuple[str, ...]
    connect_origins: tuple[str, ...] = ()
    fields_url: str = ""  # the hosted card fields a payment form frames ("": none, the hosted page takes cards)
    form_origins: tuple[str, ...] = ()  # where a payment form's answer may redirect (hosted page, 3-D Secure)


class Processor(Protocol):
    def create_payment_intent(self, amount_minor: int, currency: str, idempotency_key: str, *,
                              payment_method_id: str | None = None, customer_id: str | None = None,
                              off_session: bool = False, confirm: bool = False, return_url: str | None = None,
                              metadata: dict[str, str] | None = None) -> Intent:
        """Money to take. With `confirm` and a payment method it is attempted at once; `off_session` charges a
        saved card without the buyer present (it may still come back REQUIRES_ACTION: the buyer must then
        authenticate later)."""

    def confirm_payment_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                               return_url: str | None = None) -> Intent:
        """Attempt the intent with a payment method the buyer's browser created on the processor's side."""

    def retrieve_payment_intent(self, intent_id: str) -> Intent: ...

    def find_payment_intent(self, idempotency_key: str) -> Intent | None:
        """The payment intent created under this idempotency key, as it stands now; None if none was. How a
        payment attempt whose process died learns whether the processor took money."""

    def cancel_payment_intent(self, intent_id: str, idempotency_key: str) -> Intent:
        """Give up an intent that has not succeeded (an abandoned authentication); nothing is taken."""

    def create_setup_intent(self, idempotency_key: str, *, customer_id: str | None = None,
                            return_url: str | None = None, metadata: dict[str, str] | None = None) -> Intent:
        """A card to save for later charges without the buyer present (renewals), with the buyer's consent."""

    def confirm_setup_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                             return_url: str | None = None) -> Intent:
        """Save the card the buyer entered in the hosted fields (3-D Secure may be asked first)."""

    def retrieve_setup_intent(self, intent_id: str) -> Intent: ...

    def retrieve_card(self, payment_method_id: str) -> CardDetails:
        """Brand, last four and expiry of a payment method (what the portal stores and shows)."""

    def refund(self, intent_id: str, amount_minor: int, idempotency_key: str) -> Refund:
        """Give back part or all of what a succeeded intent took (the credit note says why)."""

    def hosted_page_url(self, intent: Intent, return_url: str) -> str:
        """Where a buyer without JavaScript enters the card on the processor's own page (Stripe Checkout's role);
        the processor sends the buyer back to `return_url` with the intent's id."""

    def verify_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        """The event in a webhook request, if its signature verifies with the endpoint secret; else
        SignatureError."""

    def browser_side(self) -> BrowserSide: ...

