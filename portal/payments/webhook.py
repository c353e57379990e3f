"""The card processor's webhook (`POST /payments/webhook`): signed events that say a payment or a card setup
succeeded. The purchase is completed from here when the event arrives before the buyer is back from the processor
(closed the tab after 3-D Secure, lost the connection): the order is placed, the invoice paid, the card saved.
Completing is idempotent, so the buyer's return and the event (and a replayed event) place one order.

A request whose signature does not verify is refused (400) and changes nothing; an event about nothing the
portal knows is acknowledged (200), as processors expect, so that they stop retrying it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.audit.services import Actor
from portal.billing.models import Invoice
from portal.errors import RuleError
from portal.extensions import csrf, db
from portal.orders.checkout import complete_order
from portal.payments import services
from portal.payments.charges import attempt_for
from portal.payments.gateway import gateway, processor
from portal.payments.intents import Purpose
from portal.payments.processor import Intent, ProcessorError, SignatureError
from portal.receipts.paying import complete_card_payment
from portal.storefront_sales.selling import complete_storefront_order
from portal.storefronts.models import Storefront

bp = Blueprint("payment_webhooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/payments/webhook")
@csrf.exempt  # the processor signs each event; it carries no session cookie
def receive():
    """One event from the processor, verified by its signature."""
    try:
        event = processor().verify_webhook(request.get_data(), dict(request.headers))
    except (SignatureError, ValueError, KeyError) as refused:
        return jsonify(error=f"The event was refused: {refused}"), 400
    if event.intent is not None:
        try:
            if event.type == "payment_intent.succeeded":
                complete_payment(event.intent)
            elif event.type == "setup_intent.succeeded":
                complete_setup(event.intent)
        except RuleError as refused:  # the purchase could not be completed: its money was given back
            db.session.rollback()
            log.info("payment %s not completed from its webhook: %s", event.intent.id, refused.message)
    return jsonify(received=event.id), 200


def complete_payment(intent: Intent) -> None:
    """Complete the purchase of a succeeded payment, if it waits for it (a no-op when already done)."""
    card_gateway = gateway()
    attempt = attempt_for(intent.id, None, card_gateway)
    if attempt is None:
        return
    org = db.session.get(Organization, attempt.organization_id)
    actor = Actor.system()
    if attempt.purpose == Purpose.INVOICE:
        invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == org.id,
                                                           Invoice.number == attempt.purpose_key)).first()
        if invoice is not None:
            complete_card_payment(invoice, intent.id, card_gateway, actor)
    elif attempt.details.get("flow") == "storefront":
        storefront = db.session.get(Storefront, attempt.details["storefront_id"])
        complete_storefront_order(storefront, org, intent.id, actor, card_gateway)
    elif attempt.details.get("flow") == "checkout":
        complete_order(org, intent.id, actor, card_gateway)


def complete_setup(intent: Intent) -> None:
    """Save the card of a succeeded setup intent (a no-op when it is saved already)."""
    org_id = intent.metadata.get("organization_id", "")
    org = db.session.get(Organization, int(org_id)) if org_id.isdigit() else None
    if org is None:
        return
    try:
        services.finish_saving(org, intent.id, processor(), Actor.system())
        db.session.commit()
    except ProcessorError:
        db.session.rollback()
