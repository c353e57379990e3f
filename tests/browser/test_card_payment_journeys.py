"""Card payments through the sandbox processor in a real browser (issue 21's quality bar): a declined card, a 3-D
Secure purchase abandoned and one completed, saving a card and paying an invoice, walked by one buyer once with
JavaScript and once without.

With JavaScript the buyer types each new card in the processor's hosted fields, a frame that sandbox-processor.js
mounts into the portal's form; pressing the portal's own button has the frame hand the form a payment method id.
Without JavaScript there is no frame: the portal sends the buyer to the processor's hosted page
(/sandbox-processor/pay/…), where the card is typed, and the processor sends the buyer back. Either way the card
number never reaches a portal page, and 3-D Secure is the processor's "Authenticate the card" page.

The buyer is frank, Chain & User Manager of Litware Solutions (Silver, 10 % off list, pays on order, no tax). The
demo gives Litware no open invoice, so frank makes one the way a buyer does: an order of USD 1,000 or more may be
paid by wire transfer, and it is invoiced, due in 30 days; he then pays that invoice by card from Invoices.
Test cards: portal/sandbox_processor/processor.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect

from tests.browser.conftest import BLOCKING_IMPACTS, TIMEOUT_MS, axe_violations, describe
from tests.browser.test_buying_journeys import (
    APPROVED_VISA,
    DECLINED,
    DECLINED_VISA,
    arrive,
    card_fields,
    card_frame,
    cart_link,
    open_product,
    order_number,
    place_order_button,
    sign_in_as,
    type_card,
)
from tests.browser.test_sign_in_journeys import main_nav

pytestmark = pytest.mark.browser

THREE_D_SECURE = "4000 0027 6000 3184"  # the bank asks the buyer to authenticate
MASTERCARD = "5555 5555 5555 4444"
AUTHENTICATION_CANCELLED = "authentication was cancelled"
TOTAL = "$1,209.60"  # LiveDesk Enterprise, 5 agents, SMS Channel: $1,344.00 less 10 %
HOSTED_PAGE_WORDS = "You enter a new card on our payment processor's secure page when you continue"


@dataclass
class Buyer:
    """frank's browser tab, with or without JavaScript, and what went wrong in it: console messages of refused
    content (the Content Security Policy's "Refused to …") and uncaught script errors."""

    page: Page
    javascript: bool
    refused: list[str] = field(default_factory=list)


@pytest.fixture(params=[True, False], ids=["with JavaScript", "without JavaScript"])
def buyer(request, browser: Browser, live_server: str, demo) -> Iterator[Buyer]:
    context = browser.new_context(base_url=live_server, java_script_enabled=request.param)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    buyer = Buyer(page, request.param)

    # Chromium words a violation "Refused to …" or "… violates the following Content Security Policy directive …",
    # depending on what was refused
    def on_console(message: ConsoleMessage) -> None:
        if "Refused to" in message.text or "Content Security Policy" in message.text:
            buyer.refused.append(f"{page.url}: {message.text}")

    context.on("console", on_console)  # every tab of the context, and the frames in them
    page.on("pageerror", lambda error: buyer.refused.append(f"{page.url}: {error}"))
    try:
        yield buyer
    finally:
        context.close()


def audit(auditor: BrowserContext, buyer: Buyer) -> None:
    """Nothing refused or thrown so far, and axe-core finds no serious or critical violation on the page."""
    assert not buyer.refused, "CSP violations or script errors:\n  " + "\n  ".join(buyer.refused)
    blocking = [v for v in axe_violations(auditor, buyer.page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe found serious or critical violations on {buyer.page.url}:\n{describe(blocking)}"


def fill_cart(page: Page) -> None:
    """LiveDesk Enterprise for 5 agents with the SMS Channel, into the cart: with JavaScript the product page stays
    and counts it in the header; without, the cart opens."""
    open_product(page, "LiveDesk Help Desk")
    page.get_by_label("Edition", exact=True).select_option(label="Enterprise")
    page.get_by_label("Quantity (agents)", exact=True).select_option(label="5 agents")
    page.get_by_role("group", name="Add-ons", exact=True).get_by_label("SMS Channel", exact=True).check()
    page.get_by_role("button", name="Add to cart", exact=True).click()
    expect(cart_link(page)).to_have_accessible_name("Cart 1 item")
    cart_link(page).click()
    arrive(page, "Your cart")
    page.get_by_role("link", name="Checkout", exact=True).click()
    arrive(page, "Checkout")
    expect(page.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text(TOTAL)


def at_processor(page: Page, heading: str) -> None:
    """The processor's own page (no portal header): its hosted payment page or its 3-D Secure step."""
    expect(page).to_have_url(re.compile(r"/sandbox-processor/(pay|authenticate)/[a-z]+_sandbox_\w+$"))
    arrive(page, heading)
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_have_count(0)


def new_card_goes_to_the_processor(buyer: Buyer) -> None:
    """Where a new card is typed, as the portal's page shows it: the processor's framed fields with JavaScript;
    without, no frame but the words saying the processor's page comes next. The portal's form has no card field."""
    page = buyer.page
    if buyer.javascript:
        expect(card_frame(page)).to_be_visible()
        expect(page.get_by_text(HOSTED_PAGE_WORDS, exact=False)).to_be_hidden()
    else:
        expect(card_frame(page)).to_have_count(0)
        expect(page.get_by_text(HOSTED_PAGE_WORDS, exact=False)).to_be_visible()
    expect(page.locator("form input[name=card_number], form input[autocomplete=cc-number]")).to_have_count(0)


def pay_with_new_card(buyer: Buyer, button: Locator, card: str, processor_heading: str,
                      processor_button: str | None = None) -> None:
    """Type `card` where the buyer's browser takes it and go on: in the frame, then the portal's own button; without
    JavaScript, the portal's button first, then on the processor's hosted page (`processor_heading`) its button
    (named alike unless `processor_button` says otherwise)."""
    page = buyer.page
    if buyer.javascript:
        type_card(card_fields(page), card, "Frank Fischer")
        button.click()
    else:
        button.click()
        at_processor(page, processor_heading)
        type_card(page, card, "Frank Fischer")
        page.get_by_role("button", name=processor_button or processor_heading, exact=True).click()


def no_orders_yet(page: Page) -> None:
    """frank makes sure in another tab: nothing was ordered."""
    orders = page.context.new_page()
    try:
        orders.goto("/orders")
        expect(orders.get_by_role("table", name="Orders", exact=True)).to_contain_text("No orders yet.")
    finally:
        orders.close()


def test_frank_is_declined_abandons_then_completes_3ds_saves_a_card_and_pays_an_invoice(
        buyer: Buyer, auditor: BrowserContext):
    """frank fills his cart and checks out with a new card. The declined card is refused and nothing is ordered.
    A 3-D Secure card takes him to the processor's "Authenticate the card" page; he cancels there and is back on
    the checkout, told the card was not charged, still with no order. With the 3-D Secure card again he completes
    the authentication and the order is placed, paid by that card. He saves a card on Payment methods, then
    orders again by wire transfer, which leaves an invoice due, and pays it from Invoices with a new Mastercard.
    With JavaScript each card is typed in the processor's frame on the portal's page; without, on the processor's
    hosted page. No content is refused by the Content Security Policy and no page has a serious axe violation."""
    page = buyer.page
    sign_in_as(page, "frank")
    fill_cart(page)
    page.get_by_role("radio", name="Pay now by card").check()
    page.get_by_role("radio", name="A new card").check()
    new_card_goes_to_the_processor(buyer)
    audit(auditor, buyer)

    # The declined card: refused, and no order.
    pay_with_new_card(buyer, place_order_button(page), DECLINED_VISA, f"Pay {TOTAL}")
    if buyer.javascript:  # the portal's checkout says so beside the card choice
        arrive(page, "Checkout")
        expect(page.locator("#saved_card-error")).to_contain_text(DECLINED)
        expect(page.get_by_role("radio", name="A new card")).to_have_accessible_description(
            re.compile(re.escape(DECLINED)))
    else:  # the processor's page says so beside the card number, and he may try another card there
        at_processor(page, f"Pay {TOTAL}")
        expect(page.locator("#number-error")).to_contain_text(DECLINED)
        expect(page.get_by_label("Card number", exact=True)).to_have_value("")
    assert DECLINED_VISA not in page.content()
    audit(auditor, buyer)
    no_orders_yet(page)

    # 3-D Secure, abandoned at the bank's step: back on the checkout, told so, still no order.
    if buyer.javascript:
        type_card(card_fields(page), THREE_D_SECURE, "Frank Fischer")
        place_order_button(page).click()
    else:  # another card on the same hosted page
        type_card(page, THREE_D_SECURE, "Frank Fischer")
        page.get_by_role("button", name=f"Pay {TOTAL}", exact=True).click()
    at_processor(page, "Authenticate the card")
    expect(page.get_by_text(f"payment of {TOTAL}", exact=False)).to_be_visible()
    audit(auditor, buyer)
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page).to_have_url(re.compile(r"/checkout/return\?payment_intent=pi_sandbox_\w+$"))
    arrive(page, "Checkout")
    expect(page.locator("#saved_card-error")).to_contain_text(AUTHENTICATION_CANCELLED)
    expect(page.locator("#saved_card-error")).to_contain_text("not charged")
    expect(place_order_button(page)).to_have_accessible_name(re.compile(rf"{re.escape(TOTAL)}$"))
    new_card_goes_to_the_processor(buyer)
    audit(auditor, buyer)
    no_orders_yet(page)

    # 3-D Secure completed: the order is placed, paid by that card.
    page.get_by_role("radio", name="A new card").check()
    pay_with_new_card(buyer, place_order_button(page), THREE_D_SECURE, f"Pay {TOTAL}")
    at_processor(page, "Authenticate the card")
    page.get_by_role("button", name="Complete authentication", exact=True).click()
    number = order_number(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(page.get_by_role("status")).to_contain_text(f"Order {number} is placed")
    expect(page.get_by_text("Card: Visa ending 3184", exact=True)).to_be_visible()
    expect(page.get_by_text("Paid by Visa ending 3184.", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text(TOTAL)
    expect(cart_link(page)).to_have_accessible_name("Cart 0 items")
    audit(auditor, buyer)
    main_nav(page).get_by_role("link", name="Orders", exact=True).click()
    orders = page.get_by_role("table", name="Orders", exact=True)
    expect(orders.get_by_role("link", name=re.compile(r"^ORD-"))).to_have_count(1)  # one order, not three
    expect(orders).to_contain_text("Card (Visa ending 3184)")

    # A card saved on Payment methods: the processor takes it the same way, nothing is charged.
    page.goto("/payment-methods")
    arrive(page, "Payment methods")
    saved = page.get_by_role("table", name="Saved cards", exact=True)
    expect(saved).to_contain_text("No saved cards.")
    new_card_goes_to_the_processor(buyer)
    page.get_by_label("Use as the default card", exact=True).check()
    pay_with_new_card(buyer, page.get_by_role("button", name="Save card", exact=True), APPROVED_VISA, "Save a card",
                      "Save card")
    expect(page).to_have_url(re.compile(r"/payment-methods$"))
    arrive(page, "Payment methods")
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Visa ending 4242, expires 12/\d{4} saved\."))
    expect(saved.get_by_role("row").filter(has_text="Visa ending 4242")).to_contain_text("Default")
    expect(saved).not_to_contain_text("No saved cards.")
    audit(auditor, buyer)

    # An invoice to pay (the demo gives Litware none open): a second order, paid by wire transfer (offered from
    # USD 1,000), is invoiced, due in 30 days.
    fill_cart(page)
    page.get_by_role("radio", name=re.compile(r"^Wire transfer")).check()
    if buyer.javascript:  # the card's part, frame and all, hides while another way to pay is chosen
        expect(card_frame(page)).to_be_hidden()
    place_order_button(page).click()
    wired = order_number(page)
    expect(page.get_by_role("status")).to_contain_text(f"Order {wired} is placed")
    invoice = page.get_by_role("link", name=re.compile(r"^INV-\d{6}$")).inner_text()

    main_nav(page).get_by_role("link", name="Invoices", exact=True).click()
    arrive(page, "Invoices")
    unpaid = page.get_by_role("table", name="Unpaid invoices, the earliest due first")
    expect(unpaid).to_contain_text(invoice)
    unpaid.get_by_role("link", name=f"Pay invoice {invoice}").click()
    arrive(page, f"Pay invoice {invoice}")
    page.get_by_role("radio", name=re.compile(r"^Card \(")).check()
    expect(page.get_by_role("radio", name="Visa ending 4242", exact=False)).to_be_checked()  # the saved default
    page.get_by_role("radio", name="A new card").check()
    new_card_goes_to_the_processor(buyer)
    audit(auditor, buyer)
    pay_with_new_card(buyer, page.get_by_role("button", name=re.compile(r"^Pay invoice")), MASTERCARD,
                      f"Pay {TOTAL}")
    arrive(page, f"Invoice {invoice}")
    expect(page.get_by_role("status")).to_contain_text(f"Invoice {invoice} is paid: Mastercard ending 4444")
    expect(page.get_by_role("table", name="Payments")).to_contain_text("Mastercard ending 4444")
    audit(auditor, buyer)
    main_nav(page).get_by_role("link", name="Invoices", exact=True).click()
    arrive(page, "Invoices")
    expect(page.get_by_role("table", name="Unpaid invoices, the earliest due first")).not_to_contain_text(invoice)
    assert not buyer.refused, "CSP violations or script errors:\n  " + "\n  ".join(buyer.refused)
