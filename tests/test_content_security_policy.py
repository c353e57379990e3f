"""The Content-Security-Policy is built in one place (portal/security.py `content_security_policy`) from what the
card processor says its side needs in the buyer's browser (`processor().browser_side()`): with the embedded sandbox,
which the portal's own origin serves, every page's policy admits the portal's origin only; with Stripe, a payment
form's answer may redirect to Stripe Checkout and to 3-D Secure, and nothing else is admitted. The sandbox's hosted
card fields are the one page another page may frame: the portal's own pages, and nobody else's."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from portal import create_app
from portal.extensions import db
from portal.payments.processor import BrowserSide
from portal.payments.stripe_processor import StripeProcessor
from portal.sandbox_processor.processor import DEV_PUBLISHABLE_KEY, SandboxProcessor
from portal.security import content_security_policy
from tests.conftest import test_config
from tests.factories import demo_org, demo_user, make_cart_item, make_invoice

STRIPE_FORM_ORIGINS = ["https://checkout.stripe.com", "https://hooks.stripe.com"]
FAKE_STRIPE_KEYS = {"STRIPE_SECRET_KEY": "sk_test_not_a_real_key", "STRIPE_PUBLISHABLE_KEY": "pk_test_not_a_real_key",
                    "STRIPE_WEBHOOK_SECRET": "whsec_not_a_real_secret"}


def directives(policy: str) -> dict[str, list[str]]:
    """The policy's directives and their sources, each named once."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice in {policy}"
        parsed[name] = sources
    return parsed


def self_only(policy: dict[str, list[str]]) -> list[str]:
    """The sources a policy admits beyond the portal's own origin (an image may be a data: URL)."""
    return [f"{name} {source}" for name, sources in policy.items() for source in sources
            if source not in ("'self'", "'none'") and not (name == "img-src" and source == "data:")]


def csp(response) -> dict[str, list[str]]:
    return directives(response.headers["Content-Security-Policy"])


@pytest.fixture
def payment_pages(app, login, demo) -> dict:
    """The portal's pages with a payment form (and the hosted fields they frame), as their buyers see them."""
    with app.app_context():
        make_cart_item(demo_org("Litware Solutions"), demo_user("frank"))
        invoice = make_invoice(demo_org("Litware Solutions")).number
        db.session.commit()
    frank, anonymous = login("frank"), app.test_client()
    pages = {"/login": anonymous.get("/login"), "/help": anonymous.get("/help"), "/checkout": frank.get("/checkout"),
             f"/invoices/{invoice}/pay": frank.get(f"/invoices/{invoice}/pay"),
             "/payment-methods": frank.get("/payment-methods")}
    sent = frank.submit("/checkout", {"payment_kind": "card", "saved_card": 0})  # no JavaScript: the hosted page
    hosted = urlsplit(sent.headers["Location"]).path
    pages[hosted] = anonymous.get(hosted)
    for url, response in pages.items():
        assert response.status_code == 200, f"{url}: {response.status_code}"
    return pages


def test_with_the_sandbox_every_page_admits_the_portals_own_origin_only(app, payment_pages):
    for url, response in payment_pages.items():
        policy = csp(response)
        assert not self_only(policy), f"{url}: {self_only(policy)}"
        for name in ("default-src", "script-src", "connect-src", "frame-src", "form-action", "style-src"):
            assert policy[name] == ["'self'"], f"{url}: {name} {policy[name]}"
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        assert response.headers["X-Frame-Options"] == "DENY", url
    # The payment form frames the hosted fields from the portal's own origin, which 'self' admits.
    checkout = payment_pages["/checkout"].get_data(as_text=True)
    assert "/sandbox-processor/fields?key=" in checkout


def test_the_sandbox_adds_nothing_to_the_policy(app):
    with app.test_request_context():
        side = SandboxProcessor().browser_side()
    assert (side.script_origins, side.frame_origins, side.connect_origins, side.form_origins) == ((), (), (), ())
    assert content_security_policy(side) == content_security_policy()
    assert app.test_client().get("/help").headers["Content-Security-Policy"] == content_security_policy(side)


def test_each_origin_the_processor_needs_goes_to_its_own_directive_and_nowhere_else():
    side = BrowserSide(script_url="https://js.example/v3", publishable_key="pk", script_origins=("https://js.example",),
                       frame_origins=("https://frames.example",), connect_origins=("https://api.example",),
                       form_origins=("https://pay.example", "https://3ds.example"))
    policy, plain = directives(content_security_policy(side)), directives(content_security_policy())
    assert policy["script-src"] == ["'self'", "https://js.example"]
    assert policy["frame-src"] == ["'self'", "https://frames.example"]
    assert policy["connect-src"] == ["'self'", "https://api.example"]
    assert policy["form-action"] == ["'self'", "https://pay.example", "https://3ds.example"]
    changed = {name for name in plain if policy[name] != plain[name]}
    assert changed == {"script-src", "frame-src", "connect-src", "form-action"} and policy.keys() == plain.keys()


def test_with_stripe_a_payment_form_may_answer_with_checkout_or_3d_secure_and_nothing_else_is_admitted(
        app, database_url, smtp_server, tmp_path):
    sandbox = directives(content_security_policy())
    stripe_side = StripeProcessor(FAKE_STRIPE_KEYS["STRIPE_SECRET_KEY"], FAKE_STRIPE_KEYS["STRIPE_PUBLISHABLE_KEY"],
                                  FAKE_STRIPE_KEYS["STRIPE_WEBHOOK_SECRET"]).browser_side()
    built = directives(content_security_policy(stripe_side))
    assert built["form-action"] == ["'self'", *STRIPE_FORM_ORIGINS]
    assert {name: sources for name, sources in built.items() if name != "form-action"} == {
        name: sources for name, sources in sandbox.items() if name != "form-action"}

    # An app configured for Stripe sends that policy on its pages (the policy is built from its processor).
    stripe_app = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}",
                                        INSTANCE_PATH=str(tmp_path), PAYMENT_GATEWAY="stripe", **FAKE_STRIPE_KEYS))
    for url in ("/login", "/help"):
        response = stripe_app.test_client().get(url)
        assert response.status_code == 200, url
        assert csp(response) == built, url
    with stripe_app.app_context():
        db.engine.dispose()


def test_the_sandboxs_hosted_fields_may_be_framed_by_the_portals_own_pages_only(app, client):
    fields = client.get(f"/sandbox-processor/fields?key={DEV_PUBLISHABLE_KEY}")
    assert fields.status_code == 200
    policy = csp(fields)
    assert policy["frame-ancestors"] == ["'self'"] and fields.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert not self_only(policy)  # the fields' own page loads nothing from elsewhere either
    portal_policy = csp(client.get("/help"))
    assert {name: s for name, s in policy.items() if name != "frame-ancestors"} == {
        name: s for name, s in portal_policy.items() if name != "frame-ancestors"}
    # An unknown key gets no frameable page.
    refused = client.get("/sandbox-processor/fields?key=pk_unknown")
    assert refused.status_code == 400 and csp(refused)["frame-ancestors"] == ["'none'"]
