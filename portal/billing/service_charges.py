"""Invoices for a service the vendor performed rather than an order: an account transfer's service ticket.

Such an invoice is an order-series invoice without an order, issued like every invoice through
portal/billing/services.issue_invoice: its number comes from the same gapless sequence, its tax from the buyer's
terms (portal/seller/taxes.py), its status from how the buyer pays, as an order invoice's does. Its PDF is rendered
later, on first download or by the render-pending job, like every invoice's (portal/billing/documents.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from portal.accounts.models import BillingMode, Organization
from portal.billing.models import SUMMARIZED_NOTE, Invoice, InvoiceStatus
from portal.billing.services import PAYMENT_TERMS_DAYS, IssuedLine, buyer_snapshot, issue_invoice
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.pricing import LineInput, quote
from portal.receipts.methods import other_methods_allowed
from portal.seller.taxes import tax_terms

# USD 1,000,000.00: far above any service ticket, well inside a 32-bit column once tax is added.
MAX_SERVICE_CHARGE_MINOR = 100_000_000
DUE_NOTE = "Payment is due within {days} days, by {due}, by card in the partner portal{other}."
OTHER_METHODS_WORDS = " or by wire transfer, ACH or check"  # only where the portal accepts them (DOMAIN §6)


def check_service_charge(amount_minor: int, field: str | None = None) -> None:
    """Refuse a charge no service ticket could cost (negative or absurdly large)."""
    if amount_minor < 0:
        raise RuleError("The charge cannot be negative.", field)
    if amount_minor > MAX_SERVICE_CHARGE_MINOR:
        raise RuleError("That charge is far above any service ticket; check the amount.", field)


def issue_service_invoice(org: Organization, description: str, amount_minor: int,
                          today: date | None = None) -> Invoice:
    """Invoice `org` one line for a service, taxed by its billing address: to be summarized when it is invoiced
    monthly, else due in 30 days. In the caller's transaction: a rollback gives its number back."""
    check_service_charge(amount_minor)
    today = today or utcnow().date()
    tax = tax_terms(org)
    priced = quote([LineInput("service", amount_minor)], tax_bp=tax.rate_bp)
    line = priced.lines[0]
    if org.billing_mode is BillingMode.MONTHLY_INVOICE:
        status, due, note = InvoiceStatus.TO_BE_SUMMARIZED, None, SUMMARIZED_NOTE
    else:
        status, due = InvoiceStatus.UNPAID, today + timedelta(days=PAYMENT_TERMS_DAYS)
        note = DUE_NOTE.format(days=PAYMENT_TERMS_DAYS, due=due.isoformat(),
                               other=OTHER_METHODS_WORDS if other_methods_allowed(org, priced.total_minor) else "")
    return issue_invoice(org.id, buyer_snapshot(org), org.currency, [IssuedLine(
        description=description, quantity=1, unit_price_minor=amount_minor, list_minor=line.list_minor,
        discount_minor=line.discount_minor, tax_category=tax.category, tax_rate_bp=tax.rate_bp,
        tax_minor=line.tax_minor, total_minor=line.total_minor)], status, due, note, today)

