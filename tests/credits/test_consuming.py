"""Credit left on credit notes is consumed by the organization's next owed invoices, oldest credit first, as
their prepaid amount (BT-113): a monthly summary, an order paid by wire, ACH or check (a card checkout is charged
before its invoice exists, so it takes none). The document states it, the amount due drops, the card pays the rest."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from invoices.facturx import cii_xml
from portal.billing.documents import invoice_document
from portal.billing.models import CreditAllocation, Invoice, InvoiceStatus
from portal.billing.services import Period, summarize_month
from portal.credits.services import apply_available_credit
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.models import PaymentKind
from portal.payments.charges import CardChoice
from portal.payments.gateway import gateway
from portal.receipts.paying import pay_by_card
from portal.sandbox_processor.models import SandboxIntent
from tests.billing.conftest import buy, card, org_and_buyer
from tests.credits.helpers import credit, paid_wire_order, wire_order
from tests.factories import actor, demo_user, make_invoice, processor_card


def _next_month(day):
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _summary_with_credit(billing, credit_minor: int) -> tuple[Invoice, Invoice]:
    """Northwind (invoiced monthly) is credited on an order invoice waiting for its summary; then the month is
    summarized."""
    ordered = buy(billing, "Northwind IT", PaymentKind.INVOICE)
    note = credit(ordered, credit_minor)
    assert note.status is InvoiceStatus.CREDIT_AVAILABLE  # nothing owed on an invoice waiting for its summary
    org, _ = org_and_buyer(billing, "Northwind IT")
    today = utcnow().date()
    summary = summarize_month(org, Period.of(today), today=_next_month(today))
    db.session.commit()
    return summary, note


def test_the_next_summary_consumes_the_credit_as_its_prepaid_amount(billing):
    summary, note = _summary_with_credit(billing, 5_000)

    assert summary.prepaid_minor == summary.credit_applied_minor == 5_000
    assert summary.status is InvoiceStatus.UNPAID and summary.amount_due_minor == summary.total_minor - 5_000
    assert note.status is InvoiceStatus.CREDIT_USED and note.credit_used_minor == 5_000
    doc = invoice_document(summary)
    assert doc.totals.paid_minor == 5_000 and doc.totals.due_minor == summary.amount_due_minor
    assert [(c.number, c.amount_minor) for c in doc.credits] == [(note.number, 5_000)]
    xml = cii_xml(doc).decode()
    assert "<ram:TotalPrepaidAmount>50.00</ram:TotalPrepaidAmount>" in xml
    assert re.search(r"<ram:DuePayableAmount>([^<]+)<", xml).group(1) == f"{summary.amount_due_minor / 100:.2f}"


def test_the_card_is_charged_the_summarys_amount_due(billing):
    summary, _ = _summary_with_credit(billing, 5_000)

    card = CardChoice(payment_method_id=processor_card("4242 4242 4242 4242", "Alice"))
    payment = pay_by_card(summary, card, gateway(), actor(demo_user("alice")))

    assert payment.amount_minor == summary.total_minor - 5_000 and summary.status is InvoiceStatus.PAID
    assert db.session.get(SandboxIntent, payment.gateway_charge_id).amount_minor == summary.total_minor - 5_000


def test_an_order_credited_in_full_is_deducted_from_the_summary_that_gathers_it(billing):
    ordered_total = buy(billing, "Northwind IT", PaymentKind.INVOICE).total_minor
    summary, note = _summary_with_credit(billing, ordered_total)  # the second order, alike, credited in full

    assert summary.prepaid_minor == ordered_total == note.credit_used_minor
    assert summary.status is InvoiceStatus.UNPAID and summary.amount_due_minor == summary.total_minor - ordered_total


def test_a_summary_paid_in_full_by_credit_is_paid_and_its_document_states_nothing_due(billing):
    ordered = buy(billing, "Northwind IT", PaymentKind.INVOICE)
    org, _ = org_and_buyer(billing, "Northwind IT")
    earlier = make_invoice(org, status=InvoiceStatus.PAID, total_minor=ordered.total_minor * 2)
    db.session.commit()
    note = credit(earlier, ordered.total_minor * 2)
    today = utcnow().date()

    summary = summarize_month(org, Period.of(today), today=_next_month(today))
    db.session.commit()

    assert summary.status is InvoiceStatus.PAID and summary.paid_at is not None
    assert summary.prepaid_minor == summary.total_minor and summary.amount_due_minor == 0
    assert note.credit_left_minor == ordered.total_minor * 2 - summary.total_minor
    doc = invoice_document(summary)
    assert doc.totals.due_minor == 0 and "paid in full by credit" in doc.payment_terms


def test_an_order_paid_by_wire_consumes_the_credit_oldest_first(billing):
    first_paid, second_paid = paid_wire_order(billing), paid_wire_order(billing)
    older, newer = credit(first_paid, 3_000), credit(second_paid, 4_000)

    invoice = wire_order(billing)

    assert invoice.prepaid_minor == 7_000 and invoice.amount_due_minor == invoice.total_minor - 7_000
    allocations = db.session.scalars(select(CreditAllocation).where(CreditAllocation.invoice_id == invoice.id)
                                     .order_by(CreditAllocation.id)).all()
    assert [(a.credit_note_id, a.amount_minor) for a in allocations] == [(older.id, 3_000), (newer.id, 4_000)]
    assert {older.status, newer.status} == {InvoiceStatus.CREDIT_USED}


def test_a_card_checkout_takes_no_credit(billing):
    note = credit(paid_wire_order(billing), 3_000)

    invoice = buy(billing, "Fabrikam Stores", card(), slug="livedesk", edition="Enterprise", quantity=10)

    assert invoice.status is InvoiceStatus.PAID and invoice.prepaid_minor == 0
    assert note.credit_left_minor == 3_000


def test_credit_is_consumed_only_in_the_invoices_currency_and_organization(billing):
    note = credit(paid_wire_order(billing), 3_000)
    org, _ = org_and_buyer(billing, "Litware Solutions")
    other_org = Invoice(series=note.series, sequence=0, number="X", organization_id=org.id,
                        status=InvoiceStatus.UNPAID, currency="USD", total_minor=10_000)
    fabrikam_euros = Invoice(series=note.series, sequence=0, number="Y", organization_id=note.organization_id,
                             status=InvoiceStatus.UNPAID, currency="EUR", total_minor=10_000)

    assert apply_available_credit(other_org) == 0 and apply_available_credit(fabrikam_euros) == 0
    assert note.credit_left_minor == 3_000


def test_the_order_confirmation_states_the_credit_and_the_amount_due(billing):
    from portal.outbox.models import OutboxMessage

    credit(paid_wire_order(billing), 3_000)
    invoice = wire_order(billing)

    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "order_confirmation")
                                 .order_by(OutboxMessage.id.desc())).first()
    assert "Credit applied from your credit notes: -$30.00" in message.body_text
    assert f"Amount due: ${invoice.amount_due_minor / 100:,.2f}" in message.body_text
