"""The Stripe adapter against a local stand-in of Stripe's API (tests/payments/fake_stripe.py): the official SDK
talks to 127.0.0.1 only."""

from __future__ import annotations

import inspect
import json
import time
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import stripe

from portal.config import ConfigError, Settings
from portal.payments.processor import IntentState, Processor, ProcessorError, SignatureError
from portal.payments.stripe_processor import StripeProcessor
from portal.security import content_security_policy
from tests.payments.fake_stripe import FakeStripe

WEBHOOK_SECRET = "whsec_test_portal"  # noqa: S105 - the fake endpoint's signing secret
RETURN_URL = "https://portal.example/checkout/return"


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def processor(fake):
    return StripeProcessor(fake.secret_key, fake.publishable_key, WEBHOOK_SECRET, api_base=fake.url)


def browser(fake: FakeStripe, url: str, data: dict, key: str | None = None) -> dict:
    """A POST as Stripe.js (publishable key) or the buyer on Stripe's pages would send it."""
    url = url if url.startswith("http") else fake.url + url
    assert url.startswith(fake.url + "/")  # nothing beyond 127.0.0.1
    request = urllib.request.Request(url, data=urlencode(data).encode(), method="POST")  # noqa: S310
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request) as answer:  # noqa: S310 - the fake on 127.0.0.1
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def card(fake: FakeStripe, number: str) -> str:
    """A payment method made in the buyer's browser from a card number (the portal never sees it)."""
    made = browser(fake, "/v1/payment_methods", {"type": "card", "card[number]": number, "card[exp_month]": "8",
                                                 "card[exp_year]": "2031", "card[cvc]": "123"}, fake.publishable_key)
    return made["id"]


def last_request(fake: FakeStripe, method: str, path_start: str) -> dict:
    return [r for r in fake.requests if r["method"] == method and r["path"].startswith(path_start)][-1]


def test_a_card_payment_is_created_then_confirmed_and_succeeds(fake, processor):
    intent = processor.create_payment_intent(4900, "EUR", "order-1", metadata={"order": "1"})
    assert intent.state is IntentState.REQUIRES_PAYMENT_METHOD
    assert (intent.amount_minor, intent.currency, intent.metadata) == (4900, "EUR", {"order": "1"})
    assert intent.client_secret.startswith(intent.id + "_secret_")
    sent = last_request(fake, "POST", "/v1/payment_intents")
    assert sent["params"]["payment_method_types"] == ["card"] and "automatic_payment_methods" not in sent["params"]
    assert sent["params"]["currency"] == "eur" and sent["idempotency_key"] == "order-1"

    method = card(fake, "4242 4242 4242 4242")
    paid = processor.confirm_payment_intent(intent.id, method, "order-1-confirm", return_url=RETURN_URL)
    assert paid.succeeded and paid.payment_method_id == method and paid.charge_id.startswith("ch_")
    assert last_request(fake, "POST", f"/v1/payment_intents/{intent.id}/confirm")["idempotency_key"] == \
        "order-1-confirm"
    assert processor.retrieve_payment_intent(intent.id) == paid
    details = processor.retrieve_card(method)
    assert (details.brand, details.last4, details.exp_month, details.exp_year) == ("visa", "4242", 8, 2031)


@pytest.mark.parametrize(("number", "message"), [("4000000000000002", "Your card was declined."),
                                                 ("4000000000009995", "Your card has insufficient funds.")])
def test_a_declined_card_leaves_the_intent_waiting_for_another_card_with_the_banks_reason(fake, processor, number,
                                                                                          message):
    intent = processor.create_payment_intent(1500, "USD", "order-2")
    declined = processor.confirm_payment_intent(intent.id, card(fake, number), "order-2-confirm",
                                                return_url=RETURN_URL)
    assert declined.state is IntentState.REQUIRES_PAYMENT_METHOD and not declined.succeeded
    assert declined.decline_message == message and declined.charge_id.startswith("ch_")

    paid = processor.confirm_payment_intent(intent.id, card(fake, "5555555555554444"), "order-2-retry",
                                            return_url=RETURN_URL)
    assert paid.succeeded and paid.decline_message is None


def test_a_card_needing_3ds_asks_the_buyer_then_succeeds_once_authenticated(fake, processor):
    intent = processor.create_payment_intent(9900, "EUR", "order-3")
    asked = processor.confirm_payment_intent(intent.id, card(fake, "4000002760003184"), "order-3-confirm",
                                             return_url=RETURN_URL)
    assert asked.state is IntentState.REQUIRES_ACTION and asked.next_action_url.startswith(fake.url)
    assert asked.charge_id is None

    browser(fake, asked.next_action_url, {"outcome": "complete"})
    assert processor.retrieve_payment_intent(intent.id).succeeded


def test_an_abandoned_3ds_authentication_takes_nothing_and_the_intent_can_be_cancelled(fake, processor):
    intent = processor.create_payment_intent(9900, "EUR", "order-4")
    asked = processor.confirm_payment_intent(intent.id, "pm_card_threeDSecure2Required", "order-4-confirm",
                                             return_url=RETURN_URL)
    browser(fake, asked.next_action_url, {"outcome": "fail"})
    failed = processor.retrieve_payment_intent(intent.id)
    assert failed.state is IntentState.REQUIRES_PAYMENT_METHOD and "unable to authenticate" in failed.decline_message

    canceled = processor.cancel_payment_intent(intent.id, "order-4-cancel")
    assert canceled.state is IntentState.CANCELED
    assert processor.cancel_payment_intent(intent.id, "order-4-cancel") == canceled  # a replay, not an error
    assert not fake.events_of("payment_intent.succeeded")


def test_a_succeeded_intent_cannot_be_cancelled(fake, processor):
    paid = processor.create_payment_intent(500, "EUR", "order-5", payment_method_id="pm_card_visa", confirm=True,
                                           return_url=RETURN_URL)
    assert paid.succeeded
    with pytest.raises(ProcessorError):  # Stripe's refusal, as the processor interface says it
        processor.cancel_payment_intent(paid.id, "order-5-cancel")


def test_a_card_saved_with_a_setup_intent_is_charged_off_session(fake, processor):
    setup = processor.create_setup_intent("save-card-1", customer_id="cus_dave", metadata={"org": "7"})
    assert setup.state is IntentState.REQUIRES_PAYMENT_METHOD and setup.amount_minor == 0
    assert last_request(fake, "POST", "/v1/setup_intents")["params"]["usage"] == "off_session"

    method = card(fake, "5555 5555 5555 4444")
    browser(fake, f"/v1/setup_intents/{setup.id}/confirm", {"payment_method": method, "client_secret":
                                                             setup.client_secret}, fake.publishable_key)
    saved = processor.retrieve_setup_intent(setup.id)
    assert saved.succeeded and saved.payment_method_id == method
    refused = browser(fake, f"/v1/setup_intents/{setup.id}/confirm", {"payment_method": method},
                      fake.publishable_key)  # without the client secret, a publishable key confirms nothing
    assert refused["error"]["param"] == "client_secret"
    assert processor.retrieve_card(method).brand == "mastercard"

    renewal = processor.create_payment_intent(12000, "EUR", "renewal-1", payment_method_id=method,
                                              customer_id="cus_dave", off_session=True, confirm=True)
    assert renewal.succeeded and renewal.amount_minor == 12000
    sent = last_request(fake, "POST", "/v1/payment_intents")["params"]
    assert (sent["off_session"], sent["confirm"], sent["customer"]) == ("true", "true", "cus_dave")
    assert "return_url" not in sent


def test_a_saved_card_that_needs_authentication_off_session_waits_for_the_buyer(fake, processor):
    setup = processor.create_setup_intent("save-card-2", customer_id="cus_erin")
    method = card(fake, "4000 0027 6000 3184")
    confirmed = browser(fake, f"/v1/setup_intents/{setup.id}/confirm",
                        {"payment_method": method, "return_url": RETURN_URL, "client_secret": setup.client_secret},
                        fake.publishable_key)
    browser(fake, confirmed["next_action"]["redirect_to_url"]["url"], {"outcome": "complete"})
    assert processor.retrieve_setup_intent(setup.id).succeeded

    renewal = processor.create_payment_intent(12000, "EUR", "renewal-2", payment_method_id=method,
                                              customer_id="cus_erin", off_session=True, confirm=True)
    assert renewal.state is IntentState.REQUIRES_ACTION and renewal.next_action_url is None
    assert renewal.payment_method_id == method and "requires authentication" in renewal.decline_message

    back = processor.confirm_payment_intent(renewal.id, method, "renewal-2-on-session", return_url=RETURN_URL)
    assert back.state is IntentState.REQUIRES_ACTION and back.next_action_url
    browser(fake, back.next_action_url, {"outcome": "complete"})
    assert processor.retrieve_payment_intent(renewal.id).succeeded


def test_refunds_give_back_part_then_the_rest_and_never_more_than_was_taken(fake, processor):
    paid = processor.create_payment_intent(10000, "EUR", "order-6", payment_method_id="pm_card_visa", confirm=True,
                                           return_url=RETURN_URL)
    part = processor.refund(paid.id, 2500, "refund-6a")
    assert (part.amount_minor, part.status) == (2500, "succeeded") and part.id.startswith("re_")
    assert processor.refund(paid.id, 2500, "refund-6a") == part  # the same key: the first refund, not a second
    with pytest.raises(ProcessorError, match="greater than"):
        processor.refund(paid.id, 7501, "refund-6b")
    assert processor.refund(paid.id, 7500, "refund-6c").amount_minor == 7500
    assert len(fake.events_of("charge.refunded")) == 2


def test_a_repeated_idempotency_key_returns_the_first_answer(fake, processor):
    first = processor.create_payment_intent(700, "EUR", "order-7", payment_method_id="pm_card_chargeDeclined",
                                            confirm=True, return_url=RETURN_URL)
    again = processor.create_payment_intent(700, "EUR", "order-7", payment_method_id="pm_card_chargeDeclined",
                                            confirm=True, return_url=RETURN_URL)
    assert again == first and first.decline_message == "Your card was declined."
    assert [r["replayed"] for r in fake.requests if r["idempotency_key"] == "order-7"] == [False, True]
    assert len([o for o in fake.objects.values() if o["object"] == "payment_intent"]) == 1
    with pytest.raises(stripe.IdempotencyError):
        processor.create_payment_intent(800, "EUR", "order-7")


def test_webhook_events_signed_with_the_endpoint_secret_are_verified(fake, processor):
    paid = processor.create_payment_intent(4900, "EUR", "order-8", payment_method_id="pm_card_visa", confirm=True,
                                           return_url=RETURN_URL, metadata={"order": "8"})
    event = fake.events_of("payment_intent.succeeded")[0]
    verified = processor.verify_webhook(*fake.sign(event, WEBHOOK_SECRET))
    assert (verified.id, verified.type) == (event["id"], "payment_intent.succeeded")
    assert verified.intent.id == paid.id and verified.intent.succeeded and verified.intent.metadata == {"order": "8"}

    processor.refund(paid.id, 4900, "refund-8")
    refunded = processor.verify_webhook(*fake.sign(fake.events_of("charge.refunded")[0], WEBHOOK_SECRET))
    assert refunded.type == "charge.refunded" and refunded.intent.id == paid.id


def test_a_tampered_stale_or_unsigned_webhook_is_refused(fake, processor):
    processor.create_payment_intent(4900, "EUR", "order-9", payment_method_id="pm_card_visa", confirm=True,
                                    return_url=RETURN_URL)
    event = fake.events_of("payment_intent.succeeded")[0]
    payload, headers = fake.sign(event, WEBHOOK_SECRET)
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload.replace(b'"amount": 4900', b'"amount": 1'), headers)
    with pytest.raises(SignatureError):
        processor.verify_webhook(*fake.sign(event, "whsec_someone_else"))
    with pytest.raises(SignatureError):
        processor.verify_webhook(*fake.sign(event, WEBHOOK_SECRET, timestamp=int(time.time()) - 600))
    with pytest.raises(SignatureError):
        processor.verify_webhook(payload, {"Content-Type": "application/json"})


def test_a_buyer_without_javascript_pays_on_checkout_and_comes_back_with_its_payment_intent(fake, processor):
    intent = processor.create_payment_intent(2599, "EUR", "order-10", metadata={"order": "10"})
    url = processor.hosted_page_url(intent, RETURN_URL + "?order=10")
    assert processor.hosted_page_url(intent, RETURN_URL + "?order=10") == url  # reopening finds the same session
    sent = last_request(fake, "POST", "/v1/checkout/sessions")["params"]
    assert sent["mode"] == "payment" and sent["payment_method_types"] == ["card"]
    assert sent["line_items"][0]["price_data"]["unit_amount"] == "2599"
    assert sent["line_items"][0]["price_data"]["currency"] == "eur"
    assert sent["cancel_url"] == f"{RETURN_URL}?order=10&payment_intent={intent.id}"

    back = browser(fake, url, {"payment_method": "pm_card_visa"})["redirect"]
    query = parse_qs(urlsplit(back).query)
    assert query["order"] == ["10"] and query["payment_intent"][0].startswith("cs_")
    paid = processor.retrieve_payment_intent(query["payment_intent"][0])
    assert paid.succeeded and (paid.amount_minor, paid.currency) == (2599, "EUR")
    assert paid.metadata == {"order": "10", "replaces_payment_intent": intent.id}

    completed = processor.verify_webhook(*fake.sign(fake.events_of("checkout.session.completed")[0], WEBHOOK_SECRET))
    assert completed.intent.id == paid.id


def test_a_card_is_saved_on_checkout_for_a_buyer_without_javascript(fake, processor):
    setup = processor.create_setup_intent("save-card-3", metadata={"org": "7"})
    url = processor.hosted_page_url(setup, RETURN_URL)
    assert last_request(fake, "POST", "/v1/checkout/sessions")["params"]["mode"] == "setup"
    back = browser(fake, url, {"payment_method": "pm_card_visa"})["redirect"]
    saved = processor.retrieve_setup_intent(parse_qs(urlsplit(back).query)["payment_intent"][0])
    assert saved.succeeded and saved.metadata["org"] == "7"
    assert processor.retrieve_card(saved.payment_method_id).last4 == "4242"


def test_a_wrong_secret_key_is_refused_and_the_keys_stay_out_of_the_repr(fake):
    wrong = StripeProcessor("sk_test_wrong", fake.publishable_key, WEBHOOK_SECRET, api_base=fake.url)
    with pytest.raises(stripe.AuthenticationError):
        wrong.create_payment_intent(100, "EUR", "order-11")
    assert "sk_test" not in repr(wrong) and WEBHOOK_SECRET not in repr(wrong)


def test_cards_go_to_stripe_checkout_and_the_csp_admits_only_its_documented_redirects(processor, fake):
    """No Stripe.js on the portal's pages (cards are entered on Stripe Checkout): the policy adds only the pages a
    payment form's answer redirects to, Checkout and 3-D Secure."""
    side = processor.browser_side()
    assert side.script_url == "" and side.fields_url == "" and side.publishable_key == fake.publishable_key
    assert (side.script_origins, side.frame_origins, side.connect_origins) == ((), (), ())
    assert set(side.form_origins) == {"https://checkout.stripe.com", "https://hooks.stripe.com"}
    policy = dict(part.split(" ", 1) for part in content_security_policy(side).split("; "))
    assert policy["form-action"] == "'self' https://checkout.stripe.com https://hooks.stripe.com"
    assert policy["script-src"] == policy["connect-src"] == policy["frame-src"] == "'self'"


def test_the_adapter_has_every_method_of_the_processor_interface_with_its_parameters():
    for name, method in inspect.getmembers(Processor, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(StripeProcessor, name)).parameters.keys() == \
                inspect.signature(method).parameters.keys(), name


# Settings

STRIPE_ENV = {"STRIPE_SECRET_KEY": "sk_test_env", "STRIPE_PUBLISHABLE_KEY": "pk_test_env",
              "STRIPE_WEBHOOK_SECRET": "whsec_env"}


@pytest.fixture
def environ(monkeypatch):
    for name in ("PAYMENT_GATEWAY", *STRIPE_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_sandbox_stays_the_default_gateway(environ):
    settings = Settings.from_environ()
    assert settings.payment_gateway == "sandbox" and settings.stripe_secret_key == ""


def test_stripe_needs_all_three_keys_and_the_error_names_the_missing_ones_only(environ):
    environ.setenv("PAYMENT_GATEWAY", "stripe")
    environ.setenv("STRIPE_SECRET_KEY", "sk_test_do_not_print")
    with pytest.raises(ConfigError) as refused:
        Settings.from_environ()
    assert "STRIPE_PUBLISHABLE_KEY" in str(refused.value) and "STRIPE_WEBHOOK_SECRET" in str(refused.value)
    assert "STRIPE_SECRET_KEY" not in str(refused.value) and "sk_test_do_not_print" not in str(refused.value)


def test_an_unknown_gateway_is_refused(environ):
    environ.setenv("PAYMENT_GATEWAY", "paypal")
    with pytest.raises(ConfigError, match="PAYMENT_GATEWAY"):
        Settings.from_environ()


def test_stripe_settings_reach_the_flask_config_but_not_the_settings_repr(environ):
    environ.setenv("PAYMENT_GATEWAY", "Stripe")
    for name, value in STRIPE_ENV.items():
        environ.setenv(name, value)
    settings = Settings.from_environ()
    config = Settings(**{**settings.__dict__, "secret_key": "x" * 40}).as_flask_config()
    assert config["PAYMENT_GATEWAY"] == "stripe"
    assert {name: config[name] for name in STRIPE_ENV} == STRIPE_ENV
    assert not any(value in repr(settings) for value in STRIPE_ENV.values())
