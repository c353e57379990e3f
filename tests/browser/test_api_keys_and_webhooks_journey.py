"""The automation pages in a real browser, with JavaScript: alice (Chain & User Manager of Northwind IT) creates an
API key, uses it once, revokes it; then registers a webhook endpoint, causes an event, sees its delivery and
resends it. Every page passes axe-core's serious and critical rules and nothing breaks the CSP. The same without
JavaScript: tests/api_keys/ and tests/webhooks/test_pages.py.

The endpoint is an HTTP server this test starts on 127.0.0.1: the portal accepts plain HTTP to loopback only in
debug (portal/webhooks/services.py check_url), so the live app runs with PORTAL_DEBUG for this test. The delivery
worker is run from the test (portal.webhooks.delivery.deliver), as `flask webhooks deliver` would run it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.webhooks import delivery
from tests.browser.test_buying_journeys import arrive, no_page_load, sign_in_as
from tests.browser.test_license_journeys import KEY
from tests.browser.test_sign_in_journeys import main_nav
from tests.webhooks.test_delivery import Receiver

pytestmark = pytest.mark.browser

KEY_NAME = "Nightly catalog sync"
PRODUCTS = "/api/v1/catalog/products"
CUSTOMER = "ops@fabrikam.example.com"


@pytest.fixture
def receiver(app, monkeypatch):
    """A webhook receiver on 127.0.0.1, with the live app in debug so that its plain-HTTP URL is accepted."""
    monkeypatch.setitem(app.config, "PORTAL_DEBUG", True)
    with Receiver() as running:
        yield running


def products_status(page: Page, token: str) -> int:
    """What the API answers the key's holder for the catalog (the signed-in session's cookie plays no part)."""
    return page.request.get(PRODUCTS, headers={"Authorization": f"Bearer {token}"}).status


def test_alice_creates_uses_and_revokes_a_key_then_follows_a_webhook_delivery_and_resends_it(
        app, demo, page: Page, audit, script_errors, receiver):
    """alice opens API keys from the navigation and creates a key with two scopes that expires in 30 days: the
    page shows its secret once, and the catalog answers that key. Opened again, the page lists the key but no
    longer shows the secret. Revoke… asks in a modal dialog; once revoked, the API refuses the key (401).
    On Webhooks she adds an endpoint (her local receiver) for license.assigned, assigns a license from Licenses,
    and after the worker runs the endpoint's page lists the delivery, delivered with response 200. Resend
    queues it again."""
    sign_in_as(page, "alice")
    main_nav(page).get_by_role("link", name="API keys", exact=True).click()
    arrive(page, "API keys of Northwind IT")
    expect(page.get_by_role("table", name="API keys, newest first")).to_contain_text("No API key yet.")
    audit()

    # Create a key: two scopes and an expiry; its secret is shown once.
    expires_on = date.today() + timedelta(days=30)
    page.get_by_label("Name", exact=True).fill(KEY_NAME)
    scopes = page.get_by_role("group", name="Scopes")
    scopes.get_by_label("catalog:read", exact=True).check()
    scopes.get_by_label("licenses:read", exact=True).check()
    page.get_by_label("Expires on", exact=True).fill(expires_on.isoformat())
    page.get_by_role("button", name="Create key", exact=True).click()
    arrive(page, "API keys of Northwind IT")
    created = page.get_by_role("status").filter(has_text=f"API key {KEY_NAME} created")
    expect(created).to_contain_text("it will not be shown again")
    token = page.get_by_label("Your key", exact=True).input_value()
    assert len(token) >= 20
    expect(page.locator("pre code")).to_contain_text(f"Bearer {token}")
    row = page.get_by_role("table", name="API keys, newest first").get_by_role("row").filter(has_text=KEY_NAME)
    expect(row).to_contain_text("catalog:read, licenses:read")
    expect(row).to_contain_text((expires_on + timedelta(days=1)).isoformat())  # works through the chosen day
    expect(row).to_contain_text("Active")
    audit()

    answer = page.request.get(PRODUCTS, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.text()
    assert answer.json()["data"], "the catalog lists the products on sale"

    # Opened again, the page lists the key (now used) but never its secret.
    main_nav(page).get_by_role("link", name="API keys", exact=True).click()
    arrive(page, "API keys of Northwind IT")
    expect(page.get_by_label("Your key", exact=True)).to_have_count(0)
    assert token not in page.content()
    expect(row.get_by_role("cell").nth(6)).not_to_have_text("Never")  # Last used

    # Revoke, confirmed in a modal dialog on the same page.
    with no_page_load(page):
        row.get_by_role("link", name=re.compile(rf"^Revoke the key {KEY_NAME}")).click()
        dialog = page.get_by_role("dialog", name=f"Revoke the API key {KEY_NAME}?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("This cannot be undone")
        audit()
    dialog.get_by_role("button", name="Revoke the key", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"API key {KEY_NAME}")
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("link", name=re.compile("^Revoke"))).to_have_count(0)
    assert products_status(page, token) == 401

    # Webhooks: an endpoint for license.assigned at the local receiver.
    main_nav(page).get_by_role("link", name="Webhooks", exact=True).click()
    arrive(page, "Webhooks")
    audit()
    page.get_by_label("Endpoint URL", exact=True).fill(receiver.url)
    page.get_by_label("Description (optional)", exact=True).fill("Our order system")
    page.get_by_role("group", name="Events to send").get_by_label("license.assigned", exact=True).check()
    page.get_by_role("button", name="Add endpoint", exact=True).click()
    arrive(page, f"Endpoint {receiver.url}")
    expect(page.get_by_role("status")).to_contain_text("Endpoint added")
    deliveries = page.get_by_role("table", name="Newest first")
    expect(deliveries).to_contain_text("No deliveries yet.")
    endpoint_url = page.url
    audit()

    # The event: a license assigned from Licenses (the dialog of tests/browser/test_license_journeys.py).
    main_nav(page).get_by_role("link", name="Licenses", exact=True).click()
    arrive(page, "Licenses of Northwind IT")
    license_row = page.get_by_role("table", name="Unassigned licenses").get_by_role("row").filter(
        has_text="MailSuite Mail Server").first
    key = KEY.search(license_row.get_by_role("link").first.inner_text()).group(0)
    license_row.get_by_role("link", name=f"Assign license {key}", exact=True).click()
    assign = page.get_by_role("dialog", name="Assign licenses")
    assign.get_by_label("Customer's email", exact=True).fill(CUSTOMER)
    assign.get_by_label("Customer name", exact=True).fill("Fabrikam")
    assign.get_by_role("button", name="Continue", exact=True).click()
    expect(assign.get_by_text("Step 2 of 2: confirm")).to_be_visible()
    assign.get_by_role("button", name="Assign license", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/licenses/{key}$"))

    # The worker sends it; the endpoint's page lists it, delivered with the receiver's 200.
    with app.app_context():
        assert delivery.deliver() == (1, 0)
    [(headers, body, _path)] = receiver.requests
    assert '"type":"license.assigned"' in body and key in body
    assert {name.lower(): value for name, value in headers.items()}["webhook-signature"].startswith("v1,")
    page.goto(endpoint_url)
    arrive(page, f"Endpoint {receiver.url}")
    sent = deliveries.get_by_role("row").filter(has_text="license.assigned")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text("Delivered")
    expect(sent.get_by_role("cell").nth(4)).to_have_text("200")  # Response
    audit()

    # Resend: queued again, pending until the worker's next run.
    event_id = sent.locator("code").inner_text()
    sent.get_by_role("button", name=f"Resend {event_id}", exact=True).click()
    arrive(page, f"Endpoint {receiver.url}")
    expect(page.get_by_role("status")).to_contain_text(f"license.assigned {event_id} queued")
    expect(sent).to_contain_text("Pending")
    # The pages audited above are these pages' layouts; the CSP still held on the ones not audited again.
    assert not script_errors, "CSP violations or script errors:\n  " + "\n  ".join(script_errors)
