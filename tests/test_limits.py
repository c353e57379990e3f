"""Limits that hold in production (issue 12 item 4): rate limits shared by every gunicorn worker through Redis, a
warning at start-up when they are not, and, behind a proxy, limits and the audit log keyed by the client's address."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

from portal import create_app
from portal.extensions import limiter
from portal.security import per_worker_limits_warning
from tests.conftest import DEMO_PASSWORD, PortalClient, free_port, test_config
from tests.factories import DEMO_EMAILS

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379"
PER_WORKER = "Rate limits are per worker"
_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# ---------------------------------------------------------------- gunicorn, as production runs it


class Gunicorn:
    """`gunicorn wsgi:app` started from the project folder (so it reads gunicorn.conf.py), on a free port."""

    def __init__(self, tmp_path: Path, database_url: str, workers: int, **environ: str):
        self.port = free_port()
        env = {**os.environ, "PORTAL_DEBUG": "1",  # plain HTTP: cookies without Secure, as a local client needs
               "DATABASE_URL": database_url, "MAIL_URL": str(tmp_path / "mail"),
               "PORTAL_INSTANCE_PATH": str(tmp_path), "RATELIMIT_STORAGE_URI": "memory://", **environ}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind",
             f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.process.stderr.read()}")
            try:
                if self.open("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not serve /healthz within 60 s")

    def open(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(f"http://127.0.0.1:{self.port}{path}", data=data, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self) -> str:
        """Stop it; what it logged."""
        self.process.terminate()
        return self.process.communicate(timeout=30)[1]


def test_rate_limits_are_shared_by_every_worker_through_redis(app, database_url, tmp_path):
    """Two workers, one Redis: the sixth sign-in attempt at one account is refused whichever worker takes it, and
    the counts live in Redis under the configured key prefix (removed afterwards)."""
    prefix = f"portal-test-{uuid.uuid4().hex}"
    store = redis.Redis.from_url(REDIS_URL)
    server = Gunicorn(tmp_path, database_url, workers=2, RATELIMIT_STORAGE_URI=REDIS_URL,
                      RATELIMIT_KEY_PREFIX=prefix, LOGIN_LIMIT_PER_ACCOUNT="5 per minute")
    try:
        status, page = server.open("/login")
        token = _CSRF_INPUT.search(page).group(1)
        answers = [server.open("/login", {"csrf_token": token, "email": "nobody@example.com",
                                          "password": "not-the-password"})[0] for _ in range(6)]
        assert answers == [422] * 5 + [429]
        assert store.keys(f"*{prefix}*"), "no rate-limit counter was written to Redis"
    finally:
        log = server.stop()
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
    assert PER_WORKER not in log


def test_several_workers_without_shared_storage_say_limits_are_per_worker(app, database_url, tmp_path):
    server = Gunicorn(tmp_path, database_url, workers=2)
    log = server.stop()
    assert f"{PER_WORKER}: 2 workers each count" in log
    assert "RATELIMIT_STORAGE_URI=redis://" in log


def test_one_worker_or_a_shared_storage_needs_no_warning():
    assert per_worker_limits_warning(1, "memory://") is None
    assert per_worker_limits_warning(4, REDIS_URL) is None
    assert PER_WORKER in per_worker_limits_warning(4, "memory://")


# ---------------------------------------------------------------- behind a proxy


@pytest.fixture
def portal_behind(database_url, smtp_server, tmp_path):
    """portal_behind(n) -> an app configured with PROXY_COUNT=n and a sign-in limit of 3 a minute per address."""

    def make(proxy_count: int):
        app = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}",
                                     INSTANCE_PATH=str(tmp_path), PROXY_COUNT=proxy_count,
                                     LOGIN_LIMIT_PER_IP="3 per minute"))
        app.test_client_class = PortalClient
        return app

    return make


PROXY = {"REMOTE_ADDR": "10.0.0.1"}  # every request reaches the portal from the proxy's address


def _sign_in(client, email: str, password: str, forwarded_for: str):
    """Post the sign-in form as the page renders it, through the proxy, which adds the client's address."""
    client.environ_base.update(PROXY)
    through_proxy = {"X-Forwarded-For": forwarded_for}
    page = client.page("/login", headers=through_proxy)
    return client.submit(page, {"email": email, "password": password}, headers=through_proxy)


def _login_addresses(app, email: str) -> list[str]:
    """The addresses staff see for `email`'s sign-ins in the audit log."""
    ops = app.test_client()
    ops.login(DEMO_EMAILS["ops"])
    page = ops.get("/admin/audit", query_string={"action": "user.login", "actor": email}).get_data(as_text=True)
    return re.findall(r"<td[^>]*>(\d+\.\d+\.\d+\.\d+)</td>", page)


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(portal_behind, demo):
    app = portal_behind(1)
    mallory, alice = app.test_client(), app.test_client()
    failures = [_sign_in(mallory, f"guess{n}@example.com", "wrong-password", "203.0.113.66").status_code
                for n in range(4)]
    assert failures == [422, 422, 422, 429]
    assert _sign_in(alice, DEMO_EMAILS["alice"], DEMO_PASSWORD, "198.51.100.7").status_code == 302
    assert _login_addresses(app, DEMO_EMAILS["alice"]) == ["198.51.100.7"]


def test_without_a_configured_proxy_x_forwarded_for_is_ignored(portal_behind, demo):
    """PROXY_COUNT=0: a client that makes up a new X-Forwarded-For for each attempt is still one address."""
    app = portal_behind(0)
    client = app.test_client()
    answers = [_sign_in(client, f"guess{n}@example.com", "wrong-password", f"203.0.113.{n}").status_code
               for n in range(4)]
    assert answers == [422, 422, 422, 429]
    with app.app_context():
        limiter.reset()  # a minute later
    assert _sign_in(client, DEMO_EMAILS["alice"], DEMO_PASSWORD, "198.51.100.99").status_code == 302
    assert _login_addresses(app, DEMO_EMAILS["alice"]) == ["10.0.0.1"]
