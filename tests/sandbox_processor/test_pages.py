"""The processor's pages, as a buyer without JavaScript meets them: the hosted payment page takes the card and
sends the buyer back to the portal (through the 3-D Secure step when the card asks for it), errors sit beside
their field, the hosted fields' JSON API answers with a payment method id only, and every page is CSP-clean."""

from __future__ import annotations

import logging
import re
from datetime import date

import pytest

from portal.payments.processor import IntentState
from portal.sandbox_processor.processor import DECLINED, DEV_PUBLISHABLE_KEY, SandboxProcessor

NEXT_YEAR = str(date.today().year + 1)
RETURN_URL = "/checkout/return?cart=abc"


def _hosted_page(app, amount: int = 4_200, setup: bool = False) -> tuple[str, str]:
    """A new intent and the URL of its hosted page (what the portal would redirect the buyer to)."""
    with app.app_context():
        processor = SandboxProcessor()
        intent = (processor.create_setup_intent("setup-page", customer_id="org-1") if setup
                  else processor.create_payment_intent(amount, "USD", f"page-{amount}"))
        return intent.id, processor.hosted_page_url(intent, RETURN_URL)


def _card(number: str, cvc: str = "123") -> dict:
    return {"holder_name": "Ada Lovelace", "number": number, "exp_month": "12", "exp_year": NEXT_YEAR, "cvc": cvc}


def _state(app, intent_id: str):
    with app.app_context():
        return SandboxProcessor().intent_record(intent_id)


def test_the_hosted_page_takes_the_card_and_returns_to_the_portal(app, client):
    intent_id, url = _hosted_page(app)
    page = client.get(url).get_data(as_text=True)
    assert "Pay $42.00" in page
    response = client.submit(url, _card("4242 4242 4242 4242"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"{RETURN_URL}&payment_intent={intent_id}"
    assert _state(app, intent_id).state is IntentState.SUCCEEDED
    assert "Payment complete" in client.get(url).get_data(as_text=True)  # a second visit takes nothing


def test_a_declined_card_is_told_beside_the_number(app, client):
    intent_id, url = _hosted_page(app)
    response = client.submit(url, _card("4000 0000 0000 0002"))
    assert response.status_code == 422
    error = re.search(r'id="number-error">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert error == DECLINED.replace("'", "&#39;")
    assert _state(app, intent_id).state is IntentState.REQUIRES_PAYMENT_METHOD


@pytest.mark.parametrize(("card", "field", "message"), [
    (_card("4242424242424242", cvc="12"), "cvc", "3-digit security code"),
    ({**_card("4242424242424242"), "exp_year": "2020"}, "exp_year", "This card has expired"),
    (_card("1234 5678 9012 3456"), "number", "not valid"),
])
def test_bad_details_are_refused_beside_their_field(app, client, card, field, message):
    intent_id, url = _hosted_page(app)
    response = client.submit(url, card)
    assert response.status_code == 422
    assert message in re.search(rf'id="{field}-error">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert _state(app, intent_id).payment_method_id is None


def test_3ds_completed_on_the_authenticate_page(app, client):
    intent_id, url = _hosted_page(app)
    response = client.submit(url, _card("4000 0027 6000 3184"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/sandbox-processor/authenticate/{intent_id}"
    assert _state(app, intent_id).state is IntentState.REQUIRES_ACTION
    done = client.submit(response.headers["Location"], button="Complete authentication")
    assert done.status_code == 303 and done.headers["Location"] == f"{RETURN_URL}&payment_intent={intent_id}"
    assert _state(app, intent_id).state is IntentState.SUCCEEDED


def test_3ds_cancelled_on_the_authenticate_page_takes_nothing(app, client):
    intent_id, url = _hosted_page(app)
    response = client.submit(url, _card("4000 0027 6000 3184"))
    done = client.submit(response.headers["Location"], button="Cancel")
    assert done.status_code == 303 and done.headers["Location"] == f"{RETURN_URL}&payment_intent={intent_id}"
    record = _state(app, intent_id)
    assert record.state is IntentState.REQUIRES_PAYMENT_METHOD and record.charge_id is None
    assert "authentication was cancelled" in record.decline_message
    assert client.get(f"/sandbox-processor/authenticate/{intent_id}").status_code == 409  # nothing to authenticate


def test_a_card_is_saved_on_the_hosted_page(app, client):
    intent_id, url = _hosted_page(app, setup=True)
    assert "Save a card" in client.get(url).get_data(as_text=True)
    response = client.submit(url, _card("5555 5555 5555 4444"))
    assert response.headers["Location"] == f"{RETURN_URL}&setup_intent={intent_id}"
    assert _state(app, intent_id).state is IntentState.SUCCEEDED


def test_an_unknown_intent_has_no_page(client):
    assert client.get("/sandbox-processor/pay/pi_sandbox_nothing").status_code == 404


def test_the_fields_api_answers_with_a_payment_method_only(app, client):
    card = {"key": DEV_PUBLISHABLE_KEY, "number": "4242424242424242", "exp_month": 12, "exp_year": int(NEXT_YEAR),
            "cvc": "123", "name": "Ada"}
    response = client.post("/sandbox-processor/v1/payment_methods", json=card)
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["id"].startswith("pm_sandbox_") and (answer["brand"], answer["last4"]) == ("visa", "4242")
    assert "4242424242424242" not in response.get_data(as_text=True)
    refused = client.post("/sandbox-processor/v1/payment_methods", json={**card, "cvc": "1"})
    assert refused.status_code == 400 and list(refused.get_json()["errors"]) == ["cvc"]
    assert client.post("/sandbox-processor/v1/payment_methods", json={**card, "key": "pk_other"}).status_code == 401
    unprintable = client.post("/sandbox-processor/v1/payment_methods", json={**card, "name": "Ada\x00", "cvc": "1"})
    assert unprintable.status_code == 400 and sorted(unprintable.get_json()["errors"]) == ["cvc", "name"]


def test_the_card_number_is_not_logged_by_the_pages(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    intent_id, url = _hosted_page(app)
    client.submit(url, _card("4000000000009995"))
    client.post("/sandbox-processor/v1/payment_methods",
                json={"key": DEV_PUBLISHABLE_KEY, "number": "4000000000009995", "exp_month": 1, "exp_year": 2001,
                      "cvc": "123"})
    assert "4000000000009995" not in caplog.text


def test_the_processor_pages_are_csp_clean(app, client):
    intent_id, url = _hosted_page(app)
    fields = client.get(f"/sandbox-processor/fields?key={DEV_PUBLISHABLE_KEY}")
    pages = {"pay": client.get(url), "fields": fields, "demo": client.get("/sandbox-processor/demo")}
    for name, response in pages.items():
        assert response.status_code == 200, name
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, name
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html, name
    # The hosted fields may be framed by the portal's own pages, and by nobody else; the other pages by nobody.
    assert "frame-ancestors 'self'" in fields.headers["Content-Security-Policy"]
    assert fields.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'none'" in pages["pay"].headers["Content-Security-Policy"]
    assert pages["pay"].headers["X-Frame-Options"] == "DENY"
    # The fields' inputs have no names: without the script nothing (no card number) can be submitted.
    assert ' name="' not in re.search(r"<form.*?</form>", fields.get_data(as_text=True), re.S).group(0)
    assert client.get("/sandbox-processor/fields?key=pk_unknown").status_code == 400


def test_card_testing_is_limited_per_client(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SANDBOX_CARD_LIMIT", "3 per minute")
    intent_id, url = _hosted_page(app)
    card = {"key": DEV_PUBLISHABLE_KEY, "number": "4000000000000002", "exp_month": 12, "exp_year": int(NEXT_YEAR),
            "cvc": "123"}
    answers = [client.post("/sandbox-processor/v1/payment_methods", json=card).status_code for _ in range(2)]
    answers.append(client.submit(url, _card("4000000000000002")).status_code)
    answers.append(client.submit(url, _card("4242424242424242")).status_code)
    assert answers == [201, 201, 422, 429]
    assert _state(app, intent_id).state is IntentState.REQUIRES_PAYMENT_METHOD
