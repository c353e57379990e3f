"""The sandbox processor plays a card processor's part: each test card's payment intent ends as the processor
documents it, a repeated idempotency key returns the first answer, a saved card is charged without the buyer
(or asks for them back), refunds never give back more than was taken, webhooks are signed and checked, and the
card number is never kept or logged."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.payments.processor import IntentState, SignatureError
from portal.sandbox_processor.models import (
    SandboxEvent,
    SandboxIdempotency,
    SandboxIntent,
    SandboxPaymentMethod,
    SandboxRefund,
)
from portal.sandbox_processor.processor import (
    DECLINED,
    INSUFFICIENT_FUNDS,
    CardError,
    ProcessorError,
    SandboxProcessor,
    UnknownObject,
)

NEXT_YEAR = date.today().year + 1
THREE_D_SECURE = "4000002760003184"


def _card(processor: SandboxProcessor, number: str, cvc: str = "123") -> str:
    return processor.create_payment_method(number, 12, NEXT_YEAR, cvc, "Ada Lovelace").payment_method_id


def _charge(processor: SandboxProcessor, number: str, key: str, cvc: str = "123"):
    return processor.create_payment_intent(2_500, "EUR", key, payment_method_id=_card(processor, number, cvc),
                                           confirm=True, return_url="/done")


def _event_types(processor: SandboxProcessor, intent_id: str) -> list[str]:
    return [kind for _, kind in processor.events(intent_id)]


@pytest.mark.parametrize(("number", "brand", "cvc"), [("4242 4242 4242 4242", "visa", "123"),
                                                      ("5555 5555 5555 4444", "mastercard", "123"),
                                                      ("3782 822463 10005", "amex", "1234")])
def test_approving_cards_succeed_with_a_charge_and_an_event(ctx, number, brand, cvc):
    processor = SandboxProcessor()
    intent = _charge(processor, number, f"pay-{number}", cvc)
    assert intent.state is IntentState.SUCCEEDED and intent.charge_id.startswith("ch_sandbox_")
    assert (intent.amount_minor, intent.currency) == (2_500, "EUR")
    assert processor.retrieve_payment_intent(intent.id) == intent
    card = processor.retrieve_card(intent.payment_method_id)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == (brand, number[-4:], 12, NEXT_YEAR)
    assert _event_types(processor, intent.id) == ["payment_intent.succeeded"]


@pytest.mark.parametrize(("number", "message"), [("4000000000000002", DECLINED),
                                                 ("4000000000009995", INSUFFICIENT_FUNDS)])
def test_declining_cards_leave_the_intent_needing_another_card(ctx, number, message):
    processor = SandboxProcessor()
    intent = _charge(processor, number, f"decline-{number}")
    assert intent.state is IntentState.REQUIRES_PAYMENT_METHOD
    assert intent.decline_message == message and intent.charge_id is None
    assert _event_types(processor, intent.id) == ["payment_intent.payment_failed"]
    again = processor.confirm_payment_intent(intent.id, _card(processor, "4242424242424242"), "retry-with-visa")
    assert again.succeeded and again.decline_message is None


def test_the_3ds_card_asks_for_authentication_then_succeeds(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, THREE_D_SECURE, "pay-3ds")
    assert intent.state is IntentState.REQUIRES_ACTION
    assert intent.next_action_url == f"/sandbox-processor/authenticate/{intent.id}"
    assert _event_types(processor, intent.id) == []  # nothing happened yet
    assert processor.authenticate(intent.id, completed=True).succeeded
    assert _event_types(processor, intent.id) == ["payment_intent.succeeded"]


def test_a_cancelled_authentication_takes_nothing(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, THREE_D_SECURE, "pay-3ds-cancel")
    after = processor.authenticate(intent.id, completed=False)
    assert after.state is IntentState.REQUIRES_PAYMENT_METHOD and after.charge_id is None
    assert "authentication was cancelled" in after.decline_message
    assert _event_types(processor, intent.id) == ["payment_intent.payment_failed"]
    assert processor.cancel_payment_intent(intent.id, "give-up").state is IntentState.CANCELED
    assert _event_types(processor, intent.id)[-1] == "payment_intent.canceled"


@pytest.mark.parametrize(("number", "month", "year", "cvc", "field"), [
    ("4242424242424241", 12, NEXT_YEAR, "123", "number"),  # fails Luhn
    ("4242424242424242", 1, 2020, "123", "exp_year"),  # expired
    ("4242424242424242", 13, NEXT_YEAR, "123", "exp_month"),
    ("4242424242424242", 12, NEXT_YEAR, "12", "cvc"),
    ("378282246310005", 12, NEXT_YEAR, "123", "cvc"),  # an Amex CVC has 4 digits
    ("6011111111111117", 12, NEXT_YEAR, "123", "number"),  # Discover: the portal's account takes three brands
])
def test_bad_card_details_are_refused_beside_their_field(ctx, number, month, year, cvc, field):
    with pytest.raises(CardError) as refused:
        SandboxProcessor().create_payment_method(number, month, year, cvc)
    assert list(refused.value.errors) == [field]
    assert db.session.scalar(select(func.count()).select_from(SandboxPaymentMethod)) == 0


def test_a_repeated_idempotency_key_returns_the_first_answer(ctx):
    processor = SandboxProcessor()
    method = _card(processor, "4242424242424242")
    first = processor.create_payment_intent(900, "USD", "order-7", payment_method_id=method, confirm=True)
    again = processor.create_payment_intent(900, "USD", "order-7", payment_method_id=method, confirm=True)
    assert again == first
    assert db.session.scalar(select(func.count()).select_from(SandboxIntent)) == 1
    with pytest.raises(ProcessorError, match="used for create_payment_intent"):
        processor.refund(first.id, 100, "order-7")


def test_a_refused_request_frees_its_key(ctx):
    processor = SandboxProcessor()
    with pytest.raises(ProcessorError):
        processor.create_payment_intent(0, "USD", "zero-first")
    assert processor.create_payment_intent(100, "USD", "zero-first").amount_minor == 100


def test_concurrent_duplicates_create_one_intent(app):
    processor, answers = SandboxProcessor(), []
    barrier = threading.Barrier(4)

    def create():
        with app.app_context():
            barrier.wait()
            answers.append(processor.create_payment_intent(1_000, "USD", "same-click"))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and len({answer.id for answer in answers}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SandboxIntent)) == 1


def test_a_saved_card_is_charged_off_session(ctx):
    processor = SandboxProcessor()
    setup = processor.create_setup_intent("save-1", customer_id="org-5")
    assert setup.state is IntentState.REQUIRES_PAYMENT_METHOD and setup.amount_minor == 0
    saved = processor.confirm_setup_intent(setup.id, _card(processor, "5555555555554444"), "save-1-confirm")
    assert saved.succeeded and processor.retrieve_setup_intent(setup.id).succeeded
    assert _event_types(processor, setup.id) == ["setup_intent.succeeded"]
    renewal = processor.create_payment_intent(4_900, "USD", "renewal-2027-01",
                                              payment_method_id=saved.payment_method_id, customer_id="org-5",
                                              off_session=True, confirm=True)
    assert renewal.succeeded
    with pytest.raises(UnknownObject):
        processor.retrieve_payment_intent(setup.id)  # a setup intent is not a payment intent


def test_the_3ds_card_off_session_needs_the_buyer_back(ctx):
    processor = SandboxProcessor()
    setup = processor.create_setup_intent("save-3ds", customer_id="org-6")
    saved = processor.confirm_setup_intent(setup.id, _card(processor, THREE_D_SECURE), "save-3ds-confirm")
    assert saved.state is IntentState.REQUIRES_ACTION
    assert processor.authenticate(setup.id, completed=True).succeeded
    renewal = processor.create_payment_intent(4_900, "USD", "renewal-3ds", payment_method_id=saved.payment_method_id,
                                              customer_id="org-6", off_session=True, confirm=True)
    assert renewal.state is IntentState.REQUIRES_ACTION and renewal.next_action_url
    assert processor.authenticate(renewal.id, completed=True).succeeded  # the buyer came back


def test_refunds_partial_then_full_never_more_than_taken(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, "4242424242424242", "to-refund")
    first = processor.refund(intent.id, 1_000, "refund-1")
    assert (first.amount_minor, first.status) == (1_000, "succeeded")
    assert processor.refund(intent.id, 1_000, "refund-1") == first  # the same key: the same refund
    with pytest.raises(ProcessorError, match="more than what is left"):
        processor.refund(intent.id, 1_501, "refund-2")
    processor.refund(intent.id, 1_500, "refund-2")
    assert processor.refunded_minor(intent.id) == 2_500
    with pytest.raises(ProcessorError):
        processor.refund(intent.id, 1, "refund-3")
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 2
    assert _event_types(processor, intent.id).count("charge.refunded") == 2


def test_an_unpaid_intent_cannot_be_refunded(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, "4000000000000002", "declined-refund")
    with pytest.raises(ProcessorError, match="Only a succeeded payment"):
        processor.refund(intent.id, 100, "refund-declined")


def test_a_signed_webhook_verifies_and_names_its_intent(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, "4242424242424242", "hooked")
    event_id, _ = processor.events(intent.id)[0]
    payload, headers = processor.signed_request(event_id)
    event = processor.verify_webhook(payload, headers)
    assert (event.id, event.type, event.intent) == (event_id, "payment_intent.succeeded", intent)
    assert processor.verify_webhook(payload, {k.title(): v for k, v in headers.items()}).id == event_id


def test_a_tampered_or_old_webhook_is_refused(ctx):
    processor = SandboxProcessor()
    intent = _charge(processor, "4242424242424242", "hooked-bad")
    event_id, _ = processor.events(intent.id)[0]
    payload, headers = processor.signed_request(event_id)
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload.replace(b"2500", b"9999"), headers)
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload, {**headers, "webhook-id": "evt_other"})
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload, {**headers, "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"})
    old_payload, old_headers = processor.signed_request(event_id, timestamp=int(time.time()) - 301)
    with pytest.raises(SignatureError, match="5 minutes"):
        processor.verify_webhook(old_payload, old_headers)


def test_a_webhook_signed_with_another_secret_is_refused(app, ctx, monkeypatch):
    processor = SandboxProcessor()
    intent = _charge(processor, "4242424242424242", "hooked-secret")
    payload, headers = processor.signed_request(processor.events(intent.id)[0][0])
    monkeypatch.setitem(app.config, "SANDBOX_WEBHOOK_SECRET", "whsec_b3RoZXItc2VjcmV0")
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload, headers)


def test_the_card_number_and_cvc_are_never_stored_or_logged(ctx, caplog):
    processor = SandboxProcessor()
    caplog.set_level(logging.DEBUG)
    intent = _charge(processor, "4000 0000 0000 9995", "secret-number", cvc="987")
    processor.confirm_payment_intent(intent.id, _card(processor, "4000002760003184", "987"), "again")
    with pytest.raises(CardError):
        processor.create_payment_method("4000000000009995", 1, 2001, "987")
    models = (SandboxPaymentMethod, SandboxIntent, SandboxRefund, SandboxIdempotency, SandboxEvent)
    with db.engine.connect() as conn:
        dump = " ".join(str(tuple(row)) for model in models for row in conn.execute(select(model.__table__)))
    assert "'3184'" in dump and "'9995'" in dump  # the dump holds the cards' last four…
    for number in ("4000000000009995", "4000002760003184"):
        assert number not in dump  # …but never a number
        assert number not in caplog.text
    assert "'987'" not in dump and '"987"' not in dump  # nor the CVC (the ids' hex may hold the digits)


def test_the_sandbox_offers_every_call_of_the_processor_interface_as_it_is_written():
    from portal.payments.processor import Processor

    calls = [name for name in vars(Processor) if not name.startswith("_")]
    assert "create_payment_intent" in calls and len(calls) >= 10
    for name in calls:
        wanted = inspect.signature(getattr(Processor, name))
        offered = inspect.signature(getattr(SandboxProcessor, name))
        assert list(offered.parameters) == list(wanted.parameters), name
        assert [p.kind for p in offered.parameters.values()] == [p.kind for p in wanted.parameters.values()], name
