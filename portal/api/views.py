"""API routes. JSON in and out, errors as JSON; no session, so no CSRF (see create_app)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
