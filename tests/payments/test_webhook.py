"""The processor's webhook (`POST /payments/webhook`, portal/payments/webhook.py): a signed event completes a
purchase whose buyer never came back from the processor (the tab closed after 3-D Secure). The buyers here pay
without JavaScript on the processor's hosted page, as browsers do, and stop before its redirect back to the
portal; the processor's event is then delivered as the sandbox signs it. Each purchase is completed once, whether
the event arrives once, twice, or before the buyer's return."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.extensions import db
from portal.orders.models import Order
from portal.outbox.models import OutboxMessage
from portal.payments.intents import IntentStatus
from portal.payments.models import PaymentIntent, PaymentMethod
from portal.sandbox_processor.models import SandboxIntent
from portal.sandbox_processor.processor import sandbox_processor
from portal.storefronts.models import Storefront
from tests.factories import demo_org, demo_user, make_cart_item, make_invoice, processor_card

THREE_D_SECURE = "4000 0027 6000 3184"  # approved once the buyer authenticates
APPROVED = "5555 5555 5555 4444"


# ---------------------------------------------------------------- the buyer at the processor, and its events


def pay_at_processor(client, sent, card: str = THREE_D_SECURE, name: str = "Frank Fischer") -> tuple[str, str]:
    """The buyer follows the portal's answer to the processor's hosted page, types the card, completes 3-D Secure
    if the bank asks, and closes the tab: the processor's redirect back to the portal is not followed. Returns the
    intent's id and the return address the buyer did not visit."""
    assert sent.status_code == 303, f"expected the processor's page, got {sent.status_code}"
    hosted = urlsplit(sent.headers["Location"]).path
    assert hosted.startswith("/sandbox-processor/pay/"), hosted
    intent_id = hosted.rsplit("/", 1)[1]
    digits = card.replace(" ", "")
    answer = client.submit(hosted, {"holder_name": name, "number": card, "exp_month": "12",
                                    "exp_year": str(date.today().year + 3),
                                    "cvc": "1234" if digits.startswith(("34", "37")) else "123"})
    assert answer.status_code == 303, f"the processor refused the card ({answer.status_code})"
    location = urlsplit(answer.headers["Location"])
    if location.path.startswith("/sandbox-processor/authenticate/"):
        answer = client.submit(location.path, button="Complete authentication")
        assert answer.status_code == 303, f"3-D Secure answered {answer.status_code}"
        location = urlsplit(answer.headers["Location"])
    assert not location.path.startswith("/sandbox-processor/"), f"still at the processor: {location.path}"
    return intent_id, f"{location.path}?{location.query}"


def signed_event(app, intent_id: str, event_type: str, **kwargs) -> tuple[bytes, dict]:
    """The one event of this type the processor recorded about the intent, as it delivers it (body, headers)."""
    with app.app_context():
        found = [event for event, kind in sandbox_processor().events(intent_id) if kind == event_type]
        assert len(found) == 1, f"{event_type} events of {intent_id}: {sandbox_processor().events(intent_id)}"
        return sandbox_processor().signed_request(found[0], **kwargs)


def deliver(processor_side, body: bytes, headers: dict):
    """The processor's request: no session cookie, no CSRF token, its signature in the headers."""
    return processor_side.post("/payments/webhook", data=body, headers={**headers, "Content-Type": "application/json"})


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def state(app) -> dict:
    """What a webhook could change: orders, invoices and their payments, saved cards, payment attempts, the audit
    trail, emails, and the processor's intents (a refund is a change too)."""
    from portal.audit.models import AuditEntry

    with app.app_context():
        return {
            "orders": db.session.scalar(select(func.count()).select_from(Order)),
            "invoices": sorted((i.number, str(i.status)) for i in db.session.scalars(select(Invoice))),
            "invoice payments": db.session.scalar(select(func.count()).select_from(InvoicePayment)),
            "cards": db.session.scalar(select(func.count()).select_from(PaymentMethod)),
            "attempts": sorted((a.id, str(a.status)) for a in db.session.scalars(select(PaymentIntent))),
            "audit": db.session.scalar(select(func.count()).select_from(AuditEntry)),
            "emails": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
            "intents": sorted((i.id, str(i.state), i.amount_refunded_minor)
                              for i in db.session.scalars(select(SandboxIntent))),
        }


@pytest.fixture
def processor_side(app):
    """The processor's HTTP client: anonymous."""
    return app.test_client()


def checkout_paid_at_processor(app, login) -> tuple:
    """frank checks out a cart without JavaScript, pays with a 3-D Secure card on the processor's page and closes
    the tab before coming back: nothing is placed yet."""
    with app.app_context():
        make_cart_item(demo_org("Litware Solutions"), demo_user("frank"), copies=2)
        db.session.commit()
    frank = login("frank")
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})
    intent_id, back = pay_at_processor(frank, sent)
    assert back == f"/checkout/return?payment_intent={intent_id}"
    assert count(app, Order) == 0  # the order waits for the buyer's return or the processor's event
    return frank, intent_id, back


# ---------------------------------------------------------------- refused requests


def _forged_signature(body: bytes, event_id: str, sent_at: str) -> str:
    signed = event_id.encode() + b"." + sent_at.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(b"not-the-endpoint-secret", signed, hashlib.sha256).digest()).decode()


def test_an_unsigned_tampered_or_old_event_is_refused_and_changes_nothing(app, login, demo, processor_side):
    frank, intent_id, _ = checkout_paid_at_processor(app, login)
    body, headers = signed_event(app, intent_id, "payment_intent.succeeded")
    before = state(app)

    old_body, old_headers = signed_event(app, intent_id, "payment_intent.succeeded",
                                         timestamp=int(time.time()) - 10 * 60)  # a replay of a recorded request
    other = json.loads(body)
    other["data"]["object"]["id"] = "pi_sandbox_someone_elses"
    refused = {
        "unsigned": (body, {}),
        "no signature": (body, {k: v for k, v in headers.items() if k != "webhook-signature"}),
        "signed with another secret": (body, {**headers, "webhook-signature": _forged_signature(
            body, headers["webhook-id"], headers["webhook-timestamp"])}),
        "tampered body": (json.dumps(other, separators=(",", ":")).encode(), headers),
        "another event's id": (body, {**headers, "webhook-id": "evt_sandbox_other"}),
        "another timestamp": (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
        "ten minutes old": (old_body, old_headers),
        "ten minutes ahead": signed_event(app, intent_id, "payment_intent.succeeded",
                                          timestamp=int(time.time()) + 10 * 60),
    }
    for why, (sent_body, sent_headers) in refused.items():
        response = deliver(processor_side, sent_body, sent_headers)
        assert response.status_code == 400, f"{why}: {response.status_code}"
        assert state(app) == before, why
    # The genuine request, delivered now, is what completes the purchase: the refusals above were the signature's.
    assert deliver(processor_side, body, headers).status_code == 200
    assert count(app, Order) == 1


def test_a_json_body_that_is_not_an_event_is_refused(app, demo, processor_side):
    assert deliver(processor_side, b"{}", {}).status_code == 400
    assert deliver(processor_side, b"not json", {"webhook-id": "evt_x", "webhook-timestamp": str(int(time.time())),
                                                 "webhook-signature": "v1,AAAA"}).status_code == 400


# ---------------------------------------------------------------- a checkout completed by the event


def test_the_event_places_the_order_of_a_buyer_who_closed_the_tab_once_however_often_it_comes(
        app, login, demo, processor_side):
    frank, intent_id, back = checkout_paid_at_processor(app, login)
    body, headers = signed_event(app, intent_id, "payment_intent.succeeded")

    assert deliver(processor_side, body, headers).status_code == 200
    with app.app_context():
        [order] = db.session.scalars(select(Order)).all()
        number = order.number
        assert order.gateway_charge_id == intent_id
        [invoice] = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).all()
        assert invoice.status is InvoiceStatus.PAID
        assert db.session.scalars(select(PaymentIntent.status)).all() == [IntentStatus.SUCCEEDED]
    placed = state(app)

    # The processor delivers it again (its retry, or a replay within the tolerance): 200, nothing more.
    assert deliver(processor_side, body, headers).status_code == 200
    assert deliver(processor_side, *signed_event(app, intent_id, "payment_intent.succeeded")).status_code == 200
    assert state(app) == placed

    # frank comes back after all (the processor's return address): he sees the order the event placed.
    returned = frank.get(back)
    assert returned.status_code == 302 and returned.headers["Location"].endswith(f"/orders/{number}")
    assert state(app) == placed
    with app.app_context():
        [intent] = db.session.scalars(select(SandboxIntent)).all()
        assert (str(intent.state), intent.amount_refunded_minor) == ("succeeded", 0)  # taken once, kept


def test_the_buyers_return_first_then_the_event_still_makes_one_order(app, login, demo, processor_side):
    frank, intent_id, back = checkout_paid_at_processor(app, login)
    returned = frank.get(back)
    assert returned.status_code == 302 and "/orders/ORD-" in returned.headers["Location"]
    placed = state(app)
    assert placed["orders"] == 1
    assert deliver(processor_side, *signed_event(app, intent_id, "payment_intent.succeeded")).status_code == 200
    assert state(app) == placed


# ---------------------------------------------------------------- an invoice paid by the event


def test_the_event_pays_an_invoice_whose_payer_closed_the_tab_once(app, login, demo, processor_side):
    with app.app_context():
        number = make_invoice(demo_org("Litware Solutions"), total_minor=45_600).number
        db.session.commit()
    frank = login("frank")
    sent = frank.submit(f"/invoices/{number}/pay", {"method": "card", "saved_card": 0})
    intent_id, back = pay_at_processor(frank, sent)
    assert back == f"/invoices/{number}/pay/return?payment_intent={intent_id}"
    assert count(app, InvoicePayment) == 0

    body, headers = signed_event(app, intent_id, "payment_intent.succeeded")
    assert deliver(processor_side, body, headers).status_code == 200
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
        [payment] = db.session.scalars(select(InvoicePayment)).all()
        assert invoice.status is InvoiceStatus.PAID and payment.invoice_id == invoice.id
        assert (payment.amount_minor, payment.gateway_charge_id) == (45_600, intent_id)
    paid = state(app)

    assert deliver(processor_side, body, headers).status_code == 200
    assert state(app) == paid
    returned = frank.get(back)
    assert returned.status_code == 302 and returned.headers["Location"].endswith(f"/invoices/{number}")
    assert state(app) == paid
    with app.app_context():
        [intent] = db.session.scalars(select(SandboxIntent)).all()
        assert (str(intent.state), intent.amount_minor, intent.amount_refunded_minor) == ("succeeded", 45_600, 0)


# ---------------------------------------------------------------- a card saved by the event


def test_the_setup_event_saves_the_card_once(app, login, demo, processor_side):
    dave = login("dave")
    sent = dave.submit("/payment-methods", {}, button="Save card")
    intent_id, back = pay_at_processor(dave, sent, APPROVED, name="Dave Diaz")
    assert back == f"/payment-methods/return?setup_intent={intent_id}"
    assert count(app, PaymentMethod) == 0

    body, headers = signed_event(app, intent_id, "setup_intent.succeeded")
    assert deliver(processor_side, body, headers).status_code == 200
    with app.app_context():
        [card] = db.session.scalars(select(PaymentMethod)).all()
        assert (card.organization_id, card.last4, card.is_default) == (demo.orgs["Fabrikam Stores"], "4444", True)
        assert card.gateway_token.startswith("pm_sandbox_")
    saved = state(app)

    assert deliver(processor_side, body, headers).status_code == 200
    assert state(app) == saved
    returned = dave.get(back)
    assert returned.status_code == 302 and returned.headers["Location"].endswith("/payment-methods")
    assert state(app) == saved
    assert "Mastercard ending 4444" in dave.get("/payment-methods").get_data(as_text=True)


def test_a_setup_authenticated_at_the_processor_is_saved_by_its_event(app, login, demo, processor_side):
    dave = login("dave")
    intent_id, back = pay_at_processor(dave, dave.submit("/payment-methods", {}, button="Save card"), name="Dave")
    assert deliver(processor_side, *signed_event(app, intent_id, "setup_intent.succeeded")).status_code == 200
    assert count(app, PaymentMethod) == 1
    assert dave.get(back).status_code == 302
    assert count(app, PaymentMethod) == 1


# ---------------------------------------------------------------- a storefront order completed by the event


def test_the_event_places_the_storefront_order_of_a_customer_who_closed_the_tab_once(app, login, demo,
                                                                                      processor_side):
    with app.app_context():
        line = make_cart_item(demo_org("Contoso Retail"), demo_user("carol"))
        line.storefront_id = db.session.scalars(select(Storefront.id).where(Storefront.alias == "northwind")).one()
        db.session.commit()
    carol = login("carol")
    sent = carol.submit("/s/northwind/checkout", {"saved_card": 0})
    intent_id, back = pay_at_processor(carol, sent, name="Carol")
    assert back == f"/s/northwind/checkout/return?payment_intent={intent_id}"
    assert count(app, Order) == 0

    body, headers = signed_event(app, intent_id, "payment_intent.succeeded")
    assert deliver(processor_side, body, headers).status_code == 200
    with app.app_context():
        # The customer's order from Northwind (Northwind's own purchase from the vendor goes with it).
        [order] = db.session.scalars(select(Order).where(Order.organization_id == demo.orgs["Contoso Retail"])).all()
        number = order.number
        assert (order.seller_id, order.gateway_charge_id) == (demo.orgs["Northwind IT"], intent_id)
    placed = state(app)
    assert deliver(processor_side, body, headers).status_code == 200
    assert state(app) == placed
    returned = carol.get(back)
    assert returned.status_code == 302 and returned.headers["Location"].endswith(f"/s/northwind/orders/{number}")
    assert state(app) == placed


# ---------------------------------------------------------------- events that complete nothing


def test_a_failed_payments_event_places_nothing(app, login, demo, processor_side):
    with app.app_context():
        make_cart_item(demo_org("Litware Solutions"), demo_user("frank"))
        db.session.commit()
    frank = login("frank")
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})
    declined = frank.at_processor(sent, "4000 0000 0000 0002")
    assert declined.status_code == 422  # the buyer stays on the processor's page
    intent_id = urlsplit(sent.headers["Location"]).path.rsplit("/", 1)[1]
    before = state(app)
    assert deliver(processor_side, *signed_event(app, intent_id, "payment_intent.payment_failed")).status_code == 200
    assert state(app) == before and before["orders"] == 0


def test_an_event_about_a_payment_the_portal_does_not_know_is_acknowledged_and_changes_nothing(
        app, demo, processor_side):
    with app.app_context():  # a payment made at the processor for something else (another system's)
        processor = sandbox_processor()
        intent = processor.create_payment_intent(1_000, "USD", "elsewhere-1", payment_method_id=processor_card(),
                                                 confirm=True)
        assert intent.succeeded
    before = state(app)
    assert deliver(processor_side, *signed_event(app, intent.id, "payment_intent.succeeded")).status_code == 200
    assert state(app) == before


def test_the_event_for_a_checkout_whose_cart_changed_meanwhile_gives_the_money_back(app, login, demo,
                                                                                    processor_side):
    frank, intent_id, back = checkout_paid_at_processor(app, login)
    with app.app_context():  # frank adds to the cart in another tab while the processor's event is on its way
        make_cart_item(demo_org("Litware Solutions"), demo_user("frank"), slug="livedesk")
        db.session.commit()
    assert deliver(processor_side, *signed_event(app, intent_id, "payment_intent.succeeded")).status_code == 200
    assert count(app, Order) == 0
    with app.app_context():
        [intent] = db.session.scalars(select(SandboxIntent)).all()
        assert intent.amount_refunded_minor == intent.amount_minor > 0  # given back in full
    given_back = state(app)
    # frank comes back: the checkout says no order was placed (422), and nothing more is taken or given back.
    assert frank.get(back).status_code == 422
    assert state(app) == given_back and given_back["orders"] == 0
