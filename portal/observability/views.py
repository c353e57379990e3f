"""/readyz (the load balancer's readiness probe) and /metrics (Prometheus); /healthz, the liveness probe, is
portal/core/views.py's."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import inspect, text

from portal.extensions import db
from portal.observability.metrics import exposition

bp = Blueprint("observability", __name__)
log = logging.getLogger(__name__)


def head_revisions() -> frozenset[str]:
    """The head revision(s) of migrations/, read once per app from the migration scripts."""
    heads = current_app.extensions.get("migration_heads")
    if heads is None:
        from alembic.script import ScriptDirectory

        config = current_app.extensions["migrate"].migrate.get_config()
        heads = current_app.extensions["migration_heads"] = frozenset(ScriptDirectory.from_config(config).get_heads())
    return heads


@bp.route("/readyz")
def readyz():
    """Readiness probe: 200 when the database answers and its schema is at the migrations' head; 503 otherwise,
    saying which check failed. Anonymous, no session, no database session either (a connection of its own)."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            # What alembic's MigrationContext.get_current_heads reads, without its log lines at every probe.
            current = frozenset(conn.scalars(text("SELECT version_num FROM alembic_version"))) if inspect(
                conn).has_table("alembic_version") else frozenset()
    except Exception:
        log.warning("readiness: the database did not answer", exc_info=True)
        return jsonify(database="unreachable", migrations="unknown"), 503
    if current != head_revisions():
        log.warning("readiness: the database is at %s, the migrations' head is %s (run `flask --app wsgi db upgrade`)",
                    ", ".join(sorted(current)) or "no revision", ", ".join(sorted(head_revisions())))
        return jsonify(database="ok", migrations="not at head"), 503
    return jsonify(database="ok", migrations="head")


def _from_loopback() -> bool:
    """The client's address (after ProxyFix, with PROXY_COUNT) is loopback. Without PROXY_COUNT, a request that
    came through a proxy (it says so in X-Forwarded-For) is not trusted as local: a proxy on the same host would
    otherwise make every client look local."""
    if not current_app.config["PROXY_COUNT"] and ("X-Forwarded-For" in request.headers
                                                  or "Forwarded" in request.headers):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _has_token() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.route("/metrics")
def metrics():
    """Prometheus metrics, for loopback or `Authorization: Bearer <METRICS_TOKEN>`; anyone else finds nothing."""
    if not (_from_loopback() or _has_token()):
        abort(404)
    body = exposition(current_app.config["PROMETHEUS_MULTIPROC_DIR"])
    return Response(body, status=200, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
