"""The outbox: email written with the change, delivered by a worker with retries; a mail server that is down
loses nothing."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import add_login
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.outbox.services import enqueue_email
from portal.outbox.transport import FolderTransport, SMTPTransport, transport_from_url
from portal.outbox.worker import backoff, deliver
from tests.conftest import PortalClient, free_port, test_config
from tests.factories import actor, make_member, make_org, make_user


def _queue(email: str = "someone@example.com") -> int:
    user = make_user(email=email)
    message = enqueue_email(user.email, "password_reset", user=user, link="http://portal.test/x", hours=48)
    db.session.commit()
    return message.id


def test_delivery_reaches_the_smtp_server(ctx, mailbox):
    _queue("reader@example.com")
    assert deliver() == (1, 0)
    [mail] = mailbox.to("reader@example.com")
    assert mail["Subject"] == "Reset your Partner Portal password"
    assert db.session.scalars(select(OutboxMessage)).one().status is OutboxStatus.SENT


def test_a_server_that_is_down_loses_nothing_and_the_next_run_delivers(ctx, mailbox):
    message_id = _queue("patient@example.com")
    down = SMTPTransport("127.0.0.1", free_port(), timeout=2)
    assert deliver(transport=down) == (0, 1)
    message = db.session.get(OutboxMessage, message_id)
    assert message.status is OutboxStatus.PENDING and message.attempts == 1 and "Connection" in message.last_error
    assert message.next_attempt_at > utcnow()
    assert deliver() == (0, 0)  # not due yet: the backoff is respected
    message.next_attempt_at = utcnow()
    db.session.commit()
    assert deliver() == (1, 0)
    assert mailbox.to("patient@example.com")


def test_after_the_last_attempt_a_message_is_kept_as_failed(app, ctx):
    message_id = _queue()
    down = SMTPTransport("127.0.0.1", free_port(), timeout=2)
    for _ in range(app.config["OUTBOX_MAX_ATTEMPTS"]):
        db.session.get(OutboxMessage, message_id).next_attempt_at = utcnow()
        db.session.commit()
        deliver(transport=down)
    message = db.session.get(OutboxMessage, message_id)
    assert message.status is OutboxStatus.FAILED and message.attempts == app.config["OUTBOX_MAX_ATTEMPTS"]


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert backoff(30) == timedelta(hours=6)


def test_a_rolled_back_change_sends_no_email(ctx, mailbox):
    org = make_org()
    db.session.commit()
    add_login(org, "ghost@example.com", "Ghost", Role.MEMBER, actor())
    db.session.rollback()
    assert db.session.scalars(select(OutboxMessage)).first() is None
    assert deliver() == (0, 0)
    assert not mailbox.messages


def test_a_change_and_its_email_are_committed_together(ctx):
    org = make_org()
    manager = make_member(org, Role.MANAGER).user
    add_login(org, "together@example.com", "T", Role.MEMBER, actor(manager))
    db.session.commit()
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.to_addrs == ["together@example.com"] and message.status is OutboxStatus.PENDING


def test_the_embedded_default_sends_right_after_the_request_commits(login, demo, mailbox):
    assert login("alice").submit("/password/forgot", {"email": "bob@northwind.example.com"}).status_code == 302
    assert mailbox.to("bob@northwind.example.com")


def test_folder_transport_writes_one_eml_per_message(tmp_path, ctx):
    _queue("filed@example.com")
    assert deliver(transport=FolderTransport(tmp_path)) == (1, 0)
    [path] = tmp_path.glob("*.eml")
    parsed = BytesParser(policy=policy.default).parse(path.open("rb"))
    assert parsed["To"] == "filed@example.com"


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://127.0.0.1:2525", SMTPTransport("127.0.0.1", 2525, "plain")),
    ("smtps://user:p%40ss@mail.example.com", SMTPTransport("mail.example.com", 465, "ssl", "user", "p@ss")),
    ("smtp+starttls://mail.example.com", SMTPTransport("mail.example.com", 587, "starttls")),
])
def test_mail_url_names_an_smtp_server(url, expected):
    assert transport_from_url(url) == expected


def test_mail_url_can_be_a_folder(tmp_path):
    assert transport_from_url(str(tmp_path)) == FolderTransport(tmp_path)
    assert transport_from_url(f"file://{tmp_path}") == FolderTransport(tmp_path)
    with pytest.raises(ValueError):
        transport_from_url("ftp://example.com")


def test_staff_read_the_mail_folder(database_url, demo, tmp_path):
    app = create_app(test_config(database_url, str(tmp_path / "mail")))
    with app.app_context():
        _queue("folder-reader@example.com")
        deliver()
    app.test_client_class = PortalClient
    client = app.test_client()
    client.login("ops@vendor.example.com")
    listing = client.get("/admin/mail").get_data(as_text=True)
    assert "folder-reader@example.com" in listing
    name = next(tmp_path.joinpath("mail").glob("*.eml")).name
    assert "Reset your Partner Portal password" in client.get(f"/admin/mail/{name}").get_data(as_text=True)
    assert client.get("/admin/mail/..%2Fportal.db").status_code == 404


def test_outbox_send_command_delivers_and_reports(app, ctx, mailbox):
    _queue("cli@example.com")
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    assert mailbox.to("cli@example.com")


def test_an_attachment_made_at_delivery_is_stored_then_sent_and_retried_until_it_can_be(app, ctx, mailbox):
    """A document not yet stored when its email is written (a receipt's PDF) is made by its registered maker when
    the email is delivered; a maker that fails leaves the email pending for the next run, nothing lost."""
    from pathlib import Path

    from portal.outbox.services import ATTACHMENT_MAKERS, Attachment, attachment_maker

    made: list[str] = []

    @attachment_maker("test-note")
    def _make(key: str) -> str:
        if not made:
            made.append(key)
            raise OSError("the renderer is busy")
        relative = f"notes/{key}.txt"
        (Path(app.instance_path) / "notes").mkdir(parents=True, exist_ok=True)
        (Path(app.instance_path) / relative).write_text(f"note {key}")
        return relative

    try:
        user = make_user(email="reader@example.com")
        enqueue_email(user.email, "password_reset", user=user, link="http://portal.test/x", hours=48,
                      attachments=[Attachment("", "N-1.txt", "text/plain", made_by=("test-note", "N-1"))])
        db.session.commit()
        assert deliver() == (0, 1) and mailbox.to("reader@example.com") == []
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.status is OutboxStatus.PENDING and "the renderer is busy" in message.last_error
        message.next_attempt_at = utcnow()
        db.session.commit()
        assert deliver() == (1, 0)
    finally:
        ATTACHMENT_MAKERS.pop("test-note", None)
    [mail] = mailbox.to("reader@example.com")
    [attachment] = list(mail.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content().strip()) == ("N-1.txt", "note N-1")
