"""Operable (issue 18 item 7): /readyz, request ids on every log line (JSON with LOG_FORMAT=json), Prometheus
metrics at /metrics, and the same ids and counts for command-line jobs. `init_app` is called last by create_app,
once every route and command is registered."""

from __future__ import annotations

import functools
import logging
import time

import click
from flask import Flask, current_app, g, request

from portal.observability.logs import (
    REQUEST_ID_HEADER,
    current_request_id,
    incoming_or_new_id,
    init_logging,
    loggable_path,
    new_job_id,
)
from portal.observability.metrics import LATENCY, REQUESTS, count_job_run

access_log = logging.getLogger("portal.access")
job_log = logging.getLogger("portal.jobs")
# Probes and scrapes come every few seconds: they are not counted, and logged only when they fail.
PROBES = frozenset({"core.healthz", "observability.readyz", "observability.metrics"})


def _start_request() -> None:
    g.observability_started = time.perf_counter()
    current_request_id.set(incoming_or_new_id(request.headers.get(REQUEST_ID_HEADER)))


def _finish_request(response):
    request_id = current_request_id.get()
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.pop("observability_started", None)
    if started is None:
        return response
    elapsed = time.perf_counter() - started
    endpoint = request.endpoint or "none"  # an unknown path is "none", never the path (one series per endpoint)
    probe = endpoint in PROBES
    if not probe:
        REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
        LATENCY.labels(endpoint=endpoint).observe(elapsed)
    if current_app.config["LOG_FORMAT"] == "json" and not (probe and response.status_code < 400):
        access_log.info("%s %s %s", request.method, loggable_path(), response.status_code,
                        extra={"status": response.status_code, "endpoint": endpoint,
                               "duration_ms": round(elapsed * 1000, 1)})
    return response


def _end_request(error) -> None:
    current_request_id.set(None)


def _job(app: Flask, name: str, callback):
    """A command-line job's run: its own request id ("job-…") on every line it logs, a line when it starts and one
    when it ends (outcome, duration), and a count in portal_job_runs_total."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        token = current_request_id.set(new_job_id())
        started = time.perf_counter()
        outcome = "error"
        job_log.info("job %s started", name, extra={"job": name})
        try:
            result = callback(*args, **kwargs)
            outcome = "ok"
            return result
        except click.exceptions.Exit as stop:
            outcome = "ok" if stop.exit_code == 0 else "error"
            raise
        except SystemExit as stop:
            outcome = "ok" if stop.code in (0, None) else "error"
            raise
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        except (click.ClickException, click.Abort):
            raise  # click tells the user what was wrong
        except Exception:
            job_log.exception("job %s failed", name, extra={"job": name})
            raise
        finally:
            job_log.info("job %s finished: %s", name, outcome, extra={
                "job": name, "outcome": outcome, "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
            try:
                count_job_run(name, outcome, app.config["PROMETHEUS_MULTIPROC_DIR"])
            except OSError:
                job_log.warning("job %s: its run was not counted (PROMETHEUS_MULTIPROC_DIR)", name, exc_info=True)
            current_request_id.reset(token)

    return run


def _instrument_commands(app: Flask, group: click.Group, prefix: str = "") -> None:
    for name, command in group.commands.items():
        full = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            _instrument_commands(app, command, full)
        elif command.callback is not None and not getattr(command.callback, "portal_job", False):
            command.callback = _job(app, full, command.callback)
            command.callback.portal_job = True


def init_app(app: Flask) -> None:
    from portal.observability.views import bp

    init_logging(app)
    app.register_blueprint(bp)
    # First of all before_request functions: the id is set (and the clock started) before any of them may log or
    # answer early.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    _instrument_commands(app, app.cli)
