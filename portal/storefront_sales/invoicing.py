"""The two invoices of a storefront sale, and the reseller's view of its sales.

- The reseller's invoice to its customer: in the reseller's name and address (its Organization) with its tax and
  registration numbers and contact email (its Storefront), numbered in the reseller's own gapless series
  (<ALIAS>-000001, billing.services.next_storefront_number), at the storefront's prices, paid by card.
- The vendor's invoice to the reseller for the wholesale order (INV-…), at the reseller's cost, collected by the
  reseller's own terms exactly as a renewal is (portal/recurring): gathered into the monthly summary, charged to
  its saved default card by the renewal run's collection, or due in 30 days.

Both go through billing.services.issue_invoice; the vendor's invoice lists never show a reseller's invoices
(Invoice.issuer_id is not null) and the customer never sees the wholesale side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from portal import pricing
from portal.accounts.models import Organization
from portal.billing.models import (
    SUMMARIZED_NOTE,
    Invoice,
    InvoicePayment,
    InvoiceSeries,
    InvoiceStatus,
    PaymentMethodKind,
)
from portal.billing.services import (
    BUYER_FIELDS,
    PAYMENT_TERMS_DAYS,
    Delivered,
    IssuedLine,
    Issuer,
    describe_order_line,
    issue_invoice,
)
from portal.credits.services import apply_available_credit
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.recurring.autorenew import renewal_collection
from portal.recurring.models import CollectionMethod, CollectionState, RenewalCollection
from portal.storefronts.models import Storefront

# The seller snapshot's keys beyond the vendor's (seller.details.SellerDetails ignores them): the storefront's
# branding as issued, for the PDF (billing.documents.invoice_brand).
BRAND_KEYS = ("display_name", "accent_colour", "logo_path", "logo_type", "storefront_alias")

WHOLESALE_CARD_NOTE = ("Storefront order {order} for {customer}, at your cost. Charged to your saved card {card} "
                       "on {day} with your renewals; should the charge fail you can pay it from the Invoices page.")
WHOLESALE_INVOICE_NOTE = ("Storefront order {order} for {customer}, at your cost. Payment is due within {days} "
                          "days, by {due}: pay it by card from the Invoices page, quoting invoice {number}.")
WHOLESALE_SUMMARY_NOTE = "Storefront order {order} for {customer}, at your cost. " + SUMMARIZED_NOTE
PAID_BY_CREDIT_NOTE = "Storefront order {order} for {customer}, at your cost: nothing to pay (covered by your credit)."


def invoice_prefix(storefront: Storefront) -> str:
    """The prefix of the reseller's invoice numbers: its alias in capitals (NORTHWIND-000001). An alias is free
    again once a closed storefront is purged, but that reseller's invoices stay: should another reseller's
    invoices already carry the alias, this reseller's carry its organization id too (NORTHWIND-R7-000001), so an
    invoice number never names two sellers."""
    prefix = storefront.alias.upper()
    taken = db.session.scalar(select(Invoice.id).where(
        Invoice.series == InvoiceSeries.STOREFRONT, Invoice.issuer_id != storefront.organization_id,
        Invoice.number.startswith(f"{prefix}-", autoescape=True)).limit(1))
    return prefix if taken is None else f"{prefix}-R{storefront.organization_id}"


def reseller_of(storefront: Storefront) -> Organization:
    """The reseller whose storefront it is (from the session's identity map when already loaded)."""
    return db.session.get(Organization, storefront.organization_id)


def check_invoicing_details(storefront: Storefront) -> None:
    """The reseller's invoice must be a valid EN 16931 invoice: its seller states a tax identifier (BR-S-02 and
    the like) and a registration number (BR-CO-26), and a legal name and address. RuleError (nothing charged) when
    the reseller has not set them on its storefront settings."""
    org = reseller_of(storefront)
    if not (storefront.tax_id.strip() and storefront.registration_id.strip() and org.legal_name.strip()
            and org.address_line1.strip() and org.city.strip()):
        raise RuleError(f"{storefront.display_name or org.name} cannot take orders at the moment: its invoicing "
                        "details are incomplete. Please contact the storefront; nothing was charged.")


def reseller_seller(storefront: Storefront) -> dict[str, str]:
    """The reseller as the seller on its invoice, as the invoice keeps it (Invoice.seller): its legal name and
    address from its organization, its tax and registration numbers and contact email from its storefront, no
    bank details (the customer pays by card), and its branding as issued."""
    org = reseller_of(storefront)
    snapshot = {
        "legal_name": org.legal_name, "address_line1": org.address_line1, "address_line2": org.address_line2,
        "city": org.city, "region": org.region, "postal_code": org.postal_code, "country": org.country,
        "email": storefront.contact_email or org.invoice_email, "tax_id": storefront.tax_id.strip(),
        "registration_id": storefront.registration_id.strip(), "bank_name": "", "account_name": "",
        "account_number": "", "routing_number": "", "swift_bic": "",
        "display_name": storefront.display_name or org.name, "accent_colour": storefront.accent_colour or "",
        "logo_path": storefront.logo_path or "", "logo_type": storefront.logo_type or "",
        "storefront_alias": storefront.alias,
    }
    return {name: value or "" for name, value in snapshot.items()}


def _issued_lines(order: Order, delivered: dict[int, Delivered]) -> list[IssuedLine]:
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                               .order_by(OrderLine.position)).all()
    issued = []
    for line in lines:
        found = delivered.get(line.id, Delivered())
        start, end = found.period if found.period else (None, None)
        issued.append(IssuedLine(description=describe_order_line(line, found), quantity=line.copies,
                                 unit_price_minor=line.unit_list_minor, list_minor=line.list_minor,
                                 discount_minor=line.discount_minor, tax_category=line.tax_category,
                                 tax_rate_bp=line.tax_rate_bp, tax_minor=line.tax_minor, total_minor=line.total_minor,
                                 service_start=start, service_end=end, position=line.position))
    return issued


def _buyer(order: Order) -> dict:
    return {name: (order.billing or {}).get(name, "") for name in BUYER_FIELDS}


def issue_reseller_invoice(order: Order, storefront: Storefront, today: date,
                           delivered: dict[int, Delivered]) -> Invoice:
    """The reseller's invoice to its customer for the customer's storefront order, paid by card (the payment is
    recorded on it; no vendor receipt: the vendor did not receive this money). Flushes."""
    paid = order.total_minor == 0 or order.payment_kind is PaymentKind.CARD
    note = (f"Paid by {order.card_label}." if order.total_minor and order.card_label
            else "No payment due: the order's total is zero.")
    invoice = issue_invoice(order.organization_id, _buyer(order), order.currency, _issued_lines(order, delivered),
                            InvoiceStatus.PAID if paid else InvoiceStatus.UNPAID, None, note, today,
                            order_id=order.id, paid_at=utcnow() if paid else None, seller=reseller_seller(storefront),
                            issuer=Issuer(storefront.organization_id, invoice_prefix(storefront)))
    if order.gateway_charge_id:
        db.session.add(InvoicePayment(invoice_id=invoice.id, amount_minor=invoice.total_minor,
                                      method=PaymentMethodKind.CARD, reference=(order.card_label or "Card")[:120],
                                      gateway_charge_id=order.gateway_charge_id, recorded_by_id=order.placed_by_id))
    return invoice


@dataclass(frozen=True)
class WholesaleTerms:
    """How the vendor collects a wholesale order from the reseller (recurring.autorenew decides the method)."""

    method: CollectionMethod
    payment_kind: PaymentKind
    status: InvoiceStatus
    due_on: date | None
    state: CollectionState
    card_label: str | None = None

    def note(self, order_number: str, customer: str) -> str | Callable[[str], str]:
        if self.method is CollectionMethod.SUMMARY:
            return WHOLESALE_SUMMARY_NOTE.format(order=order_number, customer=customer)
        if self.method is CollectionMethod.CARD:
            return WHOLESALE_CARD_NOTE.format(order=order_number, customer=customer, card=self.card_label,
                                              day=self.due_on.isoformat())
        due = self.due_on

        def note(number: str) -> str:
            return WHOLESALE_INVOICE_NOTE.format(order=order_number, customer=customer, days=PAYMENT_TERMS_DAYS,
                                                 due=due.isoformat(), number=number)
        return note


def wholesale_terms(reseller: Organization, today: date) -> WholesaleTerms:
    """The reseller's own terms, as its renewals are collected: a monthly-invoiced reseller's summary, else its
    saved default card charged by the renewal run's collection from today, else an invoice due in 30 days."""
    collection = renewal_collection(reseller)
    if collection.method is CollectionMethod.SUMMARY:
        return WholesaleTerms(CollectionMethod.SUMMARY, PaymentKind.INVOICE, InvoiceStatus.TO_BE_SUMMARIZED, None,
                              CollectionState.SUMMARIZED)
    if collection.method is CollectionMethod.CARD and collection.card is not None:
        return WholesaleTerms(CollectionMethod.CARD, PaymentKind.CARD, InvoiceStatus.UNPAID, today,
                              CollectionState.CHARGING, collection.card.label)
    return WholesaleTerms(CollectionMethod.INVOICE, PaymentKind.CARD, InvoiceStatus.UNPAID,
                          today + timedelta(days=PAYMENT_TERMS_DAYS), CollectionState.AWAITING_PAYMENT)


def issue_wholesale_invoice(order: Order, terms: WholesaleTerms, customer_name: str, supplied: Order, today: date,
                            delivered: dict[int, Delivered]) -> Invoice:
    """The vendor's invoice to the reseller for its wholesale order, and how it is collected (a RenewalCollection
    the renewal run's collection charges or follows, like a renewal invoice). Flushes."""
    owed = terms.status is InvoiceStatus.UNPAID
    invoice = issue_invoice(order.organization_id, _buyer(order), order.currency, _issued_lines(order, delivered),
                            terms.status, terms.due_on, terms.note(supplied.number, customer_name), today,
                            order_id=order.id, before_issue=apply_available_credit if owed else None)
    state = terms.state
    if owed and invoice.total_minor - invoice.credit_applied_minor <= 0:  # a zero total, or covered by credit
        state = CollectionState.PAID
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, utcnow()
    db.session.add(RenewalCollection(invoice_id=invoice.id, organization_id=order.organization_id,
                                     method=terms.method, state=state, attempts=0,
                                     next_attempt_on=today if state is CollectionState.CHARGING else None,
                                     last_message=""))
    return invoice


# ---------------------------------------------------------------- the reseller's sales and invoices

_Wholesale = aliased(Order)


@dataclass(frozen=True)
class SaleRow(pricing.Margined):
    """One storefront sale as the reseller sees it: its customer's order, the customer, the storefront price
    (before tax), its cost (the wholesale order, before tax), the margin, and the reseller's invoice."""

    order: Order
    customer: str
    price_minor: int
    cost_minor: int
    invoice_number: str | None


def sales_query(reseller_id: int) -> Select:
    """The reseller's storefront sales, newest first (ids grow with time: the caller pages by keyset, id below
    the last one shown, on the seller_id index): each customer order with its customer's name, its wholesale
    order's net (the cost) and the reseller's invoice."""
    return (select(Order, Organization.name, (_Wholesale.subtotal_minor - _Wholesale.discount_minor).label("cost"),
                   Invoice.number)
            .join(Organization, Organization.id == Order.organization_id)
            .outerjoin(_Wholesale, _Wholesale.supplies_order_id == Order.id)
            .outerjoin(Invoice, and_(Invoice.order_id == Order.id, Invoice.issuer_id == reseller_id))
            .where(Order.seller_id == reseller_id)
            .order_by(Order.id.desc()))


def sale_rows(rows) -> list[SaleRow]:
    return [SaleRow(order, customer, order.subtotal_minor - order.discount_minor, cost or 0, number)
            for order, customer, cost, number in rows]


@dataclass(frozen=True)
class SalesTotal(pricing.Margined):
    currency: str
    count: int
    price_minor: int
    cost_minor: int


def sales_totals(reseller_id: int) -> list[SalesTotal]:
    """Every storefront sale of the reseller summed per currency: price, cost and margin (one statement)."""
    rows = db.session.execute(
        select(Order.currency, func.count(Order.id), func.sum(Order.subtotal_minor - Order.discount_minor),
               func.sum(func.coalesce(_Wholesale.subtotal_minor - _Wholesale.discount_minor, 0)))
        .outerjoin(_Wholesale, _Wholesale.supplies_order_id == Order.id)
        .where(Order.seller_id == reseller_id).group_by(Order.currency).order_by(Order.currency))
    return [SalesTotal(currency, count, int(price or 0), int(cost or 0)) for currency, count, price, cost in rows]


def reseller_invoice(reseller_id: int, number: str) -> Invoice | None:
    """One of the reseller's own invoices to its customers, by number."""
    return db.session.scalars(select(Invoice).where(Invoice.issuer_id == reseller_id,
                                                    Invoice.number == number)).first()


def customer_invoice(reseller_id: int, customer_ids: list[int], number: str) -> Invoice | None:
    """The reseller's invoice `number` if it was issued to one of `customer_ids` (the user's sub-chains under
    this reseller): the only invoices a storefront customer sees."""
    if not customer_ids:
        return None
    return db.session.scalars(select(Invoice).where(Invoice.issuer_id == reseller_id, Invoice.number == number,
                                                    Invoice.organization_id.in_(customer_ids))).first()
