"""The sandbox processor's hosted fields in a browser (issue 21): the developer demo page frames them with
sandbox-processor.js under the portal's CSP; a refused card is told beside its field inside the frame, an accepted
one comes back to the page's form as a payment method id only; the hosted payment page and its 3-D Secure step
take a payment; every page passes axe."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_the_hosted_fields_give_the_form_a_payment_method(app, page: Page, audit):
    page.goto("/sandbox-processor/demo")
    fields = page.frame_locator("iframe[title='Card details']")
    fields.get_by_label("Card number").fill("4242 4242 4242 4242")
    fields.get_by_label("Expiry month (MM)").fill("12")
    fields.get_by_label("Expiry year (YYYY)").fill(str(date.today().year + 1))
    fields.get_by_label("Security code (CVC)").fill("12")
    fields.get_by_role("button", name="Use this card").click()
    expect(fields.locator("#cvc-error")).to_contain_text("3-digit security code")
    audit()
    fields.get_by_label("Security code (CVC)").fill("123")
    fields.get_by_role("button", name="Use this card").click()
    expect(page.get_by_role("status")).to_contain_text("visa ending 4242")  # the form was submitted with the id
    assert "pm_sandbox_" in page.get_by_role("status").inner_text()
    assert "4242 4242 4242 4242" not in page.content()
    audit()


def test_a_3ds_payment_on_the_hosted_page_in_a_browser(app, page: Page, audit):
    from portal.sandbox_processor.processor import SandboxProcessor

    with app.app_context():
        processor = SandboxProcessor()
        intent = processor.create_payment_intent(1_999, "USD", "browser-3ds")
        url = processor.hosted_page_url(intent, "/sandbox-processor/demo")
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay $19.99")
    page.get_by_label("Card number").fill("4000 0027 6000 3184")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2020")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Pay $19.99").click()
    expect(page.locator("#exp_year-error")).to_contain_text("expired")
    # the refused card's number and security code are not sent back to the browser: the buyer types them again
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Security code (CVC)")).to_have_value("")
    audit()
    page.get_by_label("Card number").fill("4000 0027 6000 3184")
    page.get_by_label("Expiry year (YYYY)").fill(str(date.today().year + 1))
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Pay $19.99").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Authenticate the card")
    audit()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(re.compile(rf"/sandbox-processor/demo\?payment_intent={intent.id}$"))
    with app.app_context():
        assert processor.retrieve_payment_intent(intent.id).succeeded
