"""CSV exports at scale (issue 18): a long list streams in constant memory, with as many statements as a short one.

Timings do not belong in tests; what makes an export fast and flat does: the response is streamed, the number of
statements does not grow with the rows (plain columns read 1,000 at a time, no query per row), and the memory
traced while 100,000 rows are written stays under 30 MiB."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date, timedelta

from sqlalchemy import insert, select

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceSeries, InvoiceStatus
from portal.catalog.models import Edition, Product
from portal.diagnostics import count_statements
from portal.extensions import db
from portal.licenses.models import License
from portal.money import Money, plain_decimal

MANY = 100_000
MEMORY_BUDGET = 30 * 1024 * 1024  # bytes above what was traced before the download started


def add_invoices(org_id: int, count: int, first: int = 1) -> None:
    """`count` issued order invoices of an organization, inserted in bulk (numbers from `first`)."""
    issued = date(2026, 1, 1)
    rows = [{"series": InvoiceSeries.ORDER, "sequence": n, "number": f"BULK-{n:07d}", "organization_id": org_id,
             "status": InvoiceStatus.UNPAID if n % 3 else InvoiceStatus.PAID, "currency": "USD",
             "subtotal_minor": 10_000 + n, "discount_minor": n % 100, "tax_minor": 0, "total_minor": 10_000 + n,
             "issued_on": issued + timedelta(days=n % 300), "due_on": issued + timedelta(days=30 + n % 300),
             "buyer": {"legal_name": "Northwind IT Inc."}, "seller": {}, "note": "", "prepaid_minor": 0,
             "credit_applied_minor": 0, "credit_used_minor": 0}
            for n in range(first, first + count)]
    for start in range(0, count, 10_000):
        db.session.execute(insert(Invoice), rows[start:start + 10_000])
    db.session.commit()


def add_licenses(owner_id: int, count: int, first: int = 1) -> None:
    """`count` unassigned licenses of an organization, inserted in bulk (keys from `first`)."""
    product = db.session.scalars(select(Product).where(Product.slug == "mailsuite")).one()
    edition_id = db.session.scalars(select(Edition.id).where(Edition.product_id == product.id)).first()
    expires = date(2027, 1, 1)
    rows = [{"key": f"BULK-{n:010d}", "owner_id": owner_id, "product_id": product.id, "edition_id": edition_id,
             "quantity": 1 + n % 50, "ms_expires_on": expires + timedelta(days=n % 365), "auto_renew": bool(n % 2),
             "reactivation_required": False}
            for n in range(first, first + count)]
    for start in range(0, count, 10_000):
        db.session.execute(insert(License), rows[start:start + 10_000])
    db.session.commit()


def download(app, client, url: str) -> tuple[int, int, int]:
    """Read a streamed CSV download chunk by chunk: its data rows, the statements it sent, and the peak memory
    traced above what was traced before it started (bytes)."""
    with app.app_context(), count_statements(db.engine) as counted:
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            response = client.get(url)
            assert response.status_code == 200 and response.mimetype == "text/csv", url
            assert response.is_streamed, f"{url} is not streamed"
            lines, tail = 0, b""
            for chunk in response.response:
                tail = tail + chunk if isinstance(chunk, bytes) else tail + chunk.encode()
                lines += tail.count(b"\n")
                tail = tail[tail.rfind(b"\n") + 1:]
            response.close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return lines - 1, counted.count, peak - start


def test_the_invoice_csv_streams_100000_invoices_in_constant_memory_and_statements(app, login, demo):
    alice = login("alice")
    with app.app_context():
        add_invoices(demo.orgs["Northwind IT"], 10)
    few, few_statements, _ = download(app, alice, "/invoices.csv")
    with app.app_context():
        add_invoices(demo.orgs["Northwind IT"], MANY - 10, first=11)
    rows, statements, peak = download(app, alice, "/invoices.csv")
    assert rows == few + MANY - 10
    assert statements == few_statements  # no statement per row or per batch
    assert peak < MEMORY_BUDGET, f"{peak / 2**20:.1f} MiB traced while writing {rows} invoices"


def test_the_invoice_csv_amounts_and_cells_read_as_before_at_scale(app, login, demo):
    with app.app_context():
        add_invoices(demo.orgs["Northwind IT"], 3)
    rows = list(csv.DictReader(io.StringIO(login("alice").get("/invoices.csv").get_data(as_text=True))))
    bulk = {row["Invoice"]: row for row in rows if row["Invoice"].startswith("BULK-")}
    assert bulk["BULK-0000001"]["Subtotal"] == "100.01" and bulk["BULK-0000001"]["Discount"] == "0.01"
    assert bulk["BULK-0000001"]["Amount due"] == "100.01" and bulk["BULK-0000003"]["Amount due"] == "0.00"
    assert bulk["BULK-0000003"]["Status"] == "Paid" and bulk["BULK-0000001"]["Billed to"] == "Northwind IT Inc."


def test_the_license_csv_streams_100000_licenses_in_constant_memory_and_statements(app, login, demo):
    alice = login("alice")
    with app.app_context():
        add_licenses(demo.orgs["Northwind IT"], 10)
    few, few_statements, _ = download(app, alice, "/licenses.csv?section=unassigned")
    with app.app_context():
        add_licenses(demo.orgs["Northwind IT"], MANY - 10, first=11)
    rows, statements, peak = download(app, alice, "/licenses.csv?section=unassigned")
    assert rows == few + MANY - 10
    assert statements == few_statements
    assert peak < MEMORY_BUDGET, f"{peak / 2**20:.1f} MiB traced while writing {rows} licenses"


def test_a_csv_amount_reads_exactly_as_the_money_decimal_in_every_currency_exponent():
    for currency in ("USD", "EUR", "JPY", "BHD", "KWD", "ISK"):
        for minor in (0, 1, -1, 5, -5, 99, 100, -100, 12_345, -12_345, 10**15 + 7, -(10**15) - 7):
            assert plain_decimal(minor, currency) == str(Money(minor, currency).as_decimal()), (minor, currency)
    assert (plain_decimal(12_345, "USD"), plain_decimal(-5, "USD"), plain_decimal(1234, "JPY"),
            plain_decimal(1, "BHD")) == ("123.45", "-0.05", "1234", "0.001")


def _summary_of(org_id: int, invoices: int) -> str:
    """A September summary of `invoices` order invoices of one line each (a fresh month each time)."""
    from portal.billing.services import Period, summarize_month
    from tests.factories import make_invoice

    org = db.session.get(Organization, org_id)
    month = 4 if invoices < 10 else 3
    for i in range(invoices):
        make_invoice(org, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=date(2026, month, 1 + i % 28))
    summary = summarize_month(org, Period(2026, month), date(2026, month + 1, 1))
    db.session.commit()
    return summary.number


def test_a_summary_lines_csv_streams_its_order_invoices_lines_in_the_same_statements_however_many(app, login, demo):
    alice = login("alice")
    with app.app_context():
        small, large = _summary_of(demo.orgs["Northwind IT"], 2), _summary_of(demo.orgs["Northwind IT"], 60)
    few, few_statements, _ = download(app, alice, f"/invoices/{small}.csv")
    rows, statements, _ = download(app, alice, f"/invoices/{large}.csv")
    assert (few, rows) == (2, 60), (few, rows)  # one row per order invoice's line (no fee lines here)
    assert statements == few_statements
    table = list(csv.DictReader(io.StringIO(alice.get(f"/invoices/{large}.csv").get_data(as_text=True))))
    assert {row["Invoice"] for row in table} == {large} and len({row["Order invoice"] for row in table}) == 60
    assert {(row["Net"], row["Tax rate (%)"], row["Currency"]) for row in table} == {("120.00", "0", "USD")}


def test_the_customers_csv_gives_each_license_its_own_add_ons_in_catalog_order(app, login, demo):
    from tests.factories import make_license, make_org

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        expected, catalog = {}, (("antispam", "Advanced Anti-Spam"), ("activesync", "ActiveSync Mobile Sync"))
        for i in range(30):
            customer = make_org(f"Bulk customer {i:02d}", parent=northwind)
            for addons in ((), ("activesync", "antispam"), ("antispam",))[: 1 + i % 3]:
                expected[make_license(northwind, customer=customer, addons=addons).key] = "; ".join(
                    name for slug, name in catalog if slug in addons)
        db.session.commit()
    alice = login("alice")
    rows, statements, _ = download(app, alice, "/customers.csv")
    table = list(csv.DictReader(io.StringIO(alice.get("/customers.csv").get_data(as_text=True))))
    assert {row["License key"]: row["Add-ons"] for row in table if row["License key"] in expected} == expected
    assert rows == len(table) and statements == 4  # user, memberships, the licenses and their add-ons
