"""Delivering the outbox: one transaction per message, retries with exponential backoff.

Delivery is at-least-once: a message handed to the server whose status could not be saved afterwards is
sent again on the next run. Nothing is ever dropped: after OUTBOX_MAX_ATTEMPTS a message is FAILED and kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial

from flask import current_app, g
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.background import send_in_background
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.outbox.services import SESSION_KEY, attachment_path
from portal.outbox.transport import Transport, transport_from_url
from portal.storage import storage

MAX_BACKOFF = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, 8 … minutes, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def build_message(msg: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(msg.to_addrs)
    email["Subject"] = msg.subject
    email["Date"] = format_datetime(msg.created_at)
    email["Message-ID"] = make_msgid(idstring=f"outbox-{msg.id}", domain="portal.invalid")
    email["X-Outbox-Id"] = str(msg.id)
    for name, value in (msg.headers or {}).items():
        email[name] = value
    email.set_content(msg.body_text)
    for attachment in msg.attachments or ():
        maintype, _, subtype = attachment["content_type"].partition("/")
        # A stored file (portal/storage.py: a key outside the storage is a ValueError; a missing file fails the
        # attempt, to be retried).
        email.add_attachment(storage().get(attachment_path(attachment)), maintype=maintype,
                             subtype=subtype, filename=attachment["filename"])
    return email


def deliver(ids: Iterable[int] | None = None, transport: Transport | None = None) -> tuple[int, int]:
    """Deliver due messages (all, or only `ids`); returns (sent, failed attempts). Commits per message."""
    transport = transport or transport_from_url(current_app.config["MAIL_URL"])
    sender = current_app.config["MAIL_FROM"]
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    wanted = list(ids) if ids is not None else None
    sent = failed = 0
    skip: set[int] = set()
    while True:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if wanted is not None:
            stmt = stmt.where(OutboxMessage.id.in_(wanted))
        if skip:
            stmt = stmt.where(OutboxMessage.id.not_in(skip))
        msg = db.session.scalars(stmt).first()
        if msg is None:
            db.session.rollback()
            return sent, failed
        skip.add(msg.id)
        try:
            transport.send(build_message(msg, sender))
        except Exception as exc:  # any transport failure is retried later, never lost
            msg.attempts += 1
            msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if msg.attempts >= max_attempts:
                msg.status = OutboxStatus.FAILED
            else:
                msg.next_attempt_at = utcnow() + backoff(msg.attempts)
            failed += 1
        else:
            msg.attempts += 1
            msg.status = OutboxStatus.SENT
            msg.sent_at = utcnow()
            msg.last_error = None
            sent += 1
        db.session.commit()


def _remember_committed(session: Session) -> None:
    ids = session.info.pop(SESSION_KEY, None)
    if ids and current_app.config["OUTBOX_SEND_AFTER_COMMIT"]:
        g.setdefault("outbox_committed_ids", []).extend(ids)


def _forget_rolled_back(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


def send_committed_after_request(response):
    """The embedded default: hand what this request committed to the delivery thread, so the request never waits
    for the mail server (or for an attachment made at delivery); the worker catches whatever it does not send."""
    ids = g.pop("outbox_committed_ids", None)
    if ids:
        send_in_background(current_app._get_current_object(), partial(deliver, ids))
    return response


def init_app(app) -> None:
    from flask_sqlalchemy.session import Session as FlaskSession

    if not getattr(FlaskSession, "_outbox_hooks", False):
        event.listen(FlaskSession, "after_commit", _remember_committed)
        event.listen(FlaskSession, "after_soft_rollback", lambda session, previous: _forget_rolled_back(session))
        FlaskSession._outbox_hooks = True
    app.after_request(send_committed_after_request)
