"""Writing email to the outbox (inside the caller's transaction) and rendering it from templates."""

from __future__ import annotations

from flask import current_app

from portal.extensions import db
from portal.outbox.models import OutboxMessage

SESSION_KEY = "outbox_new_ids"


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an email, built from PUBLIC_URL (emails are written outside any request)."""
    public = current_app.config["PUBLIC_URL"]
    scheme, _, host = public.partition("://")
    adapter = current_app.url_map.bind(host, url_scheme=scheme)
    return adapter.build(endpoint, values, force_external=True)


def enqueue_email(to: str | list[str], template: str, **context) -> OutboxMessage:
    """Queue the email rendered from templates/email/<template>.txt; its first line is 'Subject: …'."""
    recipients = [to] if isinstance(to, str) else sorted(set(to))
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    # Rendered by the Jinja environment itself: an email does not depend on the request (no context processors).
    rendered = current_app.jinja_env.get_template(f"email/{template}.txt").render(**context)
    first, _, body = rendered.lstrip().partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"email/{template}.txt must start with a 'Subject: ' line")
    message = OutboxMessage(to_addrs=recipients, subject=first[len("Subject: "):].strip(),
                            body_text=body.strip() + "\n", kind=template)
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(SESSION_KEY, []).append(message.id)
    return message
