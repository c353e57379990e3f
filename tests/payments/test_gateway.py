"""The card gateway the payment features charge through (portal.payments.gateway.CardGateway), over the embedded
sandbox processor: approving test cards are charged, declining ones take nothing, a repeated idempotency key never
charges twice, a 3-D Secure card or the hosted page waits for the buyer, and a charge whose order could not be
saved is voided (cancelled if nothing was taken, else refunded whole), harmlessly twice. The processor's own
checks of card numbers are tested in tests/sandbox_processor/test_processor.py."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.payments.gateway import CardGateway, ChargeStatus, gateway, processor
from portal.payments.processor import IntentState
from portal.sandbox_processor.models import SandboxIntent, SandboxRefund
from portal.sandbox_processor.processor import SandboxProcessor, sandbox_processor
from tests.factories import processor_card

VISA, MASTERCARD, AMEX = "4242 4242 4242 4242", "5555 5555 5555 4444", "3782 822463 10005"
DECLINED, INSUFFICIENT_FUNDS, THREE_D_SECURE = "4000 0000 0000 0002", "4000 0000 0000 9995", "4000 0027 6000 3184"
RETURN_URL = "http://portal.test/checkout/return"


@pytest.fixture
def cards(ctx) -> CardGateway:
    return CardGateway(sandbox_processor())


def _intent(intent_id: str) -> SandboxIntent:
    db.session.expire_all()  # the processor writes on a connection of its own
    return db.session.get(SandboxIntent, intent_id)


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- charging


@pytest.mark.parametrize(("number", "brand"), [(VISA, "visa"), (MASTERCARD, "mastercard"), (AMEX, "amex")])
def test_an_approving_card_is_charged_once_as_a_succeeded_payment_intent(cards, number, brand):
    method = processor_card(number)
    result = cards.charge(method, 12_345, "USD", f"approve-{brand}", return_url=RETURN_URL)
    assert result.approved and result.status is ChargeStatus.APPROVED
    assert result.charge_id.startswith("pi_sandbox_") and result.payment_method_id == method
    row = _intent(result.charge_id)
    assert (row.kind, row.state, row.amount_minor, row.currency) == ("payment", IntentState.SUCCEEDED, 12_345, "USD")
    assert (row.amount_refunded_minor, row.metadata_["idempotency_key"]) == (0, f"approve-{brand}")
    card = cards.card(method)
    assert (card.brand, card.last4) == (brand, number[-4:])


@pytest.mark.parametrize(("number", "says"), [(DECLINED, "declined by its bank"),
                                              (INSUFFICIENT_FUNDS, "insufficient funds")])
def test_a_declined_card_takes_nothing_and_voiding_cancels_its_intent(cards, number, says):
    result = cards.charge(processor_card(number), 12_345, "USD", f"decline-{number}", return_url=RETURN_URL)
    assert result.status is ChargeStatus.DECLINED and not result.approved
    assert says in result.message
    assert _intent(result.charge_id).state is IntentState.REQUIRES_PAYMENT_METHOD

    cards.void(result.charge_id)

    row = _intent(result.charge_id)
    assert (row.state, row.amount_refunded_minor) == (IntentState.CANCELED, 0)
    assert cards.outcome(result.charge_id).status is ChargeStatus.VOIDED
    assert _count(SandboxRefund) == 0


def test_the_same_idempotency_key_answers_with_the_same_intent_and_charges_once(cards):
    method = processor_card(VISA)
    first = cards.charge(method, 10_000, "USD", "checkout-1-abc")
    again = cards.charge(method, 10_000, "USD", "checkout-1-abc")
    assert again == first and first.approved
    assert _count(SandboxIntent) == 1


def test_a_repeated_key_answers_with_the_first_intent_whatever_the_second_request_asks(cards):
    first = cards.charge(processor_card(VISA), 10_000, "USD", "checkout-1-abc")
    again = cards.charge(processor_card(MASTERCARD), 99_999, "USD", "checkout-1-abc")
    assert again.charge_id == first.charge_id and again.payment_method_id == first.payment_method_id
    assert _intent(first.charge_id).amount_minor == 10_000
    assert _count(SandboxIntent) == 1


def test_a_repeated_key_of_a_declined_charge_answers_declined_again_without_trying_another_card(cards):
    first = cards.charge(processor_card(DECLINED), 10_000, "USD", "checkout-1-abc")
    again = cards.charge(processor_card(VISA), 10_000, "USD", "checkout-1-abc")
    assert (again.status, again.charge_id) == (ChargeStatus.DECLINED, first.charge_id)
    assert _intent(first.charge_id).state is IntentState.REQUIRES_PAYMENT_METHOD


def test_different_keys_are_different_charges(cards):
    method = processor_card(VISA)
    first = cards.charge(method, 10_000, "USD", "checkout-1-abc")
    second = cards.charge(method, 10_000, "USD", "checkout-1-def")
    assert first.charge_id != second.charge_id and first.approved and second.approved
    assert _count(SandboxIntent) == 2


# ---------------------------------------------------------------- waiting for the buyer


def test_a_3d_secure_card_leaves_the_charge_open_until_the_buyer_authenticates(cards):
    result = cards.charge(processor_card(THREE_D_SECURE), 5_000, "USD", "checkout-3ds", return_url=RETURN_URL)
    assert result.status is ChargeStatus.OPEN and not result.approved
    assert result.action_url == f"/sandbox-processor/authenticate/{result.charge_id}"
    assert _intent(result.charge_id).state is IntentState.REQUIRES_ACTION

    sandbox_processor().authenticate(result.charge_id, completed=True)

    assert cards.outcome(result.charge_id).approved
    assert cards.find_charge("checkout-3ds").approved


def test_a_3d_secure_charge_off_session_is_open_too(cards):
    result = cards.charge(processor_card(THREE_D_SECURE), 5_000, "USD", "renewal-3ds", off_session=True)
    assert result.status is ChargeStatus.OPEN and result.action_url.startswith("/sandbox-processor/authenticate/")
    assert _intent(result.charge_id).off_session is True


def test_voiding_an_open_charge_cancels_it_so_that_the_buyer_cannot_pay_it_later(cards):
    result = cards.charge(processor_card(THREE_D_SECURE), 5_000, "USD", "checkout-3ds", return_url=RETURN_URL)

    cards.void(result.charge_id)
    sandbox_processor().authenticate(result.charge_id, completed=True)  # too late: nothing happens

    row = _intent(result.charge_id)
    assert (row.state, row.amount_refunded_minor) == (IntentState.CANCELED, 0)
    assert cards.outcome(result.charge_id).status is ChargeStatus.VOIDED


def test_a_hosted_payment_sends_the_buyer_to_the_processors_page_and_back_to_the_return_url(cards):
    result, url = cards.hosted_payment(7_500, "USD", "checkout-hosted", RETURN_URL, {"purpose": "checkout"})
    assert result.status is ChargeStatus.OPEN and result.charge_id.startswith("pi_sandbox_")
    assert url == f"/sandbox-processor/pay/{result.charge_id}"
    row = _intent(result.charge_id)
    assert (row.state, row.amount_minor, row.return_url) == (IntentState.REQUIRES_PAYMENT_METHOD, 7_500, RETURN_URL)
    assert row.metadata_ == {"purpose": "checkout", "idempotency_key": "checkout-hosted"}
    again, same_url = cards.hosted_payment(7_500, "USD", "checkout-hosted", RETURN_URL)
    assert (again.charge_id, same_url) == (result.charge_id, url) and _count(SandboxIntent) == 1

    sandbox_processor().confirm_payment_intent(result.charge_id, processor_card(VISA), "confirm-hosted")

    assert cards.outcome(result.charge_id).approved


# ---------------------------------------------------------------- voids, refunds, finding a charge


def test_voiding_a_succeeded_charge_refunds_it_whole_and_voiding_twice_does_no_harm(cards):
    result = cards.charge(processor_card(VISA), 10_000, "USD", "checkout-1-abc")

    cards.void(result.charge_id)
    row = _intent(result.charge_id)
    assert (row.state, row.amount_refunded_minor) == (IntentState.SUCCEEDED, row.amount_minor)
    cards.void(result.charge_id)

    assert _intent(result.charge_id).amount_refunded_minor == 10_000
    assert _count(SandboxRefund) == 1


def test_a_charge_is_found_by_its_idempotency_key_as_it_stands_now(cards):
    assert cards.find_charge("never-charged") is None
    charge = cards.charge(processor_card(VISA), 1_000, "USD", "k-1")
    assert cards.find_charge("k-1") == charge and charge.approved

    declined = cards.charge(processor_card(DECLINED), 1_000, "USD", "k-2")
    cards.void(declined.charge_id)

    found = cards.find_charge("k-2")
    assert (found.status, found.charge_id) == (ChargeStatus.VOIDED, declined.charge_id)
    assert cards.find_charge("k-1").charge_id == charge.charge_id


def test_part_of_a_charge_is_refunded_once_per_key(cards):
    charge = cards.charge(processor_card(VISA), 10_000, "USD", "invoice-1")

    refund_id = cards.refund(charge.charge_id, 2_500, "credit-note-1")
    assert refund_id.startswith("re_sandbox_")
    assert cards.refund(charge.charge_id, 2_500, "credit-note-1") == refund_id

    row = _intent(charge.charge_id)
    assert (row.state, row.amount_refunded_minor) == (IntentState.SUCCEEDED, 2_500)
    assert cards.outcome(charge.charge_id).approved  # still taken, less what was given back
    assert cards.refund(charge.charge_id, 7_500, "credit-note-2") != refund_id
    assert _intent(charge.charge_id).amount_refunded_minor == 10_000


def test_the_app_charges_through_the_sandbox_processor_until_stripe_is_configured(ctx):
    assert isinstance(gateway(), CardGateway)
    assert isinstance(processor(), SandboxProcessor) and processor() is sandbox_processor()
    assert gateway().processor is processor()
