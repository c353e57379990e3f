"""Placing an order through the API: one home for what the orders and the license modifications operations share.

Both go through the checkout's unit of work (`orders.checkout.place_order`) with items put in the buyer's cart for
the request (committed first, so that the card's payment attempt and the Idempotency-Key's recovery point, written
on connections of their own, never wait behind them). Whatever goes wrong, those items leave the cart again and
nothing else of the request is kept:

- a bank that wants the cardholder (3-D Secure) cannot be answered by an API call: the attempt is abandoned and the
  answer is a 402 saying where to pay in the portal;
- a declined card is a 402; another request that placed the same cart first is a 409 (the caller words it);
- any other refusal of the checkout's rules is the caller's 422.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import marshmallow as ma
from flask_login import current_user
from sqlalchemy import delete, select

from portal.accounts.context import current_actor
from portal.api import idempotency
from portal.api.problems import ApiProblem, refused
from portal.authz import Permission, scoped_to
from portal.cart.models import CartItem
from portal.errors import RuleError
from portal.extensions import db
from portal.orders import services
from portal.orders.checkout import place_order
from portal.orders.models import Order, PaymentKind
from portal.payments import intents
from portal.payments.charges import CARD_FIELD, BuyerMustAct, CardChoice
from portal.payments.gateway import gateway
from portal.payments.models import PaymentMethod

MAX_ID = 2**63 - 1
METHODS = {"invoice": PaymentKind.INVOICE, "saved_card": PaymentKind.CARD, "wire": PaymentKind.WIRE,
           "ach": PaymentKind.ACH, "check": PaymentKind.CHECK}
METHOD_OF_KIND = {kind: name for name, kind in METHODS.items()}
CARD_REQUEST_FIELD = "payment.payment_method_id"


class OrderPaymentSchema(ma.Schema):
    method = ma.fields.String(required=True, validate=ma.validate.OneOf(list(METHODS)),
                              metadata={"description": "`invoice` (accounts invoiced monthly), `saved_card` (one "
                                                       "of your saved cards, charged now), or `wire`, `ach`, "
                                                       "`check` where your account may use them."})
    payment_method_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                          validate=ma.validate.Range(min=1, max=MAX_ID),
                                          metadata={"description": "`saved_card`: the saved card's id (default: "
                                                                   "your default card)."})


def payment_choice(org, payment: dict) -> services.PaymentChoice:
    """The request's `payment` as the checkout takes it: a saved card of the buyer's chain, or another method."""
    kind = METHODS[payment["method"]]
    if kind is not PaymentKind.CARD:
        if payment.get("payment_method_id") is not None:
            raise refused("Only `saved_card` takes a payment_method_id.", CARD_REQUEST_FIELD)
        return services.PaymentChoice(kind)
    stmt = select(PaymentMethod).where(PaymentMethod.organization_id == org.id)
    if payment.get("payment_method_id") is not None:
        stmt = stmt.where(PaymentMethod.id == payment["payment_method_id"])
    else:
        stmt = stmt.where(PaymentMethod.is_default.is_(True))
    card = db.session.scalars(scoped_to(org, stmt, PaymentMethod.organization_id, current_user, Permission.BUY)
                              .order_by(PaymentMethod.id)).first()
    if card is None:
        raise refused("Choose one of your saved cards (a manager saves cards at /payment-methods).",
                      CARD_REQUEST_FIELD)
    return services.PaymentChoice(kind, CardChoice(saved_card=card))


def take_out(items: list[CartItem]) -> None:
    """After a failed order: nothing of the request is kept, and the items put in the cart for it leave it."""
    ids = [item.id for item in items]
    db.session.rollback()
    if ids:
        db.session.execute(delete(CartItem).where(CartItem.id.in_(ids)).execution_options(synchronize_session=False))
        db.session.commit()


@dataclass
class Attempt:
    """One order being placed: `place` buys the summary's items; the signature names the payment attempt."""

    org: object
    signature: str = ""

    def place(self, items: list[CartItem], summary: services.CheckoutSummary, total_minor: int,
              payment: services.PaymentChoice, billing: services.CheckoutDetails) -> Order:
        self.signature = summary.signature
        idempotency.remember(summary.signature)  # a retry after a crash finds the order by it
        return place_order(self.org, current_user, items, summary.signature, total_minor, payment, billing,
                           current_actor(), gateway(), off_session=payment.kind is PaymentKind.CARD)


@contextmanager
def order_attempt(org, taken_out: list[CartItem], *, portal_hint: str,
                  conflict: Callable[[services.AlreadyPlaced], ApiProblem],
                  refusal: Callable[[RuleError], ApiProblem]) -> Iterator[Attempt]:
    """Run the block that prices and places an order; turn each way it can fail into its problem, after taking
    `taken_out` out of the cart again. `portal_hint` says where in the portal a 3-D Secure payment can be made."""
    attempt = Attempt(org)
    org_id = org.id  # read before a rollback expires it
    try:
        yield attempt
    except BuyerMustAct:
        take_out(taken_out)
        intents.abandon(intents.Purchase(org_id, intents.Purpose.CHECKOUT, attempt.signature), gateway(),
                        "the bank wants the cardholder to approve an order placed through the API (3-D Secure)")
        raise ApiProblem("payment-failed", "The card's bank wants the cardholder to approve this payment (3-D "
                         "Secure), which an API call cannot do: nothing was charged and no order was placed. "
                         f"{portal_hint}, or pay by another method.", field=CARD_REQUEST_FIELD) from None
    except services.AlreadyPlaced as placed:
        take_out(taken_out)
        raise conflict(placed) from None
    except RuleError as error:
        take_out(taken_out)
        if error.field == CARD_FIELD:
            raise ApiProblem("payment-failed", f"{error.message} No order was placed.",
                             field=CARD_REQUEST_FIELD) from None
        raise refusal(error) from None
    except BaseException:
        take_out(taken_out)
        raise
