"""The Stripe adapter's lookups the portal's payment attempts rely on (against tests/payments/fake_stripe.py): an
intent found again by the idempotency key it was created under (what `payments reconcile` asks after a process
died), and a card set up from the buyer's browser."""

from __future__ import annotations

import pytest

from portal.payments.gateway import CardGateway, ChargeStatus
from portal.payments.processor import IntentState
from portal.payments.stripe_processor import StripeProcessor
from tests.payments.fake_stripe import FakeStripe
from tests.payments.test_stripe_processor import WEBHOOK_SECRET, card


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def processor(fake):
    return StripeProcessor(fake.secret_key, fake.publishable_key, WEBHOOK_SECRET, api_base=fake.url)


def test_a_charge_is_found_again_by_its_idempotency_key(fake, processor):
    gateway = CardGateway(processor)
    charged = gateway.charge(card(fake, "4242424242424242"), 1_999, "USD", "checkout-7-abc")
    assert charged.status is ChargeStatus.APPROVED
    found = gateway.find_charge("checkout-7-abc")
    assert (found.status, found.charge_id) == (ChargeStatus.APPROVED, charged.charge_id)
    assert gateway.find_charge("checkout-7-never") is None


def test_a_voided_charge_is_refunded_whole_once(fake, processor):
    gateway = CardGateway(processor)
    charged = gateway.charge(card(fake, "4242424242424242"), 2_500, "USD", "invoice-9-abc")
    gateway.void(charged.charge_id)
    gateway.void(charged.charge_id)  # twice: the refund's idempotency key is the charge's
    refunds = [r for r in fake.requests if r["path"] == "/v1/refunds" and not r.get("replayed")]
    assert [(r["params"]["payment_intent"], r["params"]["amount"]) for r in refunds] == [
        (charged.charge_id, "2500")]


def test_a_card_set_up_in_the_browser_is_confirmed_with_its_payment_method(fake, processor):
    intent = processor.create_setup_intent("setup-1", metadata={"organization_id": "3"})
    method = card(fake, "4242424242424242")
    confirmed = processor.confirm_setup_intent(intent.id, method, "setup-1-confirm")
    assert confirmed.state is IntentState.SUCCEEDED and confirmed.payment_method_id == method
    assert processor.retrieve_card(method).last4 == "4242"
