"""Issuing credit notes (issue 13 item 5): their own gapless CRN series, one line at the corrected invoice's tax
rate, the credit paying what the corrected invoice still owes (paid once nothing is), audited and emailed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.billing.models import CreditAllocation, Invoice, InvoiceSeries, InvoiceStatus
from portal.credits.issuing import SEVERAL_RATES, issue_credit_note, parse_credit_amount
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.payments.charges import CardChoice
from portal.payments.gateway import gateway
from portal.receipts.paying import pay_by_card
from portal.sandbox_processor.models import SandboxIntent
from tests.credits.helpers import credit, paid_wire_order, wire_order
from tests.factories import actor, demo_user, make_invoice, processor_card


def test_credit_notes_are_numbered_in_their_own_gapless_series(billing):
    invoice = paid_wire_order(billing)
    first = credit(invoice, 1_000)
    with pytest.raises(RuleError):  # refused: its number is given back
        issue_credit_note(invoice, 10**12, "Too much", actor())
    db.session.rollback()
    second = credit(invoice, 2_000)

    assert (first.number, second.number) == ("CRN-000001", "CRN-000002")
    assert first.series is InvoiceSeries.CREDIT and first.corrects_id == invoice.id and first.order_id is None
    assert invoice.number.startswith("INV-")


def test_a_credit_note_has_one_line_at_the_corrected_invoices_rate_and_prints_the_reason(billing):
    invoice = paid_wire_order(billing)
    note = credit(invoice, 5_000, "Ten seats billed twice")

    [line] = note.lines
    [original] = {(x.tax_category, x.tax_rate_bp) for x in invoice.lines}
    assert (line.tax_category, line.tax_rate_bp) == original
    assert line.description == f"Credit on invoice {invoice.number}: Ten seats billed twice"
    assert note.total_minor == 5_000 == note.subtotal_minor + note.tax_minor == line.total_minor
    assert note.note.startswith(f"This credit note corrects invoice {invoice.number} of ")
    assert note.note.endswith("Reason: Ten seats billed twice")
    assert note.buyer == invoice.buyer


def test_credit_pays_the_open_invoice_it_corrects_and_marks_it_paid_when_nothing_is_owed(billing):
    invoice = wire_order(billing)
    total = invoice.total_minor

    part = credit(invoice, 10_000)
    assert invoice.status is InvoiceStatus.UNPAID and invoice.amount_due_minor == total - 10_000
    assert part.status is InvoiceStatus.CREDIT_USED and part.credit_left_minor == 0

    rest = credit(invoice, total - 10_000)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at is not None and invoice.amount_due_minor == 0
    assert invoice.credit_applied_minor == total and invoice.prepaid_minor == 0  # the issued document is unchanged
    allocations = db.session.scalars(select(CreditAllocation).where(CreditAllocation.invoice_id == invoice.id)
                                     .order_by(CreditAllocation.id)).all()
    assert [(a.credit_note_id, a.amount_minor) for a in allocations] == [(part.id, 10_000), (rest.id, total - 10_000)]


def test_credit_left_over_after_the_corrected_invoice_stays_available(billing):
    invoice = paid_wire_order(billing)

    note = credit(invoice, 7_500)

    assert note.status is InvoiceStatus.CREDIT_AVAILABLE and note.credit_left_minor == 7_500
    assert invoice.status is InvoiceStatus.PAID and invoice.credit_applied_minor == 0


def test_the_card_pays_what_is_left_due_after_the_credit(billing):
    card = CardChoice(payment_method_id=processor_card("4242 4242 4242 4242", "Dave"))  # at the processor first
    invoice = wire_order(billing)
    credit(invoice, 25_000)
    due = invoice.amount_due_minor

    payment = pay_by_card(invoice, card, gateway(), actor(demo_user("dave")))

    assert payment.amount_minor == due == invoice.total_minor - 25_000
    assert db.session.get(SandboxIntent, payment.gateway_charge_id).amount_minor == due  # what the card paid
    assert invoice.status is InvoiceStatus.PAID


def test_the_credit_note_is_audited_and_emailed_with_its_pdf(billing):
    invoice = wire_order(billing)
    note = credit(invoice, 10_000)

    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.credit_note_issued")).one()
    assert entry.details["number"] == note.number and entry.details["corrects"] == invoice.number
    assert entry.details["applied_to"] == {invoice.number: 10_000}
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "credit_note")).one()
    assert note.number in message.subject and invoice.number in message.body_text
    assert message.attachments[0]["filename"] == f"{note.number}.pdf"


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize(("amount", "reason", "field", "words"), [
    (0, "A reason", "amount", "above zero"),
    (-5, "A reason", "amount", "above zero"),
    (10**12, "A reason", "amount", "At most"),
    (1_000, "   ", "reason", "reason"),
    (1_000, "x" * 501, "reason", "500 characters"),
])
def test_bad_input_is_refused_beside_its_field_and_issues_nothing(billing, amount, reason, field, words):
    invoice = paid_wire_order(billing)

    with pytest.raises(RuleError) as refused:
        issue_credit_note(invoice, amount, reason, actor())
    db.session.rollback()

    assert refused.value.field == field and words in refused.value.message
    assert db.session.scalars(select(Invoice).where(Invoice.series == InvoiceSeries.CREDIT)).all() == []


def test_all_credit_notes_against_an_invoice_credit_at_most_its_total(billing):
    invoice = paid_wire_order(billing)
    credit(invoice, invoice.total_minor - 100)

    with pytest.raises(RuleError, match="At most \\$1.00 can still be credited"):
        issue_credit_note(invoice, 101, "One cent too many", actor())
    db.session.rollback()
    credit(invoice, 100)  # exactly the rest


def test_a_credit_note_cannot_be_credited(billing):
    note = credit(paid_wire_order(billing), 1_000)

    with pytest.raises(RuleError, match="cannot be credited"):
        issue_credit_note(note, 100, "Again", actor())


def test_an_invoice_with_several_tax_rates_is_refused(billing):
    from portal.billing.models import InvoiceLine
    from tests.factories import demo_org

    invoice = make_invoice(demo_org("Fabrikam Stores"), total_minor=10_000)
    invoice.lines.append(InvoiceLine(position=2, description="Taxed", quantity=1, unit_price_minor=1_000,
                                     list_minor=1_000, tax_category="S", tax_rate_bp=650, tax_minor=65,
                                     total_minor=1_065))
    db.session.commit()

    with pytest.raises(RuleError) as refused:
        issue_credit_note(invoice, 1_000, "Price error", actor())
    assert refused.value.message == SEVERAL_RATES and refused.value.field == "amount"


@pytest.mark.parametrize(("amount", "currency", "field"), [("12.345", "USD", "amount"), ("ten", "USD", "amount"),
                                                           ("-3", "USD", "amount"), ("10", "EUR", "currency")])
def test_a_typed_amount_is_read_in_the_invoices_currency(billing, amount, currency, field):
    invoice = paid_wire_order(billing)

    with pytest.raises(RuleError) as refused:
        parse_credit_amount(invoice, amount, currency)
    assert refused.value.field == field
    assert parse_credit_amount(invoice, "1,234.50", "usd") == 123_450
