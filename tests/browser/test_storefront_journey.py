"""The storefront journey in a real browser, with JavaScript (issue 14's quality bar): a reseller buys Standard with
an alias checked as it is typed, sets a markup, its customer buys on the storefront, both invoices are right, the
reseller cancels and the storefront closes at the end of the paid period. Every page passes axe-core's serious and
critical rules. The same steps without a browser: tests/storefronts/test_plans.py and
tests/storefront_sales/test_selling.py.

The demo's Northwind already has Standard (alias `northwind`), so the reseller here is Litware Solutions (Silver:
10 % off list, pays on order, tax exempt), whose manager frank buys Standard and takes the alias `litware`. Its
customer is a sub-chain built for the journey, Adatum Dental, whose viewer grace buys LiveDesk Professional for one
agent ($149.00 at list) at a 30 % markup: $193.70 from Litware, which costs Litware $134.10 from the vendor. The test
clock is the renewal run called for the first day after the paid period (`portal.recurring.run.renew`)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select

from portal.accounts.models import Organization, Role
from portal.billing.models import Invoice, InvoiceStatus
from portal.extensions import db
from portal.orders.models import Order
from portal.reseller_plans.plans import PlanName, reseller_plan
from tests.browser.conftest import BLOCKING_IMPACTS, TIMEOUT_MS, axe_violations, describe
from tests.browser.test_buying_journeys import (
    APPROVED_VISA,
    arrive,
    card_fields,
    cart_link,
    no_page_load,
    order_number,
    sign_in_as,
    type_card,
)
from tests.browser.test_sign_in_journeys import main_nav
from tests.conftest import DEMO_PASSWORD
from tests.factories import make_member, make_org, make_user

pytestmark = pytest.mark.browser

CUSTOMER_EMAIL = "grace@adatum.example.com"
LIST, COST, PRICE = "$149.00", "$134.10", "$193.70"  # LiveDesk Professional, 1 agent: list, less 10 %, plus 30 %


@pytest.fixture
def litware_customer(app, demo) -> int:
    """Adatum Dental, a sub-chain of Litware Solutions (no tax region), and grace, its viewer."""
    with app.app_context():
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        adatum = make_org("Adatum Dental", parent=litware)
        make_member(adatum, Role.VIEWER, make_user(CUSTOMER_EMAIL, DEMO_PASSWORD, full_name="Grace Green"))
        db.session.commit()
        adatum_id = adatum.id
        db.session.remove()
    return adatum_id


def fill_new_card(page: Page, holder: str) -> None:
    """A new card, typed in the processor's hosted fields (a frame in the checkout page)."""
    page.get_by_role("radio", name="A new card").check()
    type_card(card_fields(page), APPROVED_VISA, holder)


def price_row(page: Page, product: str, edition: str):
    return page.get_by_role("table", name="Prices for everyone").get_by_role("row").filter(
        has=page.get_by_role("cell", name=product, exact=True)).filter(
        has=page.get_by_role("cell", name=edition, exact=True))


def shopper_tab(browser: Browser, live_server: str, script_errors: list[str]) -> tuple[BrowserContext, Page]:
    """The customer's own browser (its own cookies), watched for CSP violations and script errors like `page`."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            script_errors.append(f"{tab.url}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: script_errors.append(f"{tab.url}: {error}"))
    return context, tab


def audit_of(auditor: BrowserContext, tab: Page, script_errors: list[str]) -> Callable[[], None]:
    def _audit() -> None:
        assert not script_errors, "CSP violations or script errors:\n  " + "\n  ".join(script_errors)
        blocking = [v for v in axe_violations(auditor, tab) if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe found serious or critical violations on {tab.url}:\n{describe(blocking)}"

    return _audit


def test_frank_opens_a_storefront_grace_buys_there_and_it_closes_after_the_cancelled_period(
        app, browser, live_server, page, audit, auditor, script_errors, litware_customer, demo):
    """frank adds Standard to the cart from Reseller plan. At checkout he types an alias: `northwind` is taken and
    free variants are suggested beside the field, `litware` is free, each verdict arriving in place as he types.
    He pays by card; his storefront's settings take Litware's tax and registration numbers, and its prices a 30 %
    default markup, the prices page showing list, cost, price and margin. grace signs in on /s/litware, adds
    LiveDesk to her cart at $193.70, and pays by card: her order page shows Litware's invoice, paid. Litware's
    sales page shows the price, its cost and its margin; the database holds Litware's invoice to Adatum at $193.70
    and the vendor's to Litware at $134.10. frank cancels: Pending Cancellation, the storefront still sells. The
    renewal run reaches the period's end: Litware is back on Basic, and /s/litware says it is closed, to grace and
    to anyone, and takes no sign-in."""
    # frank buys Standard through the cart, the alias checked as he types it.
    sign_in_as(page, "frank")
    main_nav(page).get_by_role("link", name="Reseller plan", exact=True).click()
    arrive(page, "Reseller plans")
    expect(page.get_by_role("heading", name="Litware Solutions is on Basic")).to_be_visible()
    page.get_by_role("button", name="Add Standard to the cart", exact=True).click()
    arrive(page, "Your cart")
    expect(cart_link(page)).to_have_accessible_name("Cart 1 item")
    page.get_by_role("link", name="Checkout", exact=True).click()
    arrive(page, "Checkout")
    with no_page_load(page):
        page.get_by_label("Storefront alias", exact=True).fill("northwind")
        taken = page.locator("#storefront_alias-error")
        expect(taken).to_contain_text("taken")
        expect(page.get_by_label("Storefront alias", exact=True)).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#storefront-alias-field")).to_contain_text("Free alternatives: northwind-")
        page.get_by_label("Storefront alias", exact=True).fill("litware")
        expect(page.get_by_role("status").filter(has_text="is free")).to_have_text("/s/litware is free.")
        expect(page.locator("#storefront_alias-error")).to_have_count(0)
    audit()
    page.get_by_role("radio", name="Pay now by card").check()
    fill_new_card(page, "Frank Fischer")
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    order_number(page)
    expect(page.get_by_text("Paid by Visa ending 4242.", exact=True)).to_be_visible()

    main_nav(page).get_by_role("link", name="Reseller plan", exact=True).click()
    arrive(page, "Reseller plans")
    expect(page.get_by_role("heading", name="Litware Solutions is on Standard")).to_be_visible()
    expect(page.get_by_role("link", name="/s/litware", exact=True)).to_be_visible()

    # Its settings: Litware's numbers as seller on its invoices (a storefront takes no order without them).
    page.get_by_role("link", name="Storefront settings", exact=True).click()
    arrive(page, "Storefront settings")
    page.get_by_label("Contact email", exact=True).fill("shop@litware.example.com")
    page.get_by_label("Tax ID", exact=True).fill("US-74-1234567")
    page.get_by_label("Company registration number", exact=True).fill("TX-0801234567")
    page.get_by_role("button", name="Save settings", exact=True).click()
    arrive(page, "Storefront settings")
    expect(page.get_by_label("Tax ID", exact=True)).to_have_value("US-74-1234567")
    audit()

    # Its prices: a 30 % default markup over list, with Litware's cost and margin beside each price.
    page.get_by_role("link", name="Storefront prices", exact=True).click()
    arrive(page, "Storefront prices")
    livedesk = price_row(page, "LiveDesk Help Desk", "Professional")
    expect(livedesk).to_contain_text(LIST)
    page.get_by_label("Default markup (%)", exact=True).fill("30")
    page.get_by_role("button", name="Save default markup", exact=True).click()
    arrive(page, "Storefront prices")
    for shown in (LIST, COST, PRICE, "$59.60"):
        expect(livedesk).to_contain_text(shown)
    audit()

    # grace, Adatum Dental's viewer, buys on /s/litware in her own browser.
    shopper, tab = shopper_tab(browser, live_server, script_errors)
    audit_tab = audit_of(auditor, tab, script_errors)
    try:
        tab.goto("/s/litware")
        arrive(tab, "Litware Solutions")
        storefront_nav = tab.get_by_role("banner")
        storefront_nav.get_by_role("link", name="Sign in", exact=True).click()
        arrive(tab, "Sign in to Litware Solutions")
        tab.get_by_label("Email", exact=True).fill(CUSTOMER_EMAIL)
        tab.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
        tab.get_by_role("button", name="Sign in", exact=True).click()
        arrive(tab, "Litware Solutions")
        expect(tab.get_by_text("at Adatum Dental's prices", exact=False)).to_be_visible()
        audit_tab()

        tab.get_by_role("link", name="LiveDesk Help Desk", exact=True).click()
        arrive(tab, "LiveDesk Help Desk")
        with no_page_load(tab):
            tab.get_by_label("Edition", exact=True).select_option(label="Enterprise")
            expect(tab.locator("#price")).to_contain_text("$323.70")  # $249.00 + 30 %
            tab.get_by_label("Edition", exact=True).select_option(label="Professional")
            expect(tab.locator("#price")).to_contain_text(f"{PRICE} per license")
            tab.get_by_role("button", name="Add to cart", exact=True).click()
            expect(tab.get_by_role("status").filter(has_text="View cart")).to_be_visible()
            expect(tab.locator("#storefront-cart-count")).to_have_text("(1)")
        expect(tab.get_by_text(LIST)).to_have_count(0)  # nothing of the vendor's price or Litware's cost
        expect(tab.get_by_text(COST)).to_have_count(0)
        audit_tab()

        storefront_nav.get_by_role("link", name=re.compile(r"^Cart")).click()
        arrive(tab, "Your cart")
        expect(tab.get_by_role("table", name="Items in your cart")).to_contain_text(PRICE)
        tab.get_by_role("link", name="Checkout", exact=True).click()
        arrive(tab, "Checkout")
        expect(tab.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text(PRICE)
        expect(tab.get_by_label("Legal name", exact=True)).to_have_value("Adatum Dental Inc.")
        fill_new_card(tab, "Grace Green")
        audit_tab()
        tab.get_by_role("button", name=re.compile(r"^Place order")).click()

        expect(tab).to_have_url(re.compile(r"/s/litware/orders/[0-9A-Z-]+$"))
        customer_order = tab.url.rsplit("/", 1)[1]
        arrive(tab, f"Order {customer_order}")
        expect(tab.locator(".details")).to_contain_text("Litware Solutions")
        expect(tab.locator(".details")).to_contain_text(re.compile(r"LITWARE-000001 · Paid"))
        expect(tab.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text(PRICE)
        expect(tab.get_by_role("link", name="Download the PDF", exact=True)).to_be_visible()
        audit_tab()

        # Both invoices: Litware's to Adatum at the storefront price, the vendor's to Litware at its cost.
        with app.app_context():
            order = db.session.scalars(select(Order).where(Order.number == customer_order)).one()
            sold = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
            wholesale_order = db.session.scalars(select(Order).where(Order.supplies_order_id == order.id)).one()
            bought = db.session.scalars(select(Invoice).where(Invoice.order_id == wholesale_order.id)).one()
            litware, adatum = demo.orgs["Litware Solutions"], litware_customer
            assert (order.organization_id, order.seller_id, order.total_minor) == (adatum, litware, 19370)
            assert (sold.number, sold.issuer_id, sold.organization_id) == ("LITWARE-000001", litware, adatum)
            assert (sold.subtotal_minor, sold.total_minor, sold.status) == (19370, 19370, InvoiceStatus.PAID)
            assert wholesale_order.organization_id == litware and wholesale_order.seller_id is None
            assert bought.number.startswith("INV-") and bought.issuer_id is None
            assert (bought.organization_id, bought.total_minor) == (litware, 13410)  # 149.00 less 10 %, no tax
            db.session.remove()

        # frank sees the sale with his cost and margin; grace never did.
        page.goto("/account/storefront/sales")
        arrive(page, "Storefront sales")
        sale = page.get_by_role("table", name="Storefront orders, newest first").get_by_role("row").filter(
            has_text=customer_order)
        for shown in ("Adatum Dental", PRICE, COST, "$59.60", "LITWARE-000001 (PDF)"):
            expect(sale).to_contain_text(shown)
        audit()

        # frank cancels: Pending Cancellation until the paid period ends, the storefront working meanwhile.
        main_nav(page).get_by_role("link", name="Reseller plan", exact=True).click()
        arrive(page, "Reseller plans")
        page.get_by_role("link", name="Cancel plan", exact=True).click()
        arrive(page, "Cancel your reseller plan?")
        page.get_by_role("button", name="Cancel the plan at the end of the period", exact=True).click()
        arrive(page, "Reseller plans")
        expect(page.get_by_role("heading", name="Litware Solutions is on Pending Cancellation")).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="Pending Cancellation:")).to_contain_text(
            "your storefront keeps working until")
        audit()
        tab.goto("/s/litware/products/livedesk")
        arrive(tab, "LiveDesk Help Desk")
        expect(tab.get_by_role("button", name="Add to cart", exact=True)).to_be_enabled()

        # The test clock: the renewal run of the first day after the paid period ends the plan.
        from portal.recurring.run import renew

        with app.app_context():
            state = reseller_plan(db.session.get(Organization, demo.orgs["Litware Solutions"]))
            assert state.name is PlanName.PENDING_CANCELLATION
            period_end = state.subscription.next_payment_on
            db.session.remove()
            renew(period_end)
            db.session.remove()

        page.reload()
        arrive(page, "Reseller plans")
        expect(page.get_by_role("heading", name="Litware Solutions is on Basic")).to_be_visible()
        expect(page.get_by_text(f"closed on {period_end.isoformat()}", exact=False)).to_be_visible()

        # grace, still signed in, finds the storefront closed; so does anyone else, and nobody signs in there.
        tab.goto("/s/litware/products/livedesk")
        arrive(tab, "Sign in to Litware Solutions")
        expect(tab.get_by_role("alert")).to_contain_text("This storefront is closed.")
        expect(tab.get_by_role("button", name="Add to cart")).to_have_count(0)
        audit_tab()
        shopper.clear_cookies()
        tab.goto("/s/litware")
        arrive(tab, "Sign in to Litware Solutions")
        expect(tab.get_by_role("alert")).to_contain_text("This storefront is closed.")
        expect(tab.get_by_label("Email", exact=True)).to_have_count(0)
        expect(tab.get_by_role("banner").get_by_role("link", name="Sign in")).to_have_count(0)
        # No form signs in at a closed storefront: a forged request, with the token the page carries.
        token = tab.locator('meta[name="csrf-token"]').get_attribute("content")
        refused = tab.request.post("/s/litware/login", form={"csrf_token": token, "email": CUSTOMER_EMAIL,
                                                             "password": DEMO_PASSWORD})
        assert refused.status == 403 and "This storefront is closed." in refused.text()
        tab.goto("/s/litware/cart")
        expect(tab.get_by_role("alert")).to_contain_text("This storefront is closed.")
        expect(tab.get_by_role("banner")).not_to_contain_text("Grace Green")
    finally:
        shopper.close()
