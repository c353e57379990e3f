"""Writing email to the outbox (inside the caller's transaction) and rendering it from templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from portal.extensions import db
from portal.notifications.models import EmailCategory
from portal.notifications.services import recipients_receiving, unsubscribe_token
from portal.outbox.models import OutboxMessage

SESSION_KEY = "outbox_new_ids"


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an email, built from PUBLIC_URL (emails are written outside any request)."""
    public = current_app.config["PUBLIC_URL"]
    scheme, _, host = public.partition("://")
    adapter = current_app.url_map.bind(host, url_scheme=scheme)
    return adapter.build(endpoint, values, force_external=True)


@dataclass(frozen=True)
class Attachment:
    """A stored file sent with an email: `path` is relative to the instance folder and never changes.

    A document that is not stored yet when the email is written (a receipt's PDF, in the transaction that took
    the payment: rendering it there would hold that transaction for as long as WeasyPrint takes) names instead
    the maker that stores it and what to make, `made_by=(maker, key)`, and no path: the worker makes the file
    when it delivers the email (see `attachment_maker`), or finds it already stored."""

    path: str
    filename: str
    content_type: str = "application/pdf"
    made_by: tuple[str, str] | None = None

    def as_dict(self) -> dict:
        made = {"made_by": list(self.made_by)} if self.made_by else {}
        return {"path": self.path, "filename": self.filename, "content_type": self.content_type, **made}


ATTACHMENT_MAKERS: dict[str, Callable[[str], str]] = {}


def attachment_maker(name: str) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
    """Register a function that stores a document by its key (rendering it if it is still pending) and returns
    its storage key (portal/storage.py); an Attachment names it as `made_by=(name, key)`."""

    def register(maker: Callable[[str], str]) -> Callable[[str], str]:
        ATTACHMENT_MAKERS[name] = maker
        return maker

    return register


def attachment_path(attachment: dict) -> str:
    """Where an attachment of a queued email is stored, making it now if it is made at delivery. Raises (and the
    delivery is retried later) if it cannot be made."""
    if attachment.get("path"):
        return attachment["path"]
    name, key = attachment["made_by"]
    if name not in ATTACHMENT_MAKERS:
        raise LookupError(f"no attachment maker {name!r} is registered")
    return ATTACHMENT_MAKERS[name](key)


def enqueue_email(to: str | list[str], template: str, *, attachments: list[Attachment] = (), footer: str = "",
                  headers: dict[str, str] | None = None, **context) -> OutboxMessage:
    """Queue the email rendered from templates/email/<template>.txt; its first line is 'Subject: …'.
    `attachments` are stored files, read by the worker when it delivers. A mandatory email (security, invoices,
    receipts, orders) goes through here unconditionally; an optional one through `enqueue_optional_email`."""
    recipients = [to] if isinstance(to, str) else sorted(set(to))
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    # Rendered by the Jinja environment itself: an email does not depend on the request (no context processors).
    rendered = current_app.jinja_env.get_template(f"email/{template}.txt").render(**context)
    first, _, body = rendered.lstrip().partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"email/{template}.txt must start with a 'Subject: ' line")
    message = OutboxMessage(to_addrs=recipients, subject=first[len("Subject: "):].strip(),
                            body_text=body.strip() + "\n" + footer, kind=template,
                            attachments=[a.as_dict() for a in attachments] or None, headers=headers)
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(SESSION_KEY, []).append(message.id)
    return message


def enqueue_optional_email(to: str | list[str], template: str, category: EmailCategory,
                           **context) -> list[OutboxMessage]:
    """Queue an optional email (DOMAIN §7: renewal, new-device, partner access notices, product news) to each
    recipient who did not opt out of `category`, one message per person: each carries that person's one-click
    unsubscribe link, in its text and in the List-Unsubscribe headers (RFC 2369, RFC 8058)."""
    messages = []
    for address, user_id in recipients_receiving([to] if isinstance(to, str) else to, category):
        if user_id is None:  # an address without an account has no preferences (and no link to offer)
            messages.append(enqueue_email(address, template, **context))
            continue
        link = external_url("notifications.unsubscribe", token=unsubscribe_token(user_id, category))
        footer = (f"\n--\nYou receive {category.label.lower()} as a user of the Partner Portal. Stop them in one "
                  f"click: {link}\nChoose which emails you receive: {external_url('notifications.preferences')}\n")
        headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        messages.append(enqueue_email(address, template, footer=footer, headers=headers, **context))
    return messages
