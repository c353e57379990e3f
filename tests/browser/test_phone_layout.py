"""Phones and desktops (issue 17 item 8): every demo user opens every page their navigation offers, and the
license, invoice and order pages those lists link to, on a 390 px phone and on a 1366 px laptop.

On the phone the navigation waits behind a Menu button (a <details>, no JavaScript needed) that opens it, no page
scrolls sideways, and every cell of a stacked table says which column it belongs to; on the laptop the navigation
shows without a button. axe-core finds nothing on any page at either width, not even a minor issue.

axe-core runs in the page itself rather than in conftest's snapshot: Playwright evaluates it through the DevTools
protocol, which the page's Content Security Policy does not govern, and skipping the second page load makes the
two hundred audits of this file five times faster."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from portal.demo import seed_demo
from portal.extensions import db
from tests.browser.conftest import AXE, describe
from tests.browser.test_sign_in_journeys import JOURNEYS, main_nav, sign_in
from tests.factories import DEMO_EMAILS

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_with_history(app):
    """The demo of `flask seed-demo`, with its past orders, invoices and summary (there are detail pages to open)."""
    with app.app_context():
        seed_demo(history=True)
        db.session.commit()
        db.session.remove()

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
# The detail pages the lists link to: a license (by key), an invoice (by number), an order (by number).
DETAIL_PAGES = {
    "license": re.compile(r"^/licenses/[A-Z0-9-]+$"),
    "invoice": re.compile(r"^/invoices/[^/.]+$"),
    "order": re.compile(r"^/orders/[^/.]+$"),
    "install": re.compile(r"^/deliveries/\d+/install$"),  # a delivered unit's install form (issue 20)
}
# What the demo's users reach from their lists (alice and bob buy for Northwind IT, dave for Fabrikam Stores,
# where counters were delivered to Airport Kiosk and wait to be installed).
DETAILS_REACHED = {"alice": {"license", "invoice", "order"}, "bob": {"license", "invoice", "order"},
                   "carol": {"license"}, "dave": {"license", "invoice", "order", "install"}}

AXE_SOURCE = AXE.read_text() if AXE.is_file() else ""  # the browser fixture skips without it
# Read in the page: how far it scrolls sideways, and the body cells of its tables that name no column.
SIDEWAYS = "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
UNLABELLED_CELLS = """() => {
  const shown = cell => { const copy = cell.cloneNode(true);  // what a sighted user reads in a header cell
    copy.querySelectorAll('.visually-hidden').forEach(hidden => hidden.remove()); return copy.textContent.trim(); };
  return [...document.querySelectorAll('table.table')].filter(table => table.tHead)
    .flatMap(table => [...table.querySelectorAll('tbody td, tfoot td')].filter(cell => cell.colSpan === 1
      && !cell.dataset.label && shown(table.tHead.rows[table.tHead.rows.length - 1].cells[cell.cellIndex] || cell)
      && table.tHead.rows[table.tHead.rows.length - 1].cells[cell.cellIndex])
      .map(cell => `${table.caption?.textContent.trim() || table.id}: ${cell.textContent.trim().slice(0, 40)}`));
}"""
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(el => el.outerHTML.slice(0, 160))"""


def links_to_details(page: Page) -> dict[str, str]:
    """The first link of each kind of detail page on `page` (path only)."""
    found: dict[str, str] = {}
    for href in page.locator("main a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        path = urlsplit(href).path
        for kind, pattern in DETAIL_PAGES.items():
            if kind not in found and pattern.match(path) and not urlsplit(href).query:
                found[kind] = path
    return found


def assert_axe_finds_nothing(page: Page, width: str) -> None:
    if not page.evaluate("() => typeof axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert not violations, f"axe at {width} on {page.url}:\n{describe(violations)}"


def check_on_a_phone(page: Page) -> None:
    """The page at 390 px: nothing scrolls sideways, the Menu button opens the navigation, tables name columns."""
    page.set_viewport_size(PHONE)
    assert page.evaluate(SIDEWAYS) <= 0, f"{page.url} scrolls sideways at 390 px: {page.evaluate(WIDEST)}"
    assert page.evaluate(UNLABELLED_CELLS) == [], f"{page.url}: stacked cells without their column's name"
    menu = main_nav(page).get_by_text("Menu", exact=True)
    first_link = main_nav(page).locator("a").first  # found even while hidden (a role locator would skip it)
    if menu.count():
        expect(menu).to_be_visible()
        expect(first_link).to_be_hidden()
        menu.click()
        expect(first_link).to_be_visible()
        expect(main_nav(page).locator("details")).to_have_attribute("open", "")
        assert page.evaluate(SIDEWAYS) <= 0, f"{page.url} scrolls sideways with the menu open"
    assert_axe_finds_nothing(page, "390 px")  # with the menu open: its links are audited too


def check_on_a_laptop(page: Page) -> None:
    """The same page at 1366 px: the navigation shows without a Menu button, and axe finds nothing."""
    page.set_viewport_size(LAPTOP)
    if main_nav(page).count():
        expect(main_nav(page).get_by_text("Menu", exact=True)).to_be_hidden()
        expect(main_nav(page).get_by_role("link").first).to_be_visible()
    assert page.evaluate(SIDEWAYS) <= 0, f"{page.url} scrolls sideways at 1366 px: {page.evaluate(WIDEST)}"
    assert_axe_finds_nothing(page, "1366 px")


@pytest.mark.parametrize("name", JOURNEYS)
def test_every_page_of_each_demo_user_fits_a_phone_and_passes_axe(demo_with_history, page, script_errors, name):
    """A demo user signs in on a phone and opens the home page, each page of their navigation and the first
    license, invoice and order those pages link to; each is checked at 390 px, then at 1366 px."""
    page.set_viewport_size(PHONE)
    page.goto("/login")
    check_on_a_phone(page)
    sign_in(page, DEMO_EMAILS[name])
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    hrefs = main_nav(page).locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= len(JOURNEYS[name][1]) >= 4

    to_visit, visited, details = ["/", *hrefs], set(), {}
    while to_visit:
        path = to_visit.pop(0)
        if path in visited:
            continue
        visited.add(path)
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        for kind, link in links_to_details(page).items():
            if kind not in details:
                details[kind] = link
                to_visit.append(link)
        check_on_a_phone(page)
        check_on_a_laptop(page)
    assert not script_errors, "CSP violations or script errors:\n  " + "\n  ".join(script_errors)
    assert DETAILS_REACHED.get(name, set()) <= set(details), f"{name} reached only {sorted(details)}"


def test_the_menu_button_opens_the_navigation_with_javascript_off(demo, browser, live_server):
    """With JavaScript off, Carol signs in on a phone; the Menu button (a <details>'s summary) opens the navigation
    from the keyboard and its links lead to their pages."""
    context = browser.new_context(base_url=live_server, viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/login")
        sign_in(page, DEMO_EMAILS["carol"])
        expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
        devices = main_nav(page).get_by_role("link", name="Devices", exact=True, include_hidden=True)
        expect(devices).to_be_hidden()
        menu = main_nav(page).get_by_text("Menu", exact=True)
        menu.focus()  # a button to the keyboard: Enter opens it (and to screen readers: Chromium's disclosure button)
        page.keyboard.press("Enter")
        expect(devices).to_be_visible()
        devices.click()
        expect(page).to_have_url(re.compile(r"/devices$"))
        expect(main_nav(page).get_by_text("Menu", exact=True)).to_be_visible()
        expect(devices).to_be_hidden()  # the next page's menu starts closed
    finally:
        context.close()
