"""Emails staff may edit at /admin/notifications: a subject and a body with named placeholders ({reseller},
{storefront_url}…), rendered with `str.format_map` over a fixed dictionary of plain strings. A placeholder is a
bare name: no attribute access, no index, no format spec, so a template can print the values it is given and
nothing else. The stored text (EmailTemplate) replaces the default text; without a row the default is used.

The welcome email "Welcome to your reseller storefront" goes to the reseller's Chain & User Managers and the
storefront's notification recipients when a plan opens (or reopens) the storefront."""

from __future__ import annotations

import string
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from werkzeug.routing import BuildError

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.storefronts.models import EmailTemplate, Storefront

SUBJECT_LENGTH = 200
BODY_LENGTH = 20_000


@dataclass(frozen=True)
class EditableEmail:
    """An email whose text staff may edit: its name, what it is for, its placeholders (with sample values for
    the preview) and its default text."""

    name: str
    title: str
    placeholders: dict[str, str]  # name -> sample value
    subject: str
    body: str


WELCOME = EditableEmail(
    name="storefront_welcome",
    title="Welcome to your reseller storefront (sent when a reseller plan starts)",
    placeholders={
        "reseller": "Northwind IT",
        "plan": "Reseller plan: Standard",
        "alias": "northwind",
        "storefront_url": "https://portal.example.com/s/northwind",
        "settings_url": "https://portal.example.com/account/storefront",
        "prices_url": "https://portal.example.com/account/storefront/prices",
        "plan_url": "https://portal.example.com/account/plan",
    },
    subject="Welcome to your reseller storefront",
    body=(
        "Hello {reseller},\n\n"
        "Your storefront is open on the {plan}. Your customers buy from you at:\n\n"
        "    {storefront_url}\n\n"
        "How to make it yours:\n"
        "- Name, logo, accent colour and contact details: {settings_url}\n"
        "- Your prices (a markup over list, special prices per product or per customer): {prices_url}\n"
        "- Your plan, and who receives these notifications: {plan_url}\n\n"
        "Your customers sign in on the storefront with their portal account, or sign up there.\n"
    ),
)
EDITABLE = {WELCOME.name: WELCOME}


def editable(name: str) -> EditableEmail | None:
    return EDITABLE.get(name)


def check_text(text: str, placeholders: dict[str, str], field: str, limit: int) -> str:
    """The text if it only uses the email's placeholders, as bare names, with balanced braces ({{ and }} print a
    brace); RuleError beside `field` otherwise."""
    if "\x00" in text:
        raise RuleError("The text has a NUL character.", field=field)
    if not text.strip():
        raise RuleError("Write the text.", field=field)
    if len(text) > limit:
        raise RuleError(f"At most {limit:,} characters; this has {len(text):,}.", field=field)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise RuleError("A brace is not closed or not opened: a placeholder is {name}; write {{ or }} for a "
                        "brace itself.", field=field) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in placeholders or spec or conversion:
            known = ", ".join(f"{{{p}}}" for p in placeholders)
            raise RuleError(f"Unknown placeholder {{{name}{'!' + conversion if conversion else ''}"
                            f"{':' + spec if spec else ''}}}: use only {known}.", field=field)
    return text


def render_text(text: str, values: dict[str, str]) -> str:
    """The text with its placeholders filled (text already checked by `check_text`)."""
    return text.format_map({k: str(v) for k, v in values.items()})


def current_text(email: EditableEmail) -> tuple[str, str]:
    """(subject, body) as staff last saved them, or the default."""
    row = db.session.get(EmailTemplate, email.name)
    return (row.subject, row.body) if row is not None else (email.subject, email.body)


def saved_templates() -> dict[str, EmailTemplate]:
    return {row.name: row for row in db.session.scalars(select(EmailTemplate))}


def save_template(email: EditableEmail, subject: str, body: str, user_id: int, actor: Actor) -> EmailTemplate:
    """Store staff's text of an email (checked), audited."""
    subject = check_text(subject.strip(), email.placeholders, "subject", SUBJECT_LENGTH)
    if "\n" in subject or "\r" in subject:
        raise RuleError("A subject is one line.", field="subject")
    body = check_text(body.replace("\r\n", "\n"), email.placeholders, "body", BODY_LENGTH)
    row = db.session.get(EmailTemplate, email.name)
    if row is None:
        row = EmailTemplate(name=email.name, subject=subject, body=body, updated_by_id=user_id)
        db.session.add(row)
    else:
        row.subject, row.body, row.updated_by_id = subject, body, user_id
    db.session.flush()
    record(actor, "email_template.saved", row, None, name=email.name)
    return row


def preview(email: EditableEmail, subject: str, body: str) -> tuple[str, str]:
    """The email as it would read with sample values (RuleError beside the field if the text is not valid)."""
    subject = check_text(subject.strip(), email.placeholders, "subject", SUBJECT_LENGTH)
    body = check_text(body.replace("\r\n", "\n"), email.placeholders, "body", BODY_LENGTH)
    return render_text(subject, email.placeholders), render_text(body, email.placeholders)


def _link(endpoint: str, fallback: str, **values) -> str:
    try:
        return external_url(endpoint, **values)
    except BuildError:  # a page not registered in this app (e.g. a trimmed test app)
        return current_app.config["PUBLIC_URL"] + fallback


def welcome_values(org: Organization, storefront: Storefront, plan_name: str) -> dict[str, str]:
    return {
        "reseller": org.name,
        "plan": plan_name,
        "alias": storefront.alias,
        "storefront_url": current_app.config["PUBLIC_URL"] + f"/s/{storefront.alias}",
        "settings_url": _link("storefronts.settings", "/account/storefront"),
        "prices_url": _link("storefronts.prices", "/account/storefront/prices"),
        "plan_url": _link("reseller_plans.plan", "/account/plan"),
    }


def welcome_recipients(org: Organization, storefront: Storefront) -> list[str]:
    """The chain's Chain & User Managers and the storefront's notification recipients."""
    return sorted(set(managers_emails(org)) | set(storefront.notify_emails or []))


def send_welcome(org: Organization, storefront: Storefront, plan_name: str = "") -> None:
    """Queue "Welcome to your reseller storefront" (in the caller's transaction)."""
    recipients = welcome_recipients(org, storefront)
    if not recipients:
        return
    subject, body = current_text(WELCOME)
    values = welcome_values(org, storefront, plan_name or "reseller plan")
    enqueue_email(recipients, "editable", subject=render_text(subject, values), body=render_text(body, values))
