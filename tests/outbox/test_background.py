"""A slow mail server never slows a request (issue 12 item 8): with OUTBOX_SEND_AFTER_COMMIT=1 a request's emails
are delivered by the process's delivery thread after the response, and what it cannot deliver stays pending for
`flask outbox send`."""

from __future__ import annotations

import socket
import threading
import time

from sqlalchemy import select

from portal import create_app
from portal.accounts.models import Organization, Role
from portal.devices.models import Location
from portal.extensions import db
from portal.outbox import background
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.outbox.worker import deliver
from tests.conftest import PortalClient, test_config
from tests.factories import DEMO_EMAILS, make_member


class HangingSMTPServer:
    """Accepts connections and never says a word: an SMTP client waits for the greeting until its timeout (10 s)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        """Hang up on everyone: a waiting client fails at once, and the next one is refused."""
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (a bare close would not)
        self.thread.join(5)
        self.sock.close()
        for conn in self.connections:
            conn.close()


def test_a_hanging_mail_server_does_not_hold_the_request_and_loses_nothing(app, database_url, demo, mailbox):
    """Adding a device with three managers wrote three emails: the page answers at once (it took 30 s when the
    request delivered them itself), and the messages stay pending until a worker delivers them."""
    server = HangingSMTPServer()
    try:
        hanging = create_app(test_config(database_url, f"smtp://127.0.0.1:{server.port}"))
        hanging.test_client_class = PortalClient
        with hanging.app_context():
            fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
            extra = [make_member(fabrikam, Role.MANAGER).user.email for _ in range(2)]
            airport = db.session.scalars(select(Location.id).where(Location.name == "Airport Kiosk")).one()
            db.session.commit()
        dave = hanging.test_client()
        dave.login(DEMO_EMAILS["dave"])

        started = time.monotonic()
        response = dave.submit("/devices", {"location_id": airport, "name": "Airport kiosk 8", "counts": True})
        elapsed = time.monotonic() - started

        assert response.status_code == 302
        assert elapsed < 2, f"the request waited {elapsed:.1f} s for the mail server"
        with hanging.app_context():
            messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "device_added")).all()
            assert sorted(m.to_addrs[0] for m in messages) == sorted([DEMO_EMAILS["dave"], *extra])
            assert all(m.status is OutboxStatus.PENDING for m in messages)
    finally:
        server.close()
    assert background.wait_for_outbox(timeout=30)
    with app.app_context():
        pending = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "device_added")).all()
        assert [(m.status, m.attempts) for m in pending] == [(OutboxStatus.PENDING, 1)] * 3
        for message in pending:
            message.next_attempt_at = message.created_at  # due again now, as after the backoff
        db.session.commit()
    with app.app_context():  # the worker (`flask outbox send`), once the mail server works, delivers all three
        assert deliver() == (3, 0)
    assert sorted(m["To"] for m in mailbox.messages) == sorted([DEMO_EMAILS["dave"], *extra])


def test_a_request_returns_before_its_email_is_delivered(app, login, demo, mailbox, monkeypatch):
    """The delivery runs on the outbox thread, not the request's: while it is held back the request has answered
    and the mail has not arrived; released, it arrives."""
    release = threading.Event()
    real_submit = background._Sender.submit

    def held(self, app_, job):
        def later():
            release.wait(10)
            return job()
        real_submit(self, app_, later)

    monkeypatch.setattr(background._Sender, "submit", held)
    response = login("alice").submit("/password/forgot", {"email": "bob@northwind.example.com"})
    assert response.status_code in (200, 302)
    assert not background.wait_for_outbox(timeout=0.2)  # still held: the response did not wait for it
    release.set()
    assert mailbox.to("bob@northwind.example.com")


def test_a_forked_process_starts_its_own_delivery_thread(app):
    """Under gunicorn the app is loaded in the master and forked: a worker process must not hand its emails to
    a thread that only exists in the master."""
    done = threading.Event()
    background.send_in_background(app, done.set)
    assert done.wait(5)
    parent = background._sender
    parent.pid -= 1  # as a forked child sees it: the object was copied from its parent, the thread was not
    assert background.wait_for_outbox(0)  # a child has nothing of its own to wait for
    background.send_in_background(app, lambda: None)
    assert background._sender is not parent and background._sender.thread.is_alive()
