"""Placing an order: the checkout's unit of work.

This is the one function of the orders feature that ends a transaction, because the payment gateway is outside
it: take the payment, record the order, mark the payment attempt succeeded and commit, so that the order and
its payment's success commit together; on any failure, roll back first, then give the money back, so the gateway
never waits on our locks. A process killed before the commit leaves an open attempt that a retry of the cart or
the `payments reconcile` job voids (portal/payments/intents.py). Views and the API call it instead of committing
themselves.
"""

from __future__ import annotations

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.extensions import db
from portal.orders import services
from portal.orders.models import Order
from portal.orders.services import BillingDetails, PaymentChoice
from portal.payments import intents
from portal.payments.gateway import PaymentGateway


def place_order(org: Organization, user: User, items: list[CartItem], signature: str, expected_total: int | None,
                payment: PaymentChoice, billing: BillingDetails, actor: Actor, gateway: PaymentGateway) -> Order:
    """Buy what is in the cart, committed. RuleError: nothing was created and no money kept. AlreadyPlaced: the
    checkout is already an order (find it with `services.find_order`), and this request kept no money."""
    summary, taken = services.take_payment(org, items, signature, expected_total, payment, billing, gateway)
    try:
        order = services.record_order(org, user, summary, payment, billing, taken, actor)
        intents.succeed(taken.intent_id)
        db.session.commit()
    except services.AlreadyPlaced:
        db.session.rollback()
        services.give_back(taken, gateway, services.find_order(org, summary.signature))
        raise
    except BaseException:
        db.session.rollback()
        services.give_back(taken, gateway)
        raise
    return order
