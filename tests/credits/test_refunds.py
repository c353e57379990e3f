"""Refunds to the card (issue 21 item 6): staff issue a credit note on an invoice paid by card and refund it to
that card, through the credit note form as the page renders it. The refund is recorded before the processor is
asked, under its own idempotency key, so `payments reconcile` sends a pending one again without refunding twice;
the refunds of one charge never give back more than it took; a refusal leaves the credit available."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.billing.models import CreditAllocation, Invoice, InvoicePayment, InvoiceSeries, InvoiceStatus
from portal.credits.models import CreditRefund, RefundStatus
from portal.credits.refunds import NOT_PAID_BY_CARD, record_refund, refundable_minor
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import CardGateway, gateway
from portal.payments.processor import ProcessorError
from portal.sandbox_processor.models import SandboxIntent
from tests.billing.conftest import buy, card
from tests.credits.helpers import paid_wire_order
from tests.factories import actor, demo_user

CARD = "Visa ending 4242"


@pytest.fixture
def litware_paid(app, demo) -> tuple[str, int, str]:
    """Frank buys for Litware at checkout by card: the order's invoice, paid; its number, total and charge."""
    with app.app_context():
        invoice = buy(demo, "Litware Solutions", card())
        payment = db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == invoice.id)).one()
        assert invoice.status is InvoiceStatus.PAID and payment.gateway_charge_id and payment.reference == CARD
        assert payment.amount_minor == invoice.total_minor > 5_000
        return invoice.number, invoice.total_minor, payment.gateway_charge_id


def _action(number: str) -> str:
    return f"/admin/invoices/{number}/credit-note"


def _refunded(app, charge_id: str) -> int:
    """What the processor gave back of the charge."""
    with app.app_context():
        return db.session.get(SandboxIntent, charge_id).amount_refunded_minor


def _notes(app) -> list[Invoice]:
    with app.app_context():
        return list(db.session.scalars(select(Invoice).where(Invoice.series == InvoiceSeries.CREDIT)
                                       .order_by(Invoice.sequence)))


def _refunds(app) -> list[CreditRefund]:
    with app.app_context():
        return list(db.session.scalars(select(CreditRefund).order_by(CreditRefund.id)))


def _actions(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _refund(ops, number: str, amount: str):
    """The credit note form as the page renders it, the refund ticked; the answer (the redirect followed)."""
    return ops.submit(_action(number), {"amount": amount, "reason": "Five seats billed twice", "refund": True},
                      action=_action(number), follow_redirects=True)


def _field_error(page: str, field: str) -> str:
    """The error shown beside `field` (the paragraph the field's aria-describedby names)."""
    start = page.index(f'id="{field}-error"')
    return html.unescape(page[start:page.index("</p>", start)])


def test_staff_refund_part_of_a_card_paid_invoice_to_the_card_that_paid_it(app, login, demo, litware_paid):
    number, total, charge_id = litware_paid
    ops = login("ops")
    page = ops.page(_action(number))
    form, _ = page.find(action=_action(number))
    assert "refund" in form.names and f"Refund it to the card that paid: {CARD}" in page.html

    response = _refund(ops, number, "20.00")

    assert response.status_code == 200 and f"Refunded to {CARD}." in response.get_data(as_text=True)
    [note] = _notes(app)
    assert note.total_minor == 2_000 and note.status is InvoiceStatus.CREDIT_USED and note.credit_used_minor == 2_000
    assert note.note.endswith(f"Refunded to {CARD}.")
    [refund] = _refunds(app)
    assert (refund.credit_note_id, refund.charge_id, refund.amount_minor) == (note.id, charge_id, 2_000)
    assert refund.status is RefundStatus.SUCCEEDED and refund.refund_id.startswith("re_")
    assert _refunded(app, charge_id) == 2_000
    [entry] = _actions(app, "invoice.refunded")
    assert entry.details["credit_note"] == note.number and entry.details["amount_minor"] == 2_000
    assert entry.details["card"] == CARD and entry.actor_id == demo.users["ops"]
    with app.app_context():  # the refund took the credit: it paid no invoice
        assert db.session.scalar(select(func.count()).select_from(CreditAllocation)) == 0
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
        assert invoice.status is InvoiceStatus.PAID and invoice.credit_applied_minor == 0
        [email] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "credit_note")).all()
    assert f"Refunded to {CARD}." in email.body_text and "is available" not in email.body_text


def test_a_second_refund_up_to_the_rest_works_and_beyond_it_is_refused_beside_the_amount(app, login, litware_paid):
    number, total, charge_id = litware_paid
    ops = login("ops")
    assert _refund(ops, number, "30.00").status_code == 200
    rest = total - 3_000

    beyond = _refund(ops, number, f"{(rest + 1) / 100:.2f}")

    assert beyond.status_code == 422
    assert f"can still be refunded to {CARD}" in _field_error(beyond.get_data(as_text=True), "amount")
    assert len(_notes(app)) == 1 and len(_refunds(app)) == 1 and _refunded(app, charge_id) == 3_000

    again = _refund(ops, number, f"{rest / 100:.2f}")

    assert again.status_code == 200 and f"Refunded to {CARD}." in again.get_data(as_text=True)
    assert _refunded(app, charge_id) == total
    assert [r.status for r in _refunds(app)] == [RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED]
    nothing_left = _refund(ops, number, "0.01")
    assert nothing_left.status_code == 422 and len(_notes(app)) == 2
    assert "At most" in _field_error(nothing_left.get_data(as_text=True), "amount")


def test_an_invoice_not_paid_by_card_offers_no_refund_and_a_forged_refund_is_refused(app, login, demo):
    with app.app_context():
        number = paid_wire_order(demo).number
    ops = login("ops")
    page = ops.page(_action(number))
    form, _ = page.find(action=_action(number))
    assert "refund" not in form.names and "Refund it to the card" not in page.html

    # A forged post (the page has no such field): the page's own fields, plus the refund.
    forged = ops.post(_action(number), data={**dict(form.successful()), "amount": "20.00",
                                             "reason": "Five seats billed twice", "refund": "y"})

    assert forged.status_code == 422
    assert NOT_PAID_BY_CARD in _field_error(forged.get_data(as_text=True), "refund")
    assert _notes(app) == [] and _refunds(app) == []


def test_a_processor_refusal_leaves_the_credit_available_and_says_so(app, login, litware_paid, monkeypatch):
    number, total, charge_id = litware_paid

    def refuse(self, charge_id, amount_minor, idempotency_key):
        raise ProcessorError("The refund is more than what is left of the payment to give back.")

    monkeypatch.setattr(CardGateway, "refund", refuse)
    ops = login("ops")

    response = _refund(ops, number, "20.00")

    text = " ".join(html.unescape(response.get_data(as_text=True)).split())
    assert response.status_code == 200
    assert "refused the refund" in text and "credit stays available for the organization's next invoices" in text
    [note] = _notes(app)
    assert note.status is InvoiceStatus.CREDIT_AVAILABLE and note.credit_left_minor == 2_000
    [refund] = _refunds(app)
    assert refund.status is RefundStatus.FAILED and refund.refund_id is None and "more than" in refund.message
    assert _refunded(app, charge_id) == 0
    assert len(_actions(app, "invoice.refund_refused")) == 1
    with app.app_context():  # what failed is not counted: the whole payment may still be refunded
        payment = db.session.scalars(select(InvoicePayment).where(InvoicePayment.gateway_charge_id == charge_id)).one()
        assert refundable_minor(payment) == total


def test_reconcile_sends_a_pending_refund_again_and_refunds_it_exactly_once(app, litware_paid, monkeypatch):
    number, total, charge_id = litware_paid
    with app.app_context():  # the process stopped after recording the refund, before the processor answered
        invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
        refund = record_refund(invoice, 2_500, "Five seats billed twice", actor(demo_user("ops")))
        db.session.commit()
        key, refund_id = refund.idempotency_key, refund.id
        gateway().refund(charge_id, 2_500, key)  # it had reached the processor
    assert _refunded(app, charge_id) == 2_500
    runner = app.test_cli_runner()

    fresh = runner.invoke(args=["payments", "reconcile"])  # within the grace period: left alone
    assert fresh.exit_code == 0 and _refunds(app)[0].status is RefundStatus.PENDING

    first = runner.invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
    second = runner.invoke(args=["payments", "reconcile", "--grace-minutes", "0"])

    assert first.exit_code == 0 and f"refund {key}" in first.output and "refunded" in first.output
    assert second.exit_code == 0 and key not in second.output
    [done] = _refunds(app)
    assert done.id == refund_id and done.status is RefundStatus.SUCCEEDED and done.refund_id.startswith("re_")
    assert _refunded(app, charge_id) == 2_500
    [note] = _notes(app)
    assert note.status is InvoiceStatus.CREDIT_USED
    assert len(_actions(app, "invoice.refund_succeeded")) == 1


def test_a_refund_the_processor_did_not_answer_stays_pending_and_reconcile_sends_it(app, login, litware_paid,
                                                                                    monkeypatch):
    number, total, charge_id = litware_paid

    def unreachable(self, charge_id, amount_minor, idempotency_key):
        raise ConnectionError("the processor did not answer")

    with monkeypatch.context() as patched:
        patched.setattr(CardGateway, "refund", unreachable)
        response = _refund(login("ops"), number, "10.00")

    text = " ".join(html.unescape(response.get_data(as_text=True)).split())
    assert "did not answer: the refund to Visa ending 4242 stays pending" in text
    [refund] = _refunds(app)
    assert refund.status is RefundStatus.PENDING and _refunded(app, charge_id) == 0
    assert _notes(app)[0].status is InvoiceStatus.CREDIT_USED  # the credit is held by the pending refund

    result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--grace-minutes", "0"])

    assert result.exit_code == 0 and "1 of 1 pending refund to the card sent." in result.output
    assert _refunded(app, charge_id) == 1_000 and _refunds(app)[0].status is RefundStatus.SUCCEEDED
