"""Timing pages in-process with the Flask test client, and counting the SQL statements each one sends.

Server time is `time.perf_counter()` around the request (routing, views, queries, templates, after-request
hooks such as sending the order confirmation; no network, no browser). Pages are measured in interleaved
rounds (every page once per round, on every book: measure_targets), so a slow patch of the machine affects all
pages and books alike, and the ratios to the /help baseline and between books stay fair.

A page that changes data (POST /checkout) names a `form`: an object whose untimed `before()` builds the body
to post (here: GET /checkout and read its form back, as a browser would) and whose untimed `after()` puts
things back (here: refill the cart the order consumed), so that every timed request does the same work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from bench.shop import CartRefill, checkout_form, csrf_token
from portal.diagnostics import count_statements
from portal.outbox.background import wait_for_outbox


@dataclass(frozen=True)
class Page:
    """One request to measure: path, who sends it, and how many SQL statements it may send (for --check).

    `path` may hold `{name}` fields, filled from the `params` given to measure() (ids known only once the data
    exists). A POST names its `form` (a key of the `forms` given to measure()), or sends a fixed JSON `body` (an
    API request). A `goal` page is one a reseller or
    an end customer uses (issue 18 item 1): --check holds it to the goals (bench.report.GOAL_RATIO and
    GOAL_GROWTH); the others are informative, with at most their own `max_ratio` on p95 / (/help p95). A page
    may also be held to `max_versus` × the p95 of the page named `versus` (the same request's cost against another's).
    """

    path: str
    who: str  # a key of the clients dict: "anonymous", "manager", "staff" or "customer" (an end customer)
    sql_budget: int
    label: str = ""
    baseline: bool = False
    goal: bool = False
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    expect: int = 200  # the status every answer must have
    form: str | None = None
    max_ratio: float | None = None  # an informative page's own --check limit on p95 / baseline p95
    requests: int | None = None  # at most this many timed requests (a whole streamed download), in the first rounds
    body: str | None = None  # a JSON body sent as is, every time (an API request)
    versus: str | None = None  # the name of another page whose p95 this one's is compared with (report.pairs)
    max_versus: float | None = None  # and --check's limit on that ratio

    @property
    def name(self) -> str:
        return self.label or self.path


class Form(Protocol):
    """The untimed steps around one measured POST (see the module docstring)."""

    def before(self, client: FlaskClient) -> dict: ...

    def after(self, client: FlaskClient) -> None: ...


HTMX = (("HX-Request", "true"),)

# The pages a reseller's manager and an end customer use (issue 18 item 1), on the probe reseller's book
# (bench.books: N licenses, N/10 customers, N/50 locations, N/10 devices, 36 months of orders and invoices).
# {license_key} is one of its resold licenses, held by {customer_id}, one of ten customers whose names contain
# {customer_search}; "customer" is a viewer of that customer (an end customer: its entitlements); {location_id}
# one of the probe's locations. Each section of /licenses is the htmx fragment its search, sort and pages fetch.
GOAL_PAGES: tuple[Page, ...] = (
    Page("/", "manager", sql_budget=8, goal=True, label="/ (dashboard, reseller)"),
    Page("/licenses", "manager", sql_budget=8, goal=True, label="/licenses (reseller)"),
    Page("/licenses?section=unassigned", "manager", sql_budget=4, goal=True, headers=HTMX,
         label="/licenses?section=unassigned (htmx)"),
    Page("/licenses?section=customers", "manager", sql_budget=4, goal=True, headers=HTMX,
         label="/licenses?section=customers (htmx)"),
    Page("/licenses?section=resold", "manager", sql_budget=4, goal=True, headers=HTMX,
         label="/licenses?section=resold (htmx)"),
    Page("/licenses?section=personal", "manager", sql_budget=5, goal=True, headers=HTMX,
         label="/licenses?section=personal (htmx)"),
    Page("/licenses?section=resold&q={customer_search}", "manager", sql_budget=4, goal=True, headers=HTMX,
         label="/licenses?section=resold&q=… (htmx)"),
    Page("/licenses?resold-sort=customer&resold-per=100", "manager", sql_budget=8, goal=True,
         label="/licenses?resold-sort=customer (100 rows)"),
    Page("/licenses?resold-ms_state=active&resold-activation=no&resold-quantity_from=10", "manager",
         sql_budget=8, goal=True, label="/licenses?resold-… (3 filters)"),
    Page("/licenses/{license_key}", "manager", sql_budget=6, goal=True, label="/licenses/<key>"),
    # with each customer's reseller fees and the month's total (issue 15: 3 statements, whatever the customers)
    Page("/customers", "manager", sql_budget=8, goal=True),
    Page("/customers/{customer_id}", "manager", sql_budget=13, goal=True, label="/customers/<id>"),
    Page("/invoices", "manager", sql_budget=5, goal=True),
    Page("/orders", "manager", sql_budget=4, goal=True),
    Page("/payments", "manager", sql_budget=4, goal=True),
    Page("/renewals", "manager", sql_budget=19, goal=True),
    # Manage Subscriptions counts the plans' usage in the database (plans, devices, location subscriptions) and
    # reads the renewal invoices past due; /devices and /locations are windows.
    Page("/subscriptions", "manager", sql_budget=7, goal=True),
    Page("/devices", "manager", sql_budget=5, goal=True),
    Page("/locations", "manager", sql_budget=6, goal=True),
    Page("/locations/{location_id}", "manager", sql_budget=7, goal=True, label="/locations/<id>"),
    Page("/licenses", "customer", sql_budget=4, goal=True, label="/licenses (end customer)"),
    Page("/", "customer", sql_budget=5, goal=True, label="/ (dashboard, end customer)"),
)

# The automation API (issue 16), as a partner's system calls it with the probe manager's key (every scope the manager
# may give; bench.__main__.prepare creates it and sends it as `Authorization: Bearer <key>`). Its lists are goal
# pages too (issue 18 item 1: "the API lists when they exist"); issue 16's own bar is the licenses list of 100 at
# 100k licenses within 5× /help. An API request counts its key, with the creator's memberships (1), first.
API = "api"
API_PREFIX = "/api/"
# One order placed untimed when the book is prepared, then replayed: the same request, the same Idempotency-Key
# (issue 16: a replay within 2× a GET of the order).
API_REPLAYED_KEY = "bench-replayed-order"
API_ORDER_BODY = json.dumps({"items": [{"product": "mailsuite", "edition": "Professional", "quantity": 25,
                                        "addons": ["antispam"]}],
                             "payment": {"method": "invoice"}, "purchase_order_number": "BENCH-REPLAY"})
API_ORDER_GET = "/api/v1/orders/<number>"
API_PAGES: tuple[Page, ...] = (
    Page("/api/v1/licenses?limit=100", API, sql_budget=3, goal=True),
    Page("/api/v1/licenses?limit=25", API, sql_budget=3, goal=True),
    Page("/api/v1/orders", API, sql_budget=2, goal=True),
    Page("/api/v1/invoices", API, sql_budget=2, goal=True),
    Page("/api/v1/customers", API, sql_budget=2, goal=True),
    Page("/api/v1/licenses/{license_key}", API, sql_budget=3, label="/api/v1/licenses/<key>"),
    Page("/api/v1/orders/{api_order_number}", API, sql_budget=5, label=API_ORDER_GET),
    Page("/api/v1/orders", API, sql_budget=3, method="POST", body=API_ORDER_BODY, expect=201,
         headers=(("Idempotency-Key", API_REPLAYED_KEY),), versus=API_ORDER_GET, max_versus=2.0,
         label="POST /api/v1/orders (Idempotency-Key replayed)"),
)

# Streamed downloads read whole in the timing: they grow with the book by nature (their rows/s are in
# docs/benchmarks.md, CSV exports), so no time limit; their statements stay constant.
EXPORT_PAGES: tuple[Page, ...] = (
    Page("/customers.csv", "manager", sql_budget=4, requests=10, label="/customers.csv (streamed)"),
    Page("/licenses.csv?section=resold", "manager", sql_budget=4, requests=10,
         label="/licenses.csv?section=resold (streamed)"),
)

# The probe reseller's storefront (issue 14: 500 license products, a default markup, rules for everyone and 1,000
# special prices for the signed-in customer; bench.generate.insert_probe_storefront), anonymous and as that
# customer. The catalog shows one keyset page of products, so neither page grows with products or rules: the
# storefront with whether its own prices apply (1), the products with their editions (1), the rules (1); the
# customer's session (2) and cart count (1).
STOREFRONT_PAGES: tuple[Page, ...] = (
    Page("/s/{storefront_alias}", "anonymous", sql_budget=3, label="/s/<alias> (catalog)"),
    Page("/s/{storefront_alias}", "customer", sql_budget=6, label="/s/<alias> (catalog, customer)"),
    Page("/s/{storefront_alias}/products/{storefront_product}", "anonymous", sql_budget=3,
         label="/s/<alias>/products/<slug>"),
    Page("/s/{storefront_alias}/products/{storefront_product}", "customer", sql_budget=6,
         label="/s/<alias>/products/<slug> (customer)"),
    # the reseller's side (issue 15): every edition with its cost, RRP, price, margins and the vendor's fee
    # (every edition of the 500 products on one page: seconds, so 10 timed requests)
    Page("/account/storefront/prices", "manager", sql_budget=20, max_ratio=1000, requests=10),
    Page("/account/storefront/prices.csv", "manager", sql_budget=13, requests=10,
         label="/account/storefront/prices.csv (streamed)"),
)

# The pages of the benchmark: the baseline, the goal pages, then the informative ones. The budgets are today's
# counts: every one is independent of the data size, so a page that starts issuing a query per row (N+1) fails
# --check (and its count differs between books). The manager's pages count one statement more than a visitor's
# for the cart badge in the header.
PAGES: tuple[Page, ...] = (
    Page("/help", "anonymous", sql_budget=0, baseline=True),
    *GOAL_PAGES,
    *API_PAGES,
    Page("/help", "manager", sql_budget=3, label="/help (signed in)"),
    Page("/account", "manager", sql_budget=3),
    Page("/account/users", "manager", sql_budget=6),
    Page("/account/chains", "manager", sql_budget=4),
    Page("/account/partners", "manager", sql_budget=5),
    Page("/account/audit", "manager", sql_budget=5),
    Page("/admin/audit", "staff", sql_budget=3),
    Page("/shop", "anonymous", sql_budget=3),
    Page("/shop/mailsuite", "anonymous", sql_budget=3),
    Page("/shop/mailsuite?{price_query}", "anonymous", sql_budget=3, headers=HTMX,
         label="/shop/mailsuite?… (htmx price)"),
    # the cart's subscription line looks up the plan it would prorate (1)
    Page("/cart", "manager", sql_budget=8, label="/cart (3 items)"),
    Page("/checkout", "manager", sql_budget=11, label="/checkout (3 items)"),
    # Placing an order commits and writes the confirmation email to disk: bound by the disk, not by rendering,
    # so its own ratio limit. Its orders go into the run's throwaway copy of the book (bench.books), never the book.
    Page("/checkout", "manager", sql_budget=43, method="POST", expect=302, form="checkout", max_ratio=100,
         label="POST /checkout (invoice)"),
    *EXPORT_PAGES,
    *STOREFRONT_PAGES,
)


def select_pages(pages: tuple[Page, ...], patterns: str) -> tuple[Page, ...]:
    """The pages whose name (label or path) contains one of the comma-separated `patterns` (case-insensitive),
    always with the baseline and the page each chosen one is compared with (`versus`); every page for an empty
    `patterns`."""
    wanted = [p.strip().lower() for p in patterns.split(",") if p.strip()]
    if not wanted:
        return pages
    chosen = {page.name for page in pages if page.baseline or any(w in page.name.lower() for w in wanted)}
    chosen |= {page.versus for page in pages if page.name in chosen and page.versus}
    return tuple(page for page in pages if page.name in chosen)


class CheckoutForm:
    """Before each timed POST /checkout: read the checkout page's form and choose "Invoice me"; after it, wait
    for its email to be delivered and put the cart back as it was (the order consumed it), so every measured order
    buys the same three items."""

    def __init__(self, refill: CartRefill, payment: Mapping[str, str] | None = None):
        self.refill = refill
        self.payment = dict(payment or {"payment_kind": "invoice"})

    def before(self, client: FlaskClient) -> dict:
        return {**checkout_form(client.get("/checkout").get_data(as_text=True)), **self.payment}

    def after(self, client: FlaskClient) -> None:
        # The confirmation email (its invoice PDF made at delivery) leaves through the outbox's delivery thread,
        # after the response: let it finish, untimed, so its work is not counted against the pages timed next.
        wait_for_outbox()
        self.refill.refill()


def add_to_cart(client: FlaskClient, form: dict) -> None:
    """POST /cart like the product page's "Add to cart" button (with the page's CSRF token)."""
    token = csrf_token(client.get("/shop").get_data(as_text=True))
    response = client.post("/cart", data={**form, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"could not add to the cart (HTTP {response.status_code})")


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
        return self.error is None and self.statuses == {self.page.expect}

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


def sign_in(client: FlaskClient, email: str, password: str, totp_secret: str | None = None) -> None:
    """Sign in like a browser: read the CSRF token from the login page, then POST /login; with `totp_secret`
    (staff must use two-step sign-in), then the second step's code."""
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)})
    if response.status_code == 302 and totp_secret and response.headers["Location"].endswith("/login/two-step"):
        import pyotp

        page = client.get("/login/two-step").get_data(as_text=True)
        response = client.post("/login/two-step", data={"code": pyotp.TOTP(totp_secret).now(),
                                                        "csrf_token": csrf_token(page)})
    if response.status_code != 302 or response.headers["Location"].endswith(("/login", "/login/two-step")):
        raise RuntimeError(f"{email} could not sign in (HTTP {response.status_code})")


def _open(client: FlaskClient, page: Page, data: dict | None):
    if page.body is not None:
        return client.open(page.path, method=page.method, headers=dict(page.headers), data=page.body,
                           content_type="application/json")
    return client.open(page.path, method=page.method, headers=dict(page.headers), data=data)


def _timed(client: FlaskClient, page: Page, data: dict | None) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = _open(client, page, data)
    body = response.get_data()
    elapsed = time.perf_counter() - started
    response.close()
    return elapsed * 1000, response.status_code, len(body)


def _count(engine: Engine, client: FlaskClient, page: Page, form: Form | None) -> list[str]:
    """The statements one request of `page` sends (untimed)."""
    data = form.before(client) if form else None
    try:
        with count_statements(engine) as counted:
            response = _open(client, page, data)
            response.get_data()  # a streamed body (/customers.csv) queries while it is read
            response.close()
    finally:
        if form:
            form.after(client)
    return counted.statements


def _send(client: FlaskClient, page: Page, form: Form | None) -> tuple[float, int, int]:
    data = form.before(client) if form else None
    try:
        return _timed(client, page, data)
    finally:
        if form:
            form.after(client)


@dataclass
class Target:
    """One app to time pages on (one book's working copy): its engine, signed-in clients and forms, and the
    values its pages' `{name}` fields take."""

    engine: Engine
    clients: dict[str, FlaskClient]
    params: Mapping[str, str] = field(default_factory=dict)
    forms: Mapping[str, Form] = field(default_factory=dict)


def measure(engine: Engine, clients: dict[str, FlaskClient], pages: tuple[Page, ...] = PAGES, *,
            params: Mapping[str, str] | None = None, forms: Mapping[str, Form] | None = None,
            requests: int = 50, warmup: int = 5, progress: Callable[[str], None] | None = None) -> list[PageResult]:
    """Warm up, time `requests` requests of every page in interleaved rounds, then count one request's statements.

    No application context may be pushed while this runs: each request must get its own context and database
    session, as in production (a shared one would serve later requests from its identity map).
    """
    return measure_targets([Target(engine, clients, params or {}, forms or {})], pages, requests=requests,
                           warmup=warmup, progress=progress)[0]


def measure_targets(targets: list[Target], pages: tuple[Page, ...] = PAGES, *, requests: int = 50, warmup: int = 5,
                    progress: Callable[[str], None] | None = None) -> list[list[PageResult]]:
    """measure() on several targets at once (the books): each round requests every page once on every target, so
    a slow patch of a shared machine falls on all books alike and their growth ratios stay fair too. The results
    of each target, in `targets`' order."""
    books = [[PageResult(replace(page, path=page.path.format(**target.params))) for page in pages]
             for target in targets]

    def form_of(target: Target, page: Page) -> Form | None:
        return target.forms[page.form] if page.form else None

    def run(target: Target, result: PageResult, record: bool) -> None:
        if result.error is not None:
            return
        page = result.page
        try:
            ms, status, size = _send(target.clients[page.who], page, form_of(target, page))
        except Exception as exc:  # TESTING propagates view errors; report them instead of stopping
            result.error = f"{type(exc).__name__}: {exc}"
            return
        result.statuses.add(status)
        if record:
            result.samples_ms.append(ms)
            result.body_bytes = size

    for warm in range(warmup):
        for target, results in zip(targets, books, strict=True):
            for result in results:
                if result.page.requests is None or warm == 0:  # one warm-up is enough for a whole download
                    run(target, result, record=False)
    for round_no in range(requests):
        for target, results in zip(targets, books, strict=True):
            for result in results:
                if result.page.requests is None or round_no < result.page.requests:
                    run(target, result, record=True)
        if progress and (round_no + 1) % max(requests // 10, 1) == 0:
            progress(f"  {round_no + 1}/{requests} rounds")

    for target, results in zip(targets, books, strict=True):
        for result in results:
            if result.error is None:
                page, form = result.page, form_of(target, result.page)
                client = target.clients[page.who]
                # An API key's use is written at most once a minute, by whichever request comes: of two requests
                # one after the other, at most one writes it, so the fewer statements are every other request's.
                tries = 2 if page.path.startswith(API_PREFIX) and form is None else 1
                result.statements = min((_count(target.engine, client, page, form) for _ in range(tries)), key=len)
    return books
