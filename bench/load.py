"""`python -m bench load` (or `make bench-load`): concurrent checkouts against gunicorn on PostgreSQL.

Steps:
1. create a fresh PostgreSQL database (default BENCH_LOAD_DATABASE_URL, dropped again at the end, also on failure
   or Ctrl-C; an existing database of that name is refused unless --drop-existing);
2. apply the migrations, seed the demo (`seed_demo`, which includes the catalog), and generate the large
   dataset (bench.generate: resellers with customers, users, audit entries, orders, licenses, invoices);
3. make the first `--buyers` + 1 generated resellers buyers: each is invoiced monthly, and its manager gets the
   same three items in the cart (bench.shop.CART) through the real pages: sign in, POST /cart;
4. start gunicorn (`gunicorn wsgi:app --workers 4 --threads 4`) with the production configuration from the
   environment (SECRET_KEY, DATABASE_URL, MAIL_URL = a temporary folder, PUBLIC_URL,
   OUTBOX_SEND_AFTER_COMMIT=1, and LOGIN_LIMIT_PER_IP and SANDBOX_CARD_LIMIT raised so that one client address
   may sign in all buyers and enter all their cards); the embedded sandbox card processor answers on the same
   server;
5. read every buyer's checkout form; a buyer paying by a new card enters it as a browser with JavaScript does:
   the page frames the processor's hosted fields, whose script posts the card (an approved test card) with the
   publishable key to the processor's API, POST /sandbox-processor/v1/payment_methods, and puts the payment
   method id it answers into the form (payment_kind=card, saved_card=0, payment_method_id); the portal never
   sees the number. First, the yardstick: as many anonymous GET /help as there will be checkouts (buyers +
   duplicates), released at once the same way (one thread and one new connection each). Then release at once:
   `--buyers` checkouts (alternately "Invoice me" and a new card), plus one more buyer's form submitted
   `--duplicates` times concurrently (a double click in several tabs, paying by card: one form, so one payment
   method id); once the emails are delivered, the /help burst again (to show how much two bursts of the same
   page differ on this machine); the checkout burst's p50/p95 are divided by the first /help burst's;
6. check, and print: every answer a 302 to that buyer's order page; exactly one order per cart (the duplicates
   collapsed into one), so buyers + 1 new orders; every license key unique, and 3 new licenses per order;
   order invoice numbers unique and gapless (and the series counter at the last one); every cart emptied; each
   card order holding one succeeded, unrefunded sandbox payment intent (its gateway_charge_id) and no such
   intent without an order (the duplicates charged once); one confirmation email per order, sent; the
   subscriptions grown by what was bought; p50/p95 of the checkout POST latency (wall clock at the client:
   queueing in gunicorn included);
7. throughput on the same gunicorn: `--clients` client threads (spread over `--client-processes` processes, so
   that the client is not capped by one interpreter's GIL), each on its own keep-alive connection, send
   GET /help (anonymous: the client's and the server's ceiling) and then GET /licenses as the probe reseller's
   manager (10,000 licenses, `--probe-licenses`) back to back for `--throughput-warmup` s, then
   `--throughput-seconds` s measured: 200 answers per second, p50/p95 latency, and the CPU the gunicorn
   workers, the client and the whole machine used meanwhile (the machine's 'other' is PostgreSQL and whatever
   else runs there). The goal for /licenses (>= 300 requests/s) is printed PASS or FAIL.

Exit status: 0 when every check passes; 1 when one fails (or, with --check, when /licenses misses its goal);
2 when the test could not start (PostgreSQL unreachable, the database exists, gunicorn did not come up).
Results go to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from bench.app import DatabaseExists, create_database, drop_database, migrated_app
from bench.generate import BENCH_PASSWORD, generate, manager_email
from bench.measure import percentile
from bench.report import write_json
from bench.shop import (
    CART,
    LICENSES_PER_CART,
    CatalogIds,
    card_fields_url,
    card_payment,
    catalog_ids,
    checkout_form,
    csrf_token,
    payment_method_request,
)
from portal.accounts.models import BillingMode, Organization
from portal.demo import seed_demo
from portal.extensions import db

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_load"
PROJECT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
_ORDER_PATH = re.compile(r"^/orders/(ORD-[0-9A-Z]+)$")
LICENSES_GOAL_RPS = 300  # issue 18 item 5: /licenses at 10k licenses, 4 workers × 4 threads on this machine


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL),
                        help="PostgreSQL database to create, use and drop [BENCH_LOAD_DATABASE_URL]")
    parser.add_argument("--drop-existing", action="store_true",
                        help="drop that database first if it exists (left by an interrupted run)")
    parser.add_argument("--keep-database", action="store_true", help="leave the database behind to inspect it")
    parser.add_argument("--buyers", type=int, default=_env_int("BENCH_LOAD_BUYERS", 50),
                        help="concurrent checkouts, one per buyer [BENCH_LOAD_BUYERS]")
    parser.add_argument("--duplicates", type=int, default=_env_int("BENCH_LOAD_DUPLICATES", 5),
                        help="concurrent submissions of one more buyer's checkout form [BENCH_LOAD_DUPLICATES]")
    parser.add_argument("--resellers", type=int, default=_env_int("BENCH_LOAD_RESELLERS", 200),
                        help="generated resellers (at least buyers + 1) [BENCH_LOAD_RESELLERS]")
    parser.add_argument("--customers", type=int, default=_env_int("BENCH_LOAD_CUSTOMERS", 10),
                        help="sub-chains per reseller [BENCH_LOAD_CUSTOMERS]")
    parser.add_argument("--orders", type=int, default=_env_int("BENCH_LOAD_ORDERS", 3),
                        help="generated past orders per reseller [BENCH_LOAD_ORDERS]")
    parser.add_argument("--workers", type=int, default=_env_int("BENCH_LOAD_WORKERS", 4),
                        help="gunicorn worker processes [BENCH_LOAD_WORKERS]")
    parser.add_argument("--threads", type=int, default=_env_int("BENCH_LOAD_THREADS", 4),
                        help="gunicorn threads per worker [BENCH_LOAD_THREADS]")
    parser.add_argument("--probe-licenses", type=int, default=_env_int("BENCH_LOAD_PROBE_LICENSES", 10_000),
                        help="licenses of the probe reseller, whose manager reads /licenses "
                             "[BENCH_LOAD_PROBE_LICENSES]")
    parser.add_argument("--probe-customers", type=int, default=_env_int("BENCH_LOAD_PROBE_CUSTOMERS", 1_000),
                        help="customers (sub-chains) of the probe reseller [BENCH_LOAD_PROBE_CUSTOMERS]")
    parser.add_argument("--clients", type=int, default=_env_int("BENCH_LOAD_CLIENTS", 32),
                        help="concurrent keep-alive connections of the throughput test [BENCH_LOAD_CLIENTS]")
    parser.add_argument("--client-processes", type=int, default=_env_int("BENCH_LOAD_CLIENT_PROCESSES", 2),
                        help="processes the throughput test's client threads are spread over "
                             "[BENCH_LOAD_CLIENT_PROCESSES]")
    parser.add_argument("--throughput-seconds", type=float, default=10.0,
                        help="measured seconds of each throughput test (0: skip them)")
    parser.add_argument("--throughput-warmup", type=float, default=2.0,
                        help="seconds of requests before each throughput test's measurement starts")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 also when /licenses answers fewer than {LICENSES_GOAL_RPS} requests/s")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer")
    parser.add_argument("--seed", type=int, default=_env_int("BENCH_SEED", 2026), help="random seed [BENCH_SEED]")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if args.buyers < 1 or args.duplicates < 1 or args.workers < 1 or args.threads < 1:
        parser.error("--buyers, --duplicates, --workers and --threads must be at least 1")
    if min(args.customers, args.orders, args.probe_licenses, args.probe_customers, args.throughput_seconds,
           args.throughput_warmup) < 0:
        parser.error("--customers, --orders, --probe-* and --throughput-* must not be negative")
    if args.clients < 1 or not 1 <= args.client_processes <= args.clients:
        parser.error("--clients must be at least 1, --client-processes between 1 and --clients")
    if args.check and not args.throughput_seconds:
        parser.error("--check needs the throughput test (--throughput-seconds above 0)")
    args.resellers = max(args.resellers, args.buyers + 1)
    return args


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- a browser over http.client


@dataclass
class Answer:
    status: int
    location: str
    body: str
    ms: float


class Browser:
    """One user's browser: its cookies, sent back to the loopback server even when marked Secure (production
    settings set SESSION_COOKIE_SECURE; this is plain http on 127.0.0.1), and a new connection per request
    (gunicorn closes idle keep-alive connections after two seconds)."""

    def __init__(self, port: int, timeout: float, cookies: dict[str, str] | None = None):
        self.port = port
        self.timeout = timeout
        self.cookies = dict(cookies or {})

    def tab(self) -> Browser:
        """Another tab of the same browser: the same session cookie, its own connection."""
        return Browser(self.port, self.timeout, self.cookies)

    def request(self, method: str, path: str, form: dict | None = None, json_body: dict | None = None) -> Answer:
        """One request; `form` is sent as a form posts it, `json_body` as a page's script posts JSON."""
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            ms = (time.perf_counter() - started) * 1000
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower().replace(" ", ""):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return Answer(response.status, response.headers.get("Location", ""), data.decode("utf-8", "replace"), ms)

    def sign_in(self, email: str, password: str) -> None:
        token = csrf_token(self.request("GET", "/login").body)
        answer = self.request("POST", "/login", {"email": email, "password": password, "csrf_token": token})
        if answer.status != 302:
            raise RuntimeError(f"{email} could not sign in (HTTP {answer.status})")

    def add_to_cart(self, form: dict) -> None:
        token = csrf_token(self.request("GET", "/shop").body)
        answer = self.request("POST", "/cart", {**form, "csrf_token": token})
        if answer.status != 302:
            raise RuntimeError(f"could not add to the cart (HTTP {answer.status})")

    def new_card(self, checkout_page: str) -> str:
        """What the checkout page's hosted card fields do when the buyer enters a new card (with JavaScript): load
        the fields (the frame), post the card as JSON to the processor's API; the payment method id it answers."""
        fields = self.request("GET", card_fields_url(checkout_page))
        if fields.status != 200:
            raise RuntimeError(f"the processor's card fields answered HTTP {fields.status}")
        endpoint, card = payment_method_request(fields.body)
        answer = self.request("POST", endpoint, json_body=card)
        if answer.status != 201:
            raise RuntimeError(f"the processor refused the card (HTTP {answer.status}): {answer.body[:200]}")
        return json.loads(answer.body)["id"]


# ---------------------------------------------------------------- gunicorn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(url: str, workdir: Path, workers: int, threads: int) -> Iterator[tuple[int, Path, int]]:
    """gunicorn serving wsgi:app with the production configuration from the environment; (port, log file,
    the master's pid).
    Stopped with SIGTERM (SIGKILL after 20 s) when the block ends, however it ends."""
    port = _free_port()
    log = workdir / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if k not in {"PORTAL_DEBUG", "FLASK_DEBUG"}}
    env.update({
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "MAIL_URL": str(workdir / "mail"),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OUTBOX_SEND_AFTER_COMMIT": "1",
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_LIMIT_PER_IP": "10000 per minute",  # every buyer signs in from 127.0.0.1
        "SANDBOX_CARD_LIMIT": "10000 per minute",  # and enters a card at the processor from there
        "PORTAL_INSTANCE_PATH": str(workdir / "instance"),
    })
    cmd = [sys.executable, "-m", "gunicorn", "wsgi:app", "--workers", str(workers), "--threads", str(threads),
           "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10"]
    if _has_option("--no-control-socket"):  # gunicorn ≥ 24 opens ~/.gunicorn/gunicorn.ctl, shared by every run
        cmd.append("--no-control-socket")
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {proc.returncode}:\n{_tail(log)}")
            try:
                if Browser(port, 5).request("GET", "/help").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield port, log, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _has_option(option: str) -> bool:
    out = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, check=False)
    return option in out.stdout


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- the buyers and the burst


@dataclass
class Buyer:
    email: str
    organization_id: int
    user_id: int
    payment: dict  # payment_kind; for a new card also saved_card=0 and payment_method_id (once prepared)
    browser: Browser | None = None
    form: dict = field(default_factory=dict)


@dataclass
class Submission:
    buyer: Buyer
    duplicate: bool
    answer: Answer | None = None
    error: str | None = None

    @property
    def order_number(self) -> str | None:
        if self.answer is None or self.answer.status != 302:
            return None
        match = _ORDER_PATH.match(urlsplit(self.answer.location).path)
        return match.group(1) if match else None


def choose_buyers(engine: Engine, count: int) -> list[Buyer]:
    """The managers of the first `count` generated resellers; their organizations are invoiced monthly, and they
    pay alternately by "Invoice me" and by a new card (the last buyer, whose form is sent repeatedly, by card)."""
    emails = [manager_email(i) for i in range(count)]
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT u.email, u.id AS user_id, m.organization_id FROM user_account u "
            "JOIN membership m ON m.user_id = u.id WHERE u.email = ANY(:emails) AND m.role = 'manager'"),
            {"emails": emails}).all()
        by_email = {r.email: r for r in rows}
        orgs = [by_email[e].organization_id for e in emails]
        conn.execute(update(Organization.__table__).where(Organization.__table__.c.id.in_(orgs))
                     .values(billing_mode=BillingMode.MONTHLY_INVOICE))
    buyers = []
    for n, email in enumerate(emails):
        card = n % 2 == 1 or n == count - 1
        payment = {"payment_kind": "card" if card else "invoice"}
        buyers.append(Buyer(email, by_email[email].organization_id, by_email[email].user_id, payment))
    return buyers


def prepare(buyers: list[Buyer], ids: CatalogIds, port: int, timeout: float) -> None:
    """Each buyer signs in, fills the cart through POST /cart, opens checkout and, paying by a new card, enters it
    in the processor's hosted fields (four buyers at a time)."""

    def one(buyer: Buyer) -> None:
        browser = Browser(port, timeout)
        browser.sign_in(buyer.email, BENCH_PASSWORD)
        for entry in CART:
            browser.add_to_cart(ids.add_to_cart_form(entry))
        page = browser.request("GET", "/checkout")
        if page.status != 200:
            raise RuntimeError(f"{buyer.email}: GET /checkout answered {page.status}")
        if buyer.payment["payment_kind"] == "card":
            try:
                buyer.payment = card_payment(browser.new_card(page.body))
            except (RuntimeError, ValueError, KeyError) as exc:
                raise RuntimeError(f"{buyer.email}: {exc}") from exc
        buyer.browser, buyer.form = browser, {**checkout_form(page.body), **buyer.payment}

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, buyers))


def at_once(calls: list[Callable[[], None]]) -> float:
    """Run every call in its own thread, all released at the same moment; returns the wall time in s."""
    barrier = threading.Barrier(len(calls) + 1)

    def released(call: Callable[[], None]) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=released, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def burst(submissions: list[Submission]) -> float:
    """Post every submission's checkout form at the same moment (one thread each); returns the wall time in s."""

    def post(sub: Submission, browser: Browser) -> Callable[[], None]:
        def call() -> None:
            try:
                sub.answer = browser.request("POST", "/checkout", sub.buyer.form)
            except Exception as exc:  # a refused or dropped connection is an error to report, not a crash
                sub.error = f"{type(exc).__name__}: {exc}"
        return call

    return at_once([post(sub, sub.buyer.browser.tab() if sub.duplicate else sub.buyer.browser)
                    for sub in submissions])


def help_burst(port: int, size: int, timeout: float) -> dict:
    """The checkout burst's yardstick: `size` anonymous GET /help released at once the same way (one thread and
    one new connection each); their latency and statuses."""
    answers: list[Answer | str] = []

    def get() -> None:
        try:
            answers.append(Browser(port, timeout).request("GET", "/help"))
        except Exception as exc:  # as in the checkout burst: report it
            answers.append(f"{type(exc).__name__}: {exc}")

    wall = at_once([get] * size)
    statuses = Counter(a.status if isinstance(a, Answer) else "error" for a in answers)
    return {**_latency([a.ms for a in answers if isinstance(a, Answer) and a.status == 200]),
            "wall_seconds": round(wall, 3), "statuses": {str(k): v for k, v in statuses.items()}}


def wait_for_delivery(engine: Engine, timeout: float) -> float | None:
    """Seconds until no email waits for its first delivery attempt, or None after `timeout` s. Each worker hands
    what a request committed to its delivery thread after the response (OUTBOX_SEND_AFTER_COMMIT=1), and an
    attachment made at delivery (the invoice PDF) is rendered there: stopping gunicorn at once would leave them
    pending (for `flask outbox send`), not delivered."""
    started = time.perf_counter()
    query = text("SELECT count(*) FROM outbox_message WHERE status = 'pending' AND attempts = 0")
    while True:
        with engine.connect() as conn:
            waiting = conn.scalar(query)
        elapsed = time.perf_counter() - started
        if not waiting:
            return elapsed
        if elapsed > timeout:
            return None
        time.sleep(0.25)


class LockSampler:
    """Polls pg_stat_activity every `interval` s while the burst runs: how many of the app's backends are active,
    how many wait for a lock, and on which statements (where concurrent checkouts queue)."""

    def __init__(self, engine: Engine, interval: float = 0.02):
        self.engine, self.interval = engine, interval
        self.samples = 0
        self.active: list[int] = []
        self.idle_in_transaction: list[int] = []  # a transaction open while the app works in Python
        self.waiting: list[int] = []
        self.waited_on: Counter[str] = Counter()  # statement (shortened) -> samples in which a backend waited on it
        self.holders: Counter[str] = Counter()  # "state: last statement" of a lock holder others wait for
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text("SELECT state, wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query "
                     "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        holders = text("SELECT DISTINCT h.pid, h.state, left(regexp_replace(h.query, '\\s+', ' ', 'g'), 60) AS query "
                       "FROM pg_stat_activity w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid) "
                       "JOIN pg_stat_activity h ON h.pid = b.pid "
                       "WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'")
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                self.holders.update(f"{r.state}: {r.query}" for r in conn.execute(holders))
                rows = conn.execute(query).all()
                conn.rollback()
                self.samples += 1
                self.active.append(sum(r.state == "active" for r in rows))
                self.idle_in_transaction.append(sum(r.state == "idle in transaction" for r in rows))
                locked = [r.query for r in rows if r.wait_event_type == "Lock"]
                self.waiting.append(len(locked))
                self.waited_on.update(set(locked))
                self._stop.wait(self.interval)

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        n = max(self.samples, 1)
        return {
            "samples": self.samples,
            "active_max": max(self.active, default=0), "active_mean": round(sum(self.active) / n, 1),
            "idle_in_transaction_mean": round(sum(self.idle_in_transaction) / n, 1),
            "waiting_for_lock_max": max(self.waiting, default=0),
            "waiting_for_lock_mean": round(sum(self.waiting) / n, 1),
            "waited_on": {q: round(c / n, 3) for q, c in self.waited_on.most_common(5)},  # share of samples
            "lock_holders": {q: round(c / n, 3) for q, c in self.holders.most_common(6)},
        }


# ---------------------------------------------------------------- throughput over keep-alive connections


def _hammer(port: int, path: str, cookie: str, threads: int, start_at: float, warmup: float, seconds: float,
            timeout: float, results: multiprocessing.Queue) -> None:
    """One client process: `threads` threads, each on its own keep-alive connection, send GET `path` back to back
    from `start_at` (time.monotonic(), one clock for every process on Linux) for `warmup` + `seconds` s; puts on
    `results` what completed inside the measured window, and the CPU seconds the process used in it."""
    window_start, window_end = start_at + warmup, start_at + warmup + seconds
    headers = {"Host": f"127.0.0.1:{port}", **({"Cookie": cookie} if cookie else {})}
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    closed = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine: Counter[str] = Counter()
        ms: list[float] = []
        closes = 0
        time.sleep(max(start_at - time.monotonic(), 0))
        try:
            while (sent := time.monotonic()) < window_end:
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = str(response.status)
                    closes += response.will_close  # http.client reconnects on the next request
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status = type(exc).__name__
                    time.sleep(0.01)
                done = time.monotonic()
                if window_start <= done < window_end:
                    mine[status] += 1
                    if status == "200":
                        ms.append((done - sent) * 1000)
        finally:
            conn.close()
        with lock:
            statuses.update(mine)
            latencies.extend(ms)
            closed[0] += closes

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(max(window_start - time.monotonic(), 0))
    cpu = time.process_time()
    time.sleep(max(window_end - time.monotonic(), 0))
    cpu = time.process_time() - cpu
    for t in workers:
        t.join()
    results.put({"statuses": dict(statuses), "latencies": latencies, "closed": closed[0], "cpu_seconds": cpu})


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat from its 3rd field on (the name, in parentheses, may hold spaces); [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _workers_of(master: int) -> list[int]:
    """The gunicorn master's children (its workers)."""
    pids = [d.name for d in Path("/proc").iterdir() if d.name.isdigit()]
    return [int(pid) for pid in pids if (fields := _stat_fields(pid)) and int(fields[1]) == master]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds these processes have used so far (fields 14 and 15 of /proc/<pid>/stat)."""
    ticks = sum(int(f[11]) + int(f[12]) for pid in pids if (f := _stat_fields(pid)))
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, neither idle nor waiting for I/O)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return float("nan")
    return sum(values[:3] + values[5:7]) / os.sysconf("SC_CLK_TCK")  # user, nice, system, irq, softirq


def throughput(port: int, path: str, cookie: str, gunicorn_pid: int, args: argparse.Namespace) -> dict:
    """`args.clients` keep-alive connections, spread over `args.client_processes` client processes, sending GET
    `path` back to back: 200 answers per second of the measured window, their latency, and who used the CPU."""
    sys.stdout.flush()  # a forked child flushes what it inherited on exit: nothing
    ctx = multiprocessing.get_context("fork")  # no other thread runs now; each child only opens sockets
    results = ctx.Queue()
    procs_n = args.client_processes
    split = [args.clients // procs_n + (i < args.clients % procs_n) for i in range(procs_n)]
    start_at = time.monotonic() + 0.2
    window = args.throughput_seconds
    procs = [ctx.Process(target=_hammer, args=(port, path, cookie, n, start_at, args.throughput_warmup, window,
                                               args.timeout, results), daemon=True) for n in split]
    for proc in procs:
        proc.start()
    workers = _workers_of(gunicorn_pid)
    time.sleep(max(start_at + args.throughput_warmup - time.monotonic(), 0))
    server, machine = _cpu_seconds(workers), _machine_busy_seconds()
    time.sleep(max(start_at + args.throughput_warmup + window - time.monotonic(), 0))
    server, machine = _cpu_seconds(workers) - server, _machine_busy_seconds() - machine
    parts = [results.get(timeout=args.timeout + 60) for _ in procs]
    for proc in procs:
        proc.join()
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    latencies = [ms for part in parts for ms in part["latencies"]]
    client = sum(part["cpu_seconds"] for part in parts)
    return {
        "path": path, "clients": args.clients, "client_processes": procs_n, "seconds": window,
        "warmup_seconds": args.throughput_warmup,
        "requests_per_second": round(statuses.get("200", 0) / window, 1),
        "statuses": dict(statuses), "connections_closed_by_server": sum(part["closed"] for part in parts),
        **{k: v for k, v in _latency(latencies).items() if k != "n"},
        # cores busy on average over the window: the gunicorn workers, the client processes (the busiest at 1.0
        # is GIL-bound), and the whole machine (PostgreSQL, and whatever else runs on it, make the rest)
        "gunicorn_cpu_ms_per_answer": round(server * 1000 / max(sum(statuses.values()), 1), 1),
        "cpu_cores": {"gunicorn_workers": round(server / window, 2), "client": round(client / window, 2),
                      "client_busiest_process": round(max(p["cpu_seconds"] for p in parts) / window, 2),
                      "machine": round(machine / window, 2), "machine_cores": os.cpu_count()},
    }


# ---------------------------------------------------------------- checks


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _snapshot(engine: Engine, orgs: list[int]) -> dict:
    with engine.connect() as conn:
        return {
            "max_order_id": conn.scalar(text("SELECT coalesce(max(id), 0) FROM purchase_order")),
            "intents": set(conn.scalars(text("SELECT id FROM sandbox_intent"))),
            "subscriptions": {(r.organization_id, r.product_id): r.quantity for r in conn.execute(
                text("SELECT organization_id, product_id, quantity FROM subscription "
                     "WHERE organization_id = ANY(:orgs)"), {"orgs": orgs})},
        }


def verify(engine: Engine, subs: list[Submission], buyers: list[Buyer], before: dict,
           ids: CatalogIds) -> list[Check]:
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, ok, detail))

    bad = [s for s in subs if s.order_number is None]
    examples = "; ".join(f"{s.buyer.email}: {s.error or f'HTTP {s.answer.status} {s.answer.location}'}"
                         for s in bad[:3])
    add("0 errors: every answer a 302 to an order page", not bad,
        f"{len(subs) - len(bad)}/{len(subs)} redirected to /orders/<number>" + (f"; {examples}" if bad else ""))

    org_ids = [b.organization_id for b in buyers]
    with engine.connect() as conn:
        orders = conn.execute(text(
            "SELECT id, number, organization_id, placed_by_id, payment_kind, gateway_charge_id FROM purchase_order "
            "WHERE id > :after ORDER BY id"), {"after": before["max_order_id"]}).all()
        per_org = Counter(o.organization_id for o in orders)
        number_of = {o.organization_id: o.number for o in orders}
        add(f"orders placed == buyers + 1 ({len(buyers)})", len(orders) == len(buyers),
            f"{len(orders)} new orders")
        off = {b.email: per_org.get(b.organization_id, 0) for b in buyers if per_org.get(b.organization_id) != 1}
        strangers = set(per_org) - set(org_ids)
        add("exactly one order per cart (duplicates collapsed)", not off and not strangers,
            "each buyer has one new order" if not off and not strangers else f"off: {off}; other orgs: {strangers}")
        wrong = [s.buyer.email for s in subs
                 if s.order_number and s.order_number != number_of.get(s.buyer.organization_id)]
        dup_numbers = {s.order_number for s in subs if s.duplicate}
        add("every redirect names the buyer's own order (the duplicates the same one)",
            not wrong and len(dup_numbers) == 1, f"wrong: {wrong[:3]}; duplicate burst → {sorted(dup_numbers)}")

        order_ids = [o.id for o in orders]
        dup_keys = conn.execute(text("SELECT key, count(*) FROM license GROUP BY key HAVING count(*) > 1")).all()
        total_keys = conn.scalar(text("SELECT count(*) FROM license"))
        add("no duplicate license keys", not dup_keys,
            f"{total_keys:,} licenses, {len(dup_keys)} keys used more than once")
        new_licenses = conn.execute(text(
            "SELECT l.order_line_id, ol.order_id FROM license l JOIN order_line ol ON ol.id = l.order_line_id "
            "WHERE ol.order_id = ANY(:ids)"), {"ids": order_ids}).all()
        per_order = Counter(r.order_id for r in new_licenses)
        short = {oid: per_order.get(oid, 0) for oid in order_ids if per_order.get(oid, 0) != LICENSES_PER_CART}
        add(f"{LICENSES_PER_CART} new licenses per order", not short,
            f"{len(new_licenses)} new licenses" + (f"; off: {short}" if short else ""))

        seqs = [r.sequence for r in conn.execute(text(
            "SELECT sequence FROM invoice WHERE series = 'order' ORDER BY sequence"))]
        numbers = conn.execute(text("SELECT count(*), count(DISTINCT number) FROM invoice")).one()
        counter = conn.scalar(text("SELECT last_number FROM invoice_series WHERE series = 'order'"))
        gapless = seqs == list(range(1, len(seqs) + 1)) and counter == len(seqs)
        invoiced = conn.scalar(text("SELECT count(*) FROM invoice WHERE order_id = ANY(:ids)"), {"ids": order_ids})
        add("invoice numbers unique and gapless", gapless and numbers[0] == numbers[1] and invoiced == len(orders),
            f"order series 1..{seqs[-1] if seqs else 0} ({len(seqs)} invoices, counter {counter}); "
            f"{invoiced} for the new orders")

        left = conn.scalar(text("SELECT count(*) FROM cart_item WHERE user_id = ANY(:users)"),
                           {"users": [b.user_id for b in buyers]})
        add("every buyer's cart emptied", left == 0, f"{left} cart items left")

        # A charge is a sandbox payment intent: approved = succeeded and nothing refunded (a charge given back is
        # canceled, or refunded in full).
        intents = [i for i in conn.execute(text(
            "SELECT id, state, amount_minor, amount_refunded_minor FROM sandbox_intent WHERE kind = 'payment'")).all()
            if i.id not in before["intents"]]
        by_id = {i.id: i for i in intents}

        def charged(intent) -> bool:
            return intent is not None and intent.state == "succeeded" and intent.amount_refunded_minor == 0

        card_orders = [o for o in orders if o.payment_kind == "card"]
        unpaid = [o.number for o in card_orders if not charged(by_id.get(o.gateway_charge_id))]
        shared = [pi for pi, n in Counter(o.gateway_charge_id for o in card_orders).items() if n > 1]
        on_orders = {o.gateway_charge_id for o in card_orders}
        orphans = [i.id for i in intents if charged(i) and i.id not in on_orders]
        states = Counter("succeeded, refunded" if i.state == "succeeded" and i.amount_refunded_minor
                         else i.state for i in intents)
        add("one succeeded, unrefunded payment intent per card order, none without an order",
            not unpaid and not shared and not orphans,
            f"{len(card_orders)} card orders; {len(intents)} new payment intents: "
            + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none")
            + (f"; unpaid {unpaid[:3]}" if unpaid else "") + (f"; shared {shared[:3]}" if shared else "")
            + (f"; charged without an order {orphans[:3]}" if orphans else ""))

        mails = conn.execute(text("SELECT status, count(*) FROM outbox_message WHERE kind = 'order_confirmation' "
                                  "GROUP BY status")).all()
        mail = dict(mails)
        add("one confirmation email per order, sent", mail.get("sent", 0) == len(orders) and len(mail) <= 1,
            ", ".join(f"{n} {s}" for s, n in mails) or "none")

        device = ids.products["device-protection"]
        subs_now = {(r.organization_id, r.product_id): r.quantity for r in conn.execute(
            text("SELECT organization_id, product_id, quantity FROM subscription WHERE organization_id = ANY(:orgs)"),
            {"orgs": org_ids})}
        bought = next(e.quantity for e in CART if e.slug == "device-protection")
        off_subs = [b.email for b in buyers if subs_now.get((b.organization_id, device), 0)
                    - before["subscriptions"].get((b.organization_id, device), 0) != bought]
        add(f"each buyer's device subscription grew by {bought}", not off_subs, f"off: {off_subs[:3]}")
    return checks


# ---------------------------------------------------------------- the whole test


def _latency(samples: list[float]) -> dict:
    return {"n": len(samples), "p50_ms": round(percentile(samples, 50), 1), "p95_ms": round(percentile(samples, 95), 1),
            "max_ms": round(max(samples), 1) if samples else None}


def run(args: argparse.Namespace, workdir: Path, cleanup: list[Callable[[], None]]) -> int:
    url = args.database_url
    create_database(url, drop_existing=args.drop_existing)
    if not args.keep_database:
        cleanup.append(lambda: drop_database(url))
    _say(f"Created {make_url(url).render_as_string(hide_password=True)}; migrating and seeding…")
    app = migrated_app(url, workdir / "seed-mail", ARGON2_PROFILE="production")  # hashes as gunicorn checks them
    with app.app_context():
        seed_demo()
        db.session.commit()
        dataset = generate(resellers=args.resellers, customers_per_reseller=args.customers, users_per_org=2,
                           audit_entries_per_org=5, orders_per_reseller=args.orders, seed=args.seed,
                           probe_licenses=args.probe_licenses, probe_customers=args.probe_customers)
        db.engine.dispose()
        db.session.remove()
    _say(f"  {sum(dataset.rows.values()):,} rows in {dataset.seconds:.1f} s")

    engine = create_engine(url)
    cleanup.append(engine.dispose)
    buyers = choose_buyers(engine, args.buyers + 1)
    ids = catalog_ids(engine)
    before = _snapshot(engine, [b.organization_id for b in buyers])

    _say(f"Starting gunicorn ({args.workers} workers × {args.threads} threads)…")
    with gunicorn(url, workdir, args.workers, args.threads) as (port, log, gunicorn_pid):
        _say(f"  listening on 127.0.0.1:{port}; {len(buyers)} buyers sign in, fill their carts, open checkout…")
        started = time.perf_counter()
        prepare(buyers, ids, port, args.timeout)
        _say(f"  ready in {time.perf_counter() - started:.1f} s")
        subs = [Submission(b, duplicate=False) for b in buyers[:-1]]
        subs += [Submission(buyers[-1], duplicate=True) for _ in range(args.duplicates)]
        _say(f"Firing {len(subs)} GET /help at once (the yardstick), then {args.buyers} checkouts + "
             f"{args.duplicates} submissions of one more form, all at once…")
        help_before = help_burst(port, len(subs), args.timeout)
        with LockSampler(engine) as sampler:
            wall = burst(subs)
        _say(f"  burst over in {wall:.2f} s; waiting for the emails (delivered after the responses)…")
        delivery = wait_for_delivery(engine, args.timeout)
        help_after = help_burst(port, len(subs), args.timeout)
        rates: list[dict] = []
        if args.throughput_seconds:
            manager = Browser(port, args.timeout)
            manager.sign_in(dataset.probe_manager_email, BENCH_PASSWORD)
            page = manager.request("GET", "/licenses")
            if page.status != 200:
                raise RuntimeError(f"{dataset.probe_manager_email}: GET /licenses answered {page.status}")
            cookie = "; ".join(f"{k}={v}" for k, v in manager.cookies.items())
            for path, who in (("/help", ""), ("/licenses", cookie)):
                _say(f"Throughput of GET {path}: {args.clients} keep-alive connections from "
                     f"{args.client_processes} client processes, {args.throughput_warmup:g} s warm-up + "
                     f"{args.throughput_seconds:g} s…")
                rates.append(throughput(port, path, who, gunicorn_pid, args))
        server_log = _tail(log, 15)
    locks = sampler.summary()
    checks = verify(engine, subs, buyers, before, ids)

    single = [s.answer.ms for s in subs if s.answer and not s.duplicate]
    dups = [s.answer.ms for s in subs if s.answer and s.duplicate]
    by_kind = {kind: [s.answer.ms for s in subs if s.answer and not s.duplicate
                      and s.buyer.payment["payment_kind"] == kind] for kind in ("invoice", "card")}
    statuses = Counter(s.answer.status if s.answer else "error" for s in subs)
    latency = {"checkouts": _latency(single), "duplicates": _latency(dups),
               **{f"checkouts_{k}": _latency(v) for k, v in by_kind.items()}}
    everyone = _latency(single + dups)  # the whole burst, as the /help burst is measured
    versus_help = {q: round(everyone[f"{q}_ms"] / help_before[f"{q}_ms"], 1) if help_before[f"{q}_ms"] else None
                   for q in ("p50", "p95")}
    with engine.connect() as conn:
        probe_licenses = conn.scalar(text("SELECT count(*) FROM license WHERE owner_id = :org"),
                                     {"org": dataset.probe_reseller_id})
    licenses_rate = rates[1]["requests_per_second"] if rates else None
    goal_ok = licenses_rate is not None and licenses_rate >= LICENSES_GOAL_RPS

    print()
    print(f"postgresql, gunicorn {args.workers} workers × {args.threads} threads; {args.resellers} resellers × "
          f"{args.customers} customers, {sum(dataset.rows.values()):,} generated rows")
    print(f"{len(subs)} POST /checkout at once ({args.buyers} buyers + {args.duplicates}× one form) "
          f"in {wall:.2f} s wall: {args.buyers / wall:.1f} orders/s; statuses {dict(statuses)}")
    print("emails: " + (f"every one tried {delivery:.1f} s after the burst" if delivery is not None
                        else f"some not tried {args.timeout:.0f} s after the burst"))
    print()
    header = ("checkout POST latency", "n", "p50 ms", "p95 ms", "max ms")
    rows = [(name, str(v["n"]), f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['max_ms'] or float('nan'):.1f}")
            for name, v in ((f"{args.buyers} buyers", latency["checkouts"]),
                            ("  paying by invoice", latency["checkouts_invoice"]),
                            ("  paying by card", latency["checkouts_card"]),
                            (f"one form × {args.duplicates}", latency["duplicates"]),
                            (f"the whole burst ({len(subs)})", everyone),
                            (f"GET /help × {len(subs)}, before", help_before),
                            (f"GET /help × {len(subs)}, after", help_after))]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                            strict=True))))
    print(f"the checkout burst against the /help burst before it (the same size, released the same way): "
          f"p50 {versus_help['p50']}×, p95 {versus_help['p95']}×")
    if rates:
        _print_throughput(rates, probe_licenses, dataset.probe_manager_email)
        print(f"{'PASS' if goal_ok else 'FAIL'}  GET /licenses at {probe_licenses:,} licenses >= "
              f"{LICENSES_GOAL_RPS} requests/s on {args.workers} workers × {args.threads} threads: "
              f"{licenses_rate:.1f} requests/s" + ("" if args.check else " (an exit status only with --check)"))
    print(f"\nPostgreSQL during the burst ({locks['samples']} samples of pg_stat_activity): "
          f"on average {locks['active_mean']} backends active (max {locks['active_max']}), of which "
          f"{locks['waiting_for_lock_mean']} waiting for a lock (max {locks['waiting_for_lock_max']}); "
          f"{locks['idle_in_transaction_mean']} idle in a transaction (the app working in Python)")
    for query, share in locks["waited_on"].items():
        print(f"  waiting in {share:.0%} of samples: {query}")
    for holder, share in locks["lock_holders"].items():
        print(f"  the holder they wait for, in {share:.0%} of samples: {holder}")
    print()
    for c in checks:
        print(f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
    ok = all(c.ok for c in checks)
    if not ok:
        print(f"\ngunicorn log (last lines):\n{server_log}")

    write_json(args.output, {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "database": make_url(url).render_as_string(hide_password=True),
        "gunicorn": {"workers": args.workers, "threads": args.threads},
        "dataset": {"resellers": args.resellers, "customers_per_reseller": args.customers,
                    "orders_per_reseller": args.orders, "rows": dataset.rows},
        "buyers": args.buyers, "duplicates": args.duplicates, "wall_seconds": round(wall, 3),
        "mail_delivery_seconds": round(delivery, 1) if delivery is not None else None,
        "statuses": {str(k): v for k, v in statuses.items()}, "latency": latency, "postgres_during_burst": locks,
        "help_burst": {"before": help_before, "after": help_after},
        "checkout_burst_vs_help_burst": {"burst": everyone, "ratio": versus_help},
        "throughput": {r["path"]: r for r in rates},
        "licenses_goal": {"probe_licenses": probe_licenses, "requests_per_second": LICENSES_GOAL_RPS,
                          "measured": licenses_rate, "ok": goal_ok if rates else None},
        "checks": [c.__dict__ for c in checks], "ok": ok,
    })
    print(f"\nResults written to {args.output}")
    return 0 if ok and (goal_ok or not args.check) else 1


def _print_throughput(rates: list[dict], probe_licenses: int, manager: str) -> None:
    first = rates[0]
    print(f"\nthroughput: {first['clients']} keep-alive connections from {first['client_processes']} client "
          f"processes, GET back to back, {first['seconds']:g} s measured after {first['warmup_seconds']:g} s")
    header = ("page", "200/s", "p50 ms", "p95 ms", "not 200", "closed", "CPU gunicorn", "ms/answer", "client",
              "machine")
    rows = []
    for r in rates:
        name = (f"GET /licenses ({manager}, {probe_licenses:,} licenses)" if r["path"] == "/licenses"
                else f"GET {r['path']} (anonymous)")
        cpu = r["cpu_cores"]
        rows.append((name, f"{r['requests_per_second']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                     str(sum(n for s, n in r["statuses"].items() if s != "200")),
                     str(r["connections_closed_by_server"]), f"{cpu['gunicorn_workers']:.2f}",
                     f"{r['gunicorn_cpu_ms_per_answer']:.1f}",
                     f"{cpu['client']:.2f}", f"{cpu['machine']:.2f}/{cpu['machine_cores']}"))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                            strict=True))))
    print("(CPU: cores busy on average, and the gunicorn workers' CPU ms per answer; the machine's rest is "
          "PostgreSQL and whatever else runs on it)")
    for r in rates:
        if r["cpu_cores"]["client_busiest_process"] >= 0.9:
            print(f"note: a client process used {r['cpu_cores']['client_busiest_process']:.2f} of a core on "
                  f"{r['path']}: the client may be what limits it; try more --client-processes")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    cleanup: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="portal-bench-load-") as tmp:
        try:
            return run(args, Path(tmp), cleanup)
        except (DatabaseExists, OperationalError, RuntimeError) as exc:
            _say(f"bench load: {exc}")
            return 2
        finally:
            for step in reversed(cleanup):
                try:
                    step()
                except Exception as exc:  # report, and still run the other clean-up steps
                    _say(f"bench load: clean-up failed: {type(exc).__name__}: {exc}")
