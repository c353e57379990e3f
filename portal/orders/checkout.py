"""Placing an order: the checkout's unit of work.

This is the one function of the orders feature that ends a transaction, because the payment gateway is outside
it: take the payment, record the order and commit; on any failure, roll back first, then give the money back,
so the gateway never waits on our locks. Views and the API call it instead of committing themselves.
"""

from __future__ import annotations

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.extensions import db
from portal.orders import services
from portal.orders.models import Order
from portal.orders.services import BillingDetails, PaymentChoice
from portal.payments.gateway import PaymentGateway


def place_order(org: Organization, user: User, items: list[CartItem], signature: str, expected_total: int | None,
                payment: PaymentChoice, billing: BillingDetails, actor: Actor, gateway: PaymentGateway) -> Order:
    """Buy what is in the cart, committed. RuleError: nothing was created and no money kept. AlreadyPlaced: the
    checkout is already an order (find it with `services.find_order`), and this request kept no money."""
    summary, taken = services.take_payment(org, items, signature, expected_total, payment, billing, gateway)
    try:
        order = services.record_order(org, user, summary, payment, billing, taken, actor)
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
