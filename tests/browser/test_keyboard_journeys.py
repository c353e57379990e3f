"""Keyboard only, with JavaScript (issue 17 items 5 and 6): dialogs are modal, Escape closes them, focus stays
inside while one is open and returns to the button that opened it, and a destructive action asks first.

alice (Chain & User Manager of Northwind IT) signs in, assigns a license through the assignment dialog and checks
out with nothing but Tab, Shift+Tab, the arrow keys, Enter, Escape and typing; then she removes a saved card: the
question opens as a modal, Escape keeps the card and gives focus back to Remove, and confirming removes it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.payments.models import PaymentMethod
from tests.browser.test_buying_journeys import arrive, cart_link, order_number
from tests.conftest import DEMO_PASSWORD
from tests.factories import DEMO_EMAILS, demo_org, make_payment_method

pytestmark = pytest.mark.browser

CUSTOMER = "lee@fourthcoffee.example.com"
FOCUSED = """() => { const el = document.activeElement; if (!el) return {};
  const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
  return {tag: el.tagName.toLowerCase(), type: el.type || "", text: (el.innerText || "").trim(), label: label.trim(),
          href: el.getAttribute("href") || "", value: el.value || "", checked: !!el.checked,
          in_dialog: !!el.closest("dialog[open]")}; }"""


def focused(page: Page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page: Page, matches, limit: int = 250, key: str = "Tab") -> dict:
    """Press Tab (or `key`) until the focused element `matches`, as a keyboard user moves through a page."""
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if now and matches(now):
            return now
    raise AssertionError(f"{key} never reached the element wanted (last focus: {focused(page)})")


def labelled(text: str):
    return lambda el: el["label"].startswith(text)


def named(text: str):
    return lambda el: el["text"].startswith(text)


def modal_is_open(page: Page, selector: str) -> bool:
    return page.evaluate(f"() => !!document.querySelector('{selector}') && "
                         f"document.querySelector('{selector}').matches(':modal')")


def test_alice_assigns_a_license_and_checks_out_with_the_keyboard_only(demo, page: Page, audit):
    """Sign in, Licenses, Assign license on an unassigned license: a modal dialog opens with the focus inside (Escape
    closes it and the focus returns to Assign license; Enter opens it again); the email and the customer's name are
    typed and Enter continues; Tab never leaves the dialog; Enter on Assign
    license assigns it. Then Shop, WebStats, Add to cart, the cart, Checkout, Invoice me and Place order."""
    page.goto("/login")
    tab_to(page, labelled("Email"))
    page.keyboard.type(DEMO_EMAILS["alice"])
    tab_to(page, labelled("Password"))
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))

    tab_to(page, lambda el: el["href"] == "/licenses" and el["text"] == "Licenses")
    page.keyboard.press("Enter")
    arrive(page, "Licenses of Northwind IT")
    opener = tab_to(page, named("Assign license"))
    key = opener["text"].split()[-1]
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Assign licenses")
    expect(dialog.get_by_text("Step 1 of 2: choose")).to_be_visible()
    assert modal_is_open(page, "dialog.assign-dialog") and focused(page)["in_dialog"]
    page.keyboard.press("Escape")  # closes it; the focus is back on Assign license
    expect(dialog).to_have_count(0)
    assert focused(page)["text"] == opener["text"]
    page.keyboard.press("Enter")
    expect(dialog.get_by_text("Step 1 of 2: choose")).to_be_visible()
    expect(dialog.get_by_role("checkbox", name=re.compile(key))).to_be_checked()

    tab_to(page, labelled("Customer's email"))
    page.keyboard.type(CUSTOMER)
    tab_to(page, labelled("Customer name"))
    page.keyboard.type("Fourth Coffee")
    page.keyboard.press("Enter")  # the form's first button: Continue
    expect(dialog.get_by_text("Step 2 of 2: confirm")).to_be_visible()
    expect(dialog.locator(".confirm-email")).to_have_text(CUSTOMER)
    assert modal_is_open(page, "dialog.assign-dialog")
    for _ in range(30):  # focus stays inside the modal, both ways
        page.keyboard.press("Tab")
        assert focused(page)["in_dialog"], f"Tab left the dialog: {focused(page)}"
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        assert focused(page)["in_dialog"], f"Shift+Tab left the dialog: {focused(page)}"
    audit()
    tab_to(page, lambda el: el["tag"] == "button" and el["text"] == "Assign license")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/licenses/{key}$"))
    expect(page.get_by_role("status")).to_contain_text(f"assigned to {CUSTOMER}")

    tab_to(page, lambda el: el["href"] == "/shop" and el["text"] == "Shop")
    page.keyboard.press("Enter")
    arrive(page, "Shop")
    tab_to(page, lambda el: el["text"] == "WebStats Analytics")
    page.keyboard.press("Enter")
    arrive(page, "WebStats Analytics")
    tab_to(page, lambda el: el["tag"] == "button" and el["text"] == "Add to cart")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Added to your cart")).to_be_visible()
    expect(cart_link(page)).to_have_accessible_name("Cart 1 item")

    tab_to(page, lambda el: el["href"] == "/cart", key="Shift+Tab")  # the header's cart link, back up the page
    page.keyboard.press("Enter")
    arrive(page, "Your cart")
    tab_to(page, lambda el: el["text"] == "Checkout")
    page.keyboard.press("Enter")
    arrive(page, "Checkout")
    choice = tab_to(page, lambda el: el["type"] == "radio")
    for _ in range(4):  # the arrow keys move through the payment choices
        if choice["label"].startswith("Invoice me"):
            break
        page.keyboard.press("ArrowDown")
        choice = focused(page)
    assert choice["label"].startswith("Invoice me") and choice["checked"]
    tab_to(page, named("Place order"))
    page.keyboard.press("Enter")
    number = order_number(page)
    expect(page.get_by_role("status")).to_contain_text(f"Order {number} is placed")
    expect(cart_link(page)).to_have_accessible_name("Cart 0 items")


def test_removing_a_card_asks_in_a_modal_that_escape_closes(app, demo, page: Page, audit):
    """Remove… opens the question as a modal dialog with the focus on Keep it; Escape closes it, the card stays
    and the focus is back on Remove…; Enter opens it again, Shift+Tab reaches Remove and Enter removes the card."""
    with app.app_context():
        card_id = make_payment_method(demo_org("Northwind IT"), last4="5100").id
        db.session.commit()
    page.goto("/login")
    tab_to(page, labelled("Email"))
    page.keyboard.type(DEMO_EMAILS["alice"])
    tab_to(page, labelled("Password"))
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    page.goto("/payment-methods")
    page.wait_for_load_state("load")

    remove = f"/payment-methods/{card_id}/remove"
    tab_to(page, lambda el: el["href"] == remove)
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=1)).to_contain_text("5100")
    assert modal_is_open(page, "dialog.confirm-dialog")
    assert focused(page)["text"] == "Keep it"  # the safe choice has the focus
    audit()

    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert focused(page)["href"] == remove, "the focus returns to the button that opened the dialog"
    with app.app_context():
        assert db.session.get(PaymentMethod, card_id) is not None, "Escape removed nothing"

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    now = tab_to(page, lambda el: el["tag"] == "button" and el["text"].startswith("Remove"), limit=5,
                 key="Shift+Tab")
    assert now["in_dialog"]
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("removed")
    expect(page.locator(f'a[href="{remove}"]')).to_have_count(0)
    with app.app_context():
        assert db.session.get(PaymentMethod, card_id) is None
