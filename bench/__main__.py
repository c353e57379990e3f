"""`python -m bench` (or `make bench`): time the portal's pages on books of 1k, 10k and 100k licenses.
`python -m bench renewals` (the second step of `make bench`): the renewal run of 10,000 and 100,000 plans.
`python -m bench fees` (the third step): a reseller's summary with 10,000 customer accounts' fees, and without.
`python -m bench load` (or `make bench-load`): 50 concurrent checkouts against gunicorn on PostgreSQL
(see bench.load; `python -m bench load --help`).

Steps: build every book or reuse the stored one (bench.books: bench/data/book-<N>.db, or a PostgreSQL database
per book with --database-url); copy each for the run; on each copy sign in as the probe reseller's manager, as a
staff user and as an end customer, and put three items in the manager's cart (through POST /cart); give the
manager an API key and place one order through POST /api/v1/orders with an Idempotency-Key (its replays are timed
against a GET of it); then time every page of bench.measure.PAGES in interleaved rounds: each round requests every
page, the anonymous /help among them, once on every book. Prints a table per book, then the growth table (p95 on
each book, largest over smallest, × /help at the largest) and the compared requests (the replay against the GET),
and writes bench/results/latest.json (latest-postgresql.json on PostgreSQL).

Exit status: 0 when every page answered as expected (and, with --check, met the goals and budgets of
bench.report); 1 otherwise; 2 when the benchmark could not start.

Every option also reads an environment variable (BENCH_BOOKS, BENCH_REQUESTS, …), so
`make bench BENCH_BOOKS=1000,10000` style overrides work without editing the Makefile.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.app import bench_config
from bench.books import BACKGROUND, BOOK_SIZES, Book, open_book, working_copy
from bench.measure import (
    API,
    API_PAGES,
    PAGES,
    CheckoutForm,
    Target,
    add_to_cart,
    measure_targets,
    select_pages,
    sign_in,
)
from bench.report import (
    GOAL_GROWTH,
    GOAL_RATIO,
    BookRun,
    as_json,
    check,
    growth_table,
    pairs_table,
    table,
    write_json,
)
from bench.shop import CART, CartRefill, catalog_ids
from portal import create_app
from portal.accounts.models import User
from portal.extensions import db
from portal.outbox.background import wait_for_outbox

RESULTS = Path(__file__).resolve().parent / "results"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _enroll_staff(app, email: str) -> str:
    """Staff must use two-step sign-in: give the bench's staff user an authenticator key, as the demo's ops has."""
    from portal.demo import DEMO_TOTP_SECRET
    from portal.signin.two_step import start_setup

    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        start_setup(user, DEMO_TOTP_SECRET).confirmed_at = datetime.now(UTC)
        db.session.commit()
    return DEMO_TOTP_SECRET


def _api_client(app: Flask, manager_email: str, reseller_id: int):
    """A client that sends the probe manager's new API key, with every scope the manager may give, on every
    request (`Authorization: Bearer <key>`), as a partner's system does; made as the keys page makes it."""
    from sqlalchemy.orm import selectinload

    from portal.accounts.models import Organization
    from portal.api_keys.services import create_key, scopes_creator_holds
    from portal.audit.services import Actor

    with app.app_context():
        manager = db.session.scalars(select(User).where(User.email == manager_email)
                                     .options(selectinload(User.memberships))).one()
        reseller = db.session.get(Organization, reseller_id)
        _, token = create_key(reseller, manager, "bench", scopes_creator_holds(manager, reseller), sub_chain=None,
                              expires_at=None, actor=Actor(user_id=manager.id))
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _place_replayed_order(client) -> str:
    """Place, untimed, the API order whose replays are timed (the same request, Idempotency-Key included); its
    number."""
    page = next(page for page in API_PAGES if page.body is not None)
    response = client.open(page.path, method=page.method, headers=dict(page.headers), data=page.body,
                           content_type="application/json")
    if response.status_code != page.expect:
        raise RuntimeError(f"could not place the API order (HTTP {response.status_code}: "
                           f"{response.get_data(as_text=True)[:300]})")
    wait_for_outbox()  # its confirmation email, before anything is timed
    return response.get_json()["number"]


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 100:
        raise argparse.ArgumentTypeError("give book sizes of at least 100 licenses, such as 1000,10000,100000")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog="The load test has its own options: python -m bench load --help")
    data = parser.add_argument_group("books")
    data.add_argument("--books", type=_sizes, default=os.environ.get("BENCH_BOOKS", ",".join(map(str, BOOK_SIZES))),
                      help="the probe reseller's licenses in each book, comma-separated [BENCH_BOOKS]")
    data.add_argument("--seed", type=int, default=_env_int("BENCH_SEED", 2026), help="random seed [BENCH_SEED]")
    data.add_argument("--rebuild", action="store_true", help="build every book again, even if a stored one matches")
    data.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                      help="a PostgreSQL URL such as postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench: "
                           "each book is kept in its own database, <name>_1k, _10k, _100k (created if missing); "
                           "SQLite files under bench/data when empty [BENCH_DATABASE_URL]")
    run = parser.add_argument_group("measurement")
    run.add_argument("--requests", type=int, default=_env_int("BENCH_REQUESTS", 50),
                     help="timed requests per page and book [BENCH_REQUESTS]")
    run.add_argument("--warmup", type=int, default=_env_int("BENCH_WARMUP", 5),
                     help="untimed requests per page first [BENCH_WARMUP]")
    run.add_argument("--pages", default=os.environ.get("BENCH_PAGES", ""),
                     help="time only the pages whose name contains one of these comma-separated fragments "
                          "(e.g. /s/ for the storefront's), beside /help; all pages when empty [BENCH_PAGES]")
    run.add_argument("--forbid-lazy-loads", action="store_true",
                     help="run with FORBID_LAZY_LOADS (an N+1 becomes a failed page instead of a count)")
    run.add_argument("--output", type=Path, default=None,
                     help="where to write the JSON results (default bench/results/latest.json, or "
                          "latest-postgresql.json on PostgreSQL)")
    gate = parser.add_argument_group("goals")
    gate.add_argument("--check", action="store_true",
                      help=f"also fail when a goal page's p95 at the largest book is over {GOAL_RATIO:g}× /help's "
                           f"or over {GOAL_GROWTH:g}× its own at the smallest book, or a page exceeds its SQL "
                           "budget or sends a different number of statements on another book")
    args = parser.parse_args(argv)
    if isinstance(args.books, str):
        args.books = _sizes(args.books)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup must not be negative")
    return args


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(book: Book, url: str, workdir: Path, args: argparse.Namespace) -> tuple[Flask, Target]:
    """The app on the working copy `url` of `book`, signed in as the probe's manager, a staff user and an end
    customer, with three items in the manager's cart; and the values of its pages' `{name}` fields."""
    dataset = book.dataset
    app = create_app(bench_config(url, workdir / f"mail-{book.label}", forbid_lazy_loads=args.forbid_lazy_loads))
    with app.app_context():
        engine = db.engine
        manager_id = db.session.scalar(select(User.id).where(User.email == dataset.probe_manager_email))
        db.session.remove()
    probe, fleet, shop = dataset.probe_book, dataset.probe_fleet, dataset.probe_storefront
    clients = {"anonymous": app.test_client(), "manager": app.test_client(), "staff": app.test_client(),
               "customer": app.test_client(),
               API: _api_client(app, dataset.probe_manager_email, dataset.probe_reseller_id)}
    sign_in(clients["manager"], dataset.probe_manager_email, dataset.password)
    staff_key = _enroll_staff(app, dataset.staff_email)
    sign_in(clients["staff"], dataset.staff_email, dataset.password, totp_secret=staff_key)
    sign_in(clients["customer"], probe.customer_viewer_email, dataset.password)
    ids = catalog_ids(engine)
    for entry in CART:
        add_to_cart(clients["manager"], ids.add_to_cart_form(entry))
    forms = {"checkout": CheckoutForm(CartRefill(engine, manager_id, dataset.probe_reseller_id))}
    params = {"price_query": ids.price_query(), "license_key": probe.license_key,
              "customer_search": probe.customer_search, "customer_id": probe.customer_id,
              "location_id": fleet.location_id, "storefront_alias": shop.alias,
              "storefront_product": shop.product_slug, "api_order_number": _place_replayed_order(clients[API])}
    return app, Target(engine, clients, params, forms)


def _book_json(book: Book, run: BookRun) -> dict:
    dataset = book.dataset
    probe, fleet = dataset.probe_book, dataset.probe_fleet
    return {
        "label": book.label, "licenses": book.size, "parameters": book.parameters,
        "database": make_url(book.url).render_as_string(hide_password=True),
        "built_this_run": book.built, "build_seconds": book.build_seconds and round(book.build_seconds, 1),
        "generate_seconds": round(dataset.seconds, 1), "rows": dataset.rows,
        "probe": {"reseller": dataset.probe_reseller_name, "manager": dataset.probe_manager_email,
                  "customers": probe.customers, "licenses": probe.licenses, "end_customer": probe.customer_viewer_email,
                  "locations": fleet.locations, "devices": fleet.devices,
                  "plans": {str(basis): {"purchased": bought, "needed": needed}
                            for basis, (bought, needed) in fleet.plans.items()}},
        "pages": as_json(run),
    }


def run(args: argparse.Namespace, workdir: Path) -> int:
    """Every book, then the tables and the JSON results; returns the exit status."""
    dialect = make_url(args.database_url).get_backend_name() if args.database_url else "sqlite"
    books = []
    for size in args.books:
        book = open_book(size, seed=args.seed, workdir=workdir, database_url=args.database_url,
                         rebuild=args.rebuild, say=_say)
        rows = book.dataset.rows
        _say(f"  {sum(rows.values()):,} rows: {rows.get('license', 0):,} licenses, {rows.get('organization', 0):,} "
             f"organizations, {rows.get('invoice', 0):,} invoices, {rows.get('receipt', 0):,} receipts, "
             f"{rows.get('device', 0):,} devices")
        books.append(book)
    pages = select_pages(PAGES, args.pages)
    with ExitStack() as stack:
        apps, targets = [], []
        for book in books:
            app, target = prepare(book, stack.enter_context(working_copy(book, workdir)), workdir, args)
            stack.callback(target.engine.dispose)
            apps.append(app)
            targets.append(target)
        _say(f"Timing {len(pages)} pages on {len(books)} book(s): {args.warmup} warm-up + {args.requests} timed "
             "requests each, in interleaved rounds (every page on every book in each round)…")
        started = time.perf_counter()
        results = measure_targets(targets, pages, requests=args.requests, warmup=args.warmup, progress=_say)
        _say(f"  done in {time.perf_counter() - started:.1f} s")
    runs = [BookRun(book.label, book.size, book_results) for book, book_results in zip(books, results, strict=True)]
    reports = [_book_json(book, run) for book, run in zip(books, runs, strict=True)]

    problems = check(runs) if args.check else []
    failed = [(run.label, r) for run in runs for r in run.results if not r.ok]
    for book_run, report in zip(runs, reports, strict=True):
        rows = report["rows"]
        print()
        print(f"{dialect}, book {book_run.label}: the probe reseller with {book_run.licenses:,} licenses "
              f"({sum(rows.values()):,} rows); {args.requests} requests per page (cart: {len(CART)} items)")
        print(table(book_run))
    if len(runs) > 1:
        print()
        print(f"Growth: p95 (ms) on each book; goal pages: ≤ {GOAL_GROWTH:g}× from {runs[0].label} to "
              f"{runs[-1].label} and ≤ {GOAL_RATIO:g}× /help at {runs[-1].label}")
        print(growth_table(runs))
    compared = pairs_table(runs)
    if compared:
        print()
        print("Compared requests (p95 limit on the ratio, --check):")
        print(compared)
    for book_label, r in failed:
        print(f"FAILED {r.page.name} as {r.page.who} at {book_label}: {r.error or sorted(r.statuses)}")
    for problem in problems:
        print(f"CHECK  {problem}")

    output = args.output or RESULTS / ("latest.json" if dialect == "sqlite" else f"latest-{dialect}.json")
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dialect": dialect,
        "background": BACKGROUND,
        "seed": args.seed,
        "requests": args.requests,
        "warmup": args.warmup,
        "forbid_lazy_loads": args.forbid_lazy_loads,
        "books": reports,
        "check": {"enabled": args.check, "goal_ratio": GOAL_RATIO, "goal_growth": GOAL_GROWTH,
                  "problems": problems},
        "ok": not failed and not problems,
    }
    write_json(output, report)
    print(f"\nResults written to {output}")
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:
        from bench.load import main as load_main

        return load_main(argv[1:])
    if argv[:1] == ["invoices"]:
        from bench.invoices import main as invoices_main

        return invoices_main(argv[1:])
    if argv[:1] == ["renewals"]:
        from bench.renewals import main as renewals_main

        return renewals_main(argv[1:])
    if argv[:1] == ["fees"]:
        from bench.fees import main as fees_main

        return fees_main(argv[1:])
    args = parse_args(argv)
    for noisy in ("weasyprint", "factur-x", "alembic"):  # every invoice PDF and migration step, otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        return run(args, Path(tmp))

if __name__ == "__main__":
    sys.exit(main())
