"""No enumeration through "Forgot password" (issue 12 item 6): a known and an unknown address get the same answer,
and the reset email is written to the outbox in the request's transaction (delivered outside the request)."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.outbox import background
from portal.outbox.models import OutboxMessage
from tests.conftest import PortalClient, test_config
from tests.factories import DEMO_EMAILS
from tests.outbox.test_background import HangingSMTPServer


def _ask_for_a_reset(client, email: str):
    """Send the Forgot password form as the page renders it; the answer and the page it leads to."""
    response = client.submit("/password/forgot", {"email": email})
    following = client.get(response.headers["Location"]) if response.status_code == 302 else None
    return response, following


def _without_csrf_tokens(response) -> str:
    """The page as the person reads it: each session's CSRF token is its own."""
    page = response.get_data(as_text=True)
    return page.replace(re.search(r'name="csrf-token" content="([^"]+)"', page).group(1), "")


def test_a_known_and_an_unknown_address_get_the_same_answer(app, demo):
    known, known_next = _ask_for_a_reset(app.test_client(), DEMO_EMAILS["bob"])
    unknown, unknown_next = _ask_for_a_reset(app.test_client(), "nobody-here@northwind.example.com")

    assert (known.status_code, known.headers["Location"], known.get_data()) == (
        unknown.status_code, unknown.headers["Location"], unknown.get_data())
    assert known.status_code == 302
    assert known_next.status_code == unknown_next.status_code == 200
    assert _without_csrf_tokens(known_next) == _without_csrf_tokens(unknown_next)
    assert "If an account uses that address, a link to reset the password is on its way." in (
        known_next.get_data(as_text=True))


def test_the_reset_email_is_written_to_the_outbox_only_for_a_real_account(app, demo, mailbox):
    _ask_for_a_reset(app.test_client(), DEMO_EMAILS["bob"])
    _ask_for_a_reset(app.test_client(), "nobody-here@northwind.example.com")
    with app.app_context():
        queued = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "password_reset")).all()
        assert [m.to_addrs for m in queued] == [[DEMO_EMAILS["bob"]]]
    [email] = mailbox.to(DEMO_EMAILS["bob"])
    assert "/password/set/" in email.get_content()
    assert not mailbox.to("nobody-here@northwind.example.com")


def test_a_hanging_mail_server_does_not_slow_the_answer_for_a_real_account(database_url, demo):
    """The reset email is delivered after the response (the outbox's delivery thread), so a mail server that never
    answers does not make a known address's request take its 10-second timeout where an unknown one's does not."""
    server = HangingSMTPServer()
    try:
        hanging = create_app(test_config(database_url, f"smtp://127.0.0.1:{server.port}"))
        hanging.test_client_class = PortalClient
        timings = {}
        for email in (DEMO_EMAILS["bob"], "nobody-here@northwind.example.com"):
            started = time.monotonic()
            response, _ = _ask_for_a_reset(hanging.test_client(), email)
            timings[email] = time.monotonic() - started
            assert response.status_code == 302
        assert max(timings.values()) < 2, f"the requests waited for the mail server: {timings}"
        with hanging.app_context():
            queued = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "password_reset")).all()
            assert [m.to_addrs for m in queued] == [[DEMO_EMAILS["bob"]]]
    finally:
        server.close()
    assert background.wait_for_outbox(timeout=30)
