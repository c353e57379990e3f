"""The storefront checkout paid at the card processor (issue 21), as carol (Contoso Retail) meets it on /s/northwind
without JavaScript: a new card sends her to the processor's hosted page, where a 3-D Secure card asks her bank
first; coming back places the one order, or says why none was placed. The processor's signed webhook event places
the order when it arrives before she is back (the tab closed after 3-D Secure); her return then finds that order,
and neither a replayed event nor her return makes a second one."""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.billing.models import Invoice, InvoiceStatus
from portal.extensions import db
from portal.orders.models import Order
from portal.outbox.models import OutboxMessage
from portal.payments.models import IntentStatus, PaymentIntent
from portal.sandbox_processor.models import SandboxIntent
from portal.sandbox_processor.processor import sandbox_processor
from tests.forms import Page
from tests.storefront_sales.test_cart import _add, _add_form, _items
from tests.storefront_sales.test_pages import ALIAS, northwind_storefront  # noqa: F401

CHECKOUT = f"/s/{ALIAS}/checkout"
THREE_D_SECURE = "4000 0027 6000 3184"  # approved once the cardholder authenticates
APPROVED = "4242 4242 4242 4242"
NEW_CARD = {"saved_card": "0"}  # what carol chooses on the checkout page; the billing details stay prefilled


def _checkout_to_processor(app, carol):
    """carol's cart has a license; she places the order with a new card: the portal sends her to the processor."""
    _add(carol, _add_form(app))
    sent = carol.submit(CHECKOUT, NEW_CARD)
    assert sent.status_code == 303, sent.get_data(as_text=True)[-2000:]
    assert urlsplit(sent.headers["Location"]).path.startswith("/sandbox-processor/pay/pi_sandbox_")
    return sent


def _intent_of(sent) -> str:
    return urlsplit(sent.headers["Location"]).path.rsplit("/", 1)[1]


def _storefront_orders(app) -> list[Order]:
    """The customer's storefront orders (each sale also makes the vendor's wholesale order to Northwind)."""
    with app.app_context():
        return list(db.session.scalars(select(Order).where(Order.seller_id.is_not(None)).order_by(Order.id)))


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _intent(app, intent_id: str) -> SandboxIntent:
    with app.app_context():
        found = db.session.get(SandboxIntent, intent_id)
        db.session.expunge(found)
        return found


def _attempts(app) -> list[str]:
    with app.app_context():
        return [str(status) for status in db.session.scalars(select(PaymentIntent.status).order_by(PaymentIntent.id))]


def test_a_3d_secure_card_authenticated_on_the_processors_page_places_one_order(app, login, northwind):
    carol = login("carol")
    sent = _checkout_to_processor(app, carol)
    intent_id = _intent_of(sent)
    assert _count(app, Order) == 0  # nothing is placed while she is at the processor

    placed = carol.at_processor(sent, THREE_D_SECURE, name="Carol Chen")  # types the card, authenticates, returns

    assert placed.status_code == 302 and f"/s/{ALIAS}/orders/ORD-" in placed.headers["Location"]
    [order] = _storefront_orders(app)
    assert placed.headers["Location"].endswith(f"/orders/{order.number}")
    assert order.gateway_charge_id == intent_id and order.card_label == "Visa ending 3184"
    assert str(_intent(app, intent_id).state) == "succeeded"
    assert _attempts(app) == [str(IntentStatus.SUCCEEDED)]
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
        assert invoice.status is InvoiceStatus.PAID and invoice.issuer_id == order.seller_id
    assert _count(app, Order) == 2 and _items(app) == []  # hers and the vendor's wholesale order; the cart is empty
    page = carol.get(placed.headers["Location"])
    assert page.status_code == 200 and order.number in page.get_data(as_text=True)

    # Coming back to the return address again (a reload, the back button) shows the same order.
    again = carol.get(f"{CHECKOUT}/return?payment_intent={intent_id}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/orders/{order.number}")
    assert _count(app, Order) == 2 and _count(app, SandboxIntent) == 1


def _cancel_authentication(carol, sent):
    """She types the 3-D Secure card, then cancels at her bank's step: the processor sends her back."""
    return carol.at_processor(sent, THREE_D_SECURE, authenticate=False)


def _leave_the_hosted_page(carol, sent):
    """She clicks the processor's "Cancel and go back" without typing a card."""
    page = carol.get(urlsplit(sent.headers["Location"]).path).get_data(as_text=True)
    found = re.search(r'<a href="([^"]+)">Cancel and go back</a>', page)
    assert found, "the processor's page offers no way back"
    back = urlsplit(html.unescape(found.group(1)))
    assert back.path == f"{CHECKOUT}/return"
    return carol.get(f"{back.path}?{back.query}")


@pytest.mark.parametrize(("abandon", "message"), [
    (_cancel_authentication, "authentication was cancelled"),
    (_leave_the_hosted_page, "The payment was not completed, so nothing was charged."),
], ids=["authentication-cancelled", "hosted-page-left"])
def test_an_abandoned_payment_places_no_order_says_so_and_cancels_the_intent(app, login, northwind, abandon, message):
    carol = login("carol")
    sent = _checkout_to_processor(app, carol)
    intent_id = _intent_of(sent)

    back = abandon(carol, sent)

    assert back.status_code == 422
    page = back.get_data(as_text=True)
    assert message in page and 'id="saved_card-error"' in page and "Place order" in page  # she may pay again
    assert _count(app, Order) == 0 and len(_items(app)) == 1
    assert str(_intent(app, intent_id).state) == "canceled"  # nothing can be taken on it later
    assert _attempts(app) in ([str(IntentStatus.DECLINED)], [str(IntentStatus.VOIDED)])

    # Her next try (the page she is on, another card) is not blocked by the abandoned one: one order.
    again = carol.submit(Page.parse(CHECKOUT, page), NEW_CARD)
    placed = carol.at_processor(again, APPROVED)
    assert placed.status_code == 302 and f"/s/{ALIAS}/orders/ORD-" in placed.headers["Location"]
    [order] = _storefront_orders(app)
    assert order.gateway_charge_id == _intent_of(again) != intent_id
    assert str(_intent(app, intent_id).state) == "canceled"


def _paid_and_authenticated_without_returning(carol, sent) -> str:
    """On the processor's pages: she types the 3-D Secure card, authenticates, and closes the tab before the
    processor's redirect to the portal is followed. Returns the return address she did not visit."""
    hosted = urlsplit(sent.headers["Location"]).path
    answer = carol.submit(hosted, {"holder_name": "Carol Chen", "number": THREE_D_SECURE, "exp_month": "12",
                                   "exp_year": str(date.today().year + 3), "cvc": "123"})
    assert answer.status_code == 303
    step = urlsplit(answer.headers["Location"]).path
    assert step.startswith("/sandbox-processor/authenticate/")  # her bank asks first
    answer = carol.submit(step, button="Complete authentication")
    assert answer.status_code == 303
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def test_the_webhook_arriving_before_the_customer_returns_places_the_order_once(app, login, northwind, client):
    carol = login("carol")
    sent = _checkout_to_processor(app, carol)
    intent_id = _intent_of(sent)
    back = _paid_and_authenticated_without_returning(carol, sent)
    assert back == f"{CHECKOUT}/return?payment_intent={intent_id}"
    assert str(_intent(app, intent_id).state) == "succeeded" and _count(app, Order) == 0  # paid, not yet placed

    with app.app_context():
        [event_id] = [event for event, kind in sandbox_processor().events(intent_id)
                      if kind == "payment_intent.succeeded"]
        body, headers = sandbox_processor().signed_request(event_id)
    # The processor's request: no session, no CSRF token; its signature says who sent it.
    delivered = client.post("/payments/webhook", data=body, headers={**headers, "Content-Type": "application/json"})
    assert delivered.status_code == 200

    [order] = _storefront_orders(app)
    assert order.gateway_charge_id == intent_id and order.card_label == "Visa ending 3184"
    assert _count(app, Order) == 2 and _items(app) == []
    assert _attempts(app) == [str(IntentStatus.SUCCEEDED)]
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
        assert invoice.status is InvoiceStatus.PAID
    placed_emails = _count(app, OutboxMessage, OutboxMessage.kind == "storefront_order_confirmation")
    assert placed_emails == 1

    # Her return (a tab reopened, the processor's redirect at last) finds the order and shows it.
    returned = carol.get(back)
    assert returned.status_code == 302 and returned.headers["Location"].endswith(f"/orders/{order.number}")
    shown = carol.get(returned.headers["Location"])
    assert shown.status_code == 200 and order.number in shown.get_data(as_text=True)

    # The same event delivered again (processors retry) changes nothing.
    before = _state(app)
    again = client.post("/payments/webhook", data=body, headers={**headers, "Content-Type": "application/json"})
    assert again.status_code == 200
    assert _state(app) == before
    assert [o.id for o in _storefront_orders(app)] == [order.id] and _count(app, Order) == 2
    assert str(_intent(app, intent_id).state) == "succeeded" and _intent(app, intent_id).amount_refunded_minor == 0


def _state(app) -> dict:
    """What a replayed event could change: orders, invoices, licenses, attempts, audit, emails, the processor."""
    from portal.audit.models import AuditEntry
    from portal.licenses.models import License

    with app.app_context():
        return {"orders": _count(app, Order), "invoices": _count(app, Invoice), "licenses": _count(app, License),
                "attempts": _attempts(app), "audit": _count(app, AuditEntry), "emails": _count(app, OutboxMessage),
                "intents": sorted((i.id, str(i.state), i.amount_refunded_minor)
                                  for i in db.session.scalars(select(SandboxIntent)))}
