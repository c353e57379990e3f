"""Money columns are BIGINT (migration 0006): an order of 200,000 location plans ($48,000,000.00 at list, far past
the USD 21,474,836.47 a 32-bit column holds) is priced, ordered through checkout, invoiced and summarized on
PostgreSQL, and every amount reads back to the cent. Every `*_minor` column of the models is a BigInteger, and on
PostgreSQL every one the migrations made is a bigint, so a new 32-bit money column fails here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import BigInteger, select, text

from portal import pricing
from portal.billing.models import Invoice, InvoiceLine, InvoiceStatus
from portal.billing.services import Period, invoice_for_order, summarize_month
from portal.cart.services import add_to_cart, cart_items
from portal.catalog.services import configure, discount_bp, product_by_slug
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.checkout import place_order
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary
from portal.payments.gateway import gateway
from portal.seller.taxes import tax_terms
from tests.billing.conftest import org_and_buyer
from tests.factories import actor, without_reseller_fees

INT4_MAX = 2**31 - 1  # USD 21,474,836.47


def test_every_money_column_of_the_models_is_a_bigint(app):
    money = [column for table in db.metadata.sorted_tables for column in table.columns
             if column.name.endswith("_minor")]
    assert len(money) > 10  # the check finds the money columns at all
    not_bigint = [f"{column.table.name}.{column.name}: {column.type}" for column in money
                  if not isinstance(column.type, BigInteger)]
    assert not_bigint == [], "money columns must be BigInteger (amounts above USD 21,474,836.47)"


@pytest.mark.postgres_only
def test_every_money_column_the_migrations_made_is_a_bigint_on_postgresql(app):
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name LIKE '%\\_minor'")).all()
    assert len(rows) > 10
    assert [f"{t}.{c}: {kind}" for t, c, kind in rows if kind != "bigint"] == []


@pytest.mark.postgres_only
def test_an_order_of_two_hundred_thousand_location_plans_is_priced_invoiced_and_summarized_to_the_cent(billing):
    without_reseller_fees()  # the summary of this order alone (Northwind's MailSuite reseller fee would join it)
    org, alice = org_and_buyer(billing, "Northwind IT")  # invoiced monthly, Gold (20 % off)
    org.tax_exempt = False  # Washington's 6.5 % sales tax, so the tax columns are exercised too
    plan = product_by_slug("location-plan")  # $240.00 a location a year
    for _ in range(2):  # two lines of 100,000 locations: each line past a 32-bit column on its own
        add_to_cart(alice, org, configure(plan, None, 100_000, []), 1, actor(alice))
    db.session.commit()
    items = cart_items(alice, org)

    list_minor = 100_000 * plan.unit_price_minor
    discount = pricing.apply_rate(list_minor, discount_bp(org))
    tax = pricing.apply_rate(list_minor - discount, tax_terms(org).rate_bp)
    line_total = list_minor - discount + tax
    assert (list_minor, discount, tax) == (2_400_000_000, 480_000_000, 124_800_000)
    summary = checkout_summary(org, items)
    assert (summary.quote.subtotal_minor, summary.quote.total_minor) == (2 * list_minor, 2 * line_total)

    order = place_order(org, alice, items, summary.signature, summary.quote.total_minor,
                        PaymentChoice(PaymentKind.INVOICE), BillingDetails.of(org), actor(alice), gateway())
    order_id, invoice_id = order.id, invoice_for_order(order).id
    today = utcnow().date()
    summary_invoice = summarize_month(org, Period.of(today), today=_first_of_next_month(today))
    db.session.commit()
    summary_id = summary_invoice.id
    db.session.remove()  # read back what the database holds

    order = db.session.get(Order, order_id)
    assert (order.subtotal_minor, order.discount_minor, order.tax_minor, order.total_minor) == (
        2 * list_minor, 2 * discount, 2 * tax, 2 * line_total)
    assert order.total_minor > INT4_MAX
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).all()
    assert [(line.quantity, line.list_minor, line.discount_minor, line.tax_minor, line.total_minor)
            for line in lines] == [(100_000, list_minor, discount, tax, line_total)] * 2
    invoice = db.session.get(Invoice, invoice_id)
    assert invoice.status is InvoiceStatus.SUMMARIZED
    assert (invoice.subtotal_minor, invoice.total_minor) == (2 * list_minor, 2 * line_total)
    assert sorted(line.list_minor for line in _invoice_lines(invoice_id)) == [list_minor] * 2
    summarized = db.session.get(Invoice, summary_id)
    assert summarized.total_minor == 2 * line_total
    assert sum(line.total_minor for line in _invoice_lines(summary_id)) == 2 * line_total


def _invoice_lines(invoice_id: int) -> list[InvoiceLine]:
    return list(db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)))


def _first_of_next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
