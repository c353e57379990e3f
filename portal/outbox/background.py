"""Delivering a request's emails after it commits, outside the request (OUTBOX_SEND_AFTER_COMMIT=1).

One daemon thread per process takes the ids of committed messages from a queue and delivers them in an
application context (and so a database session) of its own: a mail server that hangs holds that thread, never a
request, and an attachment made at delivery (an invoice or receipt PDF) is rendered there too. The thread starts
with the first message a process hands over, so under gunicorn each worker process starts its own after the fork,
never the master at import. Nothing is lost if the thread cannot finish (a timeout, the process ending): the rows
stay pending and `flask outbox send` delivers them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable

from flask import Flask


class _Sender:
    """The process's delivery thread and its queue of (app, delivery) jobs."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue[tuple[Flask, Callable[[], object]]] = queue.SimpleQueue()
        self.idle = threading.Condition()
        self.unfinished = 0
        self.thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self.thread.start()

    def submit(self, app: Flask, job: Callable[[], object]) -> None:
        with self.idle:
            self.unfinished += 1
        self.jobs.put((app, job))

    def _run(self) -> None:
        while True:
            app, job = self.jobs.get()
            try:
                with app.app_context():  # its own session, removed (rolled back) when the context ends
                    job()
            except Exception:  # the messages stay pending for `flask outbox send`
                app.logger.exception("outbox: delivery after commit failed; the worker will retry")
            finally:
                with self.idle:
                    self.unfinished -= 1
                    self.idle.notify_all()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.idle:
            while self.unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle.wait(left)
        return True


_sender: _Sender | None = None
_lock = threading.Lock()


def send_in_background(app: Flask, job: Callable[[], object]) -> None:
    """Run `job` (a delivery of committed messages) in an app context of this process's delivery thread,
    starting the thread if this process has none yet."""
    global _sender
    with _lock:
        if _sender is None or _sender.pid != os.getpid():  # a forked child has the parent's object, not its thread
            _sender = _Sender()
        sender = _sender
    sender.submit(app, job)


def wait_for_outbox(timeout: float = 30.0) -> bool:
    """Wait until every message handed to the delivery thread was tried (tests, and a clean shutdown); False if
    `timeout` seconds passed first."""
    sender = _sender
    if sender is None or sender.pid != os.getpid():
        return True
    return sender.wait(timeout)
