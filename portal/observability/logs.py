"""Request ids and log lines: every request and every command-line job has an id, which every log record carries;
LOG_FORMAT=json writes one JSON object per line (time, level, logger, message, request_id, method, path, status)."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import Flask, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# An id a proxy or load balancer sent is kept when it is a plain token; anything else is replaced (no log injection).
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The id of what runs now: a request, or a command-line job ("job-…"). None outside both.
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Attributes every LogRecord has: what is not among them was passed with `extra=` and is written too.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "method",
                                                                     "path"}


def incoming_or_new_id(incoming: str | None) -> str:
    """The id a request carries: the incoming header when it is sane, else a new one."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"


def loggable_path() -> str:
    """The request's path with its secrets masked: a set-password or unsubscribe link's token (`<token>` in its
    route) must not reach the logs, where it would let a reader set that user's password."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name and value:
            path = path.replace(str(value), "[token]")
    return path


class RequestContextFilter(logging.Filter):
    """Puts the current request id (and, in a request, its method and path) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get() or "-"
        if has_request_context() and not hasattr(record, "method"):
            record.method = request.method
            record.path = loggable_path()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields (status, duration_ms, job, …) are written as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id.get() or "-",
        }
        for name in ("method", "path"):
            if getattr(record, name, None) is not None:
                line[name] = getattr(record, name)
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (a test's capture, gunicorn's redirection)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property decides
        pass


def portal_handler(log_format: str) -> logging.Handler:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContextFilter())
    handler._portal = True  # replaced, not stacked, by the next app made in this process
    return handler


def init_logging(app: Flask) -> None:
    """The root logger writes every record (INFO and above) through one handler in LOG_FORMAT; Flask's own handler
    on app.logger goes, so that nothing is written twice."""
    from flask.logging import default_handler

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_portal", False)]:
        root.removeHandler(handler)
    root.addHandler(portal_handler(app.config["LOG_FORMAT"]))
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    app.logger.removeHandler(default_handler)
