"""A local stand-in for the part of Stripe's API that `portal.payments.stripe_processor` calls, served on 127.0.0.1
by a threaded `http.server`, with Stripe's documented request and response shapes: form-encoded requests
(`metadata[k]=v`, `payment_method_types[0]=card`), JSON objects (`payment_intent`, `setup_intent`,
`payment_method`, `refund`, `charge`, `checkout.session`, `event`), errors as `{"error": {type, code, message, …}}`
(a decline is HTTP 402 `card_error` carrying the updated intent), secret-key authentication, and `Idempotency-Key`
(the same key answers with the first response; the same key with other parameters is an `idempotency_error`).

Test payment methods, by card number (Stripe's test numbers) or as Stripe's `pm_card_…` shortcuts:

| number           | shortcut                                                      | outcome                       |
|------------------|---------------------------------------------------------------|-------------------------------|
| 4242424242424242 | pm_card_visa                                                  | succeeds                      |
| 5555555555554444 | pm_card_mastercard                                            | succeeds                      |
| 4000002760003184 | pm_card_authenticationRequired, pm_card_threeDSecure2Required | 3-D Secure on every charge    |
| 4000000000000002 | pm_card_chargeDeclined                                        | declined (card_declined)      |
| 4000000000009995 | pm_card_chargeDeclinedInsufficientFunds                       | declined (insufficient_funds) |

Routes the tests call as the buyer's browser would (not Stripe's API): `POST /_fake/authenticate/<intent>` with
`outcome=complete|fail` (the 3-D Secure page), `POST /_fake/checkout/<session>/pay` with `payment_method` (paying
on Checkout's page). Every change records an event in `events`; `sign(event, secret)` gives the payload and the
`Stripe-Signature` header Stripe would send.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

CARDS = {  # number -> (brand, outcome)
    "4242424242424242": ("visa", "succeed"),
    "5555555555554444": ("mastercard", "succeed"),
    "4000002760003184": ("visa", "authenticate"),
    "4000000000000002": ("visa", "card_declined"),
    "4000000000009995": ("visa", "insufficient_funds"),
}
SHORTCUTS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000002760003184",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
}
DECLINES = {
    "card_declined": ("generic_decline", "Your card was declined."),
    "insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
}
AUTHENTICATION_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment "
                         "method and try again.")


class StripeFailure(Exception):
    def __init__(self, status: int, error: dict):
        super().__init__(error.get("message"))
        self.status, self.error = status, error


def invalid(message: str, code: str | None = None, param: str | None = None, status: int = 400) -> StripeFailure:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return StripeFailure(status, error)


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding back into nested dicts and lists: `a[b][0][c]=v`."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def lists(node):
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [lists(node[k]) for k in sorted(node, key=int)]
        return {k: lists(v) for k, v in node.items()}

    return lists(root)


def _flag(value) -> bool:
    return str(value).lower() == "true"


class FakeStripe:
    """Start with `start()` (or as a context manager); `url` is the base to give the SDK."""

    def __init__(self, secret_key: str = "sk_test_fake", publishable_key: str = "pk_test_fake"):  # noqa: S107
        self.secret_key, self.publishable_key = secret_key, publishable_key
        self.objects: dict[str, dict] = {}
        self.events: list[dict] = []
        self.requests: list[dict] = []  # method, path, params, idempotency_key, replayed
        self._idempotent: dict[str, tuple[str, int, dict]] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                fake._handle(self)

            def do_POST(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # What Stripe sends a webhook endpoint

    @staticmethod
    def sign(event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        payload = json.dumps(event).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
        return payload, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}

    def events_of(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["type"] == kind]

    # HTTP

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        params = decode_form(parse_qsl(url.query if request.command == "GET" else body, keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            log = {"method": request.command, "path": url.path, "params": params, "idempotency_key": key,
                   "replayed": False}
            self.requests.append(log)
            fingerprint = json.dumps([url.path, params], sort_keys=True)
            if request.command == "POST" and key and key in self._idempotent:
                first, status, answer = self._idempotent[key]
                if first == fingerprint:
                    log["replayed"] = True
                else:
                    status, answer = 400, {"error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same parameters they "
                                   "were first used with. Try using a key other than '" + key + "' if you meant "
                                   "to execute a different request."}}
            else:
                try:
                    status, answer = 200, self._route(request.command, url.path, params,
                                                      request.headers.get("Authorization", ""))
                except StripeFailure as failure:
                    status, answer = failure.status, {"error": failure.error}
                if request.command == "POST" and key and status != 401:
                    self._idempotent[key] = (fingerprint, status, copy.deepcopy(answer))
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Request-Id", "req_" + secrets.token_hex(7))
        if log["replayed"]:
            request.send_header("Idempotent-Replayed", "true")
        request.end_headers()
        request.wfile.write(data)

    def _authorize(self, authorization: str, publishable: bool) -> None:
        given = authorization.removeprefix("Bearer ").strip()
        allowed = {self.secret_key, self.publishable_key} if publishable else {self.secret_key}
        if given not in allowed:
            raise invalid(f"Invalid API Key provided: {given[:8]}…", status=401)

    def _route(self, method: str, path: str, params: dict, authorization: str) -> dict:
        if path.startswith("/_fake/"):  # the buyer's browser on Stripe's pages: no key
            return self._fake_page(path, params)
        routes = [
            ("POST", r"/v1/payment_methods", True, self._create_payment_method),
            ("GET", r"/v1/payment_methods/(\w+)", False, lambda p, pm: self._get(pm, "payment_method")),
            ("POST", r"/v1/payment_intents", False, self._create_payment_intent),
            ("GET", r"/v1/payment_intents/search", False, self._search_payment_intents),
            ("GET", r"/v1/payment_intents/(\w+)", False, lambda p, pi: self._get(pi, "payment_intent")),
            ("POST", r"/v1/payment_intents/(\w+)/confirm", True, self._confirm),
            ("POST", r"/v1/payment_intents/(\w+)/cancel", False, self._cancel),
            ("POST", r"/v1/setup_intents", False, self._create_setup_intent),
            ("GET", r"/v1/setup_intents/(\w+)", False, lambda p, si: self._get(si, "setup_intent")),
            ("POST", r"/v1/setup_intents/(\w+)/confirm", True, self._confirm),
            ("POST", r"/v1/refunds", False, self._refund),
            ("POST", r"/v1/checkout/sessions", False, self._create_session),
            ("GET", r"/v1/checkout/sessions/(\w+)", False, self._get_session),
        ]
        for verb, pattern, publishable, action in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                self._authorize(authorization, publishable)
                if publishable and match.groups() and authorization.endswith(self.publishable_key):
                    # Stripe.js confirms an intent with the publishable key and the intent's client secret.
                    intent = self.objects.get(match.group(1)) or {}
                    if params.get("client_secret") != intent.get("client_secret"):
                        raise invalid("The client_secret provided does not match the client_secret associated "
                                      "with this intent.", param="client_secret")
                return copy.deepcopy(action(params, *match.groups()))
        raise invalid(f"Unrecognized request URL ({method}: {path}).", status=404)

    # Objects

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _get(self, object_id: str, kind: str) -> dict:
        found = self.objects.get(object_id)
        if found is None or found["object"] != kind:
            raise invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param="id", status=404)
        return found

    def _event(self, kind: str, obj: dict) -> None:
        self.events.append({"id": self._new_id("evt"), "object": "event", "api_version": "2026-10-28.endive",
                            "created": int(time.time()), "type": kind, "livemode": False, "pending_webhooks": 1,
                            "data": {"object": copy.deepcopy(obj)}, "request": {"id": None, "idempotency_key": None}})

    def _payment_method(self, pm_id: str) -> dict:
        if pm_id in SHORTCUTS:  # as Stripe does, a shortcut makes a new payment method each time it is used
            return self._create_payment_method({"type": "card", "card": {
                "number": SHORTCUTS[pm_id], "exp_month": "12", "exp_year": str(time.gmtime().tm_year + 3)}})
        return self._get(pm_id, "payment_method")

    def _create_payment_method(self, params: dict) -> dict:
        card = params.get("card") or {}
        number = re.sub(r"\D", "", card.get("number", ""))
        if params.get("type") != "card" or number not in CARDS:
            raise StripeFailure(402, {"type": "card_error", "code": "incorrect_number", "param": "card[number]",
                                      "message": "Your card number is incorrect."})
        brand, outcome = CARDS[number]
        pm = {"id": self._new_id("pm"), "object": "payment_method", "type": "card", "customer": None,
              "created": int(time.time()), "livemode": False, "metadata": {}, "billing_details": {},
              "card": {"brand": brand, "last4": number[-4:], "exp_month": int(card["exp_month"]),
                       "exp_year": int(card["exp_year"]), "funding": "credit", "country": "US"},
              "_outcome": outcome}
        self.objects[pm["id"]] = pm
        return pm

    def _intent_base(self, prefix: str, kind: str, params: dict) -> dict:
        intent_id = self._new_id(prefix)
        return {"id": intent_id, "object": kind, "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "status": "requires_payment_method", "payment_method": None, "customer": params.get("customer"),
                "payment_method_types": params.get("payment_method_types") or ["card"], "next_action": None,
                "metadata": params.get("metadata") or {}, "created": int(time.time()), "livemode": False}

    def _search_payment_intents(self, params: dict) -> dict:
        """Stripe's search, for the one query the portal makes: metadata['name']:'value'."""
        match = re.fullmatch(r"metadata\['(\w+)'\]:'([^']*)'", params.get("query", ""))
        if match is None:
            raise invalid("The query is not one this fake understands.", param="query")
        name, value = match.groups()
        found = [obj for obj in self.objects.values()
                 if obj["object"] == "payment_intent" and (obj.get("metadata") or {}).get(name) == value]
        return {"object": "search_result", "data": found[:int(params.get("limit", 10))], "has_more": False}

    def _create_payment_intent(self, params: dict) -> dict:
        if "amount" not in params or "currency" not in params:
            raise invalid("Missing required param: amount.", code="parameter_missing", param="amount")
        pi = {**self._intent_base("pi", "payment_intent", params), "amount": int(params["amount"]),
              "currency": params["currency"], "latest_charge": None, "last_payment_error": None,
              "amount_received": 0, "cancellation_reason": None, "confirmation_method": "automatic"}
        self.objects[pi["id"]] = pi
        self._event("payment_intent.created", pi)
        if params.get("payment_method"):
            pi["payment_method"] = self._payment_method(params["payment_method"])["id"]
            if pi["status"] == "requires_payment_method":
                pi["status"] = "requires_confirmation"
        if _flag(params.get("confirm")):
            self._attempt(pi, off_session=_flag(params.get("off_session")), return_url=params.get("return_url"))
        return pi

    def _create_setup_intent(self, params: dict) -> dict:
        si = {**self._intent_base("seti", "setup_intent", params), "usage": params.get("usage", "off_session"),
              "last_setup_error": None}
        self.objects[si["id"]] = si
        self._event("setup_intent.created", si)
        return si

    def _confirm(self, params: dict, intent_id: str) -> dict:
        intent = self.objects.get(intent_id)
        if intent is None or intent["object"] not in {"payment_intent", "setup_intent"}:
            raise invalid(f"No such intent: '{intent_id}'", code="resource_missing", status=404)
        if intent["status"] not in {"requires_payment_method", "requires_confirmation", "requires_action"}:
            raise invalid(f"This {intent['object'].replace('_', '')} has a status of {intent['status']} and "
                          "cannot be confirmed.", code=f"{intent['object']}_unexpected_state")
        if params.get("payment_method"):
            intent["payment_method"] = self._payment_method(params["payment_method"])["id"]
        if not intent["payment_method"]:
            raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method.",
                          code="payment_intent_unexpected_state")
        self._attempt(intent, off_session=_flag(params.get("off_session")), return_url=params.get("return_url"))
        return intent

    def _attempt(self, intent: dict, off_session: bool, return_url: str | None) -> None:
        """Confirm: succeed, ask for 3-D Secure, or decline (402 carrying the updated intent)."""
        pm = self.objects[intent["payment_method"]]
        setup = intent["object"] == "setup_intent"
        error_key = "last_setup_error" if setup else "last_payment_error"
        intent[error_key] = None
        outcome = pm["_outcome"]
        if outcome == "succeed":
            self._succeed(intent)
            return
        if outcome == "authenticate" and not off_session:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "redirect_to_url", "redirect_to_url": {
                "url": f"{self.url}/_fake/authenticate/{intent['id']}", "return_url": return_url}} if return_url \
                else {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self._event(f"{intent['object']}.requires_action", intent)
            return
        if outcome == "authenticate":  # off session: Stripe refuses; the buyer must come back
            code, decline_code = "authentication_required", "authentication_required"
            message = "Your card was declined. This transaction requires authentication."
        else:
            code = "card_declined"
            decline_code, message = DECLINES[outcome]
        error = {"type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                 "payment_method": self._public(pm)}
        intent.update({"status": "requires_payment_method", "next_action": None, error_key: error})
        if not setup:
            intent["latest_charge"] = self._charge(intent, "failed")["id"]
        self._event("setup_intent.setup_failed" if setup else "payment_intent.payment_failed", intent)
        raise StripeFailure(402, {**error, intent["object"]: copy.deepcopy(intent)})

    def _succeed(self, intent: dict) -> None:
        intent.update({"status": "succeeded", "next_action": None})
        if intent["object"] == "setup_intent":
            self.objects[intent["payment_method"]]["customer"] = intent.get("customer")
            self._event("setup_intent.succeeded", intent)
            return
        intent["amount_received"] = intent["amount"]
        intent["latest_charge"] = self._charge(intent, "succeeded")["id"]
        self._event("payment_intent.succeeded", intent)

    def _charge(self, intent: dict, status: str) -> dict:
        charge = {"id": self._new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_refunded": 0,
                  "currency": intent["currency"], "payment_intent": intent["id"], "status": status,
                  "paid": status == "succeeded", "refunded": False, "payment_method": intent["payment_method"]}
        self.objects[charge["id"]] = charge
        return charge

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _cancel(self, params: dict, intent_id: str) -> dict:
        pi = self._get(intent_id, "payment_intent")
        if pi["status"] in {"succeeded", "canceled"}:
            raise invalid(f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                          code="payment_intent_unexpected_state")
        pi.update({"status": "canceled", "next_action": None,
                   "cancellation_reason": params.get("cancellation_reason", "requested_by_customer")})
        self._event("payment_intent.canceled", pi)
        return pi

    def _refund(self, params: dict) -> dict:
        pi = self._get(params.get("payment_intent", ""), "payment_intent")
        if pi["status"] != "succeeded":
            raise invalid("This PaymentIntent does not have a successful charge to refund.",
                          code="charge_not_refundable")
        charge = self.objects[pi["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount", left))
        if left == 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        if amount > left:
            raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                          code="amount_too_large", param="amount")
        refund = {"id": self._new_id("re"), "object": "refund", "amount": amount, "currency": pi["currency"],
                  "charge": charge["id"], "payment_intent": pi["id"], "status": "succeeded",
                  "created": int(time.time()), "metadata": params.get("metadata") or {}}
        self.objects[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._event("charge.refunded", charge)
        return refund

    def _create_session(self, params: dict) -> dict:
        mode = params.get("mode")
        if mode not in {"payment", "setup"}:
            raise invalid("Invalid mode", param="mode")
        session_id = "cs_test_" + secrets.token_hex(16)
        items = params.get("line_items") or []
        amount = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
        session = {"id": session_id, "object": "checkout.session", "mode": mode, "status": "open",
                   "payment_status": "unpaid", "url": f"{self.url}/_fake/checkout/{session_id}/pay",
                   "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
                   "metadata": params.get("metadata") or {}, "payment_intent": None, "setup_intent": None,
                   "amount_total": amount if mode == "payment" else None,
                   "currency": items[0]["price_data"]["currency"] if items else None, "line_items_params": items,
                   "payment_intent_data": params.get("payment_intent_data") or {},
                   "setup_intent_data": params.get("setup_intent_data") or {}}
        self.objects[session_id] = session
        return {k: v for k, v in session.items() if not k.endswith("_data") and k != "line_items_params"}

    def _get_session(self, params: dict, session_id: str) -> dict:
        session = self._get(session_id, "checkout.session")
        shown = {k: v for k, v in session.items() if not k.endswith("_data") and k != "line_items_params"}
        for field in params.get("expand") or []:
            if shown.get(field):
                shown[field] = self.objects[shown[field]]
        return shown

    # The buyer's side of Stripe's pages

    def _fake_page(self, path: str, params: dict) -> dict:
        if match := re.fullmatch(r"/_fake/authenticate/(\w+)", path):
            intent = self.objects[match.group(1)]
            if intent["status"] != "requires_action":
                raise invalid("Nothing to authenticate.")
            if params.get("outcome") == "complete":
                self._succeed(intent)
            else:
                error_key = "last_setup_error" if intent["object"] == "setup_intent" else "last_payment_error"
                intent.update({"status": "requires_payment_method", "next_action": None, error_key: {
                    "type": "invalid_request_error", "code": f"{intent['object']}_authentication_failure",
                    "message": AUTHENTICATION_FAILED,
                    "payment_method": self._public(self.objects[intent["payment_method"]])}})
                self._event("payment_intent.payment_failed" if error_key == "last_payment_error"
                            else "setup_intent.setup_failed", intent)
            return intent
        if match := re.fullmatch(r"/_fake/checkout/(\w+)/pay", path):
            session = self._get(match.group(1), "checkout.session")
            if session["mode"] == "payment":
                intent = self._create_payment_intent({
                    "amount": session["amount_total"], "currency": session["currency"],
                    "payment_method_types": ["card"], **session["payment_intent_data"]})
                session["payment_intent"] = intent["id"]
            else:
                intent = self._create_setup_intent({"usage": "off_session", **session["setup_intent_data"]})
                session["setup_intent"] = intent["id"]
            intent["payment_method"] = self._payment_method(params["payment_method"])["id"]
            try:
                self._attempt(intent, off_session=False, return_url=None)
            except StripeFailure:
                return {"session": session["id"], "status": "open"}
            if intent["status"] == "succeeded":
                session.update({"status": "complete", "payment_status": "paid" if intent["object"] ==
                                "payment_intent" else "no_payment_required"})
                self._event("checkout.session.completed", self._get_session({}, session["id"]))
            return {"redirect": session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])}
        raise invalid(f"Unrecognized request URL ({path}).", status=404)
