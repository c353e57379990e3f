"""The processor's side of a card payment, as a buyer meets it on Stripe: the hosted fields document the portal
embeds in an iframe, its JSON API for payment methods (authenticated by the publishable key), the hosted payment
page for buyers without JavaScript and the 3-D Secure step. Anyone may reach these pages, as anyone may reach
Stripe's; an intent's id is a random secret of the buyer's link."""

from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request

from portal.extensions import csrf, limiter
from portal.payments.processor import IntentState
from portal.sandbox_processor.forms import AuthenticateForm, CardForm
from portal.sandbox_processor.processor import (
    CardError,
    ProcessorError,
    UnknownObject,
    publishable_key,
    sandbox_processor,
)
from portal.security import CSP

bp = Blueprint("sandbox_processor", __name__, url_prefix="/sandbox-processor")
SEE_OTHER = 303
# The hosted fields are the one sandbox page a portal page may frame: the portal's policy, framed by its own origin.
CSP_FRAMEABLE = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
# Cards tried per client address, through the API and the hosted page together: what stops card testing.
card_attempts = limiter.shared_limit(lambda: current_app.config.get("SANDBOX_CARD_LIMIT", "30 per minute"),
                                     scope="sandbox-cards", methods=["POST"])


def _record(intent_id: str):
    try:
        return sandbox_processor().intent_record(intent_id)
    except UnknownObject:
        abort(404)


def _back_to(record) -> str | None:
    """The portal's return URL with the intent's id (Stripe's ?payment_intent= / ?setup_intent=)."""
    if not record.return_url:
        return None
    parts = urlsplit(record.return_url)
    query = urlencode({f"{record.kind}_intent": record.id})
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def _finished(record):
    """Where the buyer goes once the processor is done: back to the portal, or a page saying so."""
    target = _back_to(record)
    if target:
        return redirect(target, SEE_OTHER)
    return render_template("sandbox_processor/done.html", record=record, back_url=target)


@bp.get("/fields")
def fields():
    """The hosted card fields, framed by the portal's page (sandbox-processor.js mounts them)."""
    if not hmac.compare_digest(request.args.get("key", ""), publishable_key()):
        return render_template("sandbox_processor/done.html", record=None,
                               message="The page that sent you here named an unknown publishable key."), 400
    response = render_template("sandbox_processor/fields.html", parent_origin=request.host_url.rstrip("/"),
                               key=publishable_key())
    return response, 200, {"Content-Security-Policy": CSP_FRAMEABLE, "X-Frame-Options": "SAMEORIGIN"}


@bp.post("/v1/payment_methods")
@card_attempts
@csrf.exempt  # the processor's API: the publishable key authenticates it; no session cookie is read
def create_payment_method():
    """Create a payment method from card details (what the hosted fields send); the answer never holds the
    number."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="Send the card as a JSON object."), 400
    # The publishable key travels in the body, as Stripe.js sends its `key`.
    if not hmac.compare_digest(str(data.get("key") or ""), publishable_key()):
        return jsonify(error="Unknown publishable key."), 401
    try:
        card = sandbox_processor().create_payment_method(
            str(data.get("number") or ""), data.get("exp_month"), data.get("exp_year"), str(data.get("cvc") or ""),
            str(data.get("name") or ""))
    except CardError as refused:
        return jsonify(error="The card was refused.", errors=refused.errors), 400
    return jsonify(id=card.payment_method_id, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
                   exp_year=card.exp_year), 201


@bp.route("/pay/<intent_id>", methods=["GET", "POST"])
@card_attempts
def pay(intent_id: str):
    """The hosted payment page: the amount and the card fields; paying confirms the intent (a setup intent saves
    the card), then the buyer returns to the portal (or authenticates first)."""
    record = _record(intent_id)
    if record.state not in (IntentState.REQUIRES_PAYMENT_METHOD, IntentState.REQUIRES_CONFIRMATION):
        if record.state is IntentState.REQUIRES_ACTION:
            return redirect(record.next_action_url, SEE_OTHER)
        return _finished(record) if request.method == "POST" else render_template(
            "sandbox_processor/done.html", record=record, back_url=_back_to(record))
    form = CardForm()
    processor = sandbox_processor()
    if form.validate_on_submit():
        try:
            card = processor.create_payment_method(form.number.data, form.exp_month.data, form.exp_year.data,
                                                   form.cvc.data, form.holder_name.data or "")
            confirm = processor.confirm_setup_intent if record.kind == "setup" else processor.confirm_payment_intent
            # One attempt per card entered: the payment method id is the attempt's idempotency key.
            intent = confirm(intent_id, card.payment_method_id, f"hosted-{card.payment_method_id}")
        except CardError as refused:
            for name, message in refused.errors.items():
                field = form.holder_name if name == "name" else form[name]
                field.errors = [*field.errors, message]
        except ProcessorError as refused:
            form.number.errors = [*form.number.errors, str(refused)]
        else:
            if intent.state is IntentState.REQUIRES_ACTION:
                return redirect(intent.next_action_url, SEE_OTHER)
            if intent.succeeded:
                return _finished(processor.intent_record(intent_id))
            form.number.errors = [*form.number.errors, intent.decline_message or "The card was declined."]
            record = processor.intent_record(intent_id)
    status = 422 if request.method == "POST" else 200
    form.number.data = form.cvc.data = ""  # a card's number and code are never sent back to the browser
    return render_template("sandbox_processor/pay.html", form=form, record=record, back_url=_back_to(record)), status


@bp.route("/authenticate/<intent_id>", methods=["GET", "POST"])
def authenticate(intent_id: str):
    """The 3-D Secure step: the buyer completes it (the intent succeeds) or cancels (the card is not charged)."""
    record = _record(intent_id)
    if record.state is not IntentState.REQUIRES_ACTION:
        return render_template("sandbox_processor/done.html", record=record, back_url=_back_to(record)), 409
    form = AuthenticateForm()
    if form.validate_on_submit() and (form.complete.data or form.cancel.data):
        sandbox_processor().authenticate(intent_id, completed=bool(form.complete.data))
        return _finished(sandbox_processor().intent_record(intent_id))
    status = 400 if request.method == "POST" else 200
    return render_template("sandbox_processor/authenticate.html", form=form, record=record), status


@bp.route("/demo", methods=["GET", "POST"])
def demo():
    """A developer page: a portal-like form that mounts the hosted fields with sandbox-processor.js and shows the
    payment method id it received (no intent is created)."""
    card = None
    method_id = request.form.get("payment_method_id", "") if request.method == "POST" else ""
    if method_id:
        try:
            card = sandbox_processor().retrieve_card(method_id)
        except UnknownObject:
            card = None
    return render_template("sandbox_processor/demo.html", card=card, key=publishable_key())
