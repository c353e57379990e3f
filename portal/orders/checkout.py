"""Placing an order: the checkout's unit of work.

This is the one function of the orders feature that ends a transaction, because the card processor is outside
it: take the payment, record the order, mark the payment attempt succeeded and commit, so that the order and
its payment's success commit together; on any failure, roll back first, then give the money back, so the
processor never waits on our locks. A process killed before the commit leaves an open attempt that a retry of the
cart or the `payments reconcile` job voids (portal/payments/intents.py). Views and the API call it instead of
committing themselves.

When the processor needs the buyer first (3-D Secure, or the card entered on its hosted page), `place_order`
raises BuyerMustAct and nothing is placed; `complete_order` places the order once the payment succeeded, when the
buyer comes back or the processor's webhook arrives (whichever is first: the order's idempotency key, the cart
signature, makes the second one find it).
"""

from __future__ import annotations

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.cart.services import cart_items
from portal.extensions import db
from portal.orders import services
from portal.orders.models import Order, PaymentKind
from portal.orders.services import CheckoutDetails, PaymentChoice
from portal.payments import intents
from portal.payments.charges import CardChoice, attempt_for, resume
from portal.payments.gateway import PaymentGateway


def place_order(org: Organization, user: User, items: list[CartItem], signature: str, expected_total: int | None,
                payment: PaymentChoice, billing: CheckoutDetails, actor: Actor, gateway: PaymentGateway, *,
                off_session: bool = False) -> Order:
    """Buy what is in the cart, committed. RuleError: nothing was created and no money kept. AlreadyPlaced: the
    checkout is already an order (find it with `services.find_order`), and this request kept no money.
    BuyerMustAct: send the buyer to the processor; the order is placed when they come back. `off_session`: the
    cardholder is not there (the API charging a saved card)."""
    summary, taken = services.take_payment(org, user, items, signature, expected_total, payment, billing, gateway,
                                           off_session=off_session)
    return _record(org, user, summary, payment, billing, taken, actor, gateway)


def complete_order(org: Organization, returned_id: str, actor: Actor, gateway: PaymentGateway) -> Order:
    """The order of a checkout paid at the processor (`returned_id`: the payment the return or the event names),
    placed now if it is not yet, committed. RuleError: the payment did not succeed, or the cart changed meanwhile
    (the money is given back); nothing was placed. LookupError: no checkout of this organization's."""
    attempt = attempt_for(returned_id, org.id, gateway)
    if attempt is None or attempt.details.get("flow") != "checkout":
        raise LookupError(returned_id)
    charge_id, details = attempt.gateway_charge_id, attempt.details
    placed = services.find_order(org, details["signature"])
    if placed is not None and placed.gateway_charge_id == charge_id:
        return placed
    _, charge = resume(charge_id, org.id, gateway)
    taken = services.TakenPayment.of(charge)
    user = db.session.get(User, details["user_id"])
    billing = CheckoutDetails(**details["billing"])
    payment = PaymentChoice(PaymentKind.CARD, CardChoice(save=bool(details.get("save"))))
    try:
        if placed is not None:  # placed with another payment meanwhile (another tab): this one goes back
            raise services.AlreadyPlaced(details["signature"])
        summary = services.check_paid_checkout(org, cart_items(user, org), details["signature"],
                                               details["expected_total"])
    except BaseException:
        db.session.rollback()
        services.give_back(taken, gateway)
        raise
    return _record(org, user, summary, payment, billing, taken, actor, gateway)


def _record(org: Organization, user: User, summary: services.CheckoutSummary, payment: PaymentChoice,
            billing: CheckoutDetails, taken: services.TakenPayment, actor: Actor, gateway: PaymentGateway) -> Order:
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
