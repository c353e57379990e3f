"""Builders of the credit note tests: a wire order the demo's Fabrikam owes, and a credit note against it."""

from __future__ import annotations

from portal.billing.models import Invoice, InvoiceStatus, PaymentMethodKind
from portal.credits.issuing import issue_credit_note
from portal.extensions import db
from portal.orders.models import PaymentKind
from portal.receipts.paying import record_transfer
from tests.billing.conftest import buy
from tests.factories import actor, demo_user


def wire_order(demo) -> Invoice:
    """An order Fabrikam pays by wire (over USD 1,000, so wire is offered): unpaid, due in 30 days."""
    invoice = buy(demo, "Fabrikam Stores", PaymentKind.WIRE, slug="livedesk", edition="Enterprise", quantity=10)
    assert invoice.status is InvoiceStatus.UNPAID and invoice.total_minor >= 100_000
    return invoice


def paid_wire_order(demo) -> Invoice:
    invoice = wire_order(demo)
    record_transfer(invoice, PaymentMethodKind.WIRE, invoice.amount_due_minor, "FED-1", actor())
    db.session.commit()
    return invoice


def credit(invoice: Invoice, amount_minor: int, reason: str = "Ten seats billed twice") -> Invoice:
    note = issue_credit_note(invoice, amount_minor, reason, actor(demo_user("ops")))
    db.session.commit()
    return note
