"""Timing pages in-process with the Flask test client, and counting the SQL statements each one sends.

Server time is `time.perf_counter()` around `client.get()` (routing, views, queries, templates, after-request
hooks; no network, no browser). Pages are measured in interleaved rounds (every page once per round), so a
slow patch of the machine affects all pages alike and the ratios to the /help baseline stay fair.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from portal.diagnostics import count_statements

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Page:
    """One page to measure: its path, who asks for it, and how many SQL statements it may send (for --check)."""

    path: str
    who: str  # a key of the clients dict: "anonymous", "manager" or "staff"
    sql_budget: int
    label: str = ""
    baseline: bool = False

    @property
    def name(self) -> str:
        return self.label or self.path


# The pages of the benchmark. The budgets are today's counts: every one is independent of the data size,
# so a page that starts issuing a query per row (N+1) fails --check on a large dataset.
PAGES: tuple[Page, ...] = (
    Page("/help", "anonymous", sql_budget=0, baseline=True),
    Page("/help", "manager", sql_budget=2, label="/help (signed in)"),
    Page("/account", "manager", sql_budget=2),
    Page("/account/users", "manager", sql_budget=5),
    Page("/account/chains", "manager", sql_budget=3),
    Page("/account/partners", "manager", sql_budget=4),
    Page("/account/audit", "manager", sql_budget=4),
    Page("/admin/audit", "staff", sql_budget=4),
)


@dataclass
class PageResult:
    """The measurements of one page."""

    page: Page
    samples_ms: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    error: str | None = None
    statements: list[str] = field(default_factory=list)
    body_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.statuses == {200}

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between the closest ranks (NaN without samples)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def sign_in(client: FlaskClient, email: str, password: str) -> None:
    """Sign in like a browser: read the CSRF token from the login page, then POST /login."""
    page = client.get("/login").get_data(as_text=True)
    match = _CSRF_META.search(page)
    data = {"email": email, "password": password}
    if match:
        data["csrf_token"] = match.group(1)
    response = client.post("/login", data=data)
    if response.status_code != 302:
        raise RuntimeError(f"{email} could not sign in (HTTP {response.status_code})")


def _timed_get(client: FlaskClient, path: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = client.get(path)
    body = response.get_data()
    elapsed = time.perf_counter() - started
    response.close()
    return elapsed * 1000, response.status_code, len(body)


def measure(engine: Engine, clients: dict[str, FlaskClient], pages: tuple[Page, ...] = PAGES, *,
            requests: int = 50, warmup: int = 5, progress: Callable[[str], None] | None = None) -> list[PageResult]:
    """Warm up, time `requests` GETs of every page in interleaved rounds, then count one request's statements.

    No application context may be pushed while this runs: each request must get its own context and database
    session, as in production (a shared one would serve later requests from its identity map).
    """
    results = [PageResult(page) for page in pages]

    def run(result: PageResult, record: bool) -> None:
        if result.error is not None:
            return
        try:
            ms, status, size = _timed_get(clients[result.page.who], result.page.path)
        except Exception as exc:  # TESTING propagates view errors; report them instead of stopping
            result.error = f"{type(exc).__name__}: {exc}"
            return
        result.statuses.add(status)
        if record:
            result.samples_ms.append(ms)
            result.body_bytes = size

    for _ in range(warmup):
        for result in results:
            run(result, record=False)
    for round_no in range(requests):
        for result in results:
            run(result, record=True)
        if progress and (round_no + 1) % max(requests // 5, 1) == 0:
            progress(f"  {round_no + 1}/{requests} rounds")

    for result in results:
        if result.error is None:
            with count_statements(engine) as counted:
                clients[result.page.who].get(result.page.path).close()
            result.statements = counted.statements
    return results
