"""Issuing invoices: gapless numbers per series, the invoice of each order, and the monthly summary invoice.

An issued invoice is immutable (portal/billing/models.py refuses content changes): its lines, buyer, amounts and
dates are written once, here. What may change later is its payment status, the summary it joins and its PDF.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from invoices.summary import SummaryPart, TaxedAmount, summarize
from portal import pricing
from portal.accounts.models import BillingMode, Organization
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.billing.models import (
    SUMMARIZED_NOTE,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    SeriesCounter,
)
from portal.catalog.models import ProductKind, PurchaseKind
from portal.credits.services import apply_available_credit
from portal.csv_export import csv_amount
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware.ordering import describe_destination
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.outbox.services import Attachment
from portal.reseller_fees.counting import resellers_with_fees
from portal.reseller_fees.invoicing import MonthFees, month_fees
from portal.seller.details import seller_snapshot
from portal.seller.taxes import issued_category, tax_terms
from portal.webhooks import events as webhook_events

PAYMENT_TERMS_DAYS = 30
OTHER_METHODS_NOTE = ("Pay by wire transfer, ACH or check within {days} days, quoting invoice {number}. "
                      "The licenses are yours now; we mark the invoice paid when the payment arrives.")
NO_PAYMENT_DUE_NOTE = "No payment due: the order's total is zero."
SUMMARY_NOTE = ("Summary of {count} order invoice{s} issued in {period}. Payment is due within {days} days, by "
                "{due}.")
FEES_NOTE = ("Reseller fees for {period}: each customer account holding a product with a fee on {last_day}, as "
             "listed in the annex. ")
FEES_ONLY_NOTE = "Payment is due within {days} days, by {due}."
BUYER_FIELDS = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                "invoice_email", "phone")


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


def issue_number(series: InvoiceSeries) -> tuple[int, str]:
    sequence = next_number(series)
    return sequence, f"{series.prefix}-{sequence:06d}"


def next_storefront_number(issuer_id: int) -> int:
    """The next number of reseller `issuer_id`'s own invoice series (its storefront sales): its StorefrontSeries
    row, locked until the caller's transaction ends, exactly as the vendor's counter (gapless per reseller)."""
    from portal.storefronts.models import StorefrontSeries

    stmt = (update(StorefrontSeries).where(StorefrontSeries.organization_id == issuer_id)
            .values(last_number=StorefrontSeries.last_number + 1).returning(StorefrontSeries.last_number))
    number = db.session.execute(stmt).scalar()
    if number is None:  # the reseller's first invoice: create its counter
        try:
            with db.session.begin_nested():
                db.session.add(StorefrontSeries(organization_id=issuer_id, last_number=0))
        except IntegrityError:
            pass  # created concurrently; the update below waits for it
        number = db.session.execute(stmt).scalar()
    return number


@dataclass(frozen=True)
class Issuer:
    """Who issues an invoice other than the vendor: a reseller (organization id) and the prefix of its numbers
    (its storefront alias in capitals: NORTHWIND-000001)."""

    organization_id: int
    prefix: str


def buyer_snapshot(org: Organization) -> dict:
    """The organization's billing details as an invoice keeps them (later edits do not change issued invoices)."""
    return {name: getattr(org, name) or "" for name in BUYER_FIELDS}


DESCRIPTION_LENGTH = 255  # InvoiceLine.description


@dataclass(frozen=True)
class Delivered:
    """What an order line delivered, as its invoice line states it: the keys of the licenses it created or
    changed, and the service period it pays for (an M&S renewal or reinstatement, a subscription), first and
    last day included."""

    keys: tuple[str, ...] = ()
    period: tuple[date, date] | None = None


def describe_order_line(line: OrderLine, delivered: Delivered = Delivered()) -> str:
    """An order line in words, as the invoice prints it, with the license keys it delivered and its service
    period: "Renewal: Mail Suite Professional, 25 mailboxes · license K1 · service period 2026-04-01 to
    2027-03-31". Within the column's 255 characters the period is always kept, then as many keys as fit ("and
    N more": the invoice page and the PDF list every key of the line under it, see lines.line_licenses), and
    the product's words are shortened last."""
    if line.kind is ProductKind.HARDWARE:  # "People counter ×2 — ships to Airport Kiosk, 8500 Peña Blvd, …"
        return f"{line.product_name} ×{line.quantity} — ships to {describe_destination(line.ship_to)}"[
            :DESCRIPTION_LENGTH]
    what = line.product_name + (f" {line.edition_name}" if line.edition_name else "")
    what += f", {line.quantity} {line.unit_label}"
    if line.interval:
        what += f" ({line.interval.value})"
    if line.addons:
        what += " with " + ", ".join(addon["name"] for addon in line.addons)
    if line.purchase is not PurchaseKind.NEW:
        what = f"{line.purchase.label}: {what}"
    period = (f" · service period {delivered.period[0].isoformat()} to {delivered.period[1].isoformat()}"
              if delivered.period else "")
    what = what[:DESCRIPTION_LENGTH - len(period) - 60] if delivered.keys else what[:DESCRIPTION_LENGTH - len(period)]
    keys = ""
    for shown in range(len(delivered.keys), 0, -1):
        rest = len(delivered.keys) - shown
        keys = (" · license" + ("s " if len(delivered.keys) > 1 else " ") + ", ".join(delivered.keys[:shown])
                + (f" and {rest} more" if rest else ""))
        if len(what) + len(keys) + len(period) <= DESCRIPTION_LENGTH:
            break
    return what + keys + period


def _period_of(delivered: dict[int, Delivered], line_id: int) -> tuple[date | None, date | None]:
    found = delivered.get(line_id)
    return found.period if found is not None and found.period else (None, None)


@dataclass(frozen=True)
class IssuedLine:
    """One line of an invoice about to be issued, priced already (pricing.quote): what, how many, at which price,
    discount and tax, and the service period it pays for (first and last day included), if any."""

    description: str
    quantity: int
    unit_price_minor: int
    list_minor: int
    discount_minor: int
    tax_category: str
    tax_rate_bp: int
    tax_minor: int
    total_minor: int
    service_start: date | None = None
    service_end: date | None = None
    position: int | None = None  # its place on the invoice (default: as listed, from 1)


def issue_invoice(organization_id: int, buyer: dict, currency: str, lines: Sequence[IssuedLine],
                  status: InvoiceStatus, due_on: date | None, note: str | Callable[[str], str], today: date,
                  order_id: int | None = None, paid_at: datetime | None = None,
                  before_issue: Callable[[Invoice], None] | None = None, seller: dict | None = None,
                  issuer: Issuer | None = None) -> Invoice:
    """Issue an invoice of the ORDER series (INV-…) with these lines, its totals the sums of the lines, in the
    caller's transaction (flushed; a rollback gives its number back). `note` may depend on the number it gets.
    `before_issue` sees the invoice before it is written (the credit it consumes is part of the document). The
    lines go in with one multi-row insert: a renewal invoice may have hundreds. `seller` is the seller's details
    as issued (default: the current ones; a run issuing many reads them once). With `issuer` (a reseller selling
    on its storefront) the invoice is the reseller's: its STOREFRONT series, numbered by its own counter, and
    `seller` is the reseller's snapshot."""
    if issuer is None:
        series, issuer_id = InvoiceSeries.ORDER, None
        sequence, number = issue_number(series)
    else:
        series, issuer_id = InvoiceSeries.STOREFRONT, issuer.organization_id
        sequence = next_storefront_number(issuer.organization_id)
        number = f"{issuer.prefix}-{sequence:06d}"
    invoice = Invoice(series=series, sequence=sequence, number=number, issuer_id=issuer_id,
                      organization_id=organization_id, order_id=order_id, status=status, currency=currency,
                      subtotal_minor=sum(line.list_minor for line in lines),
                      discount_minor=sum(line.discount_minor for line in lines),
                      tax_minor=sum(line.tax_minor for line in lines),
                      total_minor=sum(line.total_minor for line in lines),
                      issued_on=today, due_on=due_on, paid_at=paid_at,
                      note=note(number) if callable(note) else note, buyer=buyer,
                      seller=seller if seller is not None else seller_snapshot())
    if before_issue is not None:
        before_issue(invoice)
    db.session.add(invoice)
    db.session.flush()
    if lines:
        db.session.execute(insert(InvoiceLine.__table__), [
            {"invoice_id": invoice.id, "position": line.position or position,
             "description": line.description[:DESCRIPTION_LENGTH],
             "quantity": line.quantity, "unit_price_minor": line.unit_price_minor, "list_minor": line.list_minor,
             "discount_minor": line.discount_minor, "tax_category": line.tax_category,
             "tax_rate_bp": line.tax_rate_bp, "tax_minor": line.tax_minor, "total_minor": line.total_minor,
             "order_invoice_id": None, "service_start": line.service_start, "service_end": line.service_end}
            for position, line in enumerate(lines, start=1)])
    db.session.expire(invoice, ["lines"])  # read back from the rows just inserted, when asked for
    webhook_events.invoice_issued(invoice)
    return invoice


def issue_order_invoice(order: Order, today: date | None = None,
                        delivered: dict[int, Delivered] | None = None) -> Invoice:
    """The invoice of an order, line for line with the order's prices and tax categories, billed to the order's
    billing details: paid when charged, to be summarized when invoiced monthly, else due in 30 days. Each line
    names what its order line delivered (`delivered`, by order line id: license keys, service period)."""
    delivered = delivered or {}
    today = today or utcnow().date()
    note: str | Callable[[str], str]
    if order.total_minor == 0:  # nothing to pay, whichever way the buyer would have paid (nothing was charged)
        status, due, note, paid_at = InvoiceStatus.PAID, None, NO_PAYMENT_DUE_NOTE, utcnow()
    elif order.payment_kind is PaymentKind.CARD:
        status, due, note, paid_at = InvoiceStatus.PAID, None, f"Paid by {order.card_label}.", utcnow()
    elif order.payment_kind is PaymentKind.INVOICE:
        status, due, note, paid_at = InvoiceStatus.TO_BE_SUMMARIZED, None, SUMMARIZED_NOTE, None
    else:
        status, due, paid_at = InvoiceStatus.UNPAID, today + timedelta(days=PAYMENT_TERMS_DAYS), None

        def note(number: str) -> str:
            return OTHER_METHODS_NOTE.format(days=PAYMENT_TERMS_DAYS, number=number)
    # Paid later by wire, ACH or check: the organization's credit pays what it can of it. A card order's invoice is
    # issued paid (the card was charged the whole total before it exists) and a monthly-invoiced order's credit
    # goes to its summary.
    before_issue = apply_available_credit if status is InvoiceStatus.UNPAID else None
    order_lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                                     .order_by(OrderLine.position)).all()
    lines = [IssuedLine(description=describe_order_line(line, delivered.get(line.id, Delivered())),
                        quantity=line.copies, service_start=_period_of(delivered, line.id)[0],
                        service_end=_period_of(delivered, line.id)[1],
                        unit_price_minor=line.unit_list_minor, list_minor=line.list_minor,
                        discount_minor=line.discount_minor, tax_category=line.tax_category,
                        tax_rate_bp=line.tax_rate_bp, tax_minor=line.tax_minor, total_minor=line.total_minor,
                        position=line.position)
             for line in order_lines if line.kind is not ProductKind.HARDWARE]
    lines += _hardware_lines(order_lines)
    lines.sort(key=lambda issued: issued.position)
    return issue_invoice(order.organization_id, {name: (order.billing or {}).get(name, "") for name in BUYER_FIELDS},
                         order.currency, lines, status, due, note, today, order_id=order.id, paid_at=paid_at,
                         before_issue=before_issue)


def _hardware_lines(order_lines: Sequence[OrderLine]) -> list[IssuedLine]:
    """An order's hardware lines as invoiced: the units at their unit price with their destination, at the order
    line's position, and each shipping charge as a line of its own after all the order's lines (an order line's
    total is its goods and its shipping, each taxed at the destination's rate as pricing.quote did)."""
    issued, after = [], len(order_lines)
    for line in order_lines:
        if line.kind is not ProductKind.HARDWARE:
            continue
        shipping_tax = pricing.apply_rate(line.shipping_minor, line.tax_rate_bp)
        issued.append(IssuedLine(
            description=describe_order_line(line), quantity=line.quantity,
            unit_price_minor=line.list_minor // line.quantity, list_minor=line.list_minor,
            discount_minor=line.discount_minor, tax_category=line.tax_category, tax_rate_bp=line.tax_rate_bp,
            tax_minor=line.tax_minor - shipping_tax,
            total_minor=line.total_minor - line.shipping_minor - shipping_tax, position=line.position))
        if line.shipping_minor:
            after += 1
            issued.append(IssuedLine(
                description=f"Shipping: {line.product_name} ×{line.quantity} to "
                            f"{(line.ship_to or {}).get('name', '')}"[:DESCRIPTION_LENGTH],
                quantity=1, unit_price_minor=line.shipping_minor, list_minor=line.shipping_minor, discount_minor=0,
                tax_category=line.tax_category, tax_rate_bp=line.tax_rate_bp, tax_minor=shipping_tax,
                total_minor=line.shipping_minor + shipping_tax, position=after))
    return issued


INVOICE_PDF = "invoice_pdf"  # the outbox's maker of an invoice's PDF (registered by billing.documents)


def invoice_attachment(invoice: Invoice) -> Attachment:
    """The invoice's PDF for an email written in the transaction that issues the invoice (an order's
    confirmation, a summary's announcement). Rendering it there would hold the order's locks for as long as
    WeasyPrint takes, so the attachment names the invoice rather than a file: the outbox worker renders and
    stores the PDF when it delivers the email (documents.stored_invoice_pdf), in its own transaction after this
    one committed, or finds it already stored (by a download, or `invoices render-pending`). Whoever renders it
    first stores the one PDF of the invoice."""
    return Attachment(invoice.pdf_path or "", invoice.pdf_filename, made_by=(INVOICE_PDF, invoice.number))


def invoice_for_order(order: Order) -> Invoice | None:
    return db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).first()


# ---------------------------------------------------------------- the monthly summary


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, written YYYY-MM."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        # a month whose next month is a date too (year 0 and 9999-12 have none)
        if match is None or not 1 <= int(match[2]) <= 12 or not 1 <= int(match[1]) < 9999:
            raise RuleError("Give the month as YYYY-MM, such as 2026-10.", field="period")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def from_filter(cls, text: str) -> Period | None:
        """The month a list is filtered by (?period=YYYY-MM), or None when none or none readable is given."""
        try:
            return cls.parse(text.strip()[:7]) if text.strip() else None
        except RuleError:
            return None

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @classmethod
    def before(cls, day: date) -> Period:
        """The month before the one `day` is in (the summary's default)."""
        return cls.of(day.replace(day=1) - timedelta(days=1))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def label(self) -> str:
        return self.first_day.strftime("%B %Y")

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def summarizable(period: Period) -> Select:
    """Order invoices of `period` waiting for their summary, oldest number first."""
    return (select(Invoice)
            .where(Invoice.series == InvoiceSeries.ORDER, Invoice.status == InvoiceStatus.TO_BE_SUMMARIZED,
                   Invoice.summary_id.is_(None), Invoice.issued_on >= period.first_day,
                   Invoice.issued_on <= period.last_day)
            .order_by(Invoice.sequence))


def organizations_to_summarize(period: Period) -> list[int]:
    """Ids of the organizations with order invoices of `period` still to summarize, in id order, and of the
    monthly-invoiced resellers owing reseller fees for it (portal/reseller_fees). Chosen by their invoices rather
    than their current billing mode, so an account switched to paying on order mid-month still gets the summary of
    what it was invoiced for."""
    pending = summarizable(period).with_only_columns(Invoice.organization_id).distinct().order_by(None)
    found = set(db.session.scalars(pending))
    owing = resellers_with_fees(period.last_day)
    if owing:
        found.update(db.session.scalars(select(Organization.id).where(
            Organization.id.in_(owing), Organization.billing_mode == BillingMode.MONTHLY_INVOICE)))
    return sorted(found)


# What the summary reads of its parts and their lines: plain rows, not ORM objects (a run reads 100,000 of them).
_PART_COLUMNS = (Invoice.id, Invoice.sequence, Invoice.number, Invoice.currency, Invoice.issued_on,
                 Invoice.subtotal_minor, Invoice.discount_minor, Invoice.tax_minor)
_PART_LINES = (select(InvoiceLine.invoice_id, InvoiceLine.tax_category, InvoiceLine.tax_rate_bp,
                      InvoiceLine.list_minor, InvoiceLine.discount_minor, InvoiceLine.tax_minor)
               .where(InvoiceLine.invoice_id.in_(bindparam("part_ids", expanding=True)))
               .order_by(InvoiceLine.invoice_id, InvoiceLine.position))
# A bulk UPDATE does not pass through Invoice's before_update hook (which guards ORM flushes), so the hook's
# guarantee is kept here by hand: this writes status and summary_id, both in INVOICE_MUTABLE_FIELDS, and nothing
# else of an issued invoice. It takes only parts still waiting: the rows it matched are the ones it took.
_TAKE_PARTS = (update(Invoice)
               .where(Invoice.id.in_(bindparam("part_ids", expanding=True)),
                      Invoice.status == InvoiceStatus.TO_BE_SUMMARIZED, Invoice.summary_id.is_(None))
               .values(status=InvoiceStatus.SUMMARIZED, summary_id=bindparam("summary_id"))
               .returning(Invoice.id)
               .execution_options(synchronize_session="fetch"))  # Invoice objects in the session see it too


@lru_cache(maxsize=4)
def _waiting_parts(period: Period) -> Select:
    """An organization's order invoices of `period` still to summarize, locked for the summary taking them.

    Not ordered in SQL (the caller sorts them by number): ORDER BY sequence makes SQLite walk the (series,
    sequence) index through every order invoice for each organization instead of using the organization's
    index, which made a run quadratic in its orders."""
    return (summarizable(period).where(Invoice.organization_id == bindparam("organization_id"))
            .with_only_columns(*_PART_COLUMNS).order_by(None).with_for_update())


def _amounts(part, lines: Sequence) -> tuple[TaxedAmount, ...]:
    """An order invoice's taxed amounts as issued (an invoice issued before invoices had lines: its totals)."""
    if lines:
        return tuple(TaxedAmount(issued_category(line.tax_category, line.tax_rate_bp), line.tax_rate_bp,
                                 line.list_minor - line.discount_minor, line.tax_minor) for line in lines)
    net = part.subtotal_minor - part.discount_minor
    rate_bp = round(part.tax_minor * 10_000 / net) if part.tax_minor and net else 0
    return (TaxedAmount(issued_category("S", rate_bp), rate_bp, net, part.tax_minor),)


def summary_line_rows(parts: Sequence, lines: Sequence) -> list[dict]:
    """The summary's lines as rows for one bulk insert (without invoice_id): one per order invoice (per tax
    category and rate, should one have several) carrying what that invoice charged, net of its discount. The sums
    come from `invoices.summary.summarize`, so the summary adds up to its parts to the cent. `parts` have the
    attributes of _PART_COLUMNS and `lines` those of _PART_LINES (rows, or Invoice and InvoiceLine objects)."""
    by_invoice: dict[int, list] = {}
    for line in lines:
        by_invoice.setdefault(line.invoice_id, []).append(line)
    totals = summarize([SummaryPart(part.number, part.currency, _amounts(part, by_invoice.get(part.id, ())))
                        for part in parts])
    by_number = {part.number: part for part in parts}
    rows = []
    for position, sub in enumerate(totals.subtotals, start=1):
        part = by_number[sub.invoice_number]
        rows.append({"position": position, "description": f"Invoice {sub.invoice_number} of {part.issued_on}",
                     "quantity": 1, "unit_price_minor": sub.net_minor, "list_minor": sub.net_minor,
                     "discount_minor": 0, "tax_category": sub.tax_category, "tax_rate_bp": sub.tax_rate_bp,
                     "tax_minor": sub.tax_minor, "total_minor": sub.net_minor + sub.tax_minor,
                     "order_invoice_id": part.id, "service_start": None, "service_end": None})
    return rows


def summarize_month(org: Organization, period: Period, today: date | None = None,
                    actor: Actor | None = None, with_credit: bool = True) -> Invoice | None:
    """The summary invoice of `org` for `period`: every order invoice of that month still to summarize, one line
    each, then a monthly-invoiced reseller's fees of the month, one line per product (portal/reseller_fees); due
    net 30. None when there is nothing to summarize (so running twice makes nothing new). Locks the order invoices
    it takes, so a concurrent run finds nothing left to take. `with_credit` False: the caller knows the
    organization has no credit note to apply (credits.services.organizations_with_credit)."""
    today = today or utcnow().date()
    actor = actor or Actor.system()
    parts = sorted(db.session.execute(_waiting_parts(period), {"organization_id": org.id}),
                   key=lambda part: part.sequence)
    fees = (month_fees(org, period) if org.billing_mode is BillingMode.MONTHLY_INVOICE
            else MonthFees(org.id, str(period), period.first_day, period.last_day, ()))
    if not parts and not fees:
        return None
    currencies = {part.currency for part in parts} or {org.currency}
    if len(currencies) != 1:
        raise RuleError(f"{org.name} has order invoices in several currencies for {period}.")
    currency = currencies.pop()
    part_ids = [part.id for part in parts]
    rows = summary_line_rows(parts, db.session.execute(_PART_LINES, {"part_ids": part_ids}).all()) if parts else []
    first_fee = len(rows) + 1
    if fees:
        rows += fees.line_rows(currency, tax_terms(org), first_fee)
    due = today + timedelta(days=PAYMENT_TERMS_DAYS)
    note = (SUMMARY_NOTE.format(count=len(parts), s="" if len(parts) == 1 else "s", period=period.label,
                                days=PAYMENT_TERMS_DAYS, due=due.isoformat()) if parts
            else FEES_ONLY_NOTE.format(days=PAYMENT_TERMS_DAYS, due=due.isoformat()))
    if fees:
        note = FEES_NOTE.format(period=period.label, last_day=period.last_day.isoformat()) + note
    sequence, number = issue_number(InvoiceSeries.SUMMARY)
    summary = Invoice(
        series=InvoiceSeries.SUMMARY, sequence=sequence, number=number, organization_id=org.id,
        period=str(period), buyer=buyer_snapshot(org), seller=seller_snapshot(), status=InvoiceStatus.UNPAID,
        currency=currency,
        subtotal_minor=sum(row["list_minor"] for row in rows),
        discount_minor=sum(row["discount_minor"] for row in rows),
        tax_minor=sum(row["tax_minor"] for row in rows),
        total_minor=sum(row["total_minor"] for row in rows),
        issued_on=today, due_on=due, note=note,
    )
    db.session.add(summary)
    if with_credit:
        apply_available_credit(summary)  # the organization's credit notes pay what they can of it (prepaid, BT-113)
    db.session.flush()
    # One executemany for the lines and one UPDATE for the parts, not a unit-of-work flush of every row.
    for row in rows:
        row["invoice_id"] = summary.id
    db.session.execute(insert(InvoiceLine.__table__), rows)
    if fees:
        fees.record(summary.id, first_fee)
    taken = db.session.execute(_TAKE_PARTS, {"part_ids": part_ids, "summary_id": summary.id}).all() if parts else []
    if len(taken) != len(parts):  # locked above; on SQLite a concurrent run may have taken them since
        raise RuleError(f"{org.name}: some order invoices of {period} were summarized meanwhile; run it again.")
    record(actor, "invoice.summarized", summary, org.id, number=number, period=str(period), count=len(parts),
           invoices=[part.number for part in parts], total_minor=summary.total_minor,
           fee_lines=len(fees.lines), fee_accounts=fees.accounts)
    _announce_summary(org, summary, len(parts), len(fees.lines))
    webhook_events.invoice_issued(summary)
    return summary


def _announce_summary(org: Organization, summary: Invoice, count: int, fee_lines: int = 0) -> None:
    """The summary to the invoice contact (else the managers), its PDF attached: made when the email is
    delivered, after the summary run commits (see invoice_attachment)."""
    from portal.outbox.services import enqueue_email, external_url

    recipients = [org.invoice_email] if org.invoice_email else managers_emails(org)
    if recipients:
        enqueue_email(recipients, "summary_invoice", organization=org, invoice=summary, count=count,
                      fee_lines=fee_lines,
                      link=external_url("invoices.detail", invoice_number=summary.number),
                      attachments=[invoice_attachment(summary)])


# ---------------------------------------------------------------- the Invoices page


STATUS_FILTERS: dict[str, tuple[str, tuple[InvoiceStatus, ...]]] = {
    "unpaid": ("Unpaid", (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)),
    "payment_pending": ("Payment pending", (InvoiceStatus.PAYMENT_PENDING,)),
    "paid": ("Paid", (InvoiceStatus.PAID,)),
    "to_be_summarized": ("To be summarized", (InvoiceStatus.TO_BE_SUMMARIZED,)),
    "summarized": ("Summarized", (InvoiceStatus.SUMMARIZED,)),
    "credit_notes": ("Credit notes", (InvoiceStatus.CREDIT_AVAILABLE, InvoiceStatus.CREDIT_USED)),
}


def invoices_query(org_id: int, status: str = "", period: Period | None = None) -> Select:
    """The organization's invoices, newest first, optionally of one status filter and issued in one month.
    (Views add the user's scope: portal/authz.py.)"""
    # the vendor's invoices only: a reseller's invoices to its storefront customers are its own (issuer_id)
    stmt = select(Invoice).where(Invoice.organization_id == org_id, Invoice.issuer_id.is_(None))
    if status in STATUS_FILTERS:
        stmt = stmt.where(Invoice.status.in_(STATUS_FILTERS[status][1]))
    if period is not None:
        stmt = stmt.where(Invoice.issued_on >= period.first_day, Invoice.issued_on <= period.last_day)
    return stmt.order_by(Invoice.issued_on.desc(), Invoice.id.desc())


INVOICE_CSV_HEADER = ("Invoice", "Type", "Issued", "Due", "Period", "Status", "Currency", "Subtotal", "Discount",
                      "Tax", "Total", "Amount due", "Summary invoice", "Billed to", "Notes")


CSV_TYPES = {InvoiceSeries.SUMMARY: "Summary invoice", InvoiceSeries.CREDIT: "Credit note"}


def invoice_csv_rows(stmt: Select) -> Iterator[tuple]:
    """The invoices of `stmt` (an invoices_query, scoped by the caller) as CSV rows, read as plain rows 1,000 at a
    time while the download streams: no ORM objects and no buffered result, so memory stays flat however long the
    list (an ORM result without yield_per reads every row before the first is written)."""
    summary, corrected = aliased(Invoice), aliased(Invoice)
    rows = stmt.with_only_columns(
        Invoice.number, Invoice.series, Invoice.issued_on, Invoice.due_on, Invoice.period, Invoice.status,
        Invoice.currency, Invoice.subtotal_minor, Invoice.discount_minor, Invoice.tax_minor, Invoice.total_minor,
        Invoice.credit_applied_minor, summary.number, Invoice.buyer["legal_name"].as_string(), corrected.number,
    ).outerjoin(summary, Invoice.summary_id == summary.id).outerjoin(corrected, Invoice.corrects_id == corrected.id)
    owing = (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)
    amount = csv_amount
    for (number, series, issued_on, due_on, period, status, currency, subtotal, discount, tax, total, credit_applied,
         summary_number, billed_to, corrected_number) in db.session.execute(rows.execution_options(yield_per=1000)):
        notes = ("Summary Invoice" if series is InvoiceSeries.SUMMARY else f"Corrects {corrected_number}"
                 if corrected_number else "")
        yield (number, CSV_TYPES.get(series, "Order invoice"), issued_on.isoformat(),
               due_on.isoformat() if due_on else "", period or "", status.label, currency,
               amount(subtotal, currency), amount(discount, currency), amount(tax, currency), amount(total, currency),
               amount(total - credit_applied if status in owing else 0, currency), summary_number or "",
               billed_to or "", notes)


def unpaid_query(org_id: int) -> Select:
    """What the organization owes: unpaid summary invoices and unpaid pay-on-order invoices (payment pending
    included), the earliest due first. Order invoices waiting for their summary are owed through it."""
    return (select(Invoice)
            .where(Invoice.organization_id == org_id, Invoice.issuer_id.is_(None),
                   Invoice.status.in_((InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)))
            .order_by(Invoice.due_on, Invoice.id))
