"""Signing out ends the session: a cookie copied before sign-out is refused after it; the security page lists a
user's sessions and ends any of them; a password change ends the others and every reset link emailed before.
Forms are read from the pages, CSRF token included, as a browser without JavaScript sends them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.extensions import db
from portal.signin.models import UserSession
from portal.signin.sessions import device_label
from tests.factories import DEMO_EMAILS

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


def signed_in(app, name: str, user_agent: str = FIREFOX):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    client.login(DEMO_EMAILS[name])
    return client


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def signed_out(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, demo):
    alice = signed_in(app, "alice")
    thief = copy_of(app, alice)
    assert thief.get("/account").status_code == 200  # a copied cookie works while the session lives

    assert signed_out(alice.submit("/account", action="/logout"))  # the header's Sign out

    assert signed_out(thief.get("/account"))
    assert signed_out(thief.get("/account/security"))
    with app.app_context():
        assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "user.logout")).all()


def _session_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/account/security/sessions/(\d+)/end"', page)]


def test_the_security_page_lists_sessions_and_signs_out_another_one(app, demo):
    laptop = signed_in(app, "alice")
    phone = signed_in(app, "alice", SAFARI)
    page = laptop.get("/account/security").get_data(as_text=True)
    assert "Firefox on Windows" in page and "Safari on iPhone" in page
    assert "This device" in page
    assert "127.0.0.1" in page
    (other,) = _session_ids(page)  # every session but this one has a Sign out button

    question = laptop.page(f"/account/security/sessions/{other}/end")  # Sign out asks first
    assert "Sign out Safari on iPhone?" in question.html
    response = laptop.submit(question, action=f"/account/security/sessions/{other}/end")
    assert response.status_code == 302
    assert "Safari on iPhone (127.0.0.1) is signed out." in laptop.get("/account/security").get_data(as_text=True)
    assert signed_out(phone.get("/account"))
    assert laptop.get("/account").status_code == 200
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "session.ended")).one()
        assert entry.details["device"] == "Safari on iPhone"


def test_sign_out_everywhere_else_keeps_only_this_browser(app, demo):
    here = signed_in(app, "bob")
    others = [signed_in(app, "bob", SAFARI), signed_in(app, "bob")]
    page = here.get("/account/security").get_data(as_text=True)
    assert len(_session_ids(page)) == 2
    response = here.submit("/account/security/sessions/end-others", action="/account/security/sessions/end-others")
    assert response.status_code == 302
    assert "Signed out everywhere else (2 sessions)." in here.get("/account/security").get_data(as_text=True)
    assert all(signed_out(other.get("/account")) for other in others)
    assert here.get("/account").status_code == 200


def test_another_users_session_cannot_be_ended(app, demo):
    """A session id is not a secret, but only its user may end it: anyone else gets a 404 and it lives on."""
    alice = signed_in(app, "alice")
    with app.app_context():
        alices = db.session.scalars(select(UserSession.id)).one()
    bob = signed_in(app, "bob")
    # no page of bob's has that button: forged, with his session's token
    assert bob.post(f"/account/security/sessions/{alices}/end", data={"csrf_token": bob.csrf_token()}
                    ).status_code == 404
    assert alice.get("/account").status_code == 200


def test_a_password_change_ends_other_sessions_and_outstanding_reset_links(app, demo, mailbox):
    anonymous = app.test_client()
    assert anonymous.submit("/password/forgot", {"email": DEMO_EMAILS["alice"]}).status_code == 302
    (email,) = mailbox.to(DEMO_EMAILS["alice"])
    link = re.search(r"http://portal.test(/password/set/\S+)", email.get_content()).group(1)
    assert anonymous.get(link).status_code == 200  # the link works until the password changes

    here = signed_in(app, "alice")
    elsewhere = signed_in(app, "alice", SAFARI)
    response = here.submit("/account/password", {"current": "portal-demo-2026", "password": "a-brand-new-password",
                                                  "confirm": "a-brand-new-password"})
    assert response.status_code == 302

    assert here.get("/account").status_code == 200  # this browser goes on
    assert signed_out(elsewhere.get("/account"))
    refused = anonymous.get(link)
    assert refused.status_code == 410
    assert "expired" in refused.get_data(as_text=True)


def test_deactivation_ends_every_session_of_the_user(app, demo):
    bob_here = signed_in(app, "bob")
    alice = signed_in(app, "alice")
    with app.app_context():
        bob_membership = demo.memberships[("bob", "Northwind IT")]
    assert alice.submit(f"/account/users/{bob_membership}/deactivate").status_code == 302  # its confirmation page
    assert signed_out(bob_here.get("/account"))


def test_a_session_idle_longer_than_a_session_lasts_is_refused(app, demo):
    alice = signed_in(app, "alice")
    with app.app_context():
        row = db.session.scalars(select(UserSession)).one()
        row.last_seen_at = utcnow() - app.permanent_session_lifetime - timedelta(minutes=1)
        db.session.commit()
    assert signed_out(alice.get("/account"))


def test_last_seen_is_written_at_most_once_a_minute(app, demo):
    alice = signed_in(app, "alice")
    two_minutes_ago = utcnow() - timedelta(minutes=2)
    with app.app_context():
        row = db.session.scalars(select(UserSession)).one()
        row.last_seen_at = two_minutes_ago
        db.session.commit()
    alice.get("/account")
    with app.app_context():
        seen = db.session.scalars(select(UserSession.last_seen_at)).one()
    assert seen > two_minutes_ago + timedelta(minutes=1)
    alice.get("/account")
    with app.app_context():
        assert db.session.scalars(select(UserSession.last_seen_at)).one() == seen


@pytest.mark.parametrize(("agent", "label"), [
    (FIREFOX, "Firefox on Windows"),
    (SAFARI, "Safari on iPhone"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
     "Safari/537.36", "Chrome on macOS"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36 EdgA/126.0 "
     "Edg/126.0", "Edge on Android"),
    ("curl/8.5.0", "curl"),
    ("", "Unknown device"),
])
def test_devices_are_named_by_browser_and_system(agent, label):
    assert device_label(agent) == label


def test_sessions_of_a_user_who_is_signed_in_are_listed_for_them_only(app, demo):
    signed_in(app, "bob", SAFARI)
    alice = signed_in(app, "alice")
    page = alice.get("/account/security").get_data(as_text=True)
    assert "Firefox on Windows" in page
    assert "Safari on iPhone" not in page
