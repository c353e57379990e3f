"""The welcome email's text: staff edit it at /admin/notifications with named placeholders, preview it with
sample values before saving, and anything else than the known placeholders is refused beside the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.audit.models import AuditEntry
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.reseller_plans import emails
from portal.storefronts.models import EmailTemplate, Storefront

URL = "/admin/notifications/storefront_welcome"


@pytest.mark.parametrize("text", ["{reseller.__class__}", "{reseller[0]}", "{unknown}", "{reseller!r}",
                                  "{reseller:>10}", "unbalanced {", "unbalanced }", "{}", "{0}"])
def test_only_the_named_placeholders_are_accepted(app, text):
    with app.app_context(), pytest.raises(RuleError) as refused:
        emails.check_text(text, emails.WELCOME.placeholders, "body", 1000)
    assert refused.value.field == "body"


def test_braces_can_be_written_doubled(app):
    assert emails.render_text("{{literal}} {alias}", {"alias": "x"}) == "{literal} x"


def test_staff_preview_then_save_the_welcome_text(app, login, demo):
    ops = login("ops")
    listing = ops.get("/admin/notifications").get_data(as_text=True)
    assert "Welcome to your reseller storefront" in listing and "Default" in listing
    data = {"subject": "Hello {reseller}", "body": "Your store: {storefront_url}"}
    preview = ops.submit(URL, data, button="Preview")
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Hello Northwind IT" in text and "/s/northwind" in text
    with app.app_context():
        assert db.session.get(EmailTemplate, "storefront_welcome") is None  # a preview saves nothing
    bad = ops.submit(URL, {**data, "body": "Your {secret}"}, button="Save")
    assert bad.status_code == 422 and "Unknown placeholder {secret}" in bad.get_data(as_text=True)
    saved = ops.submit(URL, data, button="Save")
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(EmailTemplate, "storefront_welcome").subject == "Hello {reseller}"
        assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "email_template.saved")).first()
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        emails.send_welcome(northwind, db.session.scalars(select(Storefront)).one(), "Standard")
        message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
        assert message.subject == "Hello Northwind IT" and "/s/northwind" in message.body_text
        assert {"alice@northwind.example.com", "store@northwind.example.com"} <= set(message.to_addrs)
        db.session.rollback()


def test_an_unknown_email_is_a_404(login, demo):
    assert login("ops").get("/admin/notifications/nope").status_code == 404
