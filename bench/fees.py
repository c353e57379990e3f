"""`python -m bench fees` (part of `make bench`): the monthly summary of a reseller with 10,000 customer accounts,
with its reseller fee lines and without (issue 15), on SQLite.

One reseller invoiced monthly with 10,000 sub-chains, each assigned a MailSuite license (the demo catalog's
product with a fee of $2.00 per customer account) and a WebStats license (no fee) in the month, and 100 order
invoices of the month waiting for the summary. Times `summarize_month` for that month as it is (the fee line
counts 10,000 accounts and writes 10,000 charge rows) and with no fee on the catalog (the same summary without the
fee line), alternately, each in a transaction rolled back afterwards; medians of `--repeat` runs.

Target: the summary with fees in at most 2x the time of the same summary without. `--check` exits 1 when missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from bench.app import migrated_app
from bench.generate import _insert, _org_row
from portal.accounts.models import BillingMode, Organization, PartnerTier
from portal.billing.models import SUMMARIZED_NOTE, Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus, SeriesCounter
from portal.billing.services import Period, summarize_month
from portal.catalog.models import Edition, Product
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License

ACCOUNTS = 10_000
ORDERS = 100
PERIOD = Period(2026, 11)
TARGET_RATIO = 2.0


def insert_fee_workload(conn, accounts: int = ACCOUNTS, orders: int = ORDERS) -> int:
    """The reseller, its customer accounts with their licenses and its waiting order invoices; returns its id."""
    import random

    rng = random.Random(15)
    now = utcnow()
    reseller = _org_row("Fee Reseller", None, 0, rng, now - timedelta(days=400))
    reseller.update(billing_mode=BillingMode.MONTHLY_INVOICE, partner_tier=PartnerTier.GOLD, tax_exempt=True)
    [reseller_id] = _insert(conn, Organization.__table__, [reseller], returning=True)
    customers = _insert(conn, Organization.__table__, (_org_row(f"Customer {n:05d}", reseller_id, n + 1, rng, now)
                                                       for n in range(accounts)), returning=True)
    editions = {slug: edition_id for slug, edition_id in conn.execute(
        select(Product.slug, Edition.id).join(Edition, Edition.product_id == Product.id)
        .where(Product.slug.in_(("mailsuite", "webstats")), Edition.name.in_(("Professional", "Standard"))))}
    products = dict(conn.execute(select(Product.slug, Product.id).where(Product.slug.in_(editions))).all())
    assigned = datetime(2026, 11, 10, 12, tzinfo=UTC)
    _insert(conn, License.__table__, (
        {"key": f"BENCH-{slug[:4].upper()}-{n:06d}", "owner_id": reseller_id, "customer_id": customer,
         "assigned_at": assigned, "product_id": products[slug], "edition_id": editions[slug], "quantity": 10,
         "ms_expires_on": date(2027, 11, 10), "auto_renew": False, "reactivation_required": False,
         "created_at": assigned}
        for n, customer in enumerate(customers) for slug in ("mailsuite", "webstats")))
    invoice_ids = _insert(conn, Invoice.__table__, (
        {"series": InvoiceSeries.ORDER, "sequence": k + 1, "number": f"INV-{k + 1:06d}",
         "organization_id": reseller_id, "order_id": None, "status": InvoiceStatus.TO_BE_SUMMARIZED,
         "currency": "USD", "subtotal_minor": 10_000, "discount_minor": 0, "tax_minor": 0, "total_minor": 10_000,
         "issued_on": PERIOD.first_day + timedelta(days=k % 28), "due_on": None, "paid_at": None,
         "note": SUMMARIZED_NOTE, "created_at": now} for k in range(orders)), returning=True)
    _insert(conn, InvoiceLine.__table__, (
        {"invoice_id": invoice_id, "position": 1, "description": "MailSuite Mail Server, 10 mailboxes",
         "quantity": 1, "unit_price_minor": 10_000, "list_minor": 10_000, "discount_minor": 0, "tax_category": "E",
         "tax_rate_bp": 0, "tax_minor": 0, "total_minor": 10_000, "order_invoice_id": None}
        for invoice_id in invoice_ids))
    conn.execute(SeriesCounter.__table__.insert().values(series=InvoiceSeries.ORDER, last_number=orders))
    return reseller_id


def _summary_seconds(reseller_id: int) -> tuple[float, int]:
    """summarize_month of the reseller, rolled back: its time and its number of lines."""
    org = db.session.get(Organization, reseller_id)
    started = time.perf_counter()
    summary = summarize_month(org, PERIOD, PERIOD.last_day + timedelta(days=1))
    db.session.flush()
    seconds = time.perf_counter() - started
    lines = db.session.scalar(select(db.func.count()).select_from(InvoiceLine)
                              .where(InvoiceLine.invoice_id == summary.id))
    db.session.rollback()
    return seconds, lines


def _set_fee(fee_minor: int | None) -> None:
    db.session.execute(update(Product).where(Product.slug == "mailsuite").values(reseller_fee_minor=fee_minor))
    db.session.commit()


def fee_summary(workdir: Path, repeat: int, orders: int = ORDERS) -> dict:
    from portal.catalog.demo import seed_catalog

    app = migrated_app(f"sqlite:///{workdir / 'fees.db'}", workdir / "mail")
    with app.app_context():
        seed_catalog()
        db.session.commit()
        with db.engine.begin() as conn:
            reseller_id = insert_fee_workload(conn, orders=orders)
        db.session.remove()
        timings: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(repeat):
            for label, fee in (("with", 200), ("without", None)):
                _set_fee(fee)
                seconds, lines = _summary_seconds(reseller_id)
                expected = orders + (1 if fee else 0)
                if lines != expected:
                    raise RuntimeError(f"the summary {label} fees has {lines} lines, not {expected}")
                timings[label].append(seconds)
        db.session.remove()
        db.engine.dispose()
    with_fees, without = statistics.median(timings["with"]), statistics.median(timings["without"])
    return {"accounts": ACCOUNTS, "orders": orders, "with_s": with_fees, "without_s": without,
            "ratio": with_fees / without}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fees", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each summary (medians)")
    parser.add_argument("--orders", default=f"{ORDERS},1000", help="order invoices of the month, comma-separated")
    args = parser.parse_args(argv)
    print(f"Reseller fees: the summary of a reseller with {ACCOUNTS:,} customer accounts (target: with fees ≤ "
          f"{TARGET_RATIO:.0f}× without)")
    missed = False
    for orders in (int(n) for n in args.orders.split(",") if n):
        with tempfile.TemporaryDirectory(prefix="portal-bench-fees-") as tmp:
            result = fee_summary(Path(tmp), args.repeat, orders)
        print(f"  {orders:>6,} order invoices: with fees {result['with_s'] * 1000:8.1f} ms  without "
              f"{result['without_s'] * 1000:8.1f} ms  ratio {result['ratio']:.2f}×")
        if result["ratio"] > TARGET_RATIO:
            missed = True
            print(f"CHECK  with {orders:,} order invoices the summary with fees took {result['ratio']:.2f}× the "
                  f"summary without (> {TARGET_RATIO}×)")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
