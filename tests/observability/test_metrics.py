"""/metrics: Prometheus text for loopback (or a bearer token): requests by endpoint and status, latency by
endpoint, job runs by job and outcome, and the outbox backlog counted from the database; anyone else gets a 404."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.extensions import db
from portal.observability.metrics import count_job_run, exposition
from portal.outbox.models import OutboxMessage, OutboxStatus
from tests.conftest import free_port
from tests.observability.conftest import json_lines

ROOT = Path(__file__).resolve().parents[2]

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def requests_of(scraped, endpoint: str, status: str = "200", method: str = "GET") -> float:
    key = ("portal_requests_total", frozenset({"endpoint": endpoint, "method": method, "status": status}.items()))
    return scraped.get(key, 0.0)


def test_loopback_sees_the_request_it_just_made_counted_by_endpoint_and_status(client):
    before = scrape(client)
    client.get("/help")
    client.get("/help")
    client.get("/no-such-page-at-all")
    after = scrape(client)

    assert requests_of(after, "core.help_page") == requests_of(before, "core.help_page") + 2
    assert requests_of(after, "none", "404") == requests_of(before, "none", "404") + 1
    latency = ("portal_request_duration_seconds_count", frozenset({"endpoint": "core.help_page"}.items()))
    assert after[latency] == before.get(latency, 0) + 2
    # Series are by endpoint, never by path: a stranger's paths cannot grow them.
    assert "no-such-page" not in client.get("/metrics").get_data(as_text=True)


def test_probes_and_scrapes_are_not_counted(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/readyz")
    after = scrape(client)
    for endpoint in ("core.healthz", "observability.readyz", "observability.metrics"):
        assert requests_of(after, endpoint) == requests_of(before, endpoint) == 0


def test_the_outbox_backlog_is_counted_when_metrics_are_read(client, app):
    with app.app_context():
        for status in (OutboxStatus.PENDING, OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.SENT):
            db.session.add(OutboxMessage(to_addrs=["someone@example.com"], subject="Waiting", body_text="…",
                                         kind="test", status=status))
        db.session.commit()
    scraped = scrape(client)
    assert scraped[("portal_outbox_backlog", frozenset({("status", "pending")}))] == 2
    assert scraped[("portal_outbox_backlog", frozenset({("status", "failed")}))] == 1


def test_job_runs_are_counted_by_job_and_outcome(client, app, monkeypatch):
    import portal.outbox.worker

    key = ("portal_job_runs_total", frozenset({"job": "outbox send", "outcome": "ok"}.items()))
    before = scrape(client).get(key, 0)
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
    assert scrape(client)[key] == before + 1

    def deliver():
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(portal.outbox.worker, "deliver", deliver)
    failed = ("portal_job_runs_total", frozenset({"job": "outbox send", "outcome": "error"}.items()))
    failed_before = scrape(client).get(failed, 0)
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code != 0
    assert scrape(client)[failed] == failed_before + 1


def test_another_address_gets_a_404_without_the_token(client, app, monkeypatch):
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-token-1234")
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    assert client.get("/metrics", environ_base=OUTSIDE,
                      headers={"Authorization": "Bearer wrong-token"}).status_code == 404


def test_another_address_reads_the_metrics_with_the_token(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-token-1234")
    response = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer scrape-token-1234"})
    assert response.status_code == 200
    assert "portal_outbox_backlog" in response.get_data(as_text=True)


def test_an_empty_token_opens_nothing(client):
    """METRICS_TOKEN unset: "Bearer " with nothing after it is no token."""
    assert client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1"])
def test_loopback_addresses_read_the_metrics(client, address):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_a_request_forwarded_by_a_local_proxy_is_not_loopback(client):
    """Without PROXY_COUNT, a proxy on the same host would make every client look local: a request that says it
    was forwarded is not trusted as loopback."""
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404


def test_behind_a_configured_proxy_the_client_address_decides(make_app, database_url):
    """PROXY_COUNT=1: the address the proxy saw (after ProxyFix) decides, not the proxy's own."""
    client = make_app(database_url, PROXY_COUNT=1).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_jobs_of_several_processes_add_up_in_the_multiprocess_folder(tmp_path, app):
    """With PROMETHEUS_MULTIPROC_DIR, each job's process adds its run to one shared file, which /metrics reads
    with the workers' files."""
    folder = tmp_path / "prometheus"
    count_job_run("billing renew", "ok", str(folder))
    count_job_run("billing renew", "ok", str(folder))
    count_job_run("billing renew", "error", str(folder))
    assert sorted(p.name for p in folder.glob("*.db")) == ["counter_jobs.db"]
    with app.app_context():
        scraped = samples(exposition(str(folder)).decode())
    assert scraped[("portal_job_runs_total", frozenset({"job": "billing renew", "outcome": "ok"}.items()))] == 2
    assert scraped[("portal_job_runs_total", frozenset({"job": "billing renew", "outcome": "error"}.items()))] == 1


def worker_files(folder) -> set[str]:
    return {p.name for p in folder.glob("counter_*.db")} - {"counter_jobs.db"}


class Gunicorn:
    """`gunicorn wsgi:app` from the project folder (it reads gunicorn.conf.py) with two single-threaded workers, so
    that requests made at once go to both; what it logs goes to a file (a pipe nobody reads would fill and block)."""

    def __init__(self, tmp_path, database_url: str, **environ: str):
        self.port = free_port()
        self.log = tmp_path / "gunicorn.log"
        env = {**os.environ, "PORTAL_DEBUG": "1", "DATABASE_URL": database_url, "MAIL_URL": str(tmp_path / "mail"),
               "PORTAL_INSTANCE_PATH": str(tmp_path), "PORT": str(self.port), "WEB_CONCURRENCY": "2",
               "WEB_THREADS": "1", **environ}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "wsgi:app"], cwd=ROOT,
                                            env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while self.open("/healthz")[0] != 200:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "gunicorn did not serve /healthz within 60 s"
            time.sleep(0.2)

    def open(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.log.read_text()


def test_gunicorn_workers_count_together_and_log_json(database_url, tmp_path, app):
    """`gunicorn wsgi:app` with gunicorn.conf.py (bound to PORT), two workers and PROMETHEUS_MULTIPROC_DIR: /metrics
    adds up what every worker answered, whichever worker is asked; counts of an earlier run are gone; every line
    is JSON."""
    folder = tmp_path / "prometheus"
    count_job_run("an earlier run", "ok", str(folder))  # left by the previous server: cleared at start
    server = Gunicorn(tmp_path, database_url, PROMETHEUS_MULTIPROC_DIR=str(folder), LOG_FORMAT="json")
    sent = 0
    try:
        deadline = time.monotonic() + 30  # the second worker may still be loading the app
        with ThreadPoolExecutor(8) as pool:  # eight at once, until both workers have answered some
            while time.monotonic() < deadline and len(worker_files(folder)) < 2:
                assert set(pool.map(lambda _: server.open("/help")[0], range(8))) == {200}
                sent += 8
                time.sleep(0.1)
        scrapes = [samples(server.open("/metrics")[1]) for _ in range(6)]
        workers = worker_files(folder)
        ready = server.open("/readyz")
    finally:
        logged = server.stop()
    assert len(workers) == 2, f"both workers answered and counted: {workers}"
    assert {requests_of(scraped, "core.help_page") for scraped in scrapes} == {sent}
    assert not any(dict(labels).get("job") == "an earlier run" for scraped in scrapes for _, labels in scraped)
    assert ready[0] == 200 and json.loads(ready[1]) == {"database": "ok", "migrations": "head"}
    lines = json_lines(logged)
    assert len(lines) == len([line for line in logged.splitlines() if line.strip()]), logged
    assert sum(line.get("path") == "/help" and line.get("status") == 200 for line in lines) == sent
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
