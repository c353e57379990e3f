"""Invoice numbers (issue 5 item 1): a gapless sequence per series, also under concurrent issuing on PostgreSQL;
and an issued invoice is immutable: only its payment status, its summary and its stored PDF may change."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, User
from portal.billing.models import Invoice, InvoiceSeries, InvoiceStatus
from portal.billing.services import issue_order_invoice
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import ImmutableRecord, Order, OrderLine
from tests.billing.conftest import buy
from tests.factories import make_invoice, make_order


def test_each_series_counts_from_one_without_gaps(billing):
    org = db.session.get(Organization, billing.orgs["Northwind IT"])
    first, second = make_invoice(org), make_invoice(org)
    summary = make_invoice(org, summary=True)
    third = make_invoice(org)
    assert [first.number, second.number, third.number] == ["INV-000001", "INV-000002", "INV-000003"]
    assert (summary.series, summary.sequence, summary.number) == (InvoiceSeries.SUMMARY, 1, "SUM-000001")


def test_an_order_that_is_rolled_back_gives_its_invoice_number_back(billing):
    org = db.session.get(Organization, billing.orgs["Northwind IT"])
    make_invoice(org)
    db.session.commit()
    make_invoice(org)
    db.session.rollback()
    assert make_invoice(org).number == "INV-000002"


def test_the_order_invoice_carries_the_order_lines_tax_categories_and_billing_details(billing):
    invoice = buy(billing, "Northwind IT", slug="mailsuite", edition="Enterprise", quantity=50,
                  addons=("antispam",), copies=2)
    invoice = db.session.scalars(select(Invoice).where(Invoice.id == invoice.id)
                                 .options(selectinload(Invoice.lines))).one()
    [line] = invoice.lines
    keys = list(db.session.scalars(select(License.key).join(OrderLine, OrderLine.id == License.order_line_id)
                                   .where(OrderLine.order_id == invoice.order_id)
                                   .order_by(License.id)))  # the two licenses the line bought
    assert (line.description, line.quantity, line.unit_price_minor, line.list_minor, line.discount_minor) == (
        f"MailSuite Mail Server Enterprise, 50 mailboxes with Advanced Anti-Spam · licenses {', '.join(keys)}", 2,
        50_000, 100_000, 20_000)
    assert (line.tax_category, line.tax_rate_bp, line.tax_minor, line.total_minor) == ("E", 0, 0, 80_000)
    assert invoice.buyer["legal_name"] == "Northwind IT LLC" and invoice.buyer["city"] == "Seattle"
    assert sum(x.total_minor for x in invoice.lines) == invoice.total_minor


def test_an_issued_invoice_cannot_be_edited(billing):
    org = db.session.get(Organization, billing.orgs["Litware Solutions"])
    invoice = make_invoice(org)
    db.session.commit()
    for field, value in (("total_minor", 1), ("issued_on", invoice.issued_on.replace(year=2000)),
                         ("buyer", {"legal_name": "Someone else"}), ("note", "changed")):
        setattr(invoice, field, value)
        with pytest.raises(ImmutableRecord, match=field):
            db.session.commit()
        db.session.rollback()
    invoice.lines[0].total_minor = 1
    with pytest.raises(ImmutableRecord):
        db.session.commit()
    db.session.rollback()


def test_an_issued_invoice_may_be_paid_summarized_and_given_its_pdf(billing):
    org = db.session.get(Organization, billing.orgs["Northwind IT"])
    summary = make_invoice(org, summary=True)
    part = make_invoice(org, status=InvoiceStatus.TO_BE_SUMMARIZED)
    db.session.commit()
    part.summary_id, part.status = summary.id, InvoiceStatus.SUMMARIZED
    summary.status, summary.paid_at = InvoiceStatus.PAID, utcnow()
    summary.pdf_path, summary.pdf_sha256 = "invoices/2026/SUM-000001-abc.pdf", "0" * 64
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Invoice, part.id).summary_id == summary.id
    assert db.session.get(Invoice, summary.id).status is InvoiceStatus.PAID


@pytest.mark.postgres_only
def test_thirty_concurrent_issuers_get_the_numbers_one_to_thirty(app, demo):
    """30 checkouts issue their invoices at the same moment (the series' counter does not exist yet), and five
    more issue one and roll back: the committed numbers are exactly 1..30."""
    with app.app_context():
        org = db.session.get(Organization, demo.orgs["Northwind IT"])
        user = db.session.get(User, demo.users["alice"])
        order_ids = [make_order(org, user).id for _ in range(35)]
        db.session.commit()
    barrier = threading.Barrier(len(order_ids))
    errors: list[BaseException] = []

    def issue(order_id: int, keep: bool) -> None:
        try:
            barrier.wait(timeout=30)  # all start together (the pool lends 15 connections; the rest queue for one)
            with app.app_context():
                order = db.session.get(Order, order_id)
                issue_order_invoice(order)
                db.session.flush()
                time.sleep(random.random() / 100)  # hold the counter a little, as a checkout does
                if keep:
                    db.session.commit()
                else:
                    db.session.rollback()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(oid, i < 30)) for i, oid in enumerate(order_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with app.app_context():
        sequences = sorted(db.session.scalars(select(Invoice.sequence).where(Invoice.series == InvoiceSeries.ORDER)))
        numbers = set(db.session.scalars(select(Invoice.number)))
    assert sequences == list(range(1, 31))
    assert numbers == {f"INV-{n:06d}" for n in range(1, 31)}
