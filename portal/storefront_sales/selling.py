"""A storefront sale: the reseller's customer buys at the reseller's prices, and the vendor sells the same to the
reseller at the reseller's cost, in one transaction (DOMAIN §8).

The card is charged outside the transaction, exactly as the vendor's checkout does it (portal/orders/services.py:
take the payment, record the order, give it back on failure, through payment intents): no money is ever kept
without the order, and a failure after the charge rolls everything back and voids the charge.
"""

from __future__ import annotations

from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.orders.models import Order
from portal.orders.services import AlreadyPlaced, BillingDetails, PaymentChoice
from portal.payments.gateway import PaymentGateway
from portal.storefronts.models import Storefront

# The customer pays by card only (the sandbox gateway stands for the reseller's merchant account): a saved card
# of the customer's sub-chain or a new one, as the vendor's checkout takes it.
StorefrontPayment = PaymentChoice

__all__ = ["AlreadyPlaced", "StorefrontPayment", "place_storefront_order"]


def place_storefront_order(storefront: Storefront, customer: Organization, user: User, items: list[CartItem],
                           signature: str, expected_total: int | None, payment: StorefrontPayment,
                           billing: BillingDetails, actor: Actor, gateway: PaymentGateway) -> Order:
    """Buy the storefront cart, committed: the customer's order and the reseller's invoice to it (paid by card),
    the vendor's wholesale order and invoice to the reseller, the licenses assigned to the customer, the audit
    entries and emails. Returns the customer's order. RuleError: nothing was created and no money kept.
    AlreadyPlaced: this checkout is already an order (find it with `find_storefront_order`); no money kept."""
    raise NotImplementedError


def find_storefront_order(customer: Organization, order_key: str) -> Order | None:
    """The customer's storefront order placed for this checkout (its cart signature), if any."""
    raise NotImplementedError
