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
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceLine
from portal.csv_export import csv_amount
from portal.extensions import db
from portal.licenses.models import License
from portal.money import Money, format_money
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
    Amounts are decimals of the invoice's currency."""
    if invoice.is_summary:
        parts = [(part.invoice, part.lines) for part in summary_parts(invoice).values()]
        parts.append((invoice, [line for line in invoice.lines if line.order_invoice_id is None]))
    else:
        parts = [(invoice, list(invoice.lines))]
    orders = {row.id: row for row in db.session.execute(
        select(Order.id, Order.number, Order.purchase_order_number)
        .where(Order.id.in_({part.order_id for part, _ in parts if part.order_id})))}
    charged = charged_on(invoice.id) if invoice.issuer_id is None else {}
    for part, lines in parts:
        order = orders.get(part.order_id)
        own = part.id == invoice.id

        def amount(minor: int, currency: str = part.currency) -> str:
            return csv_amount(minor, currency)

        for line in lines:
            yield (invoice.number, part.number if invoice.is_summary and not own else "",
                   order.number if order else "", order.purchase_order_number if order else "",
                   part.issued_on.isoformat(), line.position, line.description, line.quantity,
                   amount(line.unit_price_minor), amount(line.list_minor), amount(line.discount_minor),
                   amount(line.list_minor - line.discount_minor), line.tax_category,
                   f"{Decimal(line.tax_rate_bp).scaleb(-2).normalize():f}", amount(line.tax_minor),
                   amount(line.total_minor), part.currency, "")
            for name in charged.get(line.position, ()) if own else ():
                yield (invoice.number, "", "", "", part.issued_on.isoformat(), line.position, line.description, 1,
                       amount(line.unit_price_minor), "", "", "", "", "", "", "", part.currency, name)
