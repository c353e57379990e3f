"""/api/docs in a browser: Swagger UI (from npm, served by the portal) renders the OpenAPI document under the
portal's Content Security Policy, and the problem types page is reachable from it."""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_developer_reads_the_api_reference(page, script_errors):
    page.goto("/api/docs")
    expect(page.get_by_text("/api/v1/activations").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 5  # the operations of every resource, not one
    assert not script_errors, "CSP violations or script errors:\n  " + "\n  ".join(script_errors)
    page.get_by_role("link", name="the problem types").click()
    expect(page.locator("#precondition-failed")).to_contain_text("412")
    assert not script_errors
