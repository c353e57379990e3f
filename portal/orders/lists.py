"""The order history's search, filters and sorts (portal/list_options.py), and its CSV: what its rows show."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import User
from portal.csv_export import csv_amount
from portal.extensions import db
from portal.list_options import Choice, ListSpec, Range, Sort, Text
from portal.orders.models import Order, OrderLine, PaymentKind

_buyer = aliased(User)


def _with_product(text: str):
    """Orders with a line of a product named like what was typed (as the product was named when bought)."""
    return Order.id.in_(select(OrderLine.order_id).where(OrderLine.product_name.icontains(text, autoescape=True)))


def _placed_by(text: str):
    return Order.placed_by_id.in_(select(_buyer.id).where(_buyer.email.icontains(text, autoescape=True)))


ORDERS = ListSpec(
    prefix="", search=lambda text: or_(Order.number.icontains(text, autoescape=True),
                                       Order.purchase_order_number.icontains(text, autoescape=True)),
    search_label="Order or purchase order number",
    filters=(Choice("payment", "Payment", lambda: [(kind.value, kind.label) for kind in PaymentKind],
                    lambda value: Order.payment_kind == PaymentKind(value)),
             Text("product", "Product", _with_product),
             Text("placed_by", "Placed by (email)", _placed_by),
             Range("placed", "Placed", Order.created_at, values="day")),
    sorts={"number": Sort("Order", (Order.number,)), "date": Sort("Date", (Order.created_at,)),
           "total": Sort("Total", (Order.total_minor,))},
    default_sort="-date", tie_breaker=Order.id, primary=("payment",))

CSV_HEADER = ("Order", "Date", "Placed by", "Purchase order", "Payment", "Card", "Currency", "Subtotal", "Discount",
              "Tax", "Total", "Products")


def csv_rows(stmt: Select) -> Iterator[tuple]:
    """The orders of `stmt` (scoped, filtered and ordered by the caller) as plain CSV rows, streamed."""
    products = (select(func.aggregate_strings(OrderLine.product_name, "; "))  # as named when bought
                .where(OrderLine.order_id == Order.id).scalar_subquery())
    buyer = select(_buyer.email).where(_buyer.id == Order.placed_by_id).scalar_subquery()
    plain = stmt.with_only_columns(
        Order.number, Order.created_at, buyer, Order.purchase_order_number, Order.payment_kind, Order.card_label,
        Order.currency, Order.subtotal_minor, Order.discount_minor, Order.tax_minor, Order.total_minor, products,
    ).execution_options(yield_per=1000)
    for (number, placed, email, po, kind, card, currency, subtotal, discount, tax, total, names) in (
            db.session.execute(plain)):
        yield (number, placed.date().isoformat(), email or "", po, kind.label, card or "", currency,
               csv_amount(subtotal, currency), csv_amount(discount, currency), csv_amount(tax, currency),
               csv_amount(total, currency), names or "")
