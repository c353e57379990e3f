"""What an invoice's lines stand for, for a reseller re-billing its customers: the licenses behind an order
invoice's lines with the customer each is assigned to now, the products behind each order invoice of a summary,
and every line as CSV rows.

An issued line keeps the license keys in its text (written at issue, see services.describe_order_line); who a
license is assigned to changes later, so it is looked up here whenever a page or a document is made, from the
order lines the invoice was issued from: a new license points at the order line that created it, a modification
line at the license it changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceLine
from portal.csv_export import csv_amount
from portal.extensions import db
from portal.licenses.models import License
from portal.money import Money, format_money, format_percent_bp
from portal.orders.models import Order, OrderLine
from portal.reseller_fees.invoicing import charged_on

UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class LineLicense:
    """A license an invoice line sold or changed, and the customer it is assigned to now (None: unassigned)."""

    key: str
    customer: str | None

    @property
    def assignment(self) -> str:
        return f"assigned to {self.customer}" if self.customer else UNASSIGNED

    def __str__(self) -> str:
        return f"License {self.key}: {self.assignment}"


def line_licenses(invoice: Invoice) -> dict[int, list[LineLicense]]:
    """The licenses behind each line of an order invoice, by line position, with their current customers (one
    query; empty for a summary or an invoice without an order)."""
    return order_licenses(invoice.order_id) if invoice.order_id is not None else {}


def order_licenses(order_id: int) -> dict[int, list[LineLicense]]:
    """The licenses each line of an order bought or changed, by line position (an order line and its invoice
    line share it), with the customer each is assigned to now (one query)."""
    customer = aliased(Organization)
    rows = db.session.execute(
        select(OrderLine.position, License.key, customer.name)
        .join(License, or_(License.order_line_id == OrderLine.id,
                           and_(OrderLine.license_id.is_not(None), License.id == OrderLine.license_id)))
        .outerjoin(customer, customer.id == License.customer_id)
        .where(OrderLine.order_id == order_id)
        .order_by(OrderLine.position, License.id))
    found: dict[int, list[LineLicense]] = {}
    for position, key, name in rows:
        found.setdefault(position, []).append(LineLicense(key, name))
    return found


@dataclass(frozen=True)
class Part:
    """An order invoice of a summary and the lines it was issued with (the products behind the summary's line)."""

    invoice: Invoice
    lines: list[InvoiceLine]


def summary_parts(summary: Invoice) -> dict[int, Part]:
    """The order invoices of a summary with their lines, by invoice id (two queries)."""
    parts = list(db.session.scalars(select(Invoice).where(Invoice.summary_id == summary.id)
                                    .order_by(Invoice.sequence)))
    found = {part.id: Part(part, []) for part in parts}
    if found:
        for line in db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id.in_(found))
                                       .order_by(InvoiceLine.invoice_id, InvoiceLine.position)):
            found[line.invoice_id].lines.append(line)
    return found


def product_text(line: InvoiceLine, currency: str) -> str:
    """A product of a summary's order invoice on one line: what, how many, list price, discount and net."""
    def money(minor: int) -> str:
        return format_money(Money(minor, currency))

    text = f"{line.description} · {line.quantity} × {money(line.unit_price_minor)} · list {money(line.list_minor)}"
    if line.discount_minor:
        text += f", discount −{money(line.discount_minor)}"
    return text + f", net {money(line.list_minor - line.discount_minor)}"


CSV_HEADINGS = ("Invoice", "Order invoice", "Order", "Purchase order", "Issued", "Line", "Description", "Quantity",
                "Unit price", "List price", "Discount", "Net", "Tax category", "Tax rate (%)", "Tax", "Total",
                "Currency", "Customer account")


def csv_rows(invoice: Invoice) -> Iterator[tuple]:
    """Every line the invoice stands for, one row each: an order invoice's own lines, or for a summary the lines of
    each order invoice it includes (the products, with their list price, discount and net), in number order, then
    its own lines (reseller fees). Under a reseller fee line, one row per customer account it charged: the fee per
    account and the account, no amounts of their own (the line carries them, so a column's sum is the invoice's).
    Amounts are decimals of the invoice's currency.

    Plain columns of the lines with their invoice and order, read 1,000 at a time (no InvoiceLine objects): a
    summary of a busy month streams in constant memory, in a fixed number of statements."""
    number, is_summary, invoice_id = invoice.number, invoice.is_summary, invoice.id
    charged = charged_on(invoice_id) if invoice.issuer_id is None else {}
    part = aliased(Invoice)
    columns = (part.id, part.number, part.issued_on, part.currency, Order.number, Order.purchase_order_number,
               InvoiceLine.position, InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_price_minor,
               InvoiceLine.list_minor, InvoiceLine.discount_minor, InvoiceLine.tax_category, InvoiceLine.tax_rate_bp,
               InvoiceLine.tax_minor, InvoiceLine.total_minor)

    def lines_of(*where) -> Select:
        return (select(*columns).select_from(InvoiceLine).join(part, part.id == InvoiceLine.invoice_id)
                .outerjoin(Order, Order.id == part.order_id).where(*where)
                .order_by(part.sequence, part.id, InvoiceLine.position).execution_options(yield_per=1000))

    if is_summary:  # the order invoices' lines, then the summary's own (its lines for each order invoice aside)
        statements = [lines_of(part.summary_id == invoice_id),
                      lines_of(part.id == invoice_id, InvoiceLine.order_invoice_id.is_(None))]
    else:
        statements = [lines_of(part.id == invoice_id)]
    amount = csv_amount
    for stmt in statements:
        for (part_id, part_number, issued_on, currency, order_number, po, position, description, quantity, unit,
             list_minor, discount, category, rate_bp, tax, total) in db.session.execute(stmt):
            own = part_id == invoice_id
            issued = issued_on.isoformat()
            yield (number, part_number if is_summary and not own else "", order_number or "",
                   po if order_number else "", issued, position, description, quantity, amount(unit, currency),
                   amount(list_minor, currency), amount(discount, currency), amount(list_minor - discount, currency),
                   category, format_percent_bp(rate_bp), amount(tax, currency), amount(total, currency), currency,
                   "")
            for name in charged.get(position, ()) if own else ():
                yield (number, "", "", "", issued, position, description, 1, amount(unit, currency), "", "", "",
                       "", "", "", "", currency, name)
