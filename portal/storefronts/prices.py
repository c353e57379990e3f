"""A storefront's prices (DOMAIN §8): the rules a reseller sets (a default markup, a markup or special price per
product or edition, a special price per product for one customer) and the price book that resolves them.

The arithmetic (markups, special prices per unit, the most specific rule, cost and margin) is portal/pricing.py's;
this module only reads and writes the rules. Storefronts sell LICENSE products only: device and location plans are
billed to main chains, so a subscription product is never priced here. Markups and special prices are Standard's:
a storefront on Free sells at the vendor's recommended retail price (RRP) where an edition has one, else at its list
price, its rules kept but not applied. On Standard, an edition without a rule and without a default markup sells at
its RRP too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import ColumnElement, Select, bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal import pricing
from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.catalog.admin import MAX_PRICE_MINOR
from portal.catalog.models import Edition, Product, ProductKind, SubscriptionBasis
from portal.catalog.services import Configuration, active_products, discount_bp
from portal.csv_export import csv_amount
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_amount, format_money
from portal.reseller_fees.counting import fees_for
from portal.reseller_plans import plans
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.subscriptions.models import Subscription

MIN_MARKUP_BP = -pricing.BP  # -100 %: free
MAX_MARKUP_BP = 10 * pricing.BP  # +1,000 %
MAX_SPECIAL_MINOR = MAX_PRICE_MINOR  # per unit, the catalog's cap on a list price

_MARKUP = re.compile(r"(?P<sign>[+-])?\s*(?P<whole>[0-9]{1,6})?(?:\.(?P<fraction>[0-9]*))?\s*%?", re.ASCII)


class RuleSource(enum.Enum):
    """Where the rule in force comes from, most specific first."""

    CUSTOMER_EDITION = "customer's special price for the edition"
    CUSTOMER_PRODUCT = "customer's special price for the product"
    EDITION = "the edition's rule"
    PRODUCT = "the product's rule"
    DEFAULT = "the default markup"
    RRP = "the vendor's recommended retail price"
    LIST = "the vendor's list price"


# ---------------------------------------------------------------- parsing and checking what a reseller types


def parse_markup_bp(text: str, *, field: str | None = None) -> int:
    """A markup typed as a percentage with at most two decimals ("25", "12.5", "-10 %") as basis points, from
    -100 % to +1,000 %; RuleError naming `field` otherwise."""
    if not text.strip():
        raise RuleError("Enter a markup in %.", field)
    match = _MARKUP.fullmatch(text.strip())
    if match is None or not (match["whole"] or match["fraction"]):
        raise RuleError("Enter a markup in % such as 25 or 12.5 (negative to sell below list price).", field)
    fraction = match["fraction"] or ""
    if len(fraction) > 2:
        raise RuleError("Use at most 2 decimal places.", field)
    bp = int(match["whole"] or "0") * 100 + int(fraction.ljust(2, "0"))
    return check_markup(-bp if match["sign"] == "-" else bp, field)


def format_markup_bp(bp: int) -> str:
    """Basis points as a reseller types them back ("25", "12.5", "-10")."""
    whole, fraction = divmod(abs(bp), 100)
    text = f"{whole}.{fraction:02d}".rstrip("0").rstrip(".") if fraction else str(whole)
    return f"-{text}" if bp < 0 else text


def check_markup(bp: int | None, field: str | None = None) -> int:
    """A markup from -100 % to +1,000 %."""
    if bp is None:
        raise RuleError("Enter a markup in %.", field)
    if bp < MIN_MARKUP_BP:
        raise RuleError("A markup is at least -100 % (free).", field)
    if bp > MAX_MARKUP_BP:
        raise RuleError("A markup is at most 1,000 %.", field)
    return bp


def check_special(minor: int | None, field: str | None = None) -> int:
    """A special price per unit: not negative, not above the catalog's largest price."""
    if minor is None:
        raise RuleError("Enter a price per unit.", field)
    if minor < 0:
        raise RuleError("A price cannot be negative.", field)
    if minor > MAX_SPECIAL_MINOR:
        raise RuleError(f"A price per unit is at most {format_amount(MAX_SPECIAL_MINOR)}.", field)
    return minor


# ---------------------------------------------------------------- which plan sets prices


def sells_own_prices(storefront: Storefront) -> bool:
    """Whether the storefront's own prices (markups, special prices) apply: on Standard only (Free sells at the
    vendor's list price)."""
    return plans.has_standard_features(storefront)


def sells_own_prices_clause() -> ColumnElement[bool]:
    """sells_own_prices as a SQL expression on Storefront (the storefront's chain runs Standard, also while pending
    cancellation), so a page can read it with the storefront in one statement (plans.has_standard_features' rule)."""
    return exists(select(Subscription.id).join(Product, Product.id == Subscription.product_id).where(
        Subscription.organization_id == Storefront.organization_id, Product.basis == SubscriptionBasis.RESELLER,
        Product.slug == plans.STANDARD, Subscription.quantity > 0, Subscription.ended_on.is_(None)))


def _require_standard(storefront: Storefront, field: str | None) -> None:
    if not sells_own_prices(storefront):
        raise RuleError("Markups and special prices come with the Standard plan: upgrade on the Reseller plans "
                        "page.", field)


# ---------------------------------------------------------------- the price book


@dataclass(frozen=True)
class Resolved:
    """The rule in force for one product and edition (None: none applies beyond the default) and where from."""

    rule: pricing.PriceRule | None
    source: RuleSource
    rule_id: int | None = None


@dataclass(frozen=True)
class PriceBook:
    """The rules of one storefront for some products, as one customer (or an anonymous visitor) is priced."""

    own_prices: bool
    default_markup_bp: int | None
    customer_id: int | None = None
    # (product_id, edition_id or None, customer_id or None) -> (rule, its id)
    rules: dict[tuple[int, int | None, int | None], tuple[pricing.PriceRule, int]] = field(default_factory=dict)

    def resolve(self, product_id: int, edition_id: int | None, rrp_unit_minor: int | None = None) -> Resolved:
        """The most specific rule for this product and edition: the customer's special price for the edition, then
        for the product, then the storefront's rule on the edition, on the product, then its default markup, then
        the edition's recommended retail price (`rrp_unit_minor`, None: none), then its list price."""
        unruled = RuleSource.RRP if rrp_unit_minor is not None else RuleSource.LIST
        if not self.own_prices:
            return Resolved(None, unruled)
        customer, levels = self.customer_id, []
        if customer is not None:
            if edition_id is not None:
                levels.append((RuleSource.CUSTOMER_EDITION, (product_id, edition_id, customer)))
            levels.append((RuleSource.CUSTOMER_PRODUCT, (product_id, None, customer)))
        if edition_id is not None:
            levels.append((RuleSource.EDITION, (product_id, edition_id, None)))
        levels.append((RuleSource.PRODUCT, (product_id, None, None)))
        sources = [source for source, _ in levels]
        found = [self.rules.get(key) for _, key in levels]
        rule = pricing.most_specific(*(f[0] if f else None for f in found))
        if rule is None:
            return Resolved(None, RuleSource.DEFAULT if self.default_markup_bp is not None else unruled)
        index = next(i for i, f in enumerate(found) if f is not None)
        return Resolved(rule, sources[index], found[index][1])

    @property
    def markup_bp(self) -> int | None:
        """The default markup in force (None on Free, or when the reseller set none)."""
        return self.default_markup_bp if self.own_prices else None

    def price(self, configuration: Configuration) -> int:
        """The storefront's price of a license configuration (edition, quantity, add-ons), through
        pricing.storefront_price. RuleError for a subscription product: storefronts sell licenses only."""
        product, edition = configuration.product, configuration.edition
        if product.kind is not ProductKind.LICENSE or edition is None:
            raise RuleError("Storefronts sell licenses only.", "product")
        return self.edition_price(product.id, edition.id, edition.base_price_minor, edition.unit_price_minor,
                                  configuration.quantity, sum(addon.price_minor for addon in configuration.addons),
                                  rrp_unit_minor=edition.rrp_unit_minor)

    def edition_price(self, product_id: int, edition_id: int, base_minor: int, unit_minor: int, quantity: int,
                      addons_minor: int = 0, *, rrp_unit_minor: int | None = None) -> int:
        """price() from a license edition's list prices, its recommended retail price per unit and the add-ons'
        list price, for a caller reading plain rows rather than Configuration's objects (the catalog page)."""
        resolved = self.resolve(product_id, edition_id, rrp_unit_minor)
        return pricing.storefront_price(pricing.edition_price(base_minor, unit_minor, quantity), addons_minor,
                                        quantity, resolved.rule, self.markup_bp, rrp_unit_minor)


@lru_cache(maxsize=2)
def _rules_statement(for_customer: bool) -> Select:
    """price_book's statement (the rules for everyone, and the customer's own with `for_customer`), built once:
    parameters storefront_id, ids (expanding) and customer_id."""
    customer = StorefrontPrice.customer_id.is_(None)
    if for_customer:
        customer = customer | (StorefrontPrice.customer_id == bindparam("customer_id"))
    return (select(StorefrontPrice.id, StorefrontPrice.product_id, StorefrontPrice.edition_id,
                   StorefrontPrice.customer_id, StorefrontPrice.markup_bp, StorefrontPrice.special_minor)
            .where(StorefrontPrice.storefront_id == bindparam("storefront_id"),
                   StorefrontPrice.product_id.in_(bindparam("ids", expanding=True)), customer))


def price_book(storefront: Storefront, customer_id: int | None, product_ids: Iterable[int], *,
               own_prices: bool | None = None) -> PriceBook:
    """The storefront's rules for these products, for this customer (a sub-chain of the reseller, or None for an
    anonymous visitor or a reseller's own view), read in ONE statement whatever their number (none on Free).
    `own_prices`: sells_own_prices(storefront) when the caller read it already (sells_own_prices_clause)."""
    own = sells_own_prices(storefront) if own_prices is None else own_prices
    ids = sorted(set(product_ids))
    if not own or not ids:
        return PriceBook(own, storefront.default_markup_bp, customer_id)
    values = {"storefront_id": storefront.id, "ids": ids}
    if customer_id is not None:
        values["customer_id"] = customer_id
    rows = db.session.execute(_rules_statement(customer_id is not None), values)
    rules = {(row.product_id, row.edition_id, row.customer_id):
             (pricing.PriceRule(markup_bp=row.markup_bp, special_unit_minor=row.special_minor), row.id)
             for row in rows}
    return PriceBook(own, storefront.default_markup_bp, customer_id, rules)


# ---------------------------------------------------------------- setting the rules


def _sold_license(product: Product | None, edition: Edition | None) -> Product:
    if product is None or not product.active or product.kind is not ProductKind.LICENSE:
        raise RuleError("Choose a license product the vendor sells.", "product")
    if edition is not None and (edition.product_id != product.id or not edition.active):
        raise RuleError("Choose one of the product's editions on offer.", "edition")
    return product


def _describe(product: Product, edition: Edition | None) -> str:
    return f"{product.name} {edition.name}" if edition is not None else product.name


def _upsert(storefront: Storefront, product: Product, edition: Edition | None, customer_id: int | None,
            markup_bp: int | None, special_minor: int | None) -> tuple[StorefrontPrice, dict]:
    """The one rule for (product, edition, customer), created or changed; the before values for the audit."""
    where = (StorefrontPrice.storefront_id == storefront.id, StorefrontPrice.product_id == product.id,
             StorefrontPrice.edition_id.is_(None) if edition is None else StorefrontPrice.edition_id == edition.id,
             StorefrontPrice.customer_id.is_(None) if customer_id is None
             else StorefrontPrice.customer_id == customer_id)
    rule = db.session.scalars(select(StorefrontPrice).where(*where).with_for_update()).first()
    if rule is None:
        rule = StorefrontPrice(storefront_id=storefront.id, product_id=product.id,
                               edition_id=edition.id if edition else None, customer_id=customer_id,
                               markup_bp=markup_bp, special_minor=special_minor)
        try:
            with db.session.begin_nested():  # a concurrent request made the same rule: change that one instead
                db.session.add(rule)
            return rule, {}
        except IntegrityError:
            rule = db.session.scalars(select(StorefrontPrice).where(*where).with_for_update()).one()
    before = {"before_markup_bp": rule.markup_bp, "before_special_minor": rule.special_minor}
    rule.markup_bp, rule.special_minor = markup_bp, special_minor
    db.session.flush()
    return rule, before


def set_default_markup(storefront: Storefront, markup_bp: int | None, actor: Actor) -> None:
    """Set (or, with None, clear) the markup over the vendor's list price of every product without a rule."""
    _require_standard(storefront, "markup")
    if markup_bp is not None:
        check_markup(markup_bp, "markup")
    before = storefront.default_markup_bp
    storefront.default_markup_bp = markup_bp
    record(actor, "storefront.default_markup_set", storefront, storefront.organization_id,
           before_bp=before, after_bp=markup_bp)


def set_rule(storefront: Storefront, product: Product | None, edition: Edition | None, actor: Actor, *,
             markup_bp: int | None = None, special_minor: int | None = None) -> StorefrontPrice:
    """Price a product (or one of its editions) for everyone: a markup over its list price or a special price per
    unit, replacing the rule it had."""
    _require_standard(storefront, "markup" if special_minor is None else "special")
    if (markup_bp is None) == (special_minor is None):
        raise RuleError("Enter either a markup or a special price.", "markup")
    if markup_bp is not None:
        check_markup(markup_bp, "markup")
    else:
        check_special(special_minor, "special")
    product = _sold_license(product, edition)
    rule, before = _upsert(storefront, product, edition, None, markup_bp, special_minor)
    record(actor, "storefront.price_set", rule, storefront.organization_id, product=_describe(product, edition),
           markup_bp=markup_bp, special_minor=special_minor, **before)
    return rule


def customer_of(storefront: Storefront, customer_id: int | None) -> Organization | None:
    """The reseller's sub-chain with this id; None for anyone else's organization (never another tenant's)."""
    if customer_id is None:
        return None
    return db.session.scalars(select(Organization).where(
        Organization.id == customer_id, Organization.parent_id == storefront.organization_id)).first()


def set_customer_price(storefront: Storefront, customer: Organization | None, product: Product | None,
                       edition: Edition | None, special_minor: int | None, actor: Actor) -> StorefrontPrice:
    """A special price per unit of a product (or one of its editions) for one of the reseller's customers."""
    _require_standard(storefront, "special")
    if customer is None or customer.parent_id != storefront.organization_id:
        raise RuleError("Choose one of your customers.", "customer")
    check_special(special_minor, "special")
    product = _sold_license(product, edition)
    rule, before = _upsert(storefront, product, edition, customer.id, None, special_minor)
    record(actor, "storefront.customer_price_set", rule, storefront.organization_id,
           product=_describe(product, edition), customer_id=customer.id, customer=customer.name,
           special_minor=special_minor, **before)
    return rule


def remove_rule(rule: StorefrontPrice, actor: Actor) -> None:
    """Remove a rule: its product (or the customer) is priced by the next most specific rule again."""
    storefront = db.session.get(Storefront, rule.storefront_id)
    record(actor, "storefront.price_removed", rule, storefront.organization_id, product_id=rule.product_id,
           edition_id=rule.edition_id, customer_id=rule.customer_id, markup_bp=rule.markup_bp,
           special_minor=rule.special_minor)
    db.session.delete(rule)
    db.session.flush()


# ---------------------------------------------------------------- what the reseller's prices page shows


@dataclass(frozen=True)
class PriceRow(pricing.Margined):
    """One license edition as the reseller sees it, at its smallest configuration: the vendor's list price, the
    reseller's cost after its partner discount, the vendor's recommended retail price (None: none), the
    storefront's price, the margin, how far the price is from the RRP, the rule in force, and the vendor's fee per
    customer account per month on the product (None: none; never the reseller's to change)."""

    product: Product
    edition: Edition
    quantity: int
    list_minor: int
    cost_minor: int
    price_minor: int
    resolved: Resolved
    rrp_minor: int | None = None
    fee_minor: int | None = None

    @property
    def versus_rrp_minor(self) -> int | None:
        """The price above (positive) or below (negative) the RRP; None without an RRP."""
        return None if self.rrp_minor is None else self.price_minor - self.rrp_minor

    @property
    def versus_rrp_bp(self) -> int | None:
        return None if self.rrp_minor is None else pricing.versus_bp(self.price_minor, self.rrp_minor)


@dataclass(frozen=True)
class CustomerRuleRow:
    """A customer's special price, with what it makes of the edition's (or the product's first edition's)
    smallest configuration."""

    rule_id: int
    customer: str
    row: PriceRow


def license_products() -> list[Product]:
    """The license products the vendor sells, with their editions and add-ons (what a storefront sells)."""
    return [p for p in active_products() if p.kind is ProductKind.LICENSE]


def _smallest(product: Product) -> int:
    return min(product.quantities) if product.quantities else 1


def _row(product: Product, edition: Edition, book: PriceBook, discount_bp: int,
         resolved: Resolved | None = None, fee_minor: int | None = None) -> PriceRow:
    quantity = _smallest(product)
    config = Configuration(product, edition, quantity, ())
    list_minor = config.list_minor
    rrp = edition.rrp_unit_minor
    resolved = resolved or book.resolve(product.id, edition.id, rrp)
    price = pricing.storefront_price(list_minor, 0, quantity, resolved.rule, book.markup_bp, rrp)
    return PriceRow(product, edition, quantity, list_minor, pricing.reseller_cost(list_minor, discount_bp), price,
                    resolved, pricing.recommended_retail(rrp, quantity) if rrp is not None else None, fee_minor)


def vendor_fees(reseller_id: int, products: list[Product]) -> dict[int, int | None]:
    """The vendor's fee per customer account per month on each of these products for this reseller
    (reseller_fees.counting.fees_for: staff's fee for the reseller where set, else the product's); None: no fee.
    One statement."""
    fees = fees_for(reseller_id, [p.id for p in products])
    return {p.id: fees.get(p.id) for p in products}


def price_rows(storefront: Storefront, products: list[Product]) -> list[PriceRow]:
    """Every edition on offer of `products`, priced by the storefront for everyone (no customer's prices), with
    the vendor's fee on each product for this reseller."""
    book = price_book(storefront, None, [p.id for p in products])
    discount = discount_bp(storefront.organization)
    fees = vendor_fees(storefront.organization_id, products)
    return [_row(product, edition, book, discount, fee_minor=fees[product.id])
            for product in products for edition in product.editions if edition.active]


def describe_rule(resolved: Resolved, unit_label: str, default_markup_bp: int | None, currency: str = "USD") -> str:
    """The rule in force in words, as the prices page and its CSV say it."""
    rule = resolved.rule
    if rule is None and resolved.source is RuleSource.DEFAULT:
        return f"Markup {format_markup_bp(default_markup_bp or 0)} % ({resolved.source.value})"
    if rule is None:
        return resolved.source.value[0].upper() + resolved.source.value[1:]
    if rule.markup_bp is not None:
        return f"Markup {format_markup_bp(rule.markup_bp)} % ({resolved.source.value})"
    unit = unit_label.removesuffix("s")
    price = format_money(Money(rule.special_unit_minor, currency))
    return f"Special price {price} per {unit} ({resolved.source.value})"


PRICE_LIST_HEADER = ("Product", "Edition", "Unit", "Smallest quantity", "List price", "Your cost", "RRP",
                     "Your price", "Margin", "Margin %", "vs RRP", "vs RRP %", "Vendor fee per account per month",
                     "Rule in force")


def price_list(storefront_id: int) -> Iterator[tuple]:
    """The prices page's rows as the downloadable price list (PRICE_LIST_HEADER): amounts as plain decimals of the
    product's currency, percentages as numbers, blank where there is none (no RRP, no fee). Read when the first
    row is asked for, in the streaming response's own session (hence the storefront's id, not the view's
    object)."""

    def percent(bp: int | None) -> str:
        return format_markup_bp(bp) if bp is not None else ""

    storefront = db.session.scalars(select(Storefront).where(Storefront.id == storefront_id)
                                    .options(joinedload(Storefront.organization))).one()
    for row in price_rows(storefront, license_products()):
        currency = row.product.currency

        def money(minor: int | None, currency: str = currency) -> str:
            return csv_amount(minor, currency) if minor is not None else ""

        yield (row.product.name, row.edition.name, row.product.unit_label, row.quantity, money(row.list_minor),
               money(row.cost_minor), money(row.rrp_minor), money(row.price_minor), money(row.margin_minor),
               percent(row.margin_bp), money(row.versus_rrp_minor), percent(row.versus_rrp_bp),
               money(row.fee_minor or None),
               describe_rule(row.resolved, row.product.unit_label, storefront.default_markup_bp, currency))


def customer_rule_rows(storefront: Storefront, products: list[Product]) -> list[CustomerRuleRow]:
    """The storefront's special prices for single customers, by customer, read in one statement."""
    by_id = {p.id: p for p in products}
    rows = db.session.execute(
        select(StorefrontPrice.id, StorefrontPrice.product_id, StorefrontPrice.edition_id,
               StorefrontPrice.special_minor, Organization.name)
        .join(Organization, Organization.id == StorefrontPrice.customer_id)
        .where(StorefrontPrice.storefront_id == storefront.id, StorefrontPrice.customer_id.is_not(None))
        .order_by(Organization.name, Organization.id, StorefrontPrice.product_id, StorefrontPrice.edition_id))
    own = sells_own_prices(storefront)
    book = PriceBook(own, storefront.default_markup_bp)
    discount = discount_bp(storefront.organization)
    found = []
    for rule_id, product_id, edition_id, special, customer in rows:
        product = by_id.get(product_id)
        editions = [e for e in product.editions if e.active] if product is not None else []
        edition = next((e for e in editions if e.id == edition_id), None) if edition_id else next(iter(editions),
                                                                                                    None)
        if edition is None:  # a product or edition no longer on offer: nothing to sell, nothing to show
            continue
        rule = pricing.PriceRule(special_unit_minor=special)
        source = RuleSource.CUSTOMER_EDITION if edition_id else RuleSource.CUSTOMER_PRODUCT
        resolved = Resolved(rule, source, rule_id) if own else book.resolve(product.id, edition.id,
                                                                            edition.rrp_unit_minor)
        found.append(CustomerRuleRow(rule_id, customer, _row(product, edition, book, discount, resolved)))
    return found


def customers(storefront: Storefront) -> list[Organization]:
    """The reseller's customers (its sub-chains), by name: whom a special price may be for."""
    return list(db.session.scalars(select(Organization).where(
        Organization.parent_id == storefront.organization_id).order_by(Organization.name, Organization.id)))
