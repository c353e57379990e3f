"""The demo's invoices (issue 5 item 10): Northwind has last month's orders waiting for the summary and an unpaid
summary of the month before; Litware paid order invoices; Fabrikam an unpaid invoice over USD 1,000.00 (wire).
Seeding twice adds nothing, and the numbers are gapless."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.billing.jobs import run_monthly_summary
from portal.billing.models import Invoice, InvoiceSeries, InvoiceStatus
from portal.billing.services import Period
from portal.db_types import utcnow
from portal.demo import seed_demo
from portal.extensions import db
from portal.orders.models import Order


def _invoices(org_name: str) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).join(Organization, Organization.id == Invoice.organization_id)
                                   .where(Organization.name == org_name).order_by(Invoice.id)))


def test_the_demo_has_an_invoice_history_seeded_once(billing):
    seed_demo(history=True)
    db.session.commit()
    counts = (db.session.scalar(select(func.count()).select_from(Invoice)),
              db.session.scalar(select(func.count()).select_from(Order)))
    seed_demo(history=True)
    db.session.commit()
    assert (db.session.scalar(select(func.count()).select_from(Invoice)),
            db.session.scalar(select(func.count()).select_from(Order))) == counts

    today = utcnow().date()
    last, before = Period.before(today), Period.before(Period.before(today).first_day)
    northwind = _invoices("Northwind IT")
    [summary] = [i for i in northwind if i.series is InvoiceSeries.SUMMARY]
    assert (summary.period, summary.status, summary.issued_on) == (str(before), InvoiceStatus.UNPAID, last.first_day)
    waiting = [i for i in northwind if i.status is InvoiceStatus.TO_BE_SUMMARIZED]
    assert len(waiting) == 3 and all(Period.of(i.issued_on) == last for i in waiting)
    assert len([i for i in northwind if i.summary_id == summary.id]) == 2
    litware = _invoices("Litware Solutions")  # its card orders are paid; its renewal is past due (the demo's dunning)
    assert {i.status for i in litware if i.order_id} == {InvoiceStatus.PAID}
    assert [i.status for i in litware if i.order_id is None] == [InvoiceStatus.UNPAID]
    wire, *counters = _invoices("Fabrikam Stores")  # then its two orders of People counters (issue 20's demo)
    assert wire.status is InvoiceStatus.UNPAID and wire.total_minor >= 100_000
    assert len(counters) == 2

    numbers = sorted(db.session.scalars(select(Invoice.sequence).where(Invoice.series == InvoiceSeries.ORDER)))
    assert numbers == list(range(1, len(numbers) + 1))

    [made] = run_monthly_summary(last)  # `flask invoices summarize` on the demo: Northwind's last month
    assert (made.organization, made.number, made.invoices) == ("Northwind IT", "SUM-000002", 3)
