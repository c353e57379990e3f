"""Saved cards of a main chain: add (a setup intent at the processor), remove, choose the default.

A card is saved from what the processor says of it (brand, last four, expiry and its payment method id), never
from a number typed into the portal. Saving goes through a setup intent, which the buyer may have to authenticate
(3-D Secure) at the processor: the card is then saved when the buyer comes back, or when the processor's webhook
says the setup succeeded, whichever comes first (saving twice keeps one card).
"""

from __future__ import annotations

from sqlalchemy import select, update

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.extensions import db
from portal.payments.models import CardBrand, PaymentMethod
from portal.payments.processor import CardDetails, Intent, IntentState, Processor

ACCEPTED = "We accept American Express, Visa and Mastercard."


def saved_cards(org: Organization) -> list[PaymentMethod]:
    return list(db.session.scalars(
        select(PaymentMethod).where(PaymentMethod.organization_id == org.id)
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
    ))


def save_paying_card(org: Organization, card: CardDetails, make_default: bool = False) -> PaymentMethod:
    """Keep a card the processor knows (brand, last four, expiry, payment method id), in the caller's
    transaction; the same payment method saved twice stays one card. The first card becomes the default."""
    existing = db.session.scalars(select(PaymentMethod).where(
        PaymentMethod.organization_id == org.id, PaymentMethod.gateway_token == card.payment_method_id)).first()
    if existing is not None:
        return existing
    try:
        brand = CardBrand(card.brand)
    except ValueError:
        raise RuleError(ACCEPTED, field="saved_card") from None
    first = db.session.scalar(select(PaymentMethod.id).where(PaymentMethod.organization_id == org.id)
                              .limit(1)) is None
    method = PaymentMethod(organization_id=org.id, brand=brand, last4=card.last4, exp_month=card.exp_month,
                           exp_year=card.exp_year, holder_name=card.holder_name[:200],
                           gateway_token=card.payment_method_id, is_default=False)
    db.session.add(method)
    db.session.flush()
    if first or make_default:
        set_default(method, None)
    return method


def start_saving(org: Organization, processor: Processor, idempotency_key: str, return_url: str, *,
                 make_default: bool, payment_method_id: str | None = None) -> Intent:
    """A setup intent for a card to keep: confirmed at once with a card from the hosted fields (it may then need
    3-D Secure), or left for the processor's hosted page."""
    intent = processor.create_setup_intent(idempotency_key, customer_id=f"org-{org.id}", return_url=return_url,
                                           metadata={"organization_id": str(org.id),
                                                     "make_default": "1" if make_default else ""})
    if payment_method_id:
        intent = processor.confirm_setup_intent(intent.id, payment_method_id, f"{idempotency_key}-confirm",
                                                return_url=return_url)
    return intent


def finish_saving(org: Organization, setup_intent_id: str, processor: Processor, actor: Actor) -> PaymentMethod:
    """Save the card of a succeeded setup intent of this organization, in the caller's transaction; RuleError if
    it did not succeed (declined, authentication cancelled) or is another organization's."""
    intent = processor.retrieve_setup_intent(setup_intent_id)
    if intent.metadata.get("organization_id") != str(org.id):
        raise RuleError("This card was not being saved for your organization.", field="saved_card")
    if intent.state is not IntentState.SUCCEEDED or not intent.payment_method_id:
        raise RuleError(intent.decline_message or "The card was not saved: its setup was not completed.",
                        field="saved_card")
    known = db.session.scalar(select(PaymentMethod.id).where(
        PaymentMethod.organization_id == org.id, PaymentMethod.gateway_token == intent.payment_method_id))
    method = save_paying_card(org, processor.retrieve_card(intent.payment_method_id),
                              make_default=bool(intent.metadata.get("make_default")))
    if known is None:
        record(actor, "payment_method.added", method, org.id, card=method.label)
    return method


def set_default(method: PaymentMethod, actor: Actor | None) -> None:
    """Use this card by default; audited when an actor chose it (not for a first card, default by itself)."""
    db.session.execute(update(PaymentMethod).where(PaymentMethod.organization_id == method.organization_id)
                       .values(is_default=False).execution_options(synchronize_session="fetch"))
    method.is_default = True
    if actor is not None:
        record(actor, "payment_method.default", method, method.organization_id, card=method.label)


def remove_card(method: PaymentMethod, actor: Actor) -> None:
    """Forget a saved card; if it was the default, the oldest remaining card becomes the default."""
    org_id, was_default = method.organization_id, method.is_default
    record(actor, "payment_method.removed", method, org_id, card=method.label)
    db.session.delete(method)
    db.session.flush()
    if was_default:
        successor = db.session.scalars(select(PaymentMethod).where(PaymentMethod.organization_id == org_id)
                                       .order_by(PaymentMethod.id)).first()
        if successor is not None:
            successor.is_default = True
