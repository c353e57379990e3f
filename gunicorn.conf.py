"""Gunicorn's hooks for the portal; gunicorn reads this file from the working directory (`gunicorn wsgi:app`)."""

from portal.config import Settings
from portal.security import per_worker_limits_warning


def when_ready(server):
    """At start-up, say so when rate limits are per worker (several workers, no shared storage)."""
    warning = per_worker_limits_warning(server.cfg.workers, Settings.from_environ().ratelimit_storage_uri)
    if warning:
        server.log.warning(warning)
