"""Vendor staff pages: the whole audit log and, with a mail folder, the mail the portal sent. The catalog and the
organizations' pages register on the same blueprint from their own modules."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import abort, current_app

from portal.admin import (  # noqa: F401 - routes register on bp
    bp,
    catalog_views,
    invoice_views,
    notification_views,
    organization_views,
    transfer_views,
)
from portal.audit.views import audit_page
from portal.authz import Permission, requires
from portal.credits import views as credit_views  # noqa: F401 - staff's credit notes register on bp
from portal.outbox.transport import FolderTransport, transport_from_url
from portal.rendering import render

MAIL_NAME = re.compile(r"^\d{8,}\.eml$")


@bp.route("/audit")
@requires(Permission.STAFF)
def audit():
    """Every audit entry of every organization."""
    return audit_page(None, "admin.audit")


def _mail_folder() -> Path | None:
    """The folder mail is written to, or None when MAIL_URL names an SMTP server."""
    transport = transport_from_url(current_app.config["MAIL_URL"])
    return transport.folder if isinstance(transport, FolderTransport) else None


@bp.route("/mail")
@requires(Permission.STAFF)
def mail():
    """The newest messages written to the mail folder (the embedded default)."""
    folder = _mail_folder()
    if folder is None:
        return render("admin/mail.html", messages=[], smtp=True)
    names = sorted((p.name for p in folder.glob("*.eml")), reverse=True)[:200] if folder.exists() else []
    parser = BytesParser(policy=policy.default)
    messages = []
    for name in names:
        with open(folder / name, "rb") as fh:
            headers = parser.parse(fh, headersonly=True)
        messages.append({"name": name, "to": headers["To"], "subject": headers["Subject"], "date": headers["Date"]})
    return render("admin/mail.html", messages=messages, smtp=False)


@bp.route("/mail/<name>")
@requires(Permission.STAFF)
def mail_message(name: str):
    """One message from the mail folder."""
    folder = _mail_folder()
    if folder is None or not MAIL_NAME.match(name):
        abort(404)
    path = folder / name
    if not path.is_file():
        abort(404)
    with open(path, "rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    body = message.get_body(preferencelist=("plain",))
    return render("admin/mail_message.html", message=message, body=body.get_content() if body else "")
