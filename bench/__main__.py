"""`python -m bench` (or `make bench`): time the portal's pages against a large generated dataset.
`python -m bench renewals` (the second step of `make bench`): the renewal run of 10,000 and 100,000 plans.
`python -m bench fees` (the third step): a reseller's summary with 10,000 customer accounts' fees, and without.
`python -m bench load` (or `make bench-load`): 50 concurrent checkouts against gunicorn on PostgreSQL
(see bench.load; `python -m bench load --help`).

Steps: a fresh database (SQLite in a temporary folder, or BENCH_DATABASE_URL), the migrations, the generated
data (bench.generate), sign-in as the probe reseller's manager and as a staff user, three items in the
manager's cart (through POST /cart), then every page of bench.measure.PAGES timed in-process, including
POST /checkout (each timed order gets a fresh copy of the cart, untimed). Prints a table and writes
bench/results/latest.json.

Exit status: 0 when every page answered as expected (and, with --check, stayed within its thresholds);
1 otherwise; 2 when the benchmark could not start (for example a non-empty BENCH_DATABASE_URL without --reset).

Every option also reads an environment variable (BENCH_RESELLERS, BENCH_CUSTOMERS, …), so
`make bench BENCH_RESELLERS=20` style overrides work without editing the Makefile.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.app import DatabaseNotEmpty, migrated_app, prepare_database
from bench.generate import generate
from bench.measure import PAGES, CheckoutForm, add_to_cart, measure, select_pages, sign_in
from bench.report import Thresholds, as_json, check, table, write_json
from bench.shop import CART, CartRefill, catalog_ids
from portal.accounts.models import User
from portal.extensions import db

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog="The load test has its own options: python -m bench load --help")
    data = parser.add_argument_group("dataset")
    data.add_argument("--resellers", type=int, default=_env_int("BENCH_RESELLERS", 200),
                      help="main chains [BENCH_RESELLERS]")
    data.add_argument("--customers", type=int, default=_env_int("BENCH_CUSTOMERS", 25),
                      help="sub-chains per reseller [BENCH_CUSTOMERS]")
    data.add_argument("--users", type=int, default=_env_int("BENCH_USERS", 2),
                      help="users per organization [BENCH_USERS]")
    data.add_argument("--audit", type=int, default=_env_int("BENCH_AUDIT", 10),
                      help="audit entries per organization [BENCH_AUDIT]")
    data.add_argument("--orders", type=int, default=_env_int("BENCH_ORDERS", 3),
                      help="orders per reseller, with their lines, licenses and invoices [BENCH_ORDERS]")
    data.add_argument("--probe-licenses", type=int, default=_env_int("BENCH_PROBE_LICENSES", 10_000),
                      help="the probe reseller's licenses, for the /licenses pages [BENCH_PROBE_LICENSES]")
    data.add_argument("--probe-customers", type=int, default=_env_int("BENCH_PROBE_CUSTOMERS", 1_000),
                      help="the probe reseller's customers (sub-chains) [BENCH_PROBE_CUSTOMERS]")
    data.add_argument("--probe-locations", type=int, default=_env_int("BENCH_PROBE_LOCATIONS", 2_000),
                      help="the probe reseller's locations, for /subscriptions and /devices [BENCH_PROBE_LOCATIONS]")
    data.add_argument("--probe-devices", type=int, default=_env_int("BENCH_PROBE_DEVICES", 10_000),
                      help="the probe reseller's devices, spread over its locations [BENCH_PROBE_DEVICES]")
    data.add_argument("--storefront-products", type=int, default=_env_int("BENCH_STOREFRONT_PRODUCTS", 500),
                      help="license products of the probe's storefront (the vendor's /shop lists them too) "
                           "[BENCH_STOREFRONT_PRODUCTS]")
    data.add_argument("--storefront-special-prices", type=int,
                      default=_env_int("BENCH_STOREFRONT_SPECIAL_PRICES", 1_000),
                      help="the storefront customer's special prices [BENCH_STOREFRONT_SPECIAL_PRICES]")
    data.add_argument("--storefront-rules", type=int, default=_env_int("BENCH_STOREFRONT_RULES", 150),
                      help="the storefront's rules for everyone (markups, special prices) [BENCH_STOREFRONT_RULES]")
    data.add_argument("--seed", type=int, default=_env_int("BENCH_SEED", 2026), help="random seed [BENCH_SEED]")
    run = parser.add_argument_group("measurement")
    run.add_argument("--requests", type=int, default=_env_int("BENCH_REQUESTS", 50),
                     help="timed requests per page [BENCH_REQUESTS]")
    run.add_argument("--warmup", type=int, default=_env_int("BENCH_WARMUP", 5),
                     help="untimed requests per page first [BENCH_WARMUP]")
    run.add_argument("--pages", default=os.environ.get("BENCH_PAGES", ""),
                     help="time only the pages whose name contains one of these comma-separated fragments "
                          "(e.g. /s/ for the storefront's), beside /help; all pages when empty [BENCH_PAGES]")
    run.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                     help="database to fill instead of a temporary SQLite file [BENCH_DATABASE_URL]")
    run.add_argument("--reset", action="store_true",
                     help="drop every table of a non-empty --database-url first (its data is lost)")
    run.add_argument("--forbid-lazy-loads", action="store_true",
                     help="run with FORBID_LAZY_LOADS (an N+1 becomes a failed page instead of a count)")
    run.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    gate = parser.add_argument_group("thresholds")
    gate.add_argument("--check", action="store_true",
                      help="also fail when a page exceeds --max-ratio or its SQL statement budget")
    gate.add_argument("--max-ratio", type=float, default=float(os.environ.get("BENCH_MAX_RATIO", 50)),
                      help="largest allowed p50 / (/help p50) with --check [BENCH_MAX_RATIO]")
    args = parser.parse_args(argv)
    if min(args.resellers, args.users, args.requests) < 1 or min(args.customers, args.audit, args.orders,
                                                                  args.warmup, args.probe_locations,
                                                                  args.probe_devices, args.storefront_products,
                                                                  args.storefront_special_prices,
                                                                  args.storefront_rules) < 0:
        parser.error("--resellers, --users and --requests must be at least 1; --customers, --audit, --orders, "
                     "--warmup, --probe-locations and --probe-devices must not be negative")
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


def run(args: argparse.Namespace, workdir: Path) -> int:
    """The whole benchmark in `workdir` (the SQLite file and the mail folder); returns the exit status."""
    url = prepare_database(args.database_url or f"sqlite:///{workdir / 'bench.db'}", reset=args.reset)
    app = migrated_app(url, workdir / "mail", forbid_lazy_loads=args.forbid_lazy_loads)

    _say(f"Generating {args.resellers} resellers × {args.customers} customers "
         f"({args.users} users and {args.audit} audit entries per organization, {args.orders} orders per "
         "reseller)…")
    with app.app_context():
        dataset = generate(resellers=args.resellers, customers_per_reseller=args.customers,
                           users_per_org=args.users, audit_entries_per_org=args.audit,
                           orders_per_reseller=args.orders, seed=args.seed,
                           probe_licenses=args.probe_licenses, probe_customers=args.probe_customers,
                           probe_locations=args.probe_locations, probe_devices=args.probe_devices,
                           storefront_products=args.storefront_products,
                           storefront_special_prices=args.storefront_special_prices,
                           storefront_rules=args.storefront_rules)
        engine = db.engine
        dialect = engine.dialect.name
        manager_id = db.session.scalar(select(User.id).where(User.email == dataset.probe_manager_email))
        db.session.remove()
    rows = ", ".join(f"{n:,} {table_name}" for table_name, n in dataset.rows.items())
    _say(f"  {sum(dataset.rows.values()):,} rows in {dataset.seconds:.1f} s: {rows}")
    _say(f"  probe: {dataset.probe_reseller_name} (id {dataset.probe_reseller_id}, "
         f"{dataset.probe_sub_chains} sub-chains), manager {dataset.probe_manager_email}")

    book = dataset.probe_book
    _say(f"  probe's license book: {book.licenses:,} licenses, {book.customers:,} customers; end customer "
         f"{book.customer_viewer_email}")
    fleet = dataset.probe_fleet
    plans = "; ".join(f"{basis} plan {bought:,} bought, {needed:,} needed" for basis, (bought, needed)
                      in fleet.plans.items())
    _say(f"  probe's fleet: {fleet.locations:,} locations, {fleet.devices:,} devices "
         f"({fleet.counting_devices:,} counting); {plans}")
    clients = {"anonymous": app.test_client(), "manager": app.test_client(), "staff": app.test_client(),
               "customer": app.test_client()}
    sign_in(clients["manager"], dataset.probe_manager_email, dataset.password)
    staff_key = _enroll_staff(app, dataset.staff_email)
    sign_in(clients["staff"], dataset.staff_email, dataset.password, totp_secret=staff_key)
    sign_in(clients["customer"], book.customer_viewer_email, dataset.password)
    ids = catalog_ids(engine)
    for entry in CART:
        add_to_cart(clients["manager"], ids.add_to_cart_form(entry))
    forms = {"checkout": CheckoutForm(CartRefill(engine, manager_id, dataset.probe_reseller_id))}

    pages = select_pages(PAGES, args.pages)
    shop = dataset.probe_storefront
    _say(f"  probe's storefront /s/{shop.alias}: {shop.products:,} license products, {shop.rules:,} rules for "
         f"everyone, {shop.special_prices:,} special prices for the end customer")
    _say(f"Timing {len(pages)} pages: {args.warmup} warm-up + {args.requests} timed requests each, interleaved…")
    started = time.perf_counter()
    params = {"price_query": ids.price_query(), "license_key": book.license_key,
              "customer_search": book.customer_search, "customer_id": book.customer_id,
              "storefront_alias": shop.alias,
              "storefront_product": shop.product_slug}
    results = measure(engine, clients, pages, params=params, forms=forms,
                      requests=args.requests, warmup=args.warmup, progress=_say)
    _say(f"  done in {time.perf_counter() - started:.1f} s")

    thresholds = Thresholds(max_ratio=args.max_ratio)
    problems = check(results, thresholds) if args.check else []
    failed = [r for r in results if not r.ok]

    print()
    print(f"{dialect}, {args.resellers} resellers × {args.customers} customers, "
          f"{sum(dataset.rows.values()):,} rows; {args.requests} requests per page "
          f"(cart: {len(CART)} items; every POST /checkout places an order)")
    print(table(results))
    for r in failed:
        print(f"FAILED {r.page.name} as {r.page.who}: {r.error or sorted(r.statuses)}")
    for problem in problems:
        print(f"CHECK  {problem}")

    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": {"dialect": dialect, "url": make_url(url).render_as_string(hide_password=True)},
        "dataset": {
            "resellers": args.resellers, "customers_per_reseller": args.customers, "users_per_org": args.users,
            "audit_entries_per_org": args.audit, "orders_per_reseller": args.orders, "seed": args.seed,
            "rows": dataset.rows,
            "generate_seconds": round(dataset.seconds, 3), "probe_reseller": dataset.probe_reseller_name,
            "probe_manager": dataset.probe_manager_email, "probe_sub_chains": dataset.probe_sub_chains,
            "probe_licenses": book.licenses, "probe_customers": book.customers,
            "probe_end_customer": book.customer_viewer_email,
            "probe_locations": fleet.locations, "probe_devices": fleet.devices,
            "probe_storefront": {"alias": shop.alias, "products": shop.products, "rules": shop.rules,
                                 "special_prices": shop.special_prices},
            "probe_plans": {str(basis): {"purchased": bought, "needed": needed}
                            for basis, (bought, needed) in fleet.plans.items()},
        },
        "requests": args.requests,
        "warmup": args.warmup,
        "forbid_lazy_loads": args.forbid_lazy_loads,
        "pages": as_json(results),
        "check": {"enabled": args.check, "max_ratio": thresholds.max_ratio, "problems": problems},
        "ok": not failed and not problems,
    }
    write_json(args.output, report)
    print(f"\nResults written to {args.output}")
    with app.app_context():
        db.engine.dispose()
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
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        try:
            return run(args, Path(tmp))
        except DatabaseNotEmpty as exc:
            _say(f"bench: {exc}")
            return 2


if __name__ == "__main__":
    sys.exit(main())
