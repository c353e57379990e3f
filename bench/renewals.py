"""`python -m bench renewals` (part of `make bench`): the renewal run of issue 13 on SQLite.

1,000 main chains with 10 and then 100 monthly plans each (10,000 and 100,000 plans; 100 subscription products,
since a chain has one plan per product), all due on the run's day, in a fresh migrated database each: a third of
the chains invoiced monthly (their renewal waits for the summary), a third paying on order with a saved card that
the sandbox processor approves (charged by the run, receipted), a third without a card (invoiced net 30, emailed to
their manager). Times `portal.recurring.run.renew` (what `flask billing renew` calls), the charges included, and,
for the ratio, the monthly summary run of 100,000 order invoices of 1,000 organizations (bench.invoices).

Target: 100,000 plans in at most 30 s, linear in plans. `--check` exits 1 when it is missed; `--plans 10,100`
picks the plans per chain; `--no-summary` skips the ratio.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.app import migrated_app
from bench.generate import _insert, _org_row
from portal.accounts.models import BillingMode, Membership, Organization, Role, User
from portal.billing.models import Invoice, InvoiceLine
from portal.catalog.models import BillingInterval, Product, ProductKind, SubscriptionBasis
from portal.db_types import utcnow
from portal.extensions import db
from portal.payments.models import CardBrand, PaymentMethod
from portal.recurring.models import Renewal
from portal.sandbox_processor.models import SandboxPaymentMethod
from portal.subscriptions.models import Subscription

ORGANIZATIONS = 1_000
PRODUCTS = 100
TARGET_SECONDS = 30.0
RUN_DAY = date(2027, 1, 15)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def insert_renewal_workload(conn, plans_per_org: int, organizations: int = ORGANIZATIONS, seed: int = 13) -> None:
    """`organizations` main chains, each with `plans_per_org` monthly plans due on RUN_DAY, a manager, and for a
    third of them a saved default card; bulk inserts through SQLAlchemy Core."""
    rng = random.Random(seed)
    now = utcnow()
    products = _insert(conn, Product.__table__, (
        {"slug": f"bench-plan-{p:03d}", "name": f"Bench Plan {p:03d}", "summary": "", "kind": ProductKind.SUBSCRIPTION,
         "unit_label": "devices", "active": True, "position": 100 + p, "currency": "USD", "quantities": [],
         "ms_rate_bp": 0, "reinstatement_fee_minor": 0, "basis": SubscriptionBasis.DEVICE,
         "interval": BillingInterval.MONTHLY, "unit_price_minor": 300 + 10 * p, "updated_at": now}
        for p in range(PRODUCTS)), returning=True)
    org_rows = []
    for i in range(organizations):
        row = _org_row(f"Renewal Org {i:04d}", None, i, rng, now - timedelta(days=400))
        row["region"] = "WA"
        row["billing_mode"] = BillingMode.MONTHLY_INVOICE if i % 3 == 0 else BillingMode.PAY_ON_ORDER
        org_rows.append(row)
    org_ids = _insert(conn, Organization.__table__, org_rows, returning=True)
    user_ids = _insert(conn, User.__table__, (
        {"email": f"manager@renewal-{i:04d}.example.com", "full_name": f"Manager {i}", "password_hash": "x",
         "is_staff": False, "active": True, "created_at": now} for i in range(organizations)), returning=True)
    _insert(conn, Membership.__table__, (
        {"user_id": user_id, "organization_id": org_id, "role": Role.MANAGER, "active": True, "created_at": now}
        for user_id, org_id in zip(user_ids, org_ids, strict=True)))
    carded = [org_id for i, org_id in enumerate(org_ids) if i % 3 == 1]
    # Cards the sandbox processor knows (as its hosted fields would have made them): approved off session.
    _insert(conn, SandboxPaymentMethod.__table__, (
        {"id": f"pm_bench_{org_id}", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2099,
         "holder_name": "Bench", "outcome": "approve", "customer_id": None, "created_at": now} for org_id in carded))
    _insert(conn, PaymentMethod.__table__, (
        {"organization_id": org_id, "brand": CardBrand.VISA, "last4": "4242", "exp_month": 12, "exp_year": 2099,
         "holder_name": "Bench", "gateway_token": f"pm_bench_{org_id}", "is_default": True, "created_at": now}
        for org_id in carded))
    _insert(conn, Subscription.__table__, (
        {"organization_id": org_id, "product_id": products[p], "quantity": 1 + (n + p) % 20,
         "started_on": date(2026, 1, 15), "next_payment_on": RUN_DAY, "anchor_day": 15, "expires_on": None,
         "created_at": now}
        for n, org_id in enumerate(org_ids) for p in range(plans_per_org)))


def renewal_run(workdir: Path, plans_per_org: int) -> dict:
    from portal.recurring.run import renew

    folder = workdir / f"renewals-{plans_per_org}"
    folder.mkdir()
    app = migrated_app(f"sqlite:///{folder / 'renewals.db'}", folder / "mail")
    with app.app_context():
        with db.engine.begin() as conn:
            insert_renewal_workload(conn, plans_per_org)
        db.session.remove()
        started = time.perf_counter()
        run = renew(RUN_DAY)
        seconds = time.perf_counter() - started
        renewals = db.session.scalar(select(func.count()).select_from(Renewal))
        lines = db.session.scalar(select(func.count()).select_from(InvoiceLine))
        invoices = db.session.scalar(select(func.count()).select_from(Invoice))
        db.session.remove()
        db.engine.dispose()
    plans = plans_per_org * ORGANIZATIONS
    if renewals != plans or lines != plans or run.invoices != ORGANIZATIONS:
        raise RuntimeError(f"the run billed {renewals} renewals on {lines} lines of {run.invoices} invoices; "
                           f"expected {plans} plans on {ORGANIZATIONS} invoices")
    return {"plans": plans, "seconds": seconds, "plans_per_s": plans / seconds, "invoices": invoices,
            "charged": run.collection.charged, "sent": run.invoices_sent, "charging_s": run.collection.seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench renewals", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--plans", default="10,100", help="plans per chain, comma-separated (1,000 chains)")
    parser.add_argument("--no-summary", action="store_true", help="skip the monthly summary run (the ratio)")
    args = parser.parse_args(argv)
    problems: list[str] = []
    print(f"Renewal run (1,000 main chains on SQLite; target ≤ {TARGET_SECONDS:.0f} s for 100,000 plans)")
    with tempfile.TemporaryDirectory(prefix="portal-bench-renewals-") as tmp:
        workdir = Path(tmp)
        runs = []
        for per_org in (int(n) for n in args.plans.split(",") if n):
            _say(f"Renewal run: {per_org * ORGANIZATIONS:,} plans across {ORGANIZATIONS:,} chains…")
            run = renewal_run(workdir, per_org)
            runs.append(run)
            print(f"  renewal run {run['plans']:>7,} plans  {run['seconds']:6.2f} s  {run['plans_per_s']:8,.0f} "
                  f"plans/s  ({ORGANIZATIONS:,} invoices, {run['sent']} emailed; {run['charged']} cards charged in "
                  f"{run['charging_s']:.1f} s)")
        if len(runs) >= 2:
            small, big = min(runs, key=lambda r: r["plans"]), max(runs, key=lambda r: r["plans"])
            slope = (big["seconds"] - small["seconds"]) / (big["plans"] - small["plans"])
            fixed = small["seconds"] - slope * small["plans"]
            print(f"  linear: {slope * 1000:.3f} ms per plan + {fixed:.1f} s per run of 1,000 chains (their invoices, "
                  "emails and card charges, whatever the plans)")
        biggest = max(runs, key=lambda r: r["plans"], default=None)
        if biggest and biggest["plans"] >= 100_000 and biggest["seconds"] > TARGET_SECONDS:
            problems.append(f"renewal run of {biggest['plans']:,} plans took {biggest['seconds']:.1f} s > "
                            f"{TARGET_SECONDS:.0f} s")
        if biggest and not args.no_summary:
            from bench.invoices import summary_run

            _say(f"Monthly summary run: {biggest['plans']:,} order invoices across 1,000 organizations…")
            summary = summary_run(workdir, biggest["plans"])
            print(f"  summary run {summary['orders']:>7,} orders {summary['seconds']:6.2f} s  renewal/summary "
                  f"{biggest['seconds'] / summary['seconds']:.2f}×")
    for problem in problems:
        print(f"CHECK  {problem}")
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
