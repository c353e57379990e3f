"""Two-step sign-in: turning it on (QR code, first code, recovery codes) and off, the second step of signing in
(a code or a recovery code, once each, within minutes of the password, rate-limited), and where it is required:
vendor staff, and the users of a main chain whose managers require it."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.signin.models import TwoStepCredential
from tests.factories import DEMO_EMAILS, demo_user, make_two_step, make_user
from tests.forms import Page

PASSWORD = "portal-demo-2026"


def _with_two_step(app, name: str) -> pyotp.TOTP:
    with app.app_context():
        secret = make_two_step(demo_user(name))
        db.session.commit()
    return pyotp.TOTP(secret)


def _password_step(client, email: str, password: str = PASSWORD):
    return client.submit("/login", {"email": email, "password": password})


def _code_step(client, code: str):
    return client.submit("/login/two-step", {"code": code})


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30 seconds (accepted for clock drift): a code not yet used in this test."""
    return totp.at(time.time() + 30)


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_user_turns_two_step_sign_in_on_with_a_qr_code_and_a_first_code(app, login, demo):
    alice = login("alice")
    security = alice.get("/account/security").get_data(as_text=True)
    assert "Off: your password alone signs you in." in security
    assert alice.submit("/account/security/two-step", action="/account/security/two-step/start").status_code == 302

    setup = alice.get("/account/security/two-step")
    page = setup.get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", page, re.S).group()
    assert "style" not in svg and not re.search(r"<script(?![^>]*\bsrc=)", page)  # the strict CSP allows it
    assert "script-src 'self'" in setup.headers["Content-Security-Policy"]
    secret = re.search(r"Or type this key: <code>([A-Z2-7]+)</code>", page).group(1)
    with app.app_context():  # stored encrypted, not as the key shown
        stored = db.session.get(TwoStepCredential, demo_user("alice").id)
        assert secret not in stored.secret_encrypted and stored.confirmed_at is None

    setup_page = Page.parse("/account/security/two-step", page)
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    refused = alice.submit(setup_page, {"code": wrong}, action="/account/security/two-step")
    assert refused.status_code == 422
    assert re.search(r'id="code-error">That code is not right', refused.get_data(as_text=True))

    codes_page = alice.submit(setup_page, {"code": pyotp.TOTP(secret).now()},
                              action="/account/security/two-step").get_data(as_text=True)
    assert "Two-step sign-in is on." in codes_page
    assert len(re.findall(r"<code>[0-9a-f]{5}-[0-9a-f]{5}</code>", codes_page)) == 10
    assert "10 unused recovery codes left" in alice.get("/account/security").get_data(as_text=True)
    assert "user.two_step_enabled" in _actions(app)


def test_signing_in_asks_for_the_code_and_signs_in_only_after_it(app, demo):
    totp = _with_two_step(app, "alice")
    client = app.test_client()
    response = _password_step(client, DEMO_EMAILS["alice"])
    assert response.headers["Location"].endswith("/login/two-step")
    assert "/login" in client.get("/account").headers["Location"]  # not signed in yet

    wrong = _code_step(client, "12345" if totp.now() != "12345" else "54321")
    assert wrong.status_code == 422
    assert re.search(r'id="code-error">That code is not right', wrong.get_data(as_text=True))

    done = _code_step(client, totp.now())
    assert done.status_code == 302 and not done.headers["Location"].endswith("/login")
    assert client.get("/account").status_code == 200


def test_a_code_is_accepted_once(app, demo):
    """A code seen over someone's shoulder (or replayed from a captured request) does not sign in again."""
    totp = _with_two_step(app, "bob")
    first, second = app.test_client(), app.test_client()
    code = totp.now()
    _password_step(first, DEMO_EMAILS["bob"])
    assert _code_step(first, code).status_code == 302
    _password_step(second, DEMO_EMAILS["bob"])
    replayed = _code_step(second, code)
    assert replayed.status_code == 422
    assert "/login" in second.get("/account").headers["Location"]


def test_a_recovery_code_signs_in_once(app, login, demo):
    _with_two_step(app, "bob")
    bob = login("bob")  # signs in with the app's code
    assert 'href="/account/security/recovery-codes"' in bob.get("/account/security").get_data(as_text=True)
    new_codes = bob.submit("/account/security/recovery-codes",  # it asks first
                           action="/account/security/recovery-codes")
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", new_codes.get_data(as_text=True))
    assert len(codes) == 10

    client = app.test_client()
    _password_step(client, DEMO_EMAILS["bob"])
    assert _code_step(client, codes[0].upper()).status_code == 302  # typed as printed, or in capitals
    assert "9 unused recovery codes left" in client.get("/account/security").get_data(as_text=True)
    again = app.test_client()
    _password_step(again, DEMO_EMAILS["bob"])
    assert _code_step(again, codes[0]).status_code == 422
    assert "user.recovery_code_used" in _actions(app)


def test_new_recovery_codes_end_the_old_ones(app, login, demo):
    _with_two_step(app, "bob")
    bob = login("bob")

    def regenerate() -> list[str]:
        new_codes = bob.submit("/account/security/recovery-codes", action="/account/security/recovery-codes")
        return re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", new_codes.get_data(as_text=True))

    old, new = regenerate(), regenerate()
    client = app.test_client()
    _password_step(client, DEMO_EMAILS["bob"])
    assert _code_step(client, old[0]).status_code == 422
    assert _code_step(client, new[0]).status_code == 302


def test_the_code_must_follow_the_password_within_minutes(app, demo):
    totp = _with_two_step(app, "alice")
    client = app.test_client()
    _password_step(client, DEMO_EMAILS["alice"])
    page = client.page("/login/two-step")
    with client.session_transaction() as session:  # the code typed after the minutes allowed
        session["two_step_pending"] = {**session["two_step_pending"], "until": time.time() - 1}
    late = client.submit(page, {"code": totp.now()})
    assert late.status_code == 302 and late.headers["Location"].endswith("/login")
    assert "/login" in client.get("/account").headers["Location"]


def test_code_attempts_are_limited_like_passwords(app, demo):
    _with_two_step(app, "alice")
    client = app.test_client()
    _password_step(client, DEMO_EMAILS["alice"])
    statuses = [client.submit("/login/two-step", {"code": "000001"}).status_code for _ in range(6)]
    assert statuses[:5] == [422] * 5
    assert statuses[5] == 429


def test_turning_it_off_needs_a_current_code_or_the_password(app, login, demo):
    totp = _with_two_step(app, "alice")
    alice = login("alice")
    page = alice.page("/account/security")
    turn_off = {"action": "/account/security/two-step/disable"}
    refused = alice.submit(page, {"credential": "not-my-password"}, **turn_off)
    assert refused.status_code == 422
    assert re.search(r'id="credential-error">That is neither a current code', refused.get_data(as_text=True))

    assert alice.submit(page, {"credential": _next_code(totp)}, **turn_off).status_code == 302
    assert "Off: your password alone signs you in." in alice.get("/account/security").get_data(as_text=True)
    assert "user.two_step_disabled" in _actions(app)
    client = app.test_client()
    assert not _password_step(client, DEMO_EMAILS["alice"]).headers["Location"].endswith("/login/two-step")


def test_staff_without_two_step_set_it_up_before_anything_else(app, demo):
    with app.app_context():
        make_user("newstaff@vendor.example.com", password=PASSWORD, is_staff=True)
        db.session.commit()
    client = app.test_client()
    _password_step(client, "newstaff@vendor.example.com")
    for path in ("/admin/audit", "/account/security", "/help", "/account/password"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/security/two-step")
    page = client.get("/account/security/two-step").get_data(as_text=True)
    assert "Two-step sign-in is required for your account" in page
    assert client.get("/static/css/portal.css").status_code == 200

    started = client.submit(Page.parse("/account/security/two-step", page),
                            action="/account/security/two-step/start")
    assert started.status_code == 302
    page = client.page("/account/security/two-step")
    secret = re.search(r"Or type this key: <code>([A-Z2-7]+)</code>", page.html).group(1)
    assert client.submit(page, {"code": pyotp.TOTP(secret).now()},
                         action="/account/security/two-step").status_code == 200
    assert client.get("/admin/audit").status_code == 200
    # and it stays on: staff may not turn it off
    assert "It is required for your account, so it stays on." in client.get("/account/security").get_data(
        as_text=True)
    # the page offers no way to turn it off: forged, with the session's token
    refused = client.post("/account/security/two-step/disable", data={"credential": PASSWORD,
                                                                      "csrf_token": client.csrf_token()})
    assert refused.status_code == 422


def test_signing_out_stays_possible_before_the_setup(app, demo):
    with app.app_context():
        make_user("newstaff@vendor.example.com", password=PASSWORD, is_staff=True)
        db.session.commit()
    client = app.test_client()
    _password_step(client, "newstaff@vendor.example.com")
    page = client.page("/account/security/two-step")
    # the header's Sign out and the page's own "Sign out instead" are the same form: press the page's own
    own = [form for form in page.forms if form.action == "/logout"][-1]
    signed_out = client.submit(Page(page.url, page.html, [own], page.body_attrs), action="/logout")
    assert signed_out.headers["Location"].endswith("/login")
    assert "/login" in client.get("/account/security/two-step").headers["Location"]


def test_a_main_chains_managers_require_two_step_of_all_its_users(app, login, demo):
    bob, carol, dave = login("bob"), login("carol"), login("dave")
    alice = login("alice")
    assert alice.submit("/account/security", {"required": True}, action="/account/security/chain").status_code == 302
    assert "now required for every user of Northwind IT" in alice.get("/account/security/two-step").get_data(
        as_text=True)
    assert "organization.two_step_required" in _actions(app)

    def sent_to_setup(client) -> bool:
        response = client.get("/account")
        return response.status_code == 302 and response.headers["Location"].endswith("/account/security/two-step")

    assert sent_to_setup(alice) and sent_to_setup(bob)  # Northwind's own users, at their next request
    assert sent_to_setup(carol)  # Contoso Retail is a sub-chain of Northwind IT
    assert not sent_to_setup(dave)  # Fabrikam Stores did not ask


def test_only_a_main_chains_managers_set_the_requirement(app, login, demo):
    bob = login("bob")
    # the page shows him no such form: forged, with his session's token
    assert bob.post("/account/security/chain", data={"required": "y", "csrf_token": bob.csrf_token()}
                    ).status_code == 403
    assert "Two-step sign-in in Northwind IT" not in bob.get("/account/security").get_data(as_text=True)
    assert "organization.two_step_required" not in _actions(app)


def test_the_demo_staff_user_signs_in_with_the_published_key(app, demo):
    from portal.demo import DEMO_TOTP_SECRET

    client = app.test_client()
    assert _password_step(client, DEMO_EMAILS["ops"]).headers["Location"].endswith("/login/two-step")
    assert _code_step(client, pyotp.TOTP(DEMO_TOTP_SECRET).now()).status_code == 302
    assert client.get("/admin/audit").status_code == 200
