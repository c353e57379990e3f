"""The renewals list (issue 17 item 3): every M&S expiry and plan renewal of a main chain in a chosen window, at the
reseller's cost, with totals, a page at a time.

Rules, stated once:
- What is listed: the licenses the organization bought (assigned or not), whose M&S ends within the window or
  ended in the last `LAPSED_DAYS` days ("Lapsed": only a reinstatement brings it back), and its plans with a
  quantity whose next payment falls within the window. A customer filter keeps the licenses of customers whose
  name contains the text (or whose account id it is); a plan's customer is the organization itself.
- What it costs: a license's M&S is priced as Modify a License prices it today (`modify.maintenance_offer`: a
  renewal, or a reinstatement once lapsed), a plan as the renewal run will bill it (`autorenew.plan_renewals`);
  both less the partner discount (`pricing.reseller_cost`, as checkout discounts a line), before tax.
- The list is ordered by date (lapsed first), licenses before plans on one day, then by id, and paged by keyset
  (`after` is the last row's cursor); the totals cover the whole window, not the page. A page and its totals take
  the same statements however many licenses and plans there are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice

from sqlalchemy import BigInteger, Integer, Select, and_, case, cast, false, func, literal, or_, select
from sqlalchemy.orm import aliased

from portal import pricing
from portal.accounts.models import Organization, User
from portal.authz import Permission, scoped_to
from portal.catalog.models import AddOn, Product, PurchaseKind
from portal.catalog.services import Configuration, discount_bp, products_by_id
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.models import License, license_addon
from portal.recurring.autorenew import GRACE_DAYS, plan_renewals
from portal.routing import MAX_ID
from portal.subscriptions.models import Subscription

WINDOWS = (30, 60, 90)  # days ahead a reseller may look
DEFAULT_WINDOW = 90
LAPSED_DAYS = 30  # M&S that ended this many days ago or less is still listed, marked "Lapsed"
PER_PAGE = 50
MAINTENANCE, PLAN = 0, 1  # a row's kind, in the order rows of one day are listed


@dataclass(frozen=True)
class RenewalFilters:
    """What the reseller asked to see: a window of days ahead, part of a customer's name (or its id), a product."""

    window_days: int = DEFAULT_WINDOW
    customer: str = ""
    product_id: int | None = None

    def last_day(self, today: date) -> date:
        return today + timedelta(days=self.window_days)


@dataclass(frozen=True)
class RenewalRow:
    """One line of the list: a license's M&S, or a plan's next payment, priced at the reseller's cost."""

    kind: int  # MAINTENANCE or PLAN
    item_id: int
    due_on: date  # the M&S expiry, or the plan's next payment date
    product: Product
    customer: Organization | None  # the license's customer (None: not assigned yet); the organization for a plan
    description: str
    currency: str
    list_minor: int  # 0 for a plan that ends
    cost_minor: int  # the list price less the partner discount, before tax
    license: License | None = None
    subscription: Subscription | None = None
    purchase: PurchaseKind | None = None  # RENEWAL or REINSTATEMENT, for a license
    until: date | None = None  # the M&S expiry once renewed (or reinstated today)
    lapsed: bool = False
    automatic: bool = False  # renews by itself (auto-renew, or any plan that does not end)
    ends: bool = False  # a plan that ends at its next payment date: nothing is billed

    @property
    def cursor(self) -> str:
        return f"{self.due_on.isoformat()}.{self.kind}.{self.item_id}"


@dataclass(frozen=True)
class Totals:
    """The window's count and cost per currency (whatever the page)."""

    count: int = 0
    by_currency: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RenewalPage:
    rows: list[RenewalRow]
    totals: Totals
    next_cursor: str | None  # None on the last page
    first: bool  # this is the first page


def parse_cursor(text: str | None) -> tuple[date, int, int] | None:
    """A row's cursor as the page's `after` link gave it; None (the first page) for anything else."""
    parts = (text or "").split(".")
    if len(parts) != 3:
        return None
    try:
        day, kind, item_id = date.fromisoformat(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    return (day, kind, item_id) if kind in (MAINTENANCE, PLAN) and 0 < item_id <= MAX_ID else None


# ---------------------------------------------------------------- the queries


def _licenses(user: User, org: Organization, filters: RenewalFilters, today: date) -> Select:
    """SELECT of the ids and expiry of `org`'s licenses (as `user` may renew them) listed for `filters`."""
    # modify.modifiable_licenses' scope, checked in memory for this one organization (authz.scoped_to)
    stmt = (scoped_to(org, select(License.id, License.ms_expires_on), License.owner_id, user, Permission.BUY)
            .where(License.owner_id == org.id, License.ms_expires_on >= today - timedelta(days=LAPSED_DAYS),
                   License.ms_expires_on <= filters.last_day(today)))
    if filters.product_id is not None:
        stmt = stmt.where(License.product_id == filters.product_id)
    if filters.customer:
        matches = Organization.name.icontains(filters.customer, autoescape=True)
        if _account_id(filters.customer) is not None:
            matches = or_(matches, Organization.id == _account_id(filters.customer))
        stmt = stmt.join(Organization, Organization.id == License.customer_id).where(matches)
    return stmt


def _account_id(text: str) -> int | None:
    """The customer filter read as an account id (ASCII digits an id column holds), else None."""
    return int(text) if text.isascii() and text.isdigit() and int(text) <= MAX_ID else None


def _customer_matches(org: Organization, text: str) -> bool:
    """The customer filter applied to the organization itself (a plan's customer)."""
    return not text or text.casefold() in org.name.casefold() or _account_id(text) == org.id


def _plans(user: User, org: Organization, filters: RenewalFilters, today: date) -> Select:
    """SELECT of the ids and next payment date of `org`'s plans listed for `filters`."""
    stmt = (scoped_to(org, select(Subscription.id, Subscription.next_payment_on), Subscription.organization_id, user,
                      Permission.BUY)
            .where(Subscription.organization_id == org.id, Subscription.quantity > 0,
                   Subscription.next_payment_on >= today, Subscription.next_payment_on <= filters.last_day(today)))
    if filters.product_id is not None:
        stmt = stmt.where(Subscription.product_id == filters.product_id)
    if not _customer_matches(org, filters.customer):
        stmt = stmt.where(false())
    return stmt


def _keys(licenses: Select, plans: Select, after: tuple[date, int, int] | None = None) -> Select:
    """The (date, kind, id) of the window's rows in list order, after the cursor if one is given."""
    both = (licenses.add_columns(literal(MAINTENANCE).label("kind"))
            .union_all(plans.add_columns(literal(PLAN).label("kind")))).subquery()
    day, kind, item_id = both.c[1], both.c.kind, both.c[0]
    stmt = select(day, kind, item_id)
    if after is not None:
        a_day, a_kind, a_id = after
        stmt = stmt.where(or_(day > a_day, and_(day == a_day, or_(kind > a_kind, and_(kind == a_kind,
                                                                                   item_id > a_id)))))
    return stmt.order_by(day, kind, item_id)


def _page_keys(licenses: Select, plans: Select, after: tuple[date, int, int] | None,
               per_page: int) -> list[tuple[date, int, int]]:
    """One statement: the (date, kind, id) of the page's rows and one more, in list order, after the cursor."""
    return [tuple(row) for row in db.session.execute(_keys(licenses, plans, after).limit(per_page + 1))]


# ---------------------------------------------------------------- pricing


def _maintenance_rows(licenses: list[License], products: dict[int, Product], discount: int,
                      today: date) -> dict[int, RenewalRow]:
    rows = {}
    for lic in licenses:
        product = products[lic.product_id]
        offer = modify.maintenance_offer(lic, product, today)
        rows[lic.id] = RenewalRow(
            MAINTENANCE, lic.id, lic.ms_expires_on, product, lic.customer, offer.description, product.currency,
            offer.list_minor, pricing.reseller_cost(offer.list_minor, discount), license=lic,
            purchase=offer.purchase, until=offer.ms_expires_on, lapsed=offer.purchase is PurchaseKind.REINSTATEMENT,
            automatic=lic.auto_renew and lic.ms_expires_on + timedelta(days=GRACE_DAYS) >= today)
    return rows


def _plan_rows(plans: list[Subscription], org: Organization) -> dict[int, RenewalRow]:
    rows = {}
    for sub_id, plan in plan_renewals(plans, org).items():
        sub = plan.subscription
        what = f"{plan.quantity} {plan.product.unit_label} of {plan.product.name}"
        if plan.product.interval is not None:
            what += f" ({plan.product.interval.value})"
        description = (f"Plan ends: the last paid day is {plan.last_paid_day.isoformat()}" if plan.ends
                       else f"Next payment: {what}")
        list_minor = 0 if plan.price is None else plan.price.list_minor
        cost = 0 if plan.price is None else plan.price.net_minor
        rows[sub_id] = RenewalRow(PLAN, sub_id, sub.next_payment_on, plan.product, org, description,
                                  plan.product.currency, list_minor, cost, subscription=sub, automatic=not plan.ends,
                                  ends=plan.ends)
    return rows


def _addon_mask():
    """A license's add-ons as one number, exactly: the sum of 2**rank, where an add-on's rank is its place among its
    product's add-ons by id (a correlated subquery per license: its add-on rows and their product's add-ons)."""
    other = aliased(AddOn)
    rank = (select(func.count(other.id)).where(other.product_id == License.product_id,
                                               other.id < license_addon.c.addon_id)
            .correlate(License, license_addon).scalar_subquery())
    bit = literal(1, BigInteger).op("<<")(cast(rank, Integer))
    return (select(func.coalesce(func.sum(bit), 0)).where(license_addon.c.license_id == License.id)
            .correlate(License).scalar_subquery())


def _window_configurations(licenses: Select, today: date) -> list:
    """How many licenses of the window share each priced configuration (product, edition, quantity, add-ons,
    lapsed), grouped by the database: one statement, and Python prices each configuration once, however many
    licenses the window holds."""
    lapsed = case((License.ms_expires_on < today, 1), else_=0)
    mask = _addon_mask()
    return db.session.execute(
        licenses.with_only_columns(License.product_id, License.edition_id, License.quantity, mask.label("addons"),
                                   lapsed.label("lapsed"), func.count(License.id))
        .group_by(License.product_id, License.edition_id, License.quantity, mask, lapsed)).all()


def _addons_of(product: Product, mask: int) -> frozenset[int]:
    """The add-on ids a mask of _addon_mask() names, for this product."""
    ranked = sorted(addon.id for addon in product.addons)
    return frozenset(addon_id for rank, addon_id in enumerate(ranked) if mask >> rank & 1)


def _license_totals(configurations: list, products: dict[int, Product], discount: int) -> tuple[int, Counter]:
    """How many licenses the window holds, and their cost per currency, each configuration priced once."""
    by_currency: Counter = Counter()
    for product_id, edition_id, quantity, mask, lapsed, count in configurations:
        product = products[product_id]
        list_minor = _maintenance_list_minor(product, edition_id, quantity, _addons_of(product, int(mask)),
                                             bool(lapsed))
        by_currency[product.currency] += count * pricing.reseller_cost(list_minor, discount)
    return sum(row[-1] for row in configurations), by_currency


def _maintenance_list_minor(product: Product, edition_id: int, quantity: int, addon_ids: frozenset[int],
                            lapsed: bool) -> int:
    """A license's M&S list price from its columns, as `modify.quote_maintenance` prices the license itself."""
    edition = next(e for e in product.editions if e.id == edition_id)
    addons: tuple[AddOn, ...] = tuple(a for a in product.addons if a.id in addon_ids)
    current = Configuration(product, edition, quantity, addons)
    if lapsed:
        return pricing.maintenance_reinstatement(current.list_minor, product.ms_rate_bp,
                                                 product.reinstatement_fee_minor)
    return pricing.maintenance_renewal(current.list_minor, product.ms_rate_bp)


@dataclass
class _Priced:
    """What pricing any page of one window needs, loaded once: the products, the discount and the plans."""

    products: dict[int, Product]
    discount: int
    plans: dict[int, RenewalRow]


def _window_plans(plans: Select, org: Organization) -> dict[int, RenewalRow]:
    """Every plan of the window priced (a chain has a plan per product at most: a short list)."""
    found = list(db.session.scalars(select(Subscription).where(Subscription.id.in_(
        plans.with_only_columns(Subscription.id).scalar_subquery())).order_by(Subscription.id)))
    return _plan_rows(found, org) if found else {}


def _rows(keys: list[tuple[date, int, int]], priced: _Priced, org: Organization, today: date) -> list[RenewalRow]:
    """The rows named by `keys`, in their order: the licenses loaded (with customer and add-ons: 2 statements)."""
    license_ids = [item_id for _, kind, item_id in keys if kind == MAINTENANCE]
    licenses = list(db.session.scalars(select(License).where(License.id.in_(license_ids))
                                       .options(*modify.license_options()))) if license_ids else []
    maintenance = _maintenance_rows(licenses, priced.products, priced.discount, today)
    return [maintenance[item_id] if kind == MAINTENANCE else priced.plans[item_id] for _, kind, item_id in keys]


def renewals_page(user: User, org: Organization, filters: RenewalFilters, today: date,
                  after: tuple[date, int, int] | None = None, per_page: int = PER_PAGE) -> RenewalPage:
    """A page of `org`'s M&S expiries and plan renewals in the window `filters` choose, at its cost, with the
    totals of the whole window: the same statements however many there are."""
    licenses, plans = _licenses(user, org, filters, today), _plans(user, org, filters, today)
    keys = _page_keys(licenses, plans, after, per_page)
    configurations = _window_configurations(licenses, today)
    priced = _Priced(products_by_id({row[0] for row in configurations}), discount_bp(org),
                     _window_plans(plans, org))
    license_count, by_currency = _license_totals(configurations, priced.products, priced.discount)
    for row in priced.plans.values():
        by_currency[row.currency] += row.cost_minor
    rows = _rows(keys[:per_page], priced, org, today)
    return RenewalPage(rows, Totals(license_count + len(priced.plans), dict(sorted(by_currency.items()))),
                       rows[-1].cursor if len(keys) > per_page else None, after is None)


def all_renewals(user: User, org: Organization, filters: RenewalFilters, today: date,
                 batch: int = 500) -> Iterator[RenewalRow]:
    """Every row of the window in list order (for the CSV download): a few statements per `batch` rows."""
    licenses, plans = _licenses(user, org, filters, today), _plans(user, org, filters, today)
    product_ids = set(db.session.scalars(licenses.with_only_columns(License.product_id).distinct()))
    priced = _Priced(products_by_id(product_ids), discount_bp(org), _window_plans(plans, org))
    # the window's keys in one streamed statement (paging them with a cursor sorted the whole window again for
    # every batch: quadratic), each batch of them loaded and priced as it comes
    keys = iter(db.session.execute(_keys(licenses, plans).execution_options(yield_per=1000)).tuples())
    while batch_keys := list(islice(keys, batch)):
        yield from _rows(batch_keys, priced, org, today)
