"""Billing a month's reseller fees (DOMAIN §8): one invoice line per product, "Reseller fee – <product> – N customer
accounts × $X", its service period the month, taxed by the reseller's terms as any line (no partner discount:
that applies to list prices). A `ResellerFeeMonth` row per reseller and month makes a month billed exactly once;
`ResellerFeeCharge` rows list the accounts each line charged, for the invoice's annex, CSV and page.

Where the lines go is the reseller's billing mode at the time of billing: a monthly-invoiced reseller's summary of
the month carries them (billing.services.summarize_month); a pay-on-order reseller gets a fee invoice of its own
from the renewal run, charged to its saved card (portal/reseller_fees/collection.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, insert, literal, select

from portal import pricing
from portal.accounts.models import Organization
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_money
from portal.reseller_fees.counting import FeeLine, accounts_holding, fee_lines
from portal.reseller_fees.models import ResellerFeeCharge, ResellerFeeMonth
from portal.seller.taxes import TaxTerms
from portal.words import plural


def describe(line: FeeLine, currency: str) -> str:
    """The invoice line's text: "Reseller fee – WebStats Analytics – 3 customer accounts × $2.00"."""
    accounts = plural(line.accounts, "%(num)d customer account", "%(num)d customer accounts")
    return f"Reseller fee – {line.product_name} – {accounts} × {format_money(Money(line.fee_minor, currency))}"


def already_billed(reseller_id: int, period: str) -> bool:
    """Whether the reseller's fees of `period` (YYYY-MM) are on an invoice already."""
    return db.session.get(ResellerFeeMonth, (reseller_id, period)) is not None


@dataclass(frozen=True)
class MonthFees:
    """A reseller's fee lines for one month, ready to be written on an invoice."""

    reseller_id: int
    period: str  # YYYY-MM
    first_day: date
    last_day: date
    lines: tuple[FeeLine, ...]

    def __bool__(self) -> bool:
        return bool(self.lines)

    def line_rows(self, currency: str, tax: TaxTerms, first_position: int) -> list[dict]:
        """The invoice lines (dicts for one bulk insert, without invoice_id), from position `first_position`,
        each priced by pricing.quote as any line is (its tax rounded per line)."""
        quote = pricing.quote([pricing.LineInput(str(i), line.total_minor) for i, line in enumerate(self.lines)],
                              tax_bp=tax.rate_bp)
        return [{"position": position, "description": describe(line, currency), "quantity": line.accounts,
                 "unit_price_minor": line.fee_minor, "list_minor": priced.list_minor,
                 "discount_minor": priced.discount_minor, "tax_category": tax.category, "tax_rate_bp": tax.rate_bp,
                 "tax_minor": priced.tax_minor, "total_minor": priced.total_minor, "order_invoice_id": None,
                 "service_start": self.first_day, "service_end": self.last_day}
                for position, (line, priced) in enumerate(zip(self.lines, quote.lines, strict=True),
                                                          start=first_position)]

    @property
    def accounts(self) -> int:
        """Accounts charged, counting an account once per product."""
        return sum(line.accounts for line in self.lines)

    def record(self, invoice_id: int, first_position: int) -> None:
        """Record the month as billed on invoice `invoice_id` (its key refuses a second billing: IntegrityError,
        the caller rolls back) and who each of its lines (from `first_position`) charged, by ONE INSERT … SELECT
        of the counting rule: 10,000 accounts never travel through Python. A count that changed since the lines
        were priced (a license assigned meanwhile) refuses this billing (RuleError: the caller rolls back)."""
        db.session.execute(insert(ResellerFeeMonth.__table__).values(
            reseller_id=self.reseller_id, period=self.period, invoice_id=invoice_id, accounts=self.accounts,
            created_at=utcnow()))
        held = accounts_holding(self.reseller_id, self.last_day).subquery()
        positions = {line.product_id: position for position, line in enumerate(self.lines, start=first_position)}
        table = ResellerFeeCharge.__table__
        written = db.session.execute(insert(table).from_select(
            [table.c.invoice_id, table.c.position, table.c.customer_id],
            select(literal(invoice_id), case(positions, value=held.c.product_id), held.c.customer_id)
            .where(held.c.product_id.in_(positions))).execution_options(preserve_rowcount=True)).rowcount
        if written != self.accounts:
            raise RuleError(f"The reseller fees of {self.period} changed while they were billed; run it again.")


def month_fees(org: Organization, period) -> MonthFees:
    """`org`'s fees for `period` (a billing.services.Period), counted on its last day; empty when it is not a
    reseller, owes none or they are billed already. Locks the reseller's row until the caller's transaction ends."""
    label = str(period)
    if not org.is_reseller:  # the vendor charges resellers only (as counting.resellers_with_fees chooses them)
        return MonthFees(org.id, label, period.first_day, period.last_day, ())
    # Two runs at once (the cron job and staff's button) queue here on PostgreSQL: the second finds the month
    # billed by the first once it commits (on SQLite the database's one writer serializes them).
    db.session.execute(select(Organization.id).where(Organization.id == org.id).with_for_update())
    lines = () if already_billed(org.id, label) else tuple(fee_lines(org.id, period.last_day))
    return MonthFees(org.id, label, period.first_day, period.last_day, lines)


# ---------------------------------------------------------------- what an invoice's fee lines charged


def charged_on(invoice_id: int) -> dict[int, tuple[str, ...]]:
    """The accounts each fee line of an invoice charged, by line position, by name (one statement): the PDF's
    annex and the CSV's rows."""
    rows = db.session.execute(
        select(ResellerFeeCharge.position, Organization.name)
        .join(Organization, Organization.id == ResellerFeeCharge.customer_id)
        .where(ResellerFeeCharge.invoice_id == invoice_id)
        .order_by(ResellerFeeCharge.position, Organization.name, Organization.id))
    found: dict[int, list[str]] = {}
    for position, name in rows:
        found.setdefault(position, []).append(name)
    return {position: tuple(names) for position, names in found.items()}


@dataclass(frozen=True)
class ChargedPreview:
    """The first accounts a fee line charged (for the invoice page) and how many it charged in all."""

    count: int
    names: tuple[str, ...]

    @property
    def more(self) -> int:
        return self.count - len(self.names)


def charged_preview(invoice_id: int, limit: int = 10) -> dict[int, ChargedPreview]:
    """Per fee line of an invoice (by position), its first `limit` accounts by name and their number: ONE
    statement whatever the accounts (and for an invoice without fee lines)."""
    window = {"partition_by": ResellerFeeCharge.position}
    ranked = (select(ResellerFeeCharge.position, Organization.name,
                     func.row_number().over(order_by=(Organization.name, Organization.id), **window).label("rank"),
                     func.count().over(**window).label("count"))
              .join(Organization, Organization.id == ResellerFeeCharge.customer_id)
              .where(ResellerFeeCharge.invoice_id == invoice_id).subquery())
    counts: dict[int, int] = {}
    names: dict[int, list[str]] = {}
    for position, name, count in db.session.execute(
            select(ranked.c.position, ranked.c.name, ranked.c.count).where(ranked.c.rank <= limit)
            .order_by(ranked.c.position, ranked.c.rank)):
        counts[position] = count
        names.setdefault(position, []).append(name)
    return {position: ChargedPreview(count, tuple(names[position])) for position, count in counts.items()}
