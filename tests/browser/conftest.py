"""Browser harness: the test app served on loopback, Debian's Chromium driven by Playwright, and axe-core to
check what each page offers to keyboard and screen-reader users.

The journey runs in an ordinary browser context, under the portal's strict Content Security Policy, and any CSP
violation or script error fails the audit. axe-core is injected as an inline script, which that CSP forbids, so
it runs in a second context with bypass_csp=True that does nothing else: it is served a snapshot of the page
the user is looking at (the live DOM, styled by the real stylesheet) and audits that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, expect, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `playwright install` cannot download here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"  # npm devDependency
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
TIMEOUT_MS = 10_000
# assertions wait as long as actions do (Playwright's 5 s default is short for a CI machine running both suites)
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The session's app on 127.0.0.1 (a free port picked by the OS), sharing the tests' database."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (`make chromium` installs it as root)")
    if not AXE.is_file():
        pytest.skip(f"browser tests need axe-core at {AXE} (`make static` installs it from npm)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def script_errors() -> list[str]:
    """CSP violations and uncaught script errors seen on the journey's page."""
    return []


@pytest.fixture
def page(browser, live_server, script_errors) -> Iterator[Page]:
    """A fresh, signed-out browser tab that enforces the portal's CSP; relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            script_errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: script_errors.append(f"{page.url}: {error}"))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def auditor(browser) -> Iterator[BrowserContext]:
    """The one context that bypasses the CSP, and only so that axe-core can be injected."""
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def axe_violations(auditor: BrowserContext, page: Page) -> list[dict]:
    """Run axe-core on a snapshot of `page` as it stands (same URL, so its stylesheet and scripts load)."""
    url, html = page.url, page.content()

    def serve_snapshot(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    snapshot = auditor.new_page()
    if page.viewport_size:  # a phone's page is audited at a phone's width (what shows, and how, depends on it)
        snapshot.set_viewport_size(page.viewport_size)
    try:
        snapshot.route(lambda requested: requested == url, serve_snapshot)
        snapshot.goto(url)
        snapshot.add_script_tag(path=str(AXE))
        # only violations are read: axe then keeps one node of each pass (a third faster on a long page)
        return snapshot.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    finally:
        snapshot.close()


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} - {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append("    " + " ".join(str(part) for part in node["target"]))
    return "\n".join(lines)


@pytest.fixture
def audit(auditor, page, script_errors) -> Callable[[], None]:
    """audit() fails the test if the page so far broke the CSP or threw, or if axe finds a serious or critical
    violation on the page as it stands now."""

    def _audit() -> None:
        assert not script_errors, "CSP violations or script errors:\n  " + "\n  ".join(script_errors)
        blocking = [v for v in axe_violations(auditor, page) if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe found serious or critical violations on {page.url}:\n{describe(blocking)}"

    return _audit
