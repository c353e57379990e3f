"""Issuing invoices: gapless numbers per series, and the invoice of each order."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.billing.models import SUMMARIZED_NOTE, Invoice, InvoiceSeries, InvoiceStatus, SeriesCounter
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.models import Order, PaymentKind

PAYMENT_TERMS_DAYS = 30
OTHER_METHODS_NOTE = ("Pay by wire transfer, ACH or check within {days} days, quoting invoice {number}. "
                      "The licenses are yours now; we mark the invoice paid when the payment arrives.")


def next_number(series: InvoiceSeries) -> int:
    """The next number of `series`. The counter row stays locked until the caller's transaction ends, so
    numbers are unique and gapless however many issue at once (a rollback gives the number back)."""
    stmt = (update(SeriesCounter).where(SeriesCounter.series == series)
            .values(last_number=SeriesCounter.last_number + 1).returning(SeriesCounter.last_number))
    number = db.session.execute(stmt).scalar()
    if number is None:  # the first invoice of the series: create its counter
        try:
            with db.session.begin_nested():
                db.session.add(SeriesCounter(series=series, last_number=0))
        except IntegrityError:
            pass  # created concurrently; the update below waits for it
        number = db.session.execute(stmt).scalar()
    return number


def issue_order_invoice(order: Order, today: date | None = None) -> Invoice:
    """The invoice of an order: paid when charged, to be summarized when invoiced monthly, else due in 30 days."""
    today = today or utcnow().date()
    sequence = next_number(InvoiceSeries.ORDER)
    number = f"{InvoiceSeries.ORDER.prefix}-{sequence:06d}"
    if order.payment_kind is PaymentKind.CARD:
        status, due, note, paid_at = InvoiceStatus.PAID, None, f"Paid by {order.card_label}.", utcnow()
    elif order.payment_kind is PaymentKind.INVOICE:
        status, due, note, paid_at = InvoiceStatus.TO_BE_SUMMARIZED, None, SUMMARIZED_NOTE, None
    else:
        status, due, paid_at = InvoiceStatus.UNPAID, today + timedelta(days=PAYMENT_TERMS_DAYS), None
        note = OTHER_METHODS_NOTE.format(days=PAYMENT_TERMS_DAYS, number=number)
    invoice = Invoice(series=InvoiceSeries.ORDER, sequence=sequence, number=number,
                      organization_id=order.organization_id, order_id=order.id, status=status,
                      currency=order.currency, subtotal_minor=order.subtotal_minor,
                      discount_minor=order.discount_minor, tax_minor=order.tax_minor, total_minor=order.total_minor,
                      issued_on=today, due_on=due, paid_at=paid_at, note=note)
    db.session.add(invoice)
    return invoice


def invoice_for_order(order: Order) -> Invoice | None:
    return db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).first()
