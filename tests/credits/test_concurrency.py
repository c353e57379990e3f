"""Credit under concurrent use, on PostgreSQL: credit notes issued at once against one invoice never credit more than
its total (the invoice's row lock), and invoices issued at once never consume the same credit twice (the credit
notes' row locks, FOR UPDATE, oldest first)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.billing.models import CreditAllocation, Invoice, InvoiceSeries, InvoiceStatus
from portal.credits.issuing import issue_credit_note
from portal.credits.services import apply_available_credit
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from tests.credits.helpers import credit, paid_wire_order
from tests.factories import actor


def _together(app, count: int, work) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(count)
    done: list[object] = []
    refused: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        with app.app_context():
            try:
                done.append(work(i))
                db.session.commit()
            except RuleError as error:
                db.session.rollback()
                refused.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done, refused


@pytest.mark.postgres_only
def test_credit_notes_issued_at_once_never_credit_more_than_the_invoice(app, demo):
    with app.app_context():
        invoice = paid_wire_order(demo)
        invoice_id, total = invoice.id, invoice.total_minor
    share = total * 4 // 10  # two fit, a third would not

    def issue(_: int) -> str:
        return issue_credit_note(db.session.get(Invoice, invoice_id), share, "Concurrent", actor()).number

    done, refused = _together(app, 6, issue)

    assert len(done) == 2 and len(refused) == 4
    with app.app_context():
        credited = db.session.scalar(select(func.sum(Invoice.total_minor)).where(Invoice.corrects_id == invoice_id))
        numbers = sorted(db.session.scalars(select(Invoice.number).where(Invoice.series == InvoiceSeries.CREDIT)))
    assert credited == 2 * share and numbers == ["CRN-000001", "CRN-000002"]


@pytest.mark.postgres_only
def test_invoices_issued_at_once_consume_each_credit_once(app, demo):
    with app.app_context():
        note = credit(paid_wire_order(demo), 25_000)
        note_id, org_id = note.id, note.organization_id

    def issue(i: int) -> int:
        invoice = Invoice(series=InvoiceSeries.ORDER, sequence=1_000 + i, number=f"INV-T{i:05d}",
                          organization_id=org_id, status=InvoiceStatus.UNPAID, currency="USD", subtotal_minor=10_000,
                          discount_minor=0, tax_minor=0, total_minor=10_000, issued_on=utcnow().date())
        db.session.add(invoice)
        return apply_available_credit(invoice)

    done, refused = _together(app, 6, issue)

    assert not refused and sorted(done) == [0, 0, 0, 5_000, 10_000, 10_000]
    with app.app_context():
        note = db.session.get(Invoice, note_id)
        used = db.session.scalar(select(func.sum(CreditAllocation.amount_minor))
                                 .where(CreditAllocation.credit_note_id == note_id))
        prepaid = db.session.scalar(select(func.sum(Invoice.prepaid_minor)).where(Invoice.number.like("INV-T%")))
    assert used == prepaid == note.credit_used_minor == 25_000 and note.status is InvoiceStatus.CREDIT_USED
