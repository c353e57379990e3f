"""Buying journeys in a real browser, with JavaScript: a reseller configures products whose price follows every
choice, fills the cart without leaving the product page, edits the cart inline, sees the partner discount at
checkout and places the order, invoiced monthly or paid by card; every page passes axe-core's serious and
critical rules. Buying without JavaScript is covered by tests/orders/test_views.py.

Prices come from the demo catalog (portal/catalog/demo.py); the demo organizations pay no tax."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from playwright.sync_api import Frame, FrameLocator, Locator, Page, expect

from tests.browser.test_sign_in_journeys import main_nav, sign_in
from tests.factories import DEMO_EMAILS

pytestmark = pytest.mark.browser

APPROVED_VISA, DECLINED_VISA = "4242 4242 4242 4242", "4000 0000 0000 0002"  # portal/sandbox_processor/processor.py
DECLINED = "The card was declined by its bank."
SUMMARIZED = ("This invoice will be summarized in the monthly summarized invoice and does not need to be paid "
              "immediately.")


@contextmanager
def no_page_load(page: Page) -> Iterator[None]:
    """What happens inside stays on the page: htmx swaps parts of it, the browser loads no new document."""
    loads: list[str] = []

    def on_navigated(frame: Frame) -> None:
        if frame == page.main_frame:
            loads.append(frame.url)

    page.on("framenavigated", on_navigated)
    try:
        yield
    finally:
        page.remove_listener("framenavigated", on_navigated)
    assert not loads, f"the page was reloaded or left: {loads}"


def sign_in_as(page: Page, name: str) -> None:
    page.goto("/login")
    sign_in(page, DEMO_EMAILS[name])
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))  # the home page


def cart_link(page: Page) -> Locator:
    """The header's cart link; its badge is the number of items, spelled out for screen readers."""
    return page.get_by_role("banner").get_by_role("link", name=re.compile(r"^Cart\b"))


def arrive(page: Page, heading: str) -> None:
    """Wait until the page titled `heading` has loaded: htmx (a deferred script) has then wired up its forms, and a
    change made any earlier would go unnoticed, as it would for a very quick user."""
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.wait_for_load_state("load")


def open_product(page: Page, name: str) -> None:
    main_nav(page).get_by_role("link", name="Shop", exact=True).click()
    arrive(page, "Shop")
    page.get_by_role("link", name=name, exact=True).click()
    arrive(page, name)


def price(page: Page) -> Locator:
    """The configurator's price, a live region htmx replaces after every change."""
    return page.locator("#price")


def add_to_cart(page: Page, items_after: int) -> None:
    """Press Add to cart: the confirmation appears under the button and the header's badge counts the new item,
    while the product page stays as it is."""
    with no_page_load(page):
        page.get_by_role("button", name="Add to cart", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Added to your cart")).to_be_visible()
        expect(cart_link(page)).to_have_accessible_name(f"Cart {items_after} item{'s' if items_after != 1 else ''}")


def cart_row(page: Page, product: str) -> Locator:
    return page.get_by_role("table", name="Items in your cart").get_by_role("row").filter(
        has=page.get_by_text(product, exact=True))


def card_frame(page: Page) -> Locator:
    """The processor's hosted card fields as the portal's page shows them: a frame that sandbox-processor.js
    mounts into the form's [data-card-fields]."""
    return page.locator("[data-card-fields] iframe")


def card_fields(page: Page) -> FrameLocator:
    """Inside that frame: where the buyer types a new card (its number never reaches the portal's form)."""
    return page.frame_locator("[data-card-fields] iframe")


def type_card(fields: Page | FrameLocator, number: str, holder: str, cvc: str = "123") -> None:
    """Type a card, valid until December three years on, into the processor's fields: its hosted fields (a frame
    in the portal's page) or its hosted payment page (without JavaScript), which label them alike."""
    fields.get_by_label("Name on the card", exact=True).fill(holder)
    fields.get_by_label("Card number", exact=True).fill(number)
    fields.get_by_label("Expiry month (MM)", exact=True).fill("12")
    fields.get_by_label("Expiry year (YYYY)", exact=True).fill(str(date.today().year + 3))
    fields.get_by_label("Security code (CVC)", exact=True).fill(cvc)


def place_order_button(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"^Place order"))


def order_number(page: Page) -> str:
    """The order page's number, from its address (/orders/ORD-…)."""
    expect(page).to_have_url(re.compile(r"/orders/ORD-[0-9A-Z]+$"))
    return page.url.rsplit("/", 1)[1]


def test_alice_buys_two_products_with_add_ons_and_is_invoiced_monthly(demo, page, audit):
    """Alice, Chain & User Manager of Northwind IT (a Gold reseller invoiced monthly), configures MailSuite for a
    customer: the price follows each choice without reloading the page. She adds it and WebStats with an add-on
    to the cart, the header counting each item; in the cart she changes WebStats to 10 sites and the line's
    price follows. Checkout shows her 20 % Gold discount as its own line; she chooses Invoice me, and the order
    page tells her the invoice joins the monthly summary and need not be paid now. Her cart is empty again; the
    invoice carries the purchase order number she typed and is not to be paid on its own."""
    sign_in_as(page, "alice")
    expect(cart_link(page)).to_have_accessible_name("Cart 0 items")

    open_product(page, "MailSuite Mail Server")
    product_url = page.url
    assert product_url.endswith("/shop/mailsuite")
    expect(price(page)).to_contain_text("$0.00 per license")  # the Free edition, 10 mailboxes
    with no_page_load(page):
        page.get_by_label("Edition", exact=True).select_option(label="Enterprise")
        expect(price(page)).to_contain_text("$70.00")  # 10 x $7
        page.get_by_label("Quantity (mailboxes)", exact=True).select_option(label="50 mailboxes")
        expect(price(page)).to_contain_text("$350.00")  # 50 x $7
        add_ons = page.get_by_role("group", name="Add-ons", exact=True)
        add_ons.get_by_label("Advanced Anti-Spam", exact=True).check()
        expect(price(page)).to_contain_text("$500.00")  # + $150
        add_ons.get_by_label("Compliance Archiving", exact=True).check()
        expect(price(page)).to_contain_text("$800.00 per license")  # + $300
        expect(price(page)).to_contain_text("with Advanced Anti-Spam, Compliance Archiving")
    expect(page).to_have_url(product_url)
    add_to_cart(page, items_after=1)
    audit()

    open_product(page, "WebStats Analytics")
    with no_page_load(page):
        page.get_by_label("Quantity (sites)", exact=True).select_option(label="5 sites")
        page.get_by_role("group", name="Add-ons", exact=True).get_by_label("Priority Support", exact=True).check()
        expect(price(page)).to_contain_text("$599.00 per license")  # Standard: $99 + 5 x $50 + $250
    add_to_cart(page, items_after=2)

    cart_link(page).click()
    arrive(page, "Your cart")
    mailsuite, webstats = cart_row(page, "MailSuite Mail Server"), cart_row(page, "WebStats Analytics")
    expect(mailsuite).to_contain_text("$800.00")
    expect(webstats).to_contain_text("$599.00")
    with no_page_load(page):  # the row's form posts on change and htmx swaps in the repriced cart
        webstats.get_by_label("Quantity", exact=True).select_option(label="10 sites")
        expect(webstats).to_contain_text("$849.00")  # $99 + 10 x $50 + $250
        expect(page.get_by_role("row", name=re.compile("^Total at list price"))).to_contain_text("$1,649.00")
    expect(webstats.get_by_label("Quantity", exact=True).locator("option:checked")).to_have_text("10 sites")
    expect(mailsuite).to_contain_text("$800.00")
    expect(cart_link(page)).to_have_accessible_name("Cart 2 items")
    audit()

    page.get_by_role("link", name="Checkout", exact=True).click()
    arrive(page, "Checkout")
    order = page.get_by_role("table", name="Your order")
    expect(order.get_by_role("row", name=re.compile(r"^Subtotal at list price"))).to_contain_text("$1,649.00")
    expect(order.get_by_role("row", name=re.compile(r"^Gold partner discount \(20%\)"))).to_contain_text(
        "−$329.80")
    expect(order.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text("$1,319.20")
    expect(page.get_by_label("Legal name", exact=True)).to_have_value("Northwind IT LLC")  # prefilled
    # Northwind is invoiced monthly: Invoice me is chosen already and the processor's card fields (a frame) stay
    # hidden until she chooses the card (a stylesheet rule, no script), then hide again when she goes back to
    # Invoice me. The portal's own form has no card number field.
    expect(page.get_by_role("radio", name="Invoice me")).to_be_checked()
    expect(card_frame(page)).to_be_hidden()
    page.get_by_role("radio", name="Pay now by card").check()
    expect(card_frame(page)).to_be_visible()
    expect(card_fields(page).get_by_label("Card number", exact=True)).to_be_visible()
    expect(page.get_by_label("Save this card", exact=False)).to_be_visible()  # she manages Northwind's cards
    page.get_by_role("radio", name="Invoice me").check()
    expect(card_frame(page)).to_be_hidden()
    expect(page.locator("form input[name=card_number]")).to_have_count(0)
    page.get_by_label("Purchase order number (optional)", exact=True).fill("NW-PO-2291")
    audit()
    place_order_button(page).click()

    number = order_number(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(page.get_by_role("status")).to_contain_text(f"Order {number} is placed")
    expect(page.get_by_text(SUMMARIZED, exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text("$1,319.20")
    expect(cart_link(page)).to_have_accessible_name("Cart 0 items")
    audit()

    # Her invoice carries her purchase order number and says it is paid through the monthly summary.
    page.get_by_role("link", name=re.compile(r"^INV-\d{6}$")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("INV-")
    expect(page.get_by_text("NW-PO-2291", exact=True)).to_be_visible()
    expect(page.get_by_text("not to be paid on its own", exact=False).first).to_be_visible()
    audit()


def test_frank_pays_by_card_declined_then_approved(demo, page, audit):
    """Frank, Chain & User Manager of Litware Solutions (a Silver reseller who pays on order), buys LiveDesk and
    pays with a new card. The bank declines it: checkout says so beside the card choice and no order exists.
    With another card the order is placed and paid, and his order history lists it. Both cards are typed in the
    processor's hosted fields, a frame in the checkout page."""
    sign_in_as(page, "frank")
    open_product(page, "LiveDesk Help Desk")
    with no_page_load(page):
        page.get_by_label("Edition", exact=True).select_option(label="Enterprise")
        page.get_by_label("Quantity (agents)", exact=True).select_option(label="5 agents")
        page.get_by_role("group", name="Add-ons", exact=True).get_by_label("SMS Channel", exact=True).check()
        expect(price(page)).to_contain_text("$1,344.00 per license")  # 5 x $249 + $99
    add_to_cart(page, items_after=1)

    cart_link(page).click()
    arrive(page, "Your cart")
    page.get_by_role("link", name="Checkout", exact=True).click()
    arrive(page, "Checkout")
    expect(page.get_by_role("row", name=re.compile(r"^Silver partner discount \(10%\)"))).to_contain_text(
        "−$134.40")
    expect(page.get_by_role("radio", name="Invoice me")).to_have_count(0)  # Litware pays on order
    page.get_by_role("radio", name="Pay now by card").check()
    page.get_by_role("radio", name="A new card").check()
    # He types the card in the processor's fields, framed in the checkout; Place order has the frame hand the
    # portal a payment method id (sandbox-processor.js), then posts the checkout with it.
    type_card(card_fields(page), DECLINED_VISA, "Frank Fischer")
    place_order_button(page).click()

    refusal = page.locator("#saved_card-error")
    expect(refusal).to_contain_text(DECLINED)
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.get_by_role("radio", name="A new card")).to_have_accessible_description(re.compile(re.escape(DECLINED)))
    expect(place_order_button(page)).to_have_accessible_name(re.compile(r"\$1,209\.60$"))
    assert DECLINED_VISA not in page.content()  # the number stayed at the processor
    audit()

    orders = page.context.new_page()  # Frank makes sure in another tab: nothing was ordered
    orders.goto("/orders")
    expect(orders.get_by_role("table", name="Orders", exact=True)).to_contain_text("No orders yet.")
    orders.close()

    expect(page.get_by_role("radio", name="A new card")).to_be_checked()
    type_card(card_fields(page), APPROVED_VISA, "Frank Fischer")  # the page came back: the frame is a new one
    place_order_button(page).click()

    number = order_number(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(page.get_by_text("Paid by Visa ending 4242.", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^Total"))).to_contain_text("$1,209.60")
    expect(cart_link(page)).to_have_accessible_name("Cart 0 items")
    audit()

    main_nav(page).get_by_role("link", name="Orders", exact=True).click()
    listed = page.get_by_role("table", name="Orders", exact=True).get_by_role("row").filter(
        has=page.get_by_role("link", name=number, exact=True))
    expect(listed).to_contain_text("Card (Visa ending 4242)")
    expect(listed).to_contain_text("$1,209.60")
