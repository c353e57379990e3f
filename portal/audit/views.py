"""The audit log page, shared by staff (/admin/audit: everything) and managers (/account/audit: their chain)."""

from __future__ import annotations

from flask import request
from sqlalchemy import Select

from portal.audit.services import audit_query
from portal.extensions import db
from portal.pagination import window
from portal.rendering import render

PER_PAGE = 50


def audit_page(organization_ids: Select | None, endpoint: str):
    """Filtered, paginated audit entries; htmx gets only the table."""
    action = request.args.get("action", "").strip()[:64]
    actor = request.args.get("actor", "").strip()[:254]
    page = request.args.get("page", 1, type=int)
    if organization_ids is not None:
        # Resolve the chain's organizations first: the entries are then read through (organization_id, at).
        organization_ids = list(db.session.scalars(organization_ids))
    entries = window(audit_query(organization_ids=organization_ids, action=action, actor_email=actor), page, PER_PAGE)
    return render("audit/audit.html", "audit/_entries.html", entries=entries, action=action, actor=actor,
                  endpoint=endpoint)
