"""A storefront customer whose process is killed (SIGKILL) once the whole sale is written, before it commits, run in a
process of its own by tests/storefront_sales/test_selling_killed.py on the test session's database:

    python -m tests.storefront_sales.dying_customer DATABASE_URL INSTANCE_DIR ALIAS CUSTOMER_ID USER_ID CARD_ID

It places the customer's storefront cart as the checkout view does, with CARD_ID, the card the checkout's hosted
fields gave (the processor's payment method id: the portal never sees a card number). Its exit status is the signal
when it was killed as planned, 1 otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _then_die(real):
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    return wrapper


def main(database_url: str, instance: str, alias: str, customer_id: int, user_id: int,
         payment_method_id: str) -> None:
    from sqlalchemy import select

    from portal import create_app
    from portal.accounts.models import Organization, User
    from portal.audit.services import Actor
    from portal.extensions import db
    from portal.orders.models import PaymentKind
    from portal.orders.services import BillingDetails, PaymentChoice
    from portal.payments.charges import CardChoice
    from portal.payments.gateway import gateway
    from portal.storefront_sales import carts, selling
    from portal.storefronts.models import Storefront
    from tests.conftest import test_config

    app = create_app(test_config(database_url, str(Path(instance) / "mail"), INSTANCE_PATH=instance))
    card = CardChoice(payment_method_id=payment_method_id)
    with app.app_context():
        selling.record_sale = _then_die(selling.record_sale)
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == alias)).one()
        customer, user = db.session.get(Organization, customer_id), db.session.get(User, user_id)
        items = carts.cart_items(storefront, user, customer)
        summary = selling.sale_summary(storefront, customer, items)
        selling.place_storefront_order(storefront, customer, user, items, summary.signature,
                                       summary.quote.total_minor, PaymentChoice(PaymentKind.CARD, card),
                                       BillingDetails.of(customer), Actor(user.id), gateway())
    sys.exit("the customer was not killed")


if __name__ == "__main__":
    database_url, instance, alias, customer_id, user_id, payment_method_id = sys.argv[1:]
    main(database_url, instance, alias, int(customer_id), int(user_id), payment_method_id)
