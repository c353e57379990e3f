"""The renewal run from cron and from staff at the same moment bills each period exactly once (PostgreSQL: FOR
UPDATE SKIP LOCKED, the unique renewal rows behind it), and the command line prints what it billed; the renewal
invoice is a valid EN 16931 invoice with each line's service period."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import BillingMode
from portal.billing.models import Invoice, InvoiceLine
from portal.extensions import db
from portal.recurring.models import Renewal
from portal.recurring.run import renew
from tests.factories import make_license
from tests.invoices_pkg.test_en16931 import assert_passes, en16931  # noqa: F401 - the validator fixture
from tests.recurring.conftest import DECLINED, chain, plan, saved_card

DAY = date(2027, 1, 15)


@pytest.mark.postgres_only
def test_two_runs_at_once_bill_each_period_exactly_once(app, catalog):
    org_ids = []
    for n in range(12):
        org = chain()
        plan(org, quantity=n + 1, next_payment_on=date(2026, 11, 15))  # three periods behind
        plan(org, slug="location-plan", quantity=1, next_payment_on=DAY)
        license_ = make_license(org, ms_expires_on=DAY - timedelta(days=1))
        license_.auto_renew = True
        org_ids.append(org.id)
    db.session.commit()
    barrier, runs, errors = threading.Barrier(2), [], []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                runs.append(renew(DAY, batch=2))
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    db.session.expire_all()
    periods = db.session.execute(select(Renewal.subscription_id, Renewal.license_id, Renewal.period_start)).all()
    assert len(periods) == len(set(periods)) == 12 * (3 + 1 + 1)
    assert sum(r.plans for r in runs) == 12 * 4 and sum(r.licenses for r in runs) == 12
    lines = db.session.scalar(select(func.count()).select_from(InvoiceLine))
    assert lines == len(periods)  # no line without its renewal row, none twice
    numbers = sorted(db.session.scalars(select(Invoice.sequence)))
    assert numbers == list(range(1, len(numbers) + 1))  # gapless
    assert renew(DAY).invoices == 0


def test_the_command_line_renews_and_prints_what_it_billed(app, catalog):
    invoiced = chain()
    plan(invoiced, quantity=2, next_payment_on=DAY)
    monthly = chain(billing_mode=BillingMode.MONTHLY_INVOICE)
    plan(monthly, quantity=3, next_payment_on=DAY)
    declined = chain()
    saved_card(declined, DECLINED)
    plan(declined, quantity=1, next_payment_on=DAY)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["billing", "renew", "--date", "2027-01-15"])

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "3 renewal invoices issued: 3 plan periods and 0 M&S renewed." in out
    assert "invoiced, due in 30 days" in out and "left to the monthly summary" in out
    assert "charged to saved cards" in out
    assert "0 cards charged, 1 declined; 1 invoice sent; 0 plans past due." in out
    again = app.test_cli_runner().invoke(args=["billing", "renew", "--date", "2027-01-15"])
    assert "0 renewal invoices issued" in again.stdout


def test_a_bad_date_is_refused_by_the_command_line(app, catalog):
    result = app.test_cli_runner().invoke(args=["billing", "renew", "--date", "15/01/2027"])
    assert result.exit_code == 2 and "--date" in result.output


def test_the_renewal_invoice_passes_en16931_with_its_service_periods(en16931, catalog):  # noqa: F811
    org = chain()
    plan(org, quantity=7, next_payment_on=DAY)
    license_ = make_license(org, ms_expires_on=DAY - timedelta(days=1))
    license_.auto_renew = True
    db.session.commit()
    renew(DAY)
    invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == org.id)).one()
    assert_passes(en16931, invoice, "renewal invoice")
    assert all(line.service_start and line.service_end for line in invoice.lines)
