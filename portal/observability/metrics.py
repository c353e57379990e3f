"""Prometheus metrics (prometheus_client): requests by endpoint and status, request latency by endpoint, job runs
by job and outcome, and the outbox backlog, counted from the database when /metrics is read.

With several processes (gunicorn workers), PROMETHEUS_MULTIPROC_DIR makes prometheus_client count in files there
and /metrics adds them up (its multiprocess mode). Command-line jobs are short-lived processes (cron starts one a
minute): rather than leave a file each, a job adds its run to one shared file, under a lock (`count_job_run`).
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)
disable_created_metrics()  # no *_created series beside each counter and histogram (noise for Prometheus)

REGISTRY = CollectorRegistry(auto_describe=True)  # the portal's own metrics (not the process-wide default registry)

REQUESTS = Counter("portal_requests", "HTTP requests answered, by Flask endpoint and status code.",
                   ("endpoint", "method", "status"), registry=REGISTRY)
LATENCY = Histogram("portal_request_duration_seconds", "Time to answer an HTTP request, by Flask endpoint.",
                    ("endpoint",), registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
JOB_RUNS_NAME = "portal_job_runs"
JOB_RUNS_HELP = "Command-line job runs (flask --app wsgi …), by job and outcome (ok, error)."
JOB_RUNS = Counter(JOB_RUNS_NAME, JOB_RUNS_HELP, ("job", "outcome"), registry=REGISTRY)
JOBS_FILE = "counter_jobs.db"  # read by MultiProcessCollector like every counter_<pid>.db


def count_job_run(job: str, outcome: str, multiproc_dir: str) -> None:
    """One run of `job` ended with `outcome`. In multiprocess mode it is added to the shared jobs file (the job's
    process then leaves no file of its own); else to this process's counter."""
    if not multiproc_dir:
        JOB_RUNS.labels(job=job, outcome=outcome).inc()
        return
    directory = Path(multiproc_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # The key prometheus_client's own Counter would write (metric name, sample name, labels, help).
    key = mmap_key(JOB_RUNS_NAME, f"{JOB_RUNS_NAME}_total", ("job", "outcome"), (job, outcome), JOB_RUNS_HELP)
    with open(directory / "jobs.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counts = MmapedDict(str(directory / JOBS_FILE))
        try:
            value, timestamp = counts.read_value(key)
            counts.write_value(key, value + 1, timestamp)
        finally:
            counts.close()


class OutboxBacklog:
    """The emails not sent yet, counted when /metrics is read: pending (to be tried, or retried) and failed (given
    up after OUTBOX_MAX_ATTEMPTS; staff may retry them)."""

    def collect(self):
        from sqlalchemy import func, select

        from portal.extensions import db
        from portal.outbox.models import OutboxMessage, OutboxStatus

        try:
            counts = dict(db.session.execute(
                select(OutboxMessage.status, func.count()).where(OutboxMessage.status != OutboxStatus.SENT)
                .group_by(OutboxMessage.status)).all())
        except Exception:  # a scrape must still answer with the other metrics when the database does not
            log.warning("outbox backlog not counted: the database did not answer", exc_info=True)
            db.session.rollback()
            return
        gauge = GaugeMetricFamily("portal_outbox_backlog", "Outbox emails not sent, by status (pending, failed).",
                                  labels=("status",))
        for status in (OutboxStatus.PENDING, OutboxStatus.FAILED):
            gauge.add_metric((status.value,), counts.get(status, 0))
        yield gauge


class _Own:
    """This process's metrics (single-process mode)."""

    def collect(self):
        return REGISTRY.collect()


def exposition(multiproc_dir: str) -> bytes:
    """The text /metrics answers: every process's counts (multiprocess mode) or this one's, and the backlog."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(_Own())
    registry.register(OutboxBacklog())
    return generate_latest(registry)


def clear_multiproc_dir(multiproc_dir: str) -> None:
    """At server start: the counts of processes of an earlier run go (prometheus_client's rule for the folder)."""
    directory = Path(multiproc_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)

