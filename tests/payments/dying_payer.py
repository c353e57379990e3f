"""A payer whose process is killed (SIGKILL) between the card charge and the commit, run in a process of its own by
tests/payments/test_killed_payments.py on the test session's database:

    python -m tests.payments.dying_payer DATABASE_URL INSTANCE_DIR checkout|invoice answered|recording \
        ORG_ID USER_ID INVOICE_ID PAYMENT_METHOD_ID

- `answered`: killed as soon as the processor approved the charge, before the payment attempt is marked charged;
- `recording`: killed once the order (or the invoice payment) is written, before the transaction commits.

It places the order of the user's cart through checkout (or pays the invoice by card), as the views do, with the
card the processor's hosted fields gave as PAYMENT_METHOD_ID (tests.factories.processor_card). Its exit status is
the signal when it was killed as planned, 1 otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _then_die(real):
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        _die()
        return result

    return wrapper


def main(database_url: str, instance: str, purpose: str, kill_at: str, org_id: int, user_id: int,
         invoice_id: int, payment_method_id: str) -> None:
    from portal import create_app
    from portal.accounts.models import Organization, User
    from portal.audit.services import Actor
    from portal.billing.models import Invoice
    from portal.cart.services import cart_items
    from portal.extensions import db
    from portal.orders import services
    from portal.orders.checkout import place_order
    from portal.orders.models import PaymentKind
    from portal.payments.charges import CardChoice
    from portal.payments.gateway import CardGateway, gateway
    from portal.receipts import paying as payments
    from tests.conftest import test_config

    app = create_app(test_config(database_url, str(Path(instance) / "mail"), INSTANCE_PATH=instance))
    card = CardChoice(payment_method_id=payment_method_id)
    with app.app_context():
        if kill_at == "answered":
            CardGateway.charge = _then_die(CardGateway.charge)
        elif purpose == "checkout":
            services.record_order = _then_die(services.record_order)
        else:
            payments._record = _then_die(payments._record)
        user = db.session.get(User, user_id)
        if purpose == "checkout":
            org = db.session.get(Organization, org_id)
            items = cart_items(user, org)
            summary = services.checkout_summary(org, items)
            place_order(org, user, items, summary.signature, summary.quote.total_minor,
                        services.PaymentChoice(PaymentKind.CARD, card), services.BillingDetails.of(org),
                        Actor(user.id), gateway())
        else:
            payments.pay_by_card(db.session.get(Invoice, invoice_id), card, gateway(), Actor(user.id))
    sys.exit("the payer was not killed")


if __name__ == "__main__":
    database_url, instance, purpose, kill_at, org_id, user_id, invoice_id, payment_method_id = sys.argv[1:]
    main(database_url, instance, purpose, kill_at, int(org_id), int(user_id), int(invoice_id), payment_method_id)
