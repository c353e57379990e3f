"""Billing the fees (issue 15 item 2): a monthly-invoiced reseller's summary carries one line per product, a
pay-on-order reseller gets a fee invoice from the renewal run charged to its card; each month is billed once, and
the accounts charged are listed in the PDF's annex, the lines CSV and the invoice page."""

from __future__ import annotations

import csv
import io
from datetime import date

from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import BillingMode, Role
from portal.billing import jobs
from portal.billing.documents import invoice_document
from portal.billing.lines import CSV_HEADINGS, csv_rows
from portal.billing.models import Invoice, InvoiceSeries, InvoiceStatus
from portal.billing.services import Period, summarize_month
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import gateway
from portal.recurring.models import CollectionState, RenewalCollection
from portal.recurring.run import renew, summary_lines
from portal.reseller_fees.models import ResellerFeeCharge
from tests.factories import make_invoice, make_member, make_org, make_user
from tests.recurring.conftest import DECLINED, saved_card
from tests.reseller_fees.conftest import assigned, reseller

NOVEMBER = Period(2026, 11)
DECEMBER_1 = date(2026, 12, 1)


def _customers(owner, count: int, on: date = date(2026, 11, 10)):
    accounts = [make_org(f"Customer {n:02d}", parent=owner) for n in range(count)]
    for account in accounts:
        assigned(owner, account, on)
    return accounts


def test_a_monthly_resellers_summary_carries_one_fee_line_per_product(catalog):
    northwind = reseller(name="Northwind Fees")
    _customers(northwind, 3)
    waiting = make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=date(2026, 11, 20),
                           total_minor=10_000)
    db.session.commit()

    summary = summarize_month(northwind, NOVEMBER, DECEMBER_1)

    part, fee = summary.lines
    assert part.order_invoice_id == waiting.id
    assert fee.description == "Reseller fee – MailSuite Mail Server – 3 customer accounts × $2.00"
    assert (fee.quantity, fee.unit_price_minor, fee.list_minor, fee.discount_minor, fee.tax_category) == (
        3, 200, 600, 0, "E")  # no partner discount on a fee; exempt like the reseller's other lines
    assert (fee.service_start, fee.service_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert summary.total_minor == 10_000 + 600
    assert "Reseller fees for November 2026" in summary.note
    assert db.session.scalar(select(func.count()).select_from(ResellerFeeCharge)
                             .where(ResellerFeeCharge.invoice_id == summary.id)) == 3


def test_fees_alone_make_a_summary_once_however_often_the_run_runs(catalog):
    northwind = reseller(name="Only Fees Ltd", tax_exempt=False, region="WA")  # Washington: 6.5 % tax
    _customers(northwind, 2)
    db.session.commit()

    [made] = jobs.run_monthly_summary(NOVEMBER, DECEMBER_1)
    again = jobs.run_monthly_summary(NOVEMBER, DECEMBER_1)

    assert (made.organization, made.contents, made.total_minor) == ("Only Fees Ltd", "reseller fees", 400 + 26)
    assert again == []
    summary = db.session.scalars(select(Invoice).where(Invoice.series == InvoiceSeries.SUMMARY)
                                 .options(selectinload(Invoice.lines))).one()
    assert summary.note.startswith("Reseller fees for November 2026") and summary.due_on == date(2026, 12, 31)
    [line] = summary.lines
    assert (line.tax_category, line.tax_rate_bp, line.tax_minor) == ("S", 650, 26)


def test_the_annex_the_csv_and_the_invoice_page_list_the_accounts_charged(app, catalog, client):
    northwind = reseller(name="Annex Reseller")
    accounts = _customers(northwind, 12)
    manager = make_user("annex-manager@example.com", password="a-long-password")  # noqa: S106
    make_member(northwind, Role.MANAGER, manager)
    db.session.commit()
    summary = summarize_month(northwind, NOVEMBER, DECEMBER_1)
    db.session.commit()

    document = invoice_document(summary)
    [annex] = document.annexes
    assert annex.title == "Annex: line 1, Reseller fee – MailSuite Mail Server – 12 customer accounts × $2.00"
    assert annex.entries == tuple(a.name for a in accounts)
    from invoices.pdf import render_pdf

    pdf = PdfReader(io.BytesIO(render_pdf(document, workers=1)))
    first, annex_page = (" ".join(page.extract_text().split()) for page in pdf.pages)  # the annex: a page of its own
    assert "Customer 00" not in first
    assert "ANNEX: LINE 1, RESELLER FEE" in annex_page.upper()
    assert "Customer 00" in annex_page and "Customer 11" in annex_page

    rows = [dict(zip(CSV_HEADINGS, row, strict=True)) for row in csv_rows(summary)]
    assert [r["Customer account"] for r in rows] == [""] + [a.name for a in accounts]
    assert {r["Net"] for r in rows[1:]} == {""} and rows[0]["Net"] == "24.00"

    client.login("annex-manager@example.com", "a-long-password")
    page = client.get(f"/invoices/{summary.number}").get_data(as_text=True)
    assert "Customer accounts: Customer 00, Customer 01" in page and "and 2 more" in page
    download = client.get(f"/invoices/{summary.number}.csv").get_data(as_text=True)
    assert "Customer 11" in list(csv.reader(io.StringIO(download)))[-1]


def test_a_pay_on_order_reseller_gets_a_fee_invoice_charged_to_its_card(catalog):
    litware = reseller(billing_mode=BillingMode.PAY_ON_ORDER, name="Card Reseller")
    _customers(litware, 2)
    saved_card(litware)
    db.session.commit()

    run = renew(DECEMBER_1, gateway=gateway())

    invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == litware.id)
                                 .options(selectinload(Invoice.lines))).one()
    assert invoice.series is InvoiceSeries.ORDER and invoice.status is InvoiceStatus.PAID
    assert [line.description for line in invoice.lines] == [
        "Reseller fee – MailSuite Mail Server – 2 customer accounts × $2.00"]
    assert "Reseller fees for November 2026" in invoice.note
    assert run.fees.invoices == 1 and run.collection.charged == 1
    assert "1 reseller fee invoice issued for 2 customer accounts: $4.00." in summary_lines(run)
    assert renew(DECEMBER_1, gateway=gateway()).fees.invoices == 0  # the month is billed once
    assert summarize_month(litware, NOVEMBER, DECEMBER_1) is None  # never on a summary too


def test_without_a_card_the_fee_invoice_is_due_in_30_days_and_emailed(catalog):
    litware = reseller(billing_mode=BillingMode.PAY_ON_ORDER, name="No Card Reseller")
    make_member(litware, Role.MANAGER, make_user("fees-manager@example.com"))
    _customers(litware, 1)
    db.session.commit()

    renew(DECEMBER_1, gateway=gateway())

    invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == litware.id)).one()
    assert (invoice.status, invoice.due_on) == (InvoiceStatus.UNPAID, date(2026, 12, 31))
    assert db.session.get(RenewalCollection, invoice.id).state is CollectionState.AWAITING_PAYMENT
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reseller_fee_invoice")).all()
    assert mail.to_addrs == ["fees-manager@example.com"] and invoice.number in mail.subject
    assert "Reseller fee – MailSuite Mail Server – 1 customer account × $2.00" in mail.body_text


def test_a_declined_fee_charge_is_retried_like_a_renewal(catalog):
    litware = reseller(billing_mode=BillingMode.PAY_ON_ORDER, name="Declined Reseller")
    _customers(litware, 1)
    saved_card(litware, DECLINED)
    db.session.commit()

    renew(DECEMBER_1, gateway=gateway())

    invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == litware.id)).one()
    collection = db.session.get(RenewalCollection, invoice.id)
    assert invoice.status is InvoiceStatus.UNPAID
    assert (collection.state, collection.next_attempt_on) == (CollectionState.CHARGING, date(2026, 12, 2))


def test_an_end_customers_summary_never_carries_a_fee(catalog):
    """A main chain without a partner tier that assigns licenses to its own sub-chains is no reseller: the vendor
    charges it no fee, on its summary or anywhere."""
    fabrikam = make_org("Fabrikam Chain", billing_mode=BillingMode.MONTHLY_INVOICE)
    _customers(fabrikam, 2)
    make_invoice(fabrikam, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=date(2026, 11, 20), total_minor=5_000)
    db.session.commit()

    summary = summarize_month(fabrikam, NOVEMBER, DECEMBER_1)

    assert [line.order_invoice_id is not None for line in summary.lines] == [True]
    assert summary.total_minor == 5_000
