"""The demo's tax rates and invoice history (idempotent: only what is missing is created).

- Tax rates for a few places the demo accounts are not in (Northwind, in Washington, and Litware hold resale
  exemptions), so staff see the table at /admin/taxes and the demo's prices stay tax-free.
- Northwind IT (invoiced monthly): two orders two months ago, already gathered into a summary invoice issued on the
  first of last month and still unpaid; three orders last month, waiting for `flask invoices summarize`.
- Litware Solutions: two orders paid by card, each with its receipt (the Payments page).
- Fabrikam Stores: an order over USD 1,000.00 to pay by wire, unpaid.

Orders are written as checkout writes them (lines priced by portal.pricing, licenses or subscription quantities,
the order invoice from billing.services), with their dates set in the past, so invoice numbers stay gapless.
Each demo order has a fixed idempotency key; a key that exists is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.billing.models import InvoiceStatus
from portal.billing.services import Period, buyer_snapshot, issue_order_invoice, summarize_month
from portal.catalog.models import ProductKind
from portal.catalog.services import configure, discount_bp, product_by_slug
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.services import create_unassigned_licenses
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import new_order_number
from portal.receipts.services import record_checkout_payment
from portal.seller.models import TaxRate
from portal.seller.taxes import STANDARD, tax_terms
from portal.subscriptions.services import add_subscription_quantity

TAX_RATES = [  # country, region, label, rate (bp)
    ("US", "NY", "New York State sales tax", 400),
    ("US", "CA", "California sales tax", 725),
    ("US", "WA", "Washington State sales tax", 650),
    ("GB", "", "VAT", 2000),
    ("DE", "", "Umsatzsteuer", 1900),
]


@dataclass(frozen=True)
class Item:
    slug: str
    edition: str | None
    quantity: int
    addons: tuple[str, ...] = ()
    copies: int = 1


@dataclass(frozen=True)
class DemoOrder:
    key: str
    organization: str
    buyer: str  # email
    month: str  # "two_ago", "previous", "current"
    day: int
    payment: PaymentKind
    items: tuple[Item, ...]


ORDERS = (
    DemoOrder("demo-northwind-1", "Northwind IT", "alice@northwind.example.com", "two_ago", 6, PaymentKind.INVOICE,
              (Item("mailsuite", "Professional", 50, ("antispam",), copies=2),)),
    DemoOrder("demo-northwind-2", "Northwind IT", "bob@northwind.example.com", "two_ago", 19, PaymentKind.INVOICE,
              (Item("webstats", "Standard", 5),)),
    DemoOrder("demo-northwind-3", "Northwind IT", "alice@northwind.example.com", "previous", 3, PaymentKind.INVOICE,
              (Item("livedesk", "Professional", 3, ("sms",)),)),
    DemoOrder("demo-northwind-4", "Northwind IT", "bob@northwind.example.com", "previous", 12, PaymentKind.INVOICE,
              (Item("mailsuite", "Enterprise", 100, ("archiving",)), Item("webstats", "Enterprise", 1))),
    DemoOrder("demo-northwind-5", "Northwind IT", "alice@northwind.example.com", "previous", 24, PaymentKind.INVOICE,
              (Item("device-protection", None, 12),)),
    DemoOrder("demo-litware-1", "Litware Solutions", "frank@litware.example.com", "previous", 9, PaymentKind.CARD,
              (Item("mailsuite", "Professional", 25, ("antispam",)),)),
    DemoOrder("demo-litware-2", "Litware Solutions", "frank@litware.example.com", "current", 2, PaymentKind.CARD,
              (Item("webstats", "Standard", 10, ("priority-support",)),)),
    DemoOrder("demo-fabrikam-1", "Fabrikam Stores", "dave@fabrikam.example.com", "current", 1, PaymentKind.WIRE,
              (Item("livedesk", "Enterprise", 5),)),
)


def seed_tax_rates() -> None:
    existing = {(r.country, r.region) for r in db.session.scalars(select(TaxRate))}
    for country, region, label, rate_bp in TAX_RATES:
        if (country, region) not in existing:
            db.session.add(TaxRate(country=country, region=region, label=label, rate_bp=rate_bp, category=STANDARD))
    db.session.flush()


def _day(spec: DemoOrder, today: date) -> date:
    month = {"current": Period.of(today), "previous": Period.before(today),
             "two_ago": Period.before(Period.before(today).first_day)}[spec.month]
    return min(month.first_day + timedelta(days=spec.day - 1), month.last_day, today)


def _place(spec: DemoOrder, org: Organization, user: User, day: date) -> Order:
    """The order as checkout records it, dated `day`."""
    configs = []
    for item in spec.items:
        product = product_by_slug(item.slug)
        edition = next((e for e in product.editions if e.name == item.edition), None)
        addon_ids = [a.id for a in product.addons if a.slug in item.addons]
        configs.append((item, product, configure(product, edition.id if edition else None, item.quantity, addon_ids)))
    tax = tax_terms(org)
    quote = pricing.quote([pricing.LineInput(str(i), config.list_minor * item.copies)
                           for i, (item, _, config) in enumerate(configs)], discount_bp=discount_bp(org),
                          tax_bp=tax.rate_bp)
    card = "Visa ending 4242" if spec.payment is PaymentKind.CARD else None
    order = Order(number=new_order_number(), organization_id=org.id, placed_by_id=user.id, idempotency_key=spec.key,
                  payment_kind=spec.payment, card_label=card, currency=org.currency, discount_bp=quote.discount_bp,
                  subtotal_minor=quote.subtotal_minor, discount_minor=quote.discount_minor, tax_minor=quote.tax_minor,
                  total_minor=quote.total_minor, billing=buyer_snapshot(org),
                  created_at=datetime.combine(day, time(15, 30), tzinfo=UTC))
    db.session.add(order)
    db.session.flush()
    for position, ((item, product, config), priced) in enumerate(zip(configs, quote.lines, strict=True), start=1):
        line = OrderLine(
            order_id=order.id, position=position, kind=product.kind, product_id=product.id,
            edition_id=config.edition.id if config.edition else None, product_name=product.name,
            edition_name=config.edition.name if config.edition else None, unit_label=product.unit_label,
            interval=product.interval, quantity=item.quantity, copies=item.copies,
            addons=[{"id": a.id, "name": a.name, "price_minor": a.price_minor} for a in config.addons],
            unit_list_minor=config.list_minor, list_minor=priced.list_minor, discount_minor=priced.discount_minor,
            tax_minor=priced.tax_minor, tax_rate_bp=tax.rate_bp, tax_category=tax.category,
            total_minor=priced.total_minor)
        db.session.add(line)
        db.session.flush()
        if product.kind is ProductKind.LICENSE:
            create_unassigned_licenses(line, org.id, day)
        else:
            add_subscription_quantity(org, product.id, item.quantity, day)
    invoice = issue_order_invoice(order, day)
    if invoice.status is InvoiceStatus.PAID:
        invoice.paid_at = order.created_at
    db.session.flush()
    if card is not None and invoice.total_minor:  # paid by card when ordered: its payment and receipt
        record_checkout_payment(invoice, card, None, Actor(user.id), received_at=order.created_at)
    return order


def seed_invoices(today: date | None = None) -> None:
    """Orders, their invoices and a past summary for the demo accounts (see the module's docstring)."""
    today = today or utcnow().date()
    placed = set(db.session.scalars(select(Order.idempotency_key).where(
        Order.idempotency_key.in_([spec.key for spec in ORDERS]))))
    orgs = {o.name: o for o in db.session.scalars(select(Organization).where(
        Organization.name.in_({spec.organization for spec in ORDERS})))}
    users = {u.email: u for u in db.session.scalars(select(User).where(
        User.email.in_({spec.buyer for spec in ORDERS})))}
    for spec in ORDERS:
        if spec.key not in placed and spec.organization in orgs and spec.buyer in users:
            _place(spec, orgs[spec.organization], users[spec.buyer], _day(spec, today))
    northwind = orgs.get("Northwind IT")
    if northwind is not None:  # the past month's summary (nothing new if it exists)
        two_ago = Period.before(Period.before(today).first_day)
        summarize_month(northwind, two_ago, Period.before(today).first_day)
    db.session.flush()
