"""An account transfer (DOMAIN §2, Scenario 3) in a real browser: alice, Chain & User Manager of the reseller
Northwind IT, asks for its sub-chain Contoso Retail to become Contoso's own account, uploading the written
authorization; vendor staff approve it; carol, named as Contoso's new Chain & User Manager, opens Manage
Subscriptions and finds the device plan her devices use, and alice no longer reaches Contoso. Every page passes
axe-core's serious and critical rules. The same without JavaScript: tests/transfers/test_views.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.accounts.models import Organization
from portal.extensions import db
from tests.browser.test_buying_journeys import arrive, sign_in_as
from tests.browser.test_license_journeys import wait_for_mail
from tests.browser.test_sign_in_journeys import main_nav, sign_in
from tests.factories import DEMO_EMAILS, SAMPLE_PDF, make_subscription

pytestmark = pytest.mark.browser


def sign_out(page: Page) -> None:
    page.get_by_role("banner").get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))


@pytest.fixture
def northwind_device_plan(app, demo):
    """Northwind IT pays a Device Protection plan of 10 devices, some of them Contoso's (portal/devices/demo.py)."""
    with app.app_context():
        make_subscription(db.session.get(Organization, demo.orgs["Northwind IT"]), quantity=10)
        db.session.commit()


def test_alice_transfers_contoso_staff_approve_and_carol_manages_its_subscriptions(
        demo, northwind_device_plan, page: Page, audit, mailbox, tmp_path):
    """Alice opens Transfers, chooses Contoso Retail, uploads the signed authorization and types Contoso's billing
    details with carol as its manager; the request waits for review, as its page says. Staff open it under
    Transfers, tick that they checked the authorization and approve it with a service-ticket charge. Carol is
    emailed; she signs in, finds Manage Subscriptions in her navigation and the device plan there; alice finds
    Contoso gone from her sub-chains and gets a 404 on its page."""
    authorization = tmp_path / "contoso-authorization.pdf"
    authorization.write_bytes(SAMPLE_PDF)

    sign_in_as(page, "alice")
    main_nav(page).get_by_role("link", name="Transfers", exact=True).click()
    arrive(page, "Account transfers")
    audit()
    page.get_by_label("Sub-chain to transfer", exact=True).select_option(label="Contoso Retail")
    page.get_by_label("Written authorization (PDF)", exact=True).set_input_files(str(authorization))
    page.get_by_label("Legal name of the new entity", exact=True).fill("Contoso Retail Inc.")
    page.get_by_label("Street address", exact=True).fill("12 Market Street")
    page.get_by_label("City", exact=True).fill("Portland")
    page.get_by_label("State or region", exact=True).fill("OR")
    page.get_by_label("Postal code", exact=True).fill("97204")
    page.get_by_label("Invoice contact email", exact=True).fill("ap@contoso.example.com")
    page.get_by_label("Invoice contact phone", exact=True).fill("+1 503 555 0142")
    page.get_by_label("Email of the new Chain & User Manager", exact=True).fill(DEMO_EMAILS["carol"])
    page.get_by_role("button", name="Send the request", exact=True).click()
    arrive(page, "Transfer of Contoso Retail")
    expect(page.get_by_text("Waiting for review", exact=True)).to_be_visible()
    audit()
    sign_out(page)

    page.goto("/login")
    sign_in(page, DEMO_EMAILS["ops"])
    main_nav(page).get_by_role("link", name="Transfers", exact=True).click()
    page.get_by_role("link", name=re.compile("Contoso Retail")).first.click()
    arrive(page, "Transfer of Contoso Retail")
    audit()
    page.get_by_label("Service-ticket charge (optional)", exact=True).fill("150.00")
    page.get_by_label(re.compile("I have checked the written authorization")).check()
    page.get_by_role("button", name="Approve the transfer", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Transfer approved")
    expect(page.get_by_text("Approved", exact=True)).to_be_visible()
    audit()
    sign_out(page)

    wait_for_mail(mailbox, DEMO_EMAILS["carol"])
    sign_in_as(page, "carol")
    main_nav(page).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(page, "Manage Subscriptions")
    expect(page.get_by_text("Device Protection").first).to_be_visible()
    audit()
    sign_out(page)

    sign_in_as(page, "alice")
    main_nav(page).get_by_role("link", name="Sub-chains", exact=True).click()
    expect(page.get_by_role("link", name="Contoso Retail", exact=True)).to_have_count(0)
    response = page.goto(f"/account/chains/{demo.orgs['Contoso Retail']}")
    assert response is not None and response.status == 404

