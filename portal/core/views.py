"""Pages that belong to no feature: home (the dashboard), help (the benchmark's no-database baseline) and the
health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask_login import current_user

from portal.dashboard.views import dashboard
from portal.rendering import render

bp = Blueprint("core", __name__)


@bp.route("/")
def home():
    """Where each user starts: what needs their attention (portal/dashboard); the sign-in page for anyone else."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return dashboard()


@bp.route("/help")
def help_page():
    """How the portal is organised; renders a template without touching the database."""
    return render("core/help.html")


@bp.route("/healthz")
def healthz():
    """Liveness probe for the load balancer (no database)."""
    return jsonify(status="ok")
