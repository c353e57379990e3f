"""Gunicorn's settings and hooks for the portal; gunicorn reads this file from the working directory
(`gunicorn wsgi:app`, as docs/operations.md runs it). Its values come from the environment through portal/config.py:
PORT (8000), WEB_CONCURRENCY workers (4), WEB_THREADS threads per worker (4), WEB_TIMEOUT seconds (60). Options given
on gunicorn's command line win over these."""

from portal.config import Settings, web_server
from portal.security import per_worker_limits_warning

_server = web_server()

bind = f"0.0.0.0:{_server['port']}"
workers = _server["workers"]
threads = _server["threads"]  # gthread workers: a slow request (a PDF, a card processor) does not hold a worker
timeout = _server["timeout"]
graceful_timeout = 30
keepalive = 5  # behind a load balancer that keeps connections open
# No access log of gunicorn's: the portal logs each request itself (LOG_FORMAT=json: method, path, status,
# duration, request id). Errors go to stderr.
accesslog = None
errorlog = "-"
if _server["log_format"] == "json":
    # Gunicorn's own lines (booting, worker timeouts) as JSON too, like the portal's.
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": []},  # the app adds its handler to the root logger (LOG_FORMAT)
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
                    "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "formatters": {"json": {"()": "portal.observability.logs.JsonFormatter"}},
    }


def on_starting(server):
    """PROMETHEUS_MULTIPROC_DIR: the counts of an earlier run's processes go (prometheus_client's rule)."""
    if _server["prometheus_multiproc_dir"]:
        from portal.observability.metrics import clear_multiproc_dir

        clear_multiproc_dir(_server["prometheus_multiproc_dir"])


def when_ready(server):
    """At start-up, say so when rate limits are per worker (several workers, no shared storage)."""
    warning = per_worker_limits_warning(server.cfg.workers, Settings.from_environ().ratelimit_storage_uri)
    if warning:
        server.log.warning(warning)


def child_exit(server, worker):
    """A worker's live gauges go with it (multiprocess mode); its counters stay counted."""
    if _server["prometheus_multiproc_dir"]:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _server["prometheus_multiproc_dir"])
