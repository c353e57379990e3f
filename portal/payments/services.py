"""Saved cards of a main chain: add (through the gateway), remove, choose the default."""

from __future__ import annotations

from sqlalchemy import select, update

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.extensions import db
from portal.payments.cards import CardInput
from portal.payments.gateway import PaymentGateway
from portal.payments.models import PaymentMethod


def saved_cards(org: Organization) -> list[PaymentMethod]:
    return list(db.session.scalars(
        select(PaymentMethod).where(PaymentMethod.organization_id == org.id)
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
    ))


def save_card(org: Organization, card: CardInput, gateway: PaymentGateway, actor: Actor,
              make_default: bool = False) -> PaymentMethod:
    """Keep a card for later: brand, last four, expiry and the gateway's token (never the number)."""
    first = not saved_cards(org)
    method = PaymentMethod(organization_id=org.id, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
                           exp_year=card.exp_year, holder_name=card.holder_name,
                           gateway_token=gateway.tokenize(card), is_default=False)
    db.session.add(method)
    db.session.flush()
    if first or make_default:
        set_default(method, actor, audit=False)
    record(actor, "payment_method.added", method, org.id, card=method.label)
    return method


def set_default(method: PaymentMethod, actor: Actor, audit: bool = True) -> None:
    db.session.execute(update(PaymentMethod).where(PaymentMethod.organization_id == method.organization_id)
                       .values(is_default=False).execution_options(synchronize_session="fetch"))
    method.is_default = True
    if audit:
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
