"""The Stripe adapter (issue 21): `portal.payments.processor.Processor` on Stripe's API through the official `stripe`
package (PAYMENT_GATEWAY=stripe; not used by checkout yet).

- Payment Intents for money to take: card only (`payment_method_types=["card"]`, which leaves Stripe's automatic
  payment methods off), confirmed with the payment method that Stripe.js (Payment Element) created in the buyer's
  browser and a `return_url` for 3-D Secure; saved cards are charged with `off_session` and `confirm`.
- Setup Intents (`usage="off_session"`) save a card for renewals; the browser confirms them with Stripe.js
  (`stripe.confirmSetup`, which takes the return URL), or Checkout does for a buyer without JavaScript.
- Every call that creates or changes something sends an `Idempotency-Key`: Stripe answers a repeated key with the
  first answer.
- A buyer without JavaScript pays on a Checkout Session (`hosted_page_url`). Checkout makes a payment intent of its
  own, so Stripe sends the buyer back to `return_url?payment_intent=cs_…` (the session's id) and
  `retrieve_payment_intent("cs_…")` answers with the session's payment intent (its metadata copies the original
  intent's, with `replaces_payment_intent` naming it; the portal cancels the original). A cancelled Checkout comes
  back with the original intent's id. Setup intents likewise (`retrieve_setup_intent("cs_…")`).
- States are Stripe's own names, with one mapping: an off-session charge Stripe refuses with
  `authentication_required` (the intent goes back to requires_payment_method) is reported as REQUIRES_ACTION,
  without a next_action_url: the buyer must come back and confirm it with the same card, on session.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import stripe

from portal.payments.processor import (
    BrowserSide,
    CardDetails,
    Intent,
    IntentState,
    ProcessorError,
    Refund,
    SignatureError,
    UnknownObject,
    WebhookEvent,
)

# What the portal's Content-Security-Policy admits for Stripe: a payment form's answer redirects to Checkout or to
# 3-D Secure (form-action applies to those redirects).
FORM_ORIGINS = ("https://checkout.stripe.com", "https://hooks.stripe.com")  # Checkout, and 3-D Secure
REFUND_STATUSES = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending"}
WEBHOOK_TOLERANCE_SECONDS = 300
HOSTED_PAGE_PRODUCT_NAME = "Payment"


def _plain(value: Any) -> Any:
    """A Stripe object as plain dicts and lists (what the webhook payload and error bodies already are)."""
    return value.to_dict() if isinstance(value, stripe.StripeObject) else value


def _id_of(value: Any) -> str | None:
    """An expandable field: an id, an expanded object (its id), or nothing."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _with_query(url: str, name: str, value: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{name}={value}"


def intent_from_stripe(obj: dict) -> Intent:
    """A Stripe PaymentIntent or SetupIntent (as plain dicts) as the portal's `Intent`."""
    setup = obj.get("object") == "setup_intent"
    error = obj.get("last_payment_error" if not setup else "last_setup_error") or {}
    next_action = obj.get("next_action") or {}
    redirect = next_action.get("redirect_to_url") or {}
    return Intent(
        id=obj["id"],
        state=IntentState(obj["status"]),
        amount_minor=0 if setup else int(obj["amount"]),
        currency="" if setup else str(obj["currency"]).upper(),
        client_secret=obj.get("client_secret") or "",
        payment_method_id=_id_of(obj.get("payment_method")) or _id_of(error.get("payment_method")),
        next_action_url=redirect.get("url") if next_action.get("type") == "redirect_to_url" else None,
        decline_message=error.get("message"),
        charge_id=None if setup else _id_of(obj.get("latest_charge")),
        metadata=dict(obj.get("metadata") or {}),
    )


def _refused_intent(error: stripe.StripeError, key: str) -> Intent | None:
    """The intent a card error carries (Stripe answers a decline with HTTP 402 and the updated intent), or None."""
    body = (error.json_body or {}).get("error") or {}
    obj = body.get(key)
    if not obj:
        return None
    intent = intent_from_stripe(obj)
    if body.get("code") == "authentication_required" and intent.state is IntentState.REQUIRES_PAYMENT_METHOD:
        # Off session: the buyer must come back and authenticate (the interface's REQUIRES_ACTION).
        return replace(intent, state=IntentState.REQUIRES_ACTION,
                       payment_method_id=intent.payment_method_id or _id_of(body.get("payment_method")),
                       decline_message=intent.decline_message or body.get("message"))
    return intent


class StripeProcessor:
    """Stripe's Payment Intents, Setup Intents, Checkout and webhooks behind the portal's processor interface."""

    def __init__(self, secret_key: str, publishable_key: str, webhook_secret: str, api_base: str | None = None):
        self._publishable_key = publishable_key
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else None)
        self._v1 = self._client.v1

    def __repr__(self) -> str:  # the keys stay out of logs and tracebacks
        return "StripeProcessor()"

    # Payment intents

    def create_payment_intent(self, amount_minor: int, currency: str, idempotency_key: str, *,
                              payment_method_id: str | None = None, customer_id: str | None = None,
                              off_session: bool = False, confirm: bool = False, return_url: str | None = None,
                              metadata: dict[str, str] | None = None) -> Intent:
        """Money to take; with `confirm` it is attempted at once (a decline comes back as the intent)."""
        params: dict[str, Any] = {"amount": amount_minor, "currency": currency.lower(),
                                  "payment_method_types": ["card"], "metadata": dict(metadata or {})}
        if payment_method_id:
            params["payment_method"] = payment_method_id
        if customer_id:
            params["customer"] = customer_id
        if confirm:
            params["confirm"] = True
            if off_session:
                params["off_session"] = True
            elif return_url:
                params["return_url"] = return_url
        try:
            created = self._v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as refused:
            if refused.code == "resource_missing":  # no such payment method (forged, or stale)
                raise UnknownObject(refused.user_message or str(refused)) from refused
            raise
        except stripe.CardError as error:
            refused = _refused_intent(error, "payment_intent")
            if refused is None:
                raise
            return refused
        return intent_from_stripe(_plain(created))

    def confirm_payment_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                               return_url: str | None = None) -> Intent:
        """Attempt the intent with the payment method Stripe.js created in the buyer's browser."""
        params: dict[str, Any] = {"payment_method": payment_method_id}
        if return_url:
            params["return_url"] = return_url
        try:
            confirmed = self._v1.payment_intents.confirm(intent_id, params, {"idempotency_key": idempotency_key})
        except stripe.CardError as error:
            refused = _refused_intent(error, "payment_intent")
            if refused is None:
                raise
            return refused
        return intent_from_stripe(_plain(confirmed))

    def retrieve_payment_intent(self, intent_id: str) -> Intent:
        """The intent as Stripe has it now; a Checkout Session id (`cs_…`) gives the session's payment intent."""
        if intent_id.startswith("cs_"):
            session = _plain(self._v1.checkout.sessions.retrieve(intent_id, {"expand": ["payment_intent"]}))
            found = session.get("payment_intent")
            if not found:  # Checkout makes its payment intent when the buyer pays
                raise LookupError(f"Checkout Session {intent_id} has no payment yet")
            if isinstance(found, str):
                return self.retrieve_payment_intent(found)
            return intent_from_stripe(found)
        return intent_from_stripe(_plain(self._v1.payment_intents.retrieve(intent_id)))

    def find_payment_intent(self, idempotency_key: str) -> Intent | None:
        """The payment intent created under this key: the portal writes the key into every intent's metadata, and
        Stripe's search finds it (search results may lag a few seconds behind; reconcile waits longer)."""
        if "'" in idempotency_key or "\\" in idempotency_key:
            raise ValueError("an idempotency key holds no quote or backslash")
        found = _plain(self._v1.payment_intents.search(
            {"query": f"metadata['idempotency_key']:'{idempotency_key}'", "limit": 1}))
        data = found.get("data") or []
        return intent_from_stripe(data[0]) if data else None

    def cancel_payment_intent(self, intent_id: str, idempotency_key: str) -> Intent:
        """Give up an intent that has not succeeded; nothing is taken (ProcessorError if it succeeded)."""
        try:
            return intent_from_stripe(_plain(self._v1.payment_intents.cancel(
                intent_id, None, {"idempotency_key": idempotency_key})))
        except stripe.InvalidRequestError as refused:  # it succeeded (refund it instead) or was cancelled
            raise ProcessorError(refused.user_message or str(refused)) from refused

    # Setup intents and cards

    def create_setup_intent(self, idempotency_key: str, *, customer_id: str | None = None,
                            return_url: str | None = None, metadata: dict[str, str] | None = None) -> Intent:
        """A card to save for off-session charges. Stripe takes `return_url` when the browser confirms the setup
        intent (`stripe.confirmSetup`) or from Checkout's URLs, not at creation: it is not sent here."""
        params: dict[str, Any] = {"usage": "off_session", "payment_method_types": ["card"],
                                  "metadata": dict(metadata or {})}
        if customer_id:
            params["customer"] = customer_id
        return intent_from_stripe(_plain(self._v1.setup_intents.create(params, {"idempotency_key": idempotency_key})))

    def confirm_setup_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                             return_url: str | None = None) -> Intent:
        """Save a card entered in the buyer's browser (3-D Secure may come first, at `next_action_url`)."""
        params: dict[str, Any] = {"payment_method": payment_method_id}
        if return_url:
            params["return_url"] = return_url
        try:
            confirmed = self._v1.setup_intents.confirm(intent_id, params, {"idempotency_key": idempotency_key})
        except stripe.CardError as error:
            refused = _refused_intent(error, "setup_intent")
            if refused is None:
                raise
            return refused
        return intent_from_stripe(_plain(confirmed))

    def retrieve_setup_intent(self, intent_id: str) -> Intent:
        """The setup intent as Stripe has it now; a Checkout Session id (`cs_…`) gives the session's."""
        if intent_id.startswith("cs_"):
            session = _plain(self._v1.checkout.sessions.retrieve(intent_id, {"expand": ["setup_intent"]}))
            found = session.get("setup_intent")
            if not found:
                raise LookupError(f"Checkout Session {intent_id} has no setup intent")
            if isinstance(found, str):
                return self.retrieve_setup_intent(found)
            return intent_from_stripe(found)
        return intent_from_stripe(_plain(self._v1.setup_intents.retrieve(intent_id)))

    def retrieve_card(self, payment_method_id: str) -> CardDetails:
        """Brand, last four and expiry of a card payment method (Stripe never gives the number)."""
        method = _plain(self._v1.payment_methods.retrieve(payment_method_id))
        card = method.get("card") or {}
        if method.get("type") != "card" or not card:
            raise ValueError(f"payment method {payment_method_id} is not a card")
        return CardDetails(payment_method_id=method["id"], brand=card["brand"], last4=card["last4"],
                           exp_month=int(card["exp_month"]), exp_year=int(card["exp_year"]),
                           holder_name=(method.get("billing_details") or {}).get("name") or "")

    def refund(self, intent_id: str, amount_minor: int, idempotency_key: str) -> Refund:
        """Give back part or all of what a succeeded intent took."""
        try:
            made = _plain(self._v1.refunds.create({"payment_intent": intent_id, "amount": amount_minor},
                                                  {"idempotency_key": idempotency_key}))
        except stripe.InvalidRequestError as refused:  # more than is left, not a succeeded payment …
            raise ProcessorError(refused.user_message or str(refused)) from refused
        return Refund(id=made["id"], amount_minor=int(made["amount"]),
                      status=REFUND_STATUSES.get(made["status"], "failed"))

    # The buyer's side

    def hosted_page_url(self, intent: Intent, return_url: str) -> str:
        """A Checkout Session for a buyer without JavaScript: the intent's amount, currency and metadata (or, for a
        setup intent, a card to save); Stripe sends the buyer back to `return_url` with `payment_intent=cs_…`
        when done, or with the original intent's id when they cancel."""
        setup = intent.id.startswith("seti_")
        metadata = {**intent.metadata, "replaces_payment_intent": intent.id}
        params: dict[str, Any] = {
            "mode": "setup" if setup else "payment",
            "payment_method_types": ["card"],
            # Stripe replaces {CHECKOUT_SESSION_ID} with the session's id.
            "success_url": _with_query(return_url, "payment_intent", "{CHECKOUT_SESSION_ID}"),
            "cancel_url": _with_query(return_url, "payment_intent", intent.id),
            "metadata": metadata,
        }
        if setup:
            params["setup_intent_data"] = {"metadata": metadata}
        else:
            params["line_items"] = [{"quantity": 1, "price_data": {
                "currency": intent.currency.lower(), "unit_amount": intent.amount_minor,
                "product_data": {"name": intent.metadata.get("description", HOSTED_PAGE_PRODUCT_NAME)}}}]
            params["payment_intent_data"] = {"metadata": metadata}
        # One session per intent and return URL: reopening the page finds the same session.
        digest = hashlib.sha256(return_url.encode()).hexdigest()[:16]
        session = self._v1.checkout.sessions.create(params, {"idempotency_key": f"checkout-{intent.id}-{digest}"})
        return _plain(session)["url"]

    def verify_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        """The event in a webhook request, if its Stripe-Signature verifies with the endpoint secret (and is at most
        five minutes old); else SignatureError. A charge or Checkout event names its payment intent, which is
        fetched from Stripe."""
        signature = next((value for name, value in headers.items() if name.lower() == "stripe-signature"), None)
        try:
            event = stripe.Webhook.construct_event(payload, signature, self._webhook_secret,
                                                   tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise SignatureError(str(error) or "the Stripe-Signature header does not verify") from None
        event = _plain(event)
        obj = (event.get("data") or {}).get("object") or {}
        kind = obj.get("object")
        intent = None
        if kind in {"payment_intent", "setup_intent"}:
            intent = intent_from_stripe(obj)
        elif kind in {"charge", "checkout.session"} and _id_of(obj.get("payment_intent")):
            intent = self.retrieve_payment_intent(_id_of(obj["payment_intent"]))
        elif kind == "checkout.session" and _id_of(obj.get("setup_intent")):
            intent = self.retrieve_setup_intent(_id_of(obj["setup_intent"]))
        return WebhookEvent(id=event["id"], type=event["type"], intent=intent)

    def browser_side(self) -> BrowserSide:
        # Cards are entered on Stripe Checkout (with or without JavaScript): no Stripe.js on the portal's pages,
        # only the redirects of a payment form's answer to Checkout and to 3-D Secure.
        return BrowserSide(script_url="", publishable_key=self._publishable_key, script_origins=(),
                           frame_origins=(), connect_origins=(), form_origins=FORM_ORIGINS)
