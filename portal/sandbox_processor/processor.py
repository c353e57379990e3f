"""The sandbox processor: the embedded default that plays a card processor's part (as Stripe would), so that
`make run` and the tests need no account anywhere. The portal talks to it only through
`portal.payments.processor.Processor`.

Test cards (any future expiry, any name; a CVC of 3 digits, 4 for American Express):

| number              | brand            | outcome                                                            |
|---------------------|------------------|--------------------------------------------------------------------|
| 4242 4242 4242 4242 | Visa             | approved                                                           |
| 5555 5555 5555 4444 | Mastercard       | approved                                                           |
| 3782 822463 10005   | American Express | approved                                                           |
| 4000 0027 6000 3184 | Visa             | requires 3-D Secure: REQUIRES_ACTION, approved once authenticated  |
|                     |                  | (off session too: the buyer must come back and authenticate)       |
| 4000 0000 0000 0002 | Visa             | declined ("The card was declined by its bank…")                    |
| 4000 0000 0000 9995 | Visa             | declined, insufficient funds                                       |

Any other Luhn-valid Visa, Mastercard or American Express number is approved; other brands are refused
(the portal accepts these three). An expiry in the past or a bad CVC is refused with a message.

The sandbox keeps brand, last four, expiry and outcome, never the number or the CVC, and logs neither. Its
records are written on a connection of its own and committed at once, as a real processor keeps them on its
side: they survive a rollback of the portal's transaction. A repeated idempotency key returns the first answer
(the key is the primary key of `sandbox_idempotency`: a concurrent duplicate waits for the first one's answer).

Every change of an intent records a webhook event, signed when delivered with the Standard Webhooks scheme
(`signed_request`): headers webhook-id, webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
id.timestamp.payload>" under SANDBOX_WEBHOOK_SECRET ("whsec_" + base64 of the key, as Standard Webhooks writes it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_request_context, url_for
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.db_types import utcnow
from portal.extensions import db
from portal.payments.processor import (
    BrowserSide,
    CardDetails,
    CardError,
    Intent,
    IntentState,
    ProcessorError,
    Refund,
    SignatureError,
    UnknownObject,
    WebhookEvent,
)
from portal.sandbox_processor.models import (
    SandboxEvent,
    SandboxIdempotency,
    SandboxIntent,
    SandboxPaymentMethod,
    SandboxRefund,
)

URL_PREFIX = "/sandbox-processor"
DEV_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-dev-only").decode()  # noqa: S105
DEV_PUBLISHABLE_KEY = "pk_sandbox_dev"
WEBHOOK_TOLERANCE_SECONDS = 5 * 60
IDEMPOTENCY_WAIT_SECONDS = 5.0  # how long a concurrent duplicate waits for the first request's answer

DECLINED = "The card was declined by its bank. Use another card or contact the bank."
INSUFFICIENT_FUNDS = "The card was declined: insufficient funds. Use another card."
AUTHENTICATION_CANCELLED = "The card's authentication was cancelled, so the card was not charged. Try again or " \
                           "use another card."
TEST_CARD_OUTCOMES = {"4000000000000002": "decline", "4000000000009995": "insufficient_funds",
                      "4000002760003184": "authenticate"}
OUTCOME_MESSAGES = {"decline": DECLINED, "insufficient_funds": INSUFFICIENT_FUNDS}
OPEN_PAYMENT = (IntentState.REQUIRES_PAYMENT_METHOD, IntentState.REQUIRES_CONFIRMATION)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    return "unknown"


def check_card(number: str, exp_month: object, exp_year: object, cvc: str, *,
               today: datetime | None = None) -> tuple[str, str, int, int]:
    """The brand, digits, month and (four-digit) year of a card the processor accepts; CardError otherwise."""
    errors: dict[str, str] = {}
    digits = "".join(ch for ch in str(number or "") if ch not in " -")
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 and _luhn_valid(digits)):
        errors["number"] = "This card number is not valid. Check the digits on the card."
    brand = card_brand(digits) if "number" not in errors else "unknown"
    if "number" not in errors and brand == "unknown":
        errors["number"] = "We accept American Express, Visa and Mastercard."
    month = _whole(exp_month)
    year = _whole(exp_year)
    if year is not None and year < 100:
        year += 2000
    today = today or utcnow()
    if month is None or not 1 <= month <= 12:
        errors["exp_month"] = "Enter the expiry month, 1 to 12."
    if year is None or year > today.year + 50:
        errors["exp_year"] = "Enter the expiry year, for example 2030."
    elif month is not None and 1 <= month <= 12 and (year, month) < (today.year, today.month):
        errors["exp_year"] = "This card has expired. Use another card."
    cvc = str(cvc or "").strip()
    length = 4 if brand == "amex" else 3
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) == length):
        errors["cvc"] = f"Enter the {length}-digit security code (CVC) on the card."
    if errors:
        raise CardError(errors)
    return brand, digits, month, year


def _whole(value: object) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


def _new_id(prefix: str) -> str:
    return f"{prefix}_sandbox_{secrets.token_hex(12)}"


def _page_url(endpoint: str, intent_id: str) -> str:
    """The processor's page for an intent (a path: the sandbox is served by the portal's own origin)."""
    if has_request_context():
        return url_for(f"sandbox_processor.{endpoint}", intent_id=intent_id)
    return f"{URL_PREFIX}/{endpoint}/{intent_id}"


@dataclass(frozen=True)
class _Event:
    type: str
    intent_id: str


class SandboxProcessor:
    """`portal.payments.processor.Processor`, played by the portal itself on its own tables."""

    # --- what the hosted fields and the hosted page call (the processor's side)
    def create_payment_method(self, number: str, exp_month: object, exp_year: object, cvc: str,
                              holder_name: str = "") -> CardDetails:
        """A card entered on the processor's side: the payment method id is all the portal ever gets."""
        holder_name = (holder_name or "").strip()
        errors = {} if holder_name.isprintable() and len(holder_name) <= 200 else {
            "name": "Enter the name as it is printed on the card (at most 200 characters)."}
        try:
            brand, digits, month, year = check_card(number, exp_month, exp_year, cvc)
        except CardError as refused:
            raise CardError({**refused.errors, **errors}) from None
        if errors:
            raise CardError(errors)
        method_id = _new_id("pm")
        with db.engine.begin() as conn:
            conn.execute(insert(SandboxPaymentMethod).values(
                id=method_id, brand=brand, last4=digits[-4:], exp_month=month, exp_year=year,
                holder_name=holder_name, outcome=TEST_CARD_OUTCOMES.get(digits, "approve"),
                customer_id=None, created_at=utcnow()))
        return CardDetails(method_id, brand, digits[-4:], month, year, holder_name)

    def retrieve_card(self, payment_method_id: str) -> CardDetails:
        with db.engine.connect() as conn:
            method = conn.execute(select(SandboxPaymentMethod).where(
                SandboxPaymentMethod.id == payment_method_id)).first()
        if method is None:
            raise UnknownObject(f"No such payment method: {payment_method_id}")
        return CardDetails(method.id, method.brand, method.last4, method.exp_month, method.exp_year,
                           method.holder_name or "")

    # --- payment intents
    def create_payment_intent(self, amount_minor: int, currency: str, idempotency_key: str, *,
                              payment_method_id: str | None = None, customer_id: str | None = None,
                              off_session: bool = False, confirm: bool = False, return_url: str | None = None,
                              metadata: dict[str, str] | None = None) -> Intent:
        def create() -> Intent:
            if amount_minor <= 0:
                raise ProcessorError("The amount must be above 0.")
            if payment_method_id is not None:
                self.retrieve_card(payment_method_id)  # UnknownObject if there is none
            intent_id = _new_id("pi")
            state = IntentState.REQUIRES_CONFIRMATION if payment_method_id else IntentState.REQUIRES_PAYMENT_METHOD
            with db.engine.begin() as conn:
                conn.execute(insert(SandboxIntent).values(
                    id=intent_id, kind="payment", state=state, amount_minor=amount_minor, amount_refunded_minor=0,
                    currency=currency.upper(), client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
                    payment_method_id=payment_method_id, customer_id=customer_id, off_session=off_session,
                    return_url=return_url, metadata_=dict(metadata or {}), created_at=utcnow(),
                    updated_at=utcnow()))
            if confirm and payment_method_id:
                return self._attempt(intent_id, payment_method_id, return_url)
            return self._intent(intent_id)
        return self._once(idempotency_key, "create_payment_intent", create)

    def confirm_payment_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                               return_url: str | None = None) -> Intent:
        return self._once(idempotency_key, "confirm_payment_intent",
                          lambda: self._attempt(intent_id, payment_method_id, return_url, kind="payment"))

    def retrieve_payment_intent(self, intent_id: str) -> Intent:
        return self._intent(intent_id, kind="payment")

    def find_payment_intent(self, idempotency_key: str) -> Intent | None:
        with db.engine.connect() as conn:
            answer = conn.scalar(select(SandboxIdempotency.response).where(
                SandboxIdempotency.key == idempotency_key, SandboxIdempotency.operation == "create_payment_intent"))
        return self._intent(answer["intent"]["id"]) if answer else None

    def cancel_payment_intent(self, intent_id: str, idempotency_key: str) -> Intent:
        def cancel() -> Intent:
            self._intent(intent_id, kind="payment")
            with db.engine.begin() as conn:
                changed = conn.execute(
                    update(SandboxIntent).where(SandboxIntent.id == intent_id,
                                                SandboxIntent.state.not_in([IntentState.SUCCEEDED,
                                                                            IntentState.CANCELED]))
                    .values(state=IntentState.CANCELED, next_action_url=None, updated_at=utcnow())).rowcount
                if changed:
                    self._record_event(conn, _Event("payment_intent.canceled", intent_id))
            intent = self._intent(intent_id)
            if intent.state is IntentState.SUCCEEDED:
                raise ProcessorError("This payment succeeded: refund it instead of cancelling it.")
            return intent
        return self._once(idempotency_key, "cancel_payment_intent", cancel)

    # --- setup intents (a card saved for charges without the buyer present)
    def create_setup_intent(self, idempotency_key: str, *, customer_id: str | None = None,
                            return_url: str | None = None, metadata: dict[str, str] | None = None) -> Intent:
        def create() -> Intent:
            intent_id = _new_id("seti")
            with db.engine.begin() as conn:
                conn.execute(insert(SandboxIntent).values(
                    id=intent_id, kind="setup", state=IntentState.REQUIRES_PAYMENT_METHOD, amount_minor=0,
                    amount_refunded_minor=0, currency="", client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
                    customer_id=customer_id, off_session=False, return_url=return_url,
                    metadata_=dict(metadata or {}), created_at=utcnow(), updated_at=utcnow()))
            return self._intent(intent_id)
        return self._once(idempotency_key, "create_setup_intent", create)

    def confirm_setup_intent(self, intent_id: str, payment_method_id: str, idempotency_key: str, *,
                             return_url: str | None = None) -> Intent:
        """Save the card the buyer entered for later (the processor's side of Stripe's confirmCardSetup)."""
        return self._once(idempotency_key, "confirm_setup_intent",
                          lambda: self._attempt(intent_id, payment_method_id, return_url, kind="setup"))

    def retrieve_setup_intent(self, intent_id: str) -> Intent:
        return self._intent(intent_id, kind="setup")

    # --- the 3-D Secure step (the authenticate page)
    def authenticate(self, intent_id: str, *, completed: bool) -> Intent:
        """The buyer completed (the intent succeeds) or cancelled (it needs a payment method again) 3-D Secure."""
        intent = self._intent(intent_id)
        with db.engine.begin() as conn:
            waiting = (SandboxIntent.id == intent_id, SandboxIntent.state == IntentState.REQUIRES_ACTION)
            if completed:
                values = {"state": IntentState.SUCCEEDED, "decline_message": None}
                if intent.amount_minor:
                    values["charge_id"] = _new_id("ch")
                event = "payment_intent.succeeded" if intent.amount_minor else "setup_intent.succeeded"
            else:
                values = {"state": IntentState.REQUIRES_PAYMENT_METHOD, "decline_message": AUTHENTICATION_CANCELLED}
                event = "payment_intent.payment_failed" if intent.amount_minor else "setup_intent.setup_failed"
            changed = conn.execute(update(SandboxIntent).where(*waiting).values(
                next_action_url=None, updated_at=utcnow(), **values)).rowcount
            if changed:
                if completed and not intent.amount_minor:
                    self._save_card(conn, intent_id)
                self._record_event(conn, _Event(event, intent_id))
        return self._intent(intent_id)

    # --- refunds
    def refund(self, intent_id: str, amount_minor: int, idempotency_key: str) -> Refund:
        def give_back() -> dict:
            intent = self._intent(intent_id, kind="payment")
            if not intent.succeeded:
                raise ProcessorError("Only a succeeded payment can be refunded.")
            if amount_minor <= 0:
                raise ProcessorError("A refund's amount must be above 0.")
            refund_id = _new_id("re")
            with db.engine.begin() as conn:
                # One conditional update: concurrent refunds never give back more than was taken.
                changed = conn.execute(update(SandboxIntent).where(
                    SandboxIntent.id == intent_id,
                    SandboxIntent.amount_refunded_minor + amount_minor <= SandboxIntent.amount_minor,
                ).values(amount_refunded_minor=SandboxIntent.amount_refunded_minor + amount_minor,
                         updated_at=utcnow())).rowcount
                if not changed:
                    raise ProcessorError("The refund is more than what is left of the payment to give back.")
                conn.execute(insert(SandboxRefund).values(id=refund_id, intent_id=intent_id,
                                                          amount_minor=amount_minor, status="succeeded",
                                                          created_at=utcnow()))
                self._record_event(conn, _Event("charge.refunded", intent_id))
            return {"refund": {"id": refund_id, "amount_minor": amount_minor, "status": "succeeded"}}
        return Refund(**self._once(idempotency_key, "refund", give_back)["refund"])

    def refunded_minor(self, intent_id: str) -> int:
        """What has been given back of a payment so far."""
        with db.engine.connect() as conn:
            refunded = conn.scalar(select(SandboxIntent.amount_refunded_minor).where(SandboxIntent.id == intent_id))
        if refunded is None:
            raise UnknownObject(f"No such payment intent: {intent_id}")
        return refunded

    # --- the buyer's browser
    def hosted_page_url(self, intent: Intent, return_url: str) -> str:
        with db.engine.begin() as conn:
            changed = conn.execute(update(SandboxIntent).where(SandboxIntent.id == intent.id)
                                   .values(return_url=return_url)).rowcount
        if not changed:
            raise UnknownObject(f"No such intent: {intent.id}")
        return _page_url("pay", intent.id)

    def browser_side(self) -> BrowserSide:
        # Served from the portal's own origin, which its Content-Security-Policy admits already ('self').
        if has_request_context():
            script = url_for("static", filename="js/sandbox-processor.js")
            fields = url_for("sandbox_processor.fields", key=publishable_key())
        else:
            script, fields = "/static/js/sandbox-processor.js", f"{URL_PREFIX}/fields?key={publishable_key()}"
        return BrowserSide(script_url=script, publishable_key=publishable_key(), script_origins=(),
                           frame_origins=(), connect_origins=(), fields_url=fields)

    # --- webhooks
    def signed_request(self, event_id: str, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """An event's webhook request as delivered now: its payload and the Standard Webhooks headers."""
        with db.engine.connect() as conn:
            payload = conn.scalar(select(SandboxEvent.payload).where(SandboxEvent.id == event_id))
        if payload is None:
            raise UnknownObject(f"No such event: {event_id}")
        sent_at = str(int(time.time()) if timestamp is None else timestamp)
        body = payload.encode()
        return body, {"webhook-id": event_id, "webhook-timestamp": sent_at,
                      "webhook-signature": f"v1,{_signature(event_id, sent_at, body)}"}

    def events(self, intent_id: str) -> list[tuple[str, str]]:
        """The events recorded about an intent, oldest first: (id, type)."""
        with db.engine.connect() as conn:
            rows = conn.execute(select(SandboxEvent.id, SandboxEvent.type).where(SandboxEvent.intent_id == intent_id)
                                .order_by(SandboxEvent.created_at, SandboxEvent.id)).all()
        return [(row.id, row.type) for row in rows]

    def verify_webhook(self, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        named = {name.lower(): value for name, value in headers.items()}
        event_id, sent_at = named.get("webhook-id", ""), named.get("webhook-timestamp", "")
        if not event_id or not (sent_at.isascii() and sent_at.isdigit()):
            raise SignatureError("The webhook has no id or timestamp.")
        if abs(time.time() - int(sent_at)) > WEBHOOK_TOLERANCE_SECONDS:
            raise SignatureError("The webhook's timestamp is more than 5 minutes away: it may be a replay.")
        expected = _signature(event_id, sent_at, payload)
        offered = [part.split(",", 1)[1] for part in named.get("webhook-signature", "").split()
                   if part.startswith("v1,")]
        if not any(hmac.compare_digest(expected, signature) for signature in offered):
            raise SignatureError("The webhook's signature does not verify.")
        event = json.loads(payload)
        return WebhookEvent(id=event["id"], type=event["type"], intent=_intent_from(event["data"]["object"]))

    # --- internals
    def _attempt(self, intent_id: str, payment_method_id: str, return_url: str | None,
                 kind: str | None = None) -> Intent:
        """Try the card on the intent: approved, declined, or 3-D Secure first."""
        intent = self._intent(intent_id, kind=kind)
        with db.engine.connect() as conn:
            method = conn.execute(select(SandboxPaymentMethod).where(
                SandboxPaymentMethod.id == payment_method_id)).first()
        if method is None:
            raise UnknownObject(f"No such payment method: {payment_method_id}")
        setup = intent.amount_minor == 0
        values: dict = {"payment_method_id": payment_method_id, "updated_at": utcnow(), "next_action_url": None,
                        "decline_message": None}
        if return_url is not None:
            values["return_url"] = return_url
        if method.outcome in OUTCOME_MESSAGES:
            values.update(state=IntentState.REQUIRES_PAYMENT_METHOD, decline_message=OUTCOME_MESSAGES[method.outcome])
            event = "setup_intent.setup_failed" if setup else "payment_intent.payment_failed"
        elif method.outcome == "authenticate":
            values.update(state=IntentState.REQUIRES_ACTION, next_action_url=_page_url("authenticate", intent_id))
            event = None  # nothing has happened yet: the buyer authenticates (or not)
        else:
            values["state"] = IntentState.SUCCEEDED
            if not setup:
                values["charge_id"] = _new_id("ch")
            event = "setup_intent.succeeded" if setup else "payment_intent.succeeded"
        with db.engine.begin() as conn:
            changed = conn.execute(update(SandboxIntent).where(SandboxIntent.id == intent_id,
                                                               SandboxIntent.state.in_(OPEN_PAYMENT))
                                   .values(**values)).rowcount
            if not changed:
                raise ProcessorError(f"This intent cannot be confirmed: it is {self._intent(intent_id).state}.")
            if event == "setup_intent.succeeded":
                self._save_card(conn, intent_id)
            if event:
                self._record_event(conn, _Event(event, intent_id))
        return self._intent(intent_id)

    @staticmethod
    def _save_card(conn, intent_id: str) -> None:
        """A succeeded setup intent attaches its card to the intent's customer (what off-session charges use)."""
        row = conn.execute(select(SandboxIntent.payment_method_id, SandboxIntent.customer_id)
                           .where(SandboxIntent.id == intent_id)).one()
        if row.customer_id:
            conn.execute(update(SandboxPaymentMethod).where(SandboxPaymentMethod.id == row.payment_method_id)
                         .values(customer_id=row.customer_id))

    def _intent(self, intent_id: str, kind: str | None = None) -> Intent:
        with db.engine.connect() as conn:
            row = conn.execute(select(SandboxIntent).where(SandboxIntent.id == intent_id)).first()
        if row is None or (kind is not None and row.kind != kind):
            raise UnknownObject(f"No such {kind or ''} intent: {intent_id}".replace("  ", " "))
        return Intent(id=row.id, state=IntentState(row.state), amount_minor=row.amount_minor, currency=row.currency,
                      client_secret=row.client_secret, payment_method_id=row.payment_method_id,
                      next_action_url=row.next_action_url, decline_message=row.decline_message,
                      charge_id=row.charge_id, metadata=dict(row.metadata or {}))

    def intent_record(self, intent_id: str) -> SandboxIntent:
        """The intent's row, detached (what the processor's pages show: return URL, kind)."""
        with db.engine.connect() as conn:
            row = conn.execute(select(SandboxIntent).where(SandboxIntent.id == intent_id)).first()
        if row is None:
            raise UnknownObject(f"No such intent: {intent_id}")
        return row

    def _record_event(self, conn, event: _Event) -> None:
        row = conn.execute(select(SandboxIntent).where(SandboxIntent.id == event.intent_id)).one()
        intent = Intent(id=row.id, state=IntentState(row.state), amount_minor=row.amount_minor, currency=row.currency,
                        client_secret=row.client_secret, payment_method_id=row.payment_method_id,
                        next_action_url=row.next_action_url, decline_message=row.decline_message,
                        charge_id=row.charge_id, metadata=dict(row.metadata or {}))
        event_id = _new_id("evt")
        payload = json.dumps({"id": event_id, "type": event.type, "created": int(time.time()),
                              "data": {"object": {"object": f"{row.kind}_intent", "amount_refunded_minor":
                                                  row.amount_refunded_minor, **_intent_dict(intent)}}},
                             separators=(",", ":"))
        conn.execute(insert(SandboxEvent).values(id=event_id, type=event.type, intent_id=event.intent_id,
                                                 payload=payload, created_at=utcnow()))

    def _once(self, key: str, operation: str, do):
        """The first answer under `key`: the operation runs once; a repeat (or a concurrent duplicate) gets what
        the first got. A refused request frees its key, so that a corrected retry may use it."""
        if not key:
            raise ProcessorError("An idempotency key is required.")
        try:
            with db.engine.begin() as conn:
                conn.execute(insert(SandboxIdempotency).values(key=key, operation=operation, response=None,
                                                               created_at=utcnow()))
        except IntegrityError:
            return self._first_answer(key, operation)
        try:
            answer = do()
        except Exception:
            with db.engine.begin() as conn:
                conn.execute(SandboxIdempotency.__table__.delete().where(SandboxIdempotency.key == key))
            raise
        stored = {"intent": _intent_dict(answer)} if isinstance(answer, Intent) else answer
        with db.engine.begin() as conn:
            conn.execute(update(SandboxIdempotency).where(SandboxIdempotency.key == key).values(response=stored))
        return answer

    def _first_answer(self, key: str, operation: str):
        deadline = time.monotonic() + IDEMPOTENCY_WAIT_SECONDS
        while True:
            with db.engine.connect() as conn:
                row = conn.execute(select(SandboxIdempotency.operation, SandboxIdempotency.response)
                                   .where(SandboxIdempotency.key == key)).first()
            if row is not None and row.operation != operation:
                raise ProcessorError(f"This idempotency key was used for {row.operation}, not {operation}.")
            if row is not None and row.response is not None:
                return _intent_from(row.response["intent"]) if "intent" in row.response else row.response
            if time.monotonic() > deadline:
                raise ProcessorError("A request with this idempotency key is still being processed: retry later.")
            time.sleep(0.05)


def _intent_dict(intent: Intent) -> dict:
    return {"id": intent.id, "state": str(intent.state), "amount_minor": intent.amount_minor,
            "currency": intent.currency, "client_secret": intent.client_secret,
            "payment_method_id": intent.payment_method_id, "next_action_url": intent.next_action_url,
            "decline_message": intent.decline_message, "charge_id": intent.charge_id,
            "metadata": dict(intent.metadata)}


def _intent_from(data: dict) -> Intent:
    return Intent(id=data["id"], state=IntentState(data["state"]), amount_minor=data["amount_minor"],
                  currency=data["currency"], client_secret=data["client_secret"],
                  payment_method_id=data.get("payment_method_id"), next_action_url=data.get("next_action_url"),
                  decline_message=data.get("decline_message"), charge_id=data.get("charge_id"),
                  metadata=dict(data.get("metadata") or {}))


def _webhook_key() -> bytes:
    secret = current_app.config.get("SANDBOX_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)
    return base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()


def _signature(event_id: str, sent_at: str, payload: bytes) -> str:
    signed = event_id.encode() + b"." + sent_at.encode() + b"." + payload
    return base64.b64encode(hmac.new(_webhook_key(), signed, hashlib.sha256).digest()).decode()


def publishable_key() -> str:
    return current_app.config.get("SANDBOX_PUBLISHABLE_KEY", DEV_PUBLISHABLE_KEY)


def sandbox_processor() -> SandboxProcessor:
    """The app's sandbox processor (one per app)."""
    return current_app.extensions.setdefault("sandbox_processor", SandboxProcessor())
