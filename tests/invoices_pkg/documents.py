"""Builders of invoice documents, one per kind the portal issues; fresh objects on every call."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from invoices.document import DocumentLine, InvoiceDocument, Party, PaymentMeans

SUMMARIZED_NOTE = ("This invoice will be summarized in the monthly summarized invoice and does not need to be "
                   "paid immediately.")
ISSUED = date(2026, 3, 2)
SALES_TAX_BP = 825  # 8.25 %


def taxed(net_minor: int, rate_bp: int) -> int:
    """The portal's rounding: half away from zero, per line."""
    return int((Decimal(net_minor) * rate_bp / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def seller() -> Party:
    return Party("Contoso Software Inc.", ("1 Harbor Way", "Floor 12"), "Seattle", "98101", "US", "WA",
                 "billing@contoso.example", tax_id="91-1234567", tax_id_scheme="FC", legal_id="91-1234567")


def buyer(name: str = "Northwind IT LLC") -> Party:
    return Party(name, ("200 Pine Street",), "Portland", "97204", "US", "OR", "ap@northwind.example")


def line(position: int, description: str = "Editor Pro, 5 users", quantity: int = 5, unit_price_minor: int = 4_900,
         discount_bp: int = 2_500, category: str = "S", rate_bp: int = SALES_TAX_BP,
         order_invoice_number: str | None = None) -> DocumentLine:
    gross = quantity * unit_price_minor
    discount = taxed(gross, discount_bp)
    net = gross - discount
    tax = taxed(net, rate_bp) if category == "S" else 0
    return DocumentLine(position, description, quantity, unit_price_minor, net, category, rate_bp if category == "S"
                        else 0, tax, discount_minor=discount, order_invoice_number=order_invoice_number)


def order_paid_by_card() -> InvoiceDocument:
    lines = (line(1), line(2, "Maintenance & Support, 1 year", 1, 12_345, 0),
             line(3, "Location subscription, monthly", 3, 1_999))
    total = sum(item.total_minor for item in lines)
    return InvoiceDocument("order", "INV-000101", ISSUED, "USD", seller(), buyer(), lines, paid_minor=total,
                           payment_terms="Paid by card at checkout.", note="Paid by Visa ending in 4242.",
                           payment_means=PaymentMeans("54", "Visa ending in 4242"))


def order_to_be_summarized(number: str = "INV-000102", issued: date = ISSUED) -> InvoiceDocument:
    lines = (line(1), line(2, "Add-on: Sync", 5, 700))
    return InvoiceDocument("order", number, issued, "USD", seller(), buyer(), lines,
                           payment_terms="Payable with the monthly summary invoice, due 30 days after it is issued.",
                           note=SUMMARIZED_NOTE)


def summary_of(order_count: int = 3, lines_per_order: int = 2) -> InvoiceDocument:
    numbers = tuple(f"INV-{200 + i:06d}" for i in range(order_count))
    lines = tuple(line(i * lines_per_order + j + 1, f"Order item {i + 1}.{j + 1}", 1 + (i + j) % 7, 1_000 + 37 * i,
                       order_invoice_number=number)
                  for i, number in enumerate(numbers) for j in range(lines_per_order))
    issued = date(2026, 3, 1)
    return InvoiceDocument("summary", "SUM-000007", issued, "USD", seller(), buyer(), lines,
                           due_date=issued + timedelta(days=30), payment_terms="Net 30.",
                           payment_means=PaymentMeans("30", "Wire transfer or ACH, quoting the invoice number.",
                                                      account_id="000123456789", account_name="Contoso Software Inc.",
                                                      bank_id="CHASUS33"),
                           included_invoices=numbers,
                           period_start=date(2026, 2, 1), period_end=date(2026, 2, 28))


def tax_exempt_order() -> InvoiceDocument:
    lines = (line(1, category="E"), line(2, "Maintenance & Support, 1 year", 1, 12_345, 0, category="E"))
    return InvoiceDocument("order", "INV-000103", ISSUED, "USD", seller(), buyer("Fabrikam Resale Inc."), lines,
                           due_date=ISSUED + timedelta(days=30), payment_terms="Net 30.",
                           exemption_reason="Exempt from sales tax: resale certificate on file.")


def zero_amount_order() -> InvoiceDocument:
    lines = (line(1, "Editor Pro trial license", 1, 0, 0),)
    return InvoiceDocument("order", "INV-000104", ISSUED, "USD", seller(), buyer(), lines,
                           payment_terms="Nothing to pay.")


KINDS = {
    "order paid by card": order_paid_by_card,
    "order to be summarized": order_to_be_summarized,
    "summary of several orders": summary_of,
    "tax-exempt buyer": tax_exempt_order,
    "zero amount": zero_amount_order,
}
