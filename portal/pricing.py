"""Every price rule of the portal, in one place (DOMAIN §3).

Amounts are integers in minor units (cents). Rates are integers in basis points (1 bp = 0.01 %).

Rounding, stated once: a rate or a share applied to an amount is rounded to the nearest minor unit, halves away
from zero (`apply_rate`, `prorate`). Discounts and taxes are computed per line and the totals are the sums of the
lines, so an order's total always equals the sum of its lines to the cent. A tax-inclusive amount (a credit note's)
is split so that net + tax is exactly that amount (`split_gross`).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

BP = 10_000  # basis points in one whole

# What one cart (so one order) may buy: the shop, the cart, Modify a License and the catalog's admin refuse more,
# beside the field. Beyond them a buyer contacts the vendor. At the largest list prices staff may set, the largest
# cart stays far inside the BIGINT money columns (tests/test_pricing.py).
MAX_UNITS = 1_000_000  # units (mailboxes, agents, devices, locations …) of one license or one subscription line
MAX_COPIES = 100  # licenses of one configuration on one cart line
MAX_CART_ITEMS = 50  # lines of one cart


def apply_rate(amount_minor: int, rate_bp: int) -> int:
    """`amount` x `rate`, rounded half away from zero to the minor unit: the portal's only rounding."""
    if rate_bp < 0:
        raise ValueError("rates are never negative")
    exact = Decimal(amount_minor) * Decimal(rate_bp) / Decimal(BP)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split_gross(gross_minor: int, rate_bp: int) -> tuple[int, int]:
    """A tax-inclusive amount (a credit note's, entered as the total the customer sees) as (net, tax) at `rate`.
    Rounding: the net is the one whose tax by `apply_rate` makes exactly the gross where such a net exists (the
    first of round-down, round-up of gross / (1 + rate)); where none does (a few gross amounts no net reaches)
    the net is gross / (1 + rate) rounded half up and the tax the rest. So net + tax == gross always, and the tax
    is within one minor unit of apply_rate(net, rate)."""
    if gross_minor < 0 or rate_bp < 0:
        raise ValueError("a gross amount and a rate are never negative")
    exact = Decimal(gross_minor) * Decimal(BP) / Decimal(BP + rate_bp)
    low = int(exact)  # rounded down: both are non-negative
    for net in (low, low + 1):
        if net <= gross_minor and net + apply_rate(net, rate_bp) == gross_minor:
            return net, gross_minor - net
    net = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return net, gross_minor - net


# ---------------------------------------------------------------- list prices


def edition_price(base_minor: int, unit_minor: int, quantity: int) -> int:
    """List price of a license edition for `quantity` units: base + unit price x quantity."""
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    return base_minor + unit_minor * quantity


def license_list_price(base_minor: int, unit_minor: int, quantity: int, addon_prices: Iterable[int]) -> int:
    """List price of a new license: the edition at that quantity plus each add-on."""
    return edition_price(base_minor, unit_minor, quantity) + sum(addon_prices)


def subscription_list_price(unit_minor: int, quantity: int) -> int:
    """List price of `quantity` device or location subscriptions for one billing interval."""
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    return unit_minor * quantity


def upgrade_difference(current_list_minor: int, new_list_minor: int) -> int:
    """What an upgrade costs at list price: the new configuration less the current one, never negative."""
    return max(new_list_minor - current_list_minor, 0)


def maintenance_renewal(license_list_minor: int, ms_rate_bp: int) -> int:
    """One more year of Maintenance & Support: the yearly M&S rate of the license's list price."""
    return apply_rate(license_list_minor, ms_rate_bp)


def maintenance_reinstatement(license_list_minor: int, ms_rate_bp: int, fee_minor: int) -> int:
    """Lapsed M&S: a renewal plus the reinstatement charge."""
    return maintenance_renewal(license_list_minor, ms_rate_bp) + fee_minor


# ---------------------------------------------------------------- billing periods and proration


def advance_billing_date(day: date, months: int, anchor_day: int) -> date:
    """The billing date `months` months after (or before, if negative) `day`'s month, on the plan's anchor day,
    or on the last day of a month too short for it: with anchor 31, a month after 31 January is 28 or 29
    February, and a month after that 31 March again. Billing dates never drift, since each is computed from the
    anchor rather than from the previous date."""
    if not 1 <= anchor_day <= 31:
        raise ValueError("an anchor day is a day of the month, 1 to 31")
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(anchor_day, calendar.monthrange(year, month + 1)[1]))


def billing_period(next_payment_on: date, months: int, anchor_day: int) -> tuple[date, date]:
    """The paid period that ends the day before `next_payment_on`: (its first day, the next payment date)."""
    return advance_billing_date(next_payment_on, -months, anchor_day), next_payment_on


def prorate(full_minor: int, days_left: int, days_in_period: int) -> int:
    """The share of a whole period's price for `days_left` of its `days_in_period` days, rounded half away from
    zero to the minor unit: never negative, never more than the full price, and the full price for the whole
    period. Used for a quantity added mid-term (to the day, until the next payment date)."""
    if full_minor < 0:
        raise ValueError("prices are never negative")
    if days_in_period < 1 or not 0 <= days_left <= days_in_period:
        raise ValueError("the days left are part of a period of at least one day")
    exact = Decimal(full_minor) * Decimal(days_left) / Decimal(days_in_period)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorated_addition(unit_minor: int, quantity: int, today: date, period_start: date, next_payment_on: date) -> int:
    """List price of `quantity` more units of a plan from `today` to the end of its paid period (the day before
    `next_payment_on`), prorated to the day."""
    full = subscription_list_price(unit_minor, quantity)
    days = (next_payment_on - period_start).days
    left = min(max((next_payment_on - today).days, 0), days)
    return prorate(full, left, days)


# ---------------------------------------------------------------- storefront prices (DOMAIN §8)


@dataclass(frozen=True)
class PriceRule:
    """One storefront rule as pricing reads it: a markup over the vendor's list price (basis points, may be
    negative down to -100 %), or a special price per unit (device, location, mailbox, site…) per period."""

    markup_bp: int | None = None
    special_unit_minor: int | None = None

    def __post_init__(self) -> None:
        if (self.markup_bp is None) == (self.special_unit_minor is None):
            raise ValueError("a rule is a markup or a special price")
        if self.markup_bp is not None and self.markup_bp < -BP:
            raise ValueError("a markup is at least -100 %")
        if self.special_unit_minor is not None and self.special_unit_minor < 0:
            raise ValueError("prices are never negative")


def most_specific(*rules: PriceRule | None) -> PriceRule | None:
    """The rule that wins, given the candidates from the most specific to the least: a special price for the
    customer (on the edition, then on the product), then the storefront's rule on the edition, then on the product,
    then its default markup. None: no rule (the storefront sells at the vendor's list price)."""
    return next((rule for rule in rules if rule is not None), None)


def marked_up(list_minor: int, markup_bp: int) -> int:
    """`list_minor` raised (or, for a negative markup, lowered) by `markup_bp`, rounded as `apply_rate`."""
    change = apply_rate(list_minor, abs(markup_bp))
    return list_minor + change if markup_bp >= 0 else max(list_minor - change, 0)


def storefront_price(edition_list_minor: int, addons_list_minor: int, units: int, rule: PriceRule | None,
                     default_markup_bp: int | None = None, rrp_unit_minor: int | None = None) -> int:
    """A reseller's price for one configuration: a markup applies to its whole list price (edition and add-ons);
    a special price is per unit and replaces the edition's list price, its add-ons then following the default
    markup. No rule: the default markup over the list price; with no default markup either, the vendor's
    recommended retail price per unit (`rrp_unit_minor`, add-ons at list price) where it has one, else the list
    price."""
    if units < 1 or edition_list_minor < 0 or addons_list_minor < 0:
        raise ValueError("a configuration has units and no negative price")
    if rrp_unit_minor is not None and rrp_unit_minor < 0:
        raise ValueError("prices are never negative")
    if rule is None:
        if default_markup_bp is None and rrp_unit_minor is not None:
            return recommended_retail(rrp_unit_minor, units) + addons_list_minor
        return marked_up(edition_list_minor + addons_list_minor, default_markup_bp or 0)
    if rule.markup_bp is not None:
        return marked_up(edition_list_minor + addons_list_minor, rule.markup_bp)
    return rule.special_unit_minor * units + marked_up(addons_list_minor, default_markup_bp or 0)


def recommended_retail(rrp_unit_minor: int, units: int) -> int:
    """The vendor's recommended retail price of `units` units of a license edition (per unit, no base price)."""
    if units < 1 or rrp_unit_minor < 0:
        raise ValueError("a configuration has units and no negative price")
    return rrp_unit_minor * units


def versus_bp(price_minor: int, reference_minor: int) -> int | None:
    """How far a price is above (positive) or below (negative) a reference price such as the RRP, as a share of
    the reference in basis points rounded half away from zero; None against a reference of 0."""
    if reference_minor <= 0:
        return None
    exact = Decimal(price_minor - reference_minor) * BP / Decimal(reference_minor)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def reseller_fee(accounts: int, fee_minor: int) -> int:
    """A month's fee on one product: the fee per customer account times the accounts holding it (no discount:
    a reseller's partner discount applies to list prices, not to the vendor's fees)."""
    if accounts < 0 or fee_minor < 0:
        raise ValueError("a fee is charged for a count of accounts at a price that is not negative")
    return accounts * fee_minor


def reseller_cost(list_minor: int, discount_bp: int) -> int:
    """What a reseller pays the vendor for what lists at `list_minor`: the list price less its partner discount,
    exactly as `quote` discounts a line."""
    if not 0 <= discount_bp <= BP or list_minor < 0:
        raise ValueError("a discount is between 0 and 100 % of a price that is not negative")
    return list_minor - min(apply_rate(list_minor, discount_bp), list_minor)


def margin(price_minor: int, cost_minor: int) -> int:
    """The reseller's margin on a sale: its price less its cost. Negative when it sells below cost (allowed)."""
    return price_minor - cost_minor


def margin_bp(price_minor: int, cost_minor: int) -> int | None:
    """The margin as a share of the price, in basis points rounded half away from zero; None for a free sale."""
    if price_minor <= 0:
        return None
    exact = Decimal(margin(price_minor, cost_minor)) * BP / Decimal(price_minor)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class Margined:
    """What a row with a price and a cost (minor units) shows of its margin: mixed into the dataclasses of the
    storefront's pricing page and the reseller's sales page."""

    price_minor: int
    cost_minor: int

    @property
    def margin_minor(self) -> int:
        return margin(self.price_minor, self.cost_minor)

    @property
    def margin_bp(self) -> int | None:
        return margin_bp(self.price_minor, self.cost_minor)


# ---------------------------------------------------------------- hardware (issue 20)


def hardware_list_price(unit_minor: int, units: int) -> int:
    """List price of `units` units of a hardware product (no base price, no volume price)."""
    if units < 1 or unit_minor < 0:
        raise ValueError("a hardware line has units and no negative price")
    return unit_minor * units


def shipping_minor(per_order_minor: int | None, per_unit_minor: int | None, units: int) -> int:
    """Shipping of `units` units of one product to one location of one order: the per-order charge once, plus the
    per-unit rate for each unit (either may be None: no such charge). The per-order charge is per (order,
    product, location): a second destination is a second parcel and pays it again, two lines of the same product
    to the same location pay it once (callers add their units together). No units ship for nothing."""
    if units < 0 or (per_order_minor or 0) < 0 or (per_unit_minor or 0) < 0:
        raise ValueError("shipping is for a count of units at charges that are not negative")
    if units == 0:
        return 0
    return (per_order_minor or 0) + (per_unit_minor or 0) * units


# ---------------------------------------------------------------- quotes


@dataclass(frozen=True)
class LineInput:
    """One line to price: a description and its list price for the whole line. `tax_bp`: the line's own tax
    rate (a hardware line and its shipping are taxed where they ship), else the quote's; `discountable`: False
    for a charge no partner discount applies to (shipping)."""

    key: str
    list_minor: int
    tax_bp: int | None = None
    discountable: bool = True


@dataclass(frozen=True)
class PricedLine:
    key: str
    list_minor: int
    discount_minor: int
    tax_minor: int

    @property
    def net_minor(self) -> int:
        return self.list_minor - self.discount_minor

    @property
    def total_minor(self) -> int:
        return self.net_minor + self.tax_minor


@dataclass(frozen=True)
class Quote:
    lines: tuple[PricedLine, ...]
    discount_bp: int
    tax_bp: int

    @property
    def subtotal_minor(self) -> int:
        return sum(line.list_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


def quote(lines: Sequence[LineInput], discount_bp: int = 0, tax_bp: int = 0) -> Quote:
    """Price lines for one buyer: the reseller discount, then tax on what remains, each per line (at the line's
    own rate where it has one, else at `tax_bp`)."""
    if not 0 <= discount_bp <= BP:
        raise ValueError("a discount is between 0 and 100 %")
    priced = []
    for line in lines:
        if line.list_minor < 0:
            raise ValueError("list prices are never negative")
        discount = min(apply_rate(line.list_minor, discount_bp), line.list_minor) if line.discountable else 0
        tax = apply_rate(line.list_minor - discount, tax_bp if line.tax_bp is None else line.tax_bp)
        priced.append(PricedLine(line.key, line.list_minor, discount, tax))
    return Quote(tuple(priced), discount_bp, tax_bp)
