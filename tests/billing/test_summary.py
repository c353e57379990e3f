"""The monthly summary (issue 5 item 2): for each organization invoiced monthly, one summary invoice holding
every order invoice of the month not yet summarized, due net 30; its total is the sum of its parts to the cent.
Running it twice makes nothing new; a run stopped halfway and run again ends as one clean run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import BillingMode, Organization
from portal.billing import jobs
from portal.billing.models import Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus
from portal.billing.services import Period, issue_order_invoice, summarize_month
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from tests.billing.conftest import buy
from tests.conftest import empty_database
from tests.factories import make_invoice, make_org, without_reseller_fees

OCTOBER = Period(2026, 10)
NOVEMBER_1 = date(2026, 11, 1)


def _waiting(org: Organization, day: date, total_minor: int = 10_000) -> Invoice:
    return make_invoice(org, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=day, total_minor=total_minor)


def _invoiced_org(name: str) -> Organization:
    return make_org(name, billing_mode=BillingMode.MONTHLY_INVOICE)


def _summaries() -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.series == InvoiceSeries.SUMMARY)
                                   .options(selectinload(Invoice.lines)).order_by(Invoice.sequence)))


def test_a_period_is_a_calendar_month():
    assert Period.parse("2026-02").last_day == date(2026, 2, 28)
    assert Period.before(date(2026, 1, 15)) == Period(2025, 12)
    assert str(Period(2026, 3)) == "2026-03" and Period(2026, 12).next() == Period(2027, 1)


def test_the_summary_holds_the_months_waiting_order_invoices_due_net_30(billing):
    org = _invoiced_org("Adventure Works")
    parts = [_waiting(org, date(2026, 10, d), 10_000 * d) for d in (1, 15, 31)]
    outside = [_waiting(org, date(2026, 9, 30)), _waiting(org, date(2026, 11, 1)),
               make_invoice(org, status=InvoiceStatus.PAID, issued_on=date(2026, 10, 5))]

    summary = summarize_month(org, OCTOBER, NOVEMBER_1)
    db.session.commit()

    assert (summary.number, summary.period, summary.status) == ("SUM-000001", "2026-10", InvoiceStatus.UNPAID)
    assert (summary.issued_on, summary.due_on) == (NOVEMBER_1, NOVEMBER_1 + timedelta(days=30))
    assert [line.order_invoice_id for line in summary.lines] == [p.id for p in parts]
    assert [line.total_minor for line in summary.lines] == [10_000, 150_000, 310_000]
    assert summary.total_minor == sum(p.total_minor for p in parts) == 470_000
    db.session.expire_all()
    for part in parts:
        part = db.session.get(Invoice, part.id)
        assert (part.status, part.summary_id) == (InvoiceStatus.SUMMARIZED, summary.id)
    assert all(db.session.get(Invoice, o.id).summary_id is None for o in outside)
    assert summary.buyer["legal_name"] == "Adventure Works Inc."
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "summary_invoice")) == 1


def test_a_summary_of_real_orders_keeps_their_tax_categories(billing):
    invoices = [buy(billing, "Northwind IT", slug=slug, edition=edition, quantity=qty)
                for slug, edition, qty in (("mailsuite", "Professional", 25), ("webstats", "Standard", 5))]
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    summary = summarize_month(northwind, Period.of(invoices[0].issued_on), invoices[0].issued_on)
    # the two orders, then Northwind's reseller fee on MailSuite (its customer Contoso holds it): exempt as they are
    assert [(line.tax_category, line.tax_rate_bp) for line in summary.lines] == [("E", 0), ("E", 0), ("E", 0)]
    assert summary.lines[-1].description.startswith("Reseller fee – MailSuite Mail Server – 1 customer account")
    assert summary.total_minor == sum(i.total_minor for i in invoices) + 200
    assert summary.subtotal_minor - summary.discount_minor + summary.tax_minor == summary.total_minor


def test_running_it_twice_makes_nothing_new(billing):
    without_reseller_fees()
    for name in ("A Corp", "B Corp"):
        _waiting(_invoiced_org(name), date(2026, 10, 9))
    db.session.commit()

    first = jobs.run_monthly_summary(OCTOBER, NOVEMBER_1)
    second = jobs.run_monthly_summary(OCTOBER, NOVEMBER_1)

    assert [m.number for m in first] == ["SUM-000001", "SUM-000002"] and second == []
    assert len(_summaries()) == 2


def _world() -> None:
    """Three invoiced organizations with order invoices in October (and a pay-on-order one with none)."""
    for n, name in enumerate(("Alpha Stores", "Beta Retail", "Gamma Labs"), start=1):
        org = _invoiced_org(name)
        for day in range(1, n + 2):
            _waiting(org, date(2026, 10, day * 3), 1_000 * n + day)
    make_org("Delta Direct")
    db.session.commit()


def _state() -> list[tuple]:
    summaries = _summaries()
    parts = {s.id: sorted(db.session.scalars(select(Invoice.number).where(Invoice.summary_id == s.id)))
             for s in summaries}
    orgs = {o.id: o.name for o in db.session.scalars(select(Organization))}
    waiting = db.session.scalar(select(func.count()).select_from(Invoice)
                                .where(Invoice.status == InvoiceStatus.TO_BE_SUMMARIZED))
    return [(orgs[s.organization_id], s.number, s.total_minor, s.due_on, parts[s.id]) for s in summaries] + [waiting]


def test_a_run_stopped_halfway_and_run_again_ends_as_one_clean_run(billing, demo, monkeypatch):
    without_reseller_fees()
    _world()
    jobs.run_monthly_summary(OCTOBER, NOVEMBER_1)
    clean = _state()

    db.session.remove()
    empty_database()
    from portal.demo import seed_demo

    seed_demo()
    db.session.commit()
    without_reseller_fees()
    _world()
    real = jobs.summarize_month
    calls = []

    def dies_on_the_third_organization(org, *args, **kwargs):
        calls.append(org.name)
        summary = real(org, *args, **kwargs)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")  # after writing, before its batch commits
        return summary

    monkeypatch.setattr(jobs, "SUMMARY_BATCH", 2)  # the first two organizations commit together
    monkeypatch.setattr(jobs, "summarize_month", dies_on_the_third_organization)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_monthly_summary(OCTOBER, NOVEMBER_1)
    assert [s.number for s in _summaries()] == ["SUM-000001", "SUM-000002"]  # the first batch, committed
    monkeypatch.setattr(jobs, "summarize_month", real)
    jobs.run_monthly_summary(OCTOBER, NOVEMBER_1)

    assert _state() == clean
    assert [row[1] for row in clean[:-1]] == ["SUM-000001", "SUM-000002", "SUM-000003"] and clean[-1] == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.integers(0, 5_000_000), st.integers(0, 3_000), st.sampled_from([0, 290, 825])),
                         min_size=0, max_size=4), min_size=1, max_size=6))
def test_a_summary_adds_up_to_its_parts_to_the_cent(billing, invoices):
    """Whatever the order invoices' lines (list price, discount, tax rate; a legacy invoice without lines), the
    summary's total, subtotal, discount and tax are the sums of its parts', and of its own lines."""
    from portal import pricing

    org = _invoiced_org("Property Corp")
    parts = []
    for lines in invoices:
        invoice = make_invoice(org, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=date(2026, 10, 20))
        db.session.delete(invoice.lines[0])
        db.session.flush()
        priced = [(pricing.quote([pricing.LineInput("x", list_minor)], discount_bp=discount, tax_bp=rate), rate)
                  for list_minor, discount, rate in lines]
        for position, (quote, rate) in enumerate(priced, start=1):
            [p] = quote.lines
            db.session.add(InvoiceLine(invoice_id=invoice.id, position=position, description="x", quantity=1,
                                       unit_price_minor=p.list_minor, list_minor=p.list_minor,
                                       discount_minor=p.discount_minor, tax_category="S" if rate else "Z",
                                       tax_rate_bp=rate, tax_minor=p.tax_minor, total_minor=p.total_minor))
        parts.append(sum(q.total_minor for q, _ in priced) if lines else invoice.total_minor)
    db.session.flush()
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    try:
        summary = summarize_month(org, OCTOBER, NOVEMBER_1)
        assert summary.total_minor == sum(parts)
        assert summary.total_minor == sum(line.total_minor for line in summary.lines)
        assert summary.subtotal_minor - summary.discount_minor + summary.tax_minor == summary.total_minor
        assert {line.order_invoice_id for line in summary.lines} == set(
            db.session.scalars(select(Invoice.id).where(Invoice.summary_id == summary.id)))
    finally:
        db.session.rollback()


def test_the_cli_defaults_to_the_previous_month_and_prints_what_it_made(app, demo):
    from portal.db_types import utcnow

    last_month = Period.before(utcnow().date())
    with app.app_context():
        _waiting(_invoiced_org("Contoso Pharmacy"), last_month.first_day, 123_45)
        db.session.commit()
    runner = app.test_cli_runner()
    made = runner.invoke(args=["invoices", "summarize"])
    assert made.exit_code == 0, made.output
    # Northwind (id 1) owes its MailSuite reseller fee for the month; Contoso Pharmacy has an order invoice
    assert "SUM-000001  Northwind IT: reseller fees, $2.00" in made.output
    assert "SUM-000002  Contoso Pharmacy: 1 order invoice, $123.45" in made.output
    assert f"2 summary invoices made for {last_month}." in made.output
    again = runner.invoke(args=["invoices", "summarize", "--period", str(last_month)])
    assert again.exit_code == 0 and f"Nothing to summarize for {last_month}." in again.output
    bad = runner.invoke(args=["invoices", "summarize", "--period", "October"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output


def test_an_order_invoice_issued_today_is_left_for_next_months_run(billing):
    without_reseller_fees()
    org = db.session.get(Organization, billing.orgs["Northwind IT"])
    invoice = issue_order_invoice(_order_for(org))
    assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED
    assert summarize_month(org, Period.before(invoice.issued_on)) is None


def _order_for(org):
    from portal.accounts.models import User
    from portal.orders.models import PaymentKind
    from tests.factories import make_order

    order = make_order(org, db.session.scalars(select(User)).first())
    assert order.payment_kind is PaymentKind.INVOICE
    return order


@pytest.mark.postgres_only
def test_two_runs_at_once_make_each_summary_once(app, demo):
    """The cron job and a member of staff start the same month at the same moment: the order invoices each run
    takes are locked, so the other finds them summarized and makes nothing for that organization."""
    import threading

    with app.app_context():
        for n in range(6):
            org = _invoiced_org(f"Concurrent {n}")
            for day in (2, 9, 16):
                _waiting(org, date(2026, 10, day))
        db.session.commit()
    barrier, made, errors = threading.Barrier(2), [], []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                made.extend(jobs.run_monthly_summary(OCTOBER, NOVEMBER_1))
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # each organization once, Northwind's summary of its MailSuite reseller fee too (its row locked by the first)
    assert sorted(m.organization for m in made) == [f"Concurrent {n}" for n in range(6)] + ["Northwind IT"]
    with app.app_context():
        summaries = _summaries()
        assert [s.number for s in summaries] == [f"SUM-{n:06d}" for n in range(1, 8)]
        assert db.session.scalar(select(func.count()).select_from(Invoice)
                                 .where(Invoice.status == InvoiceStatus.SUMMARIZED)) == 18
