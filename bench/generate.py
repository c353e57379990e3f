"""A large, deterministic dataset for the benchmark, written with SQLAlchemy Core bulk inserts.

`generate()` fills a migrated, empty database with the demo catalog, resellers (main chains), their customers
(sub-chains), users, memberships, contacts, installation partners, audit entries, and for every reseller a few
orders with their order lines, licenses (some assigned to its customers), subscriptions and order invoices; then
the probe reseller's large license book (insert_probe_licenses: 10,000 licenses and 1,000 customers by default) and
its fleet (insert_probe_devices: 2,000 locations, 10,000 devices, a device and a location plan), then its
storefront (insert_probe_storefront: Standard, 500 more license products, a default markup, rules and 1,000
special prices for one customer). It
must run inside an application context (it uses `db.engine` and the app's ARGON2_PROFILE). The catalog goes
first, through the app's own `seed_catalog()` in a short transaction of its own (so the benchmark sells what
the portal's demo sells); everything else is written in one transaction.

Rows go in as multi-row INSERTs (`conn.execute(insert(table), rows)`), never through ORM objects, so tens of
thousands of rows take seconds. Ids come back with `INSERT … RETURNING` in parameter order
(`sort_by_parameter_order=True`), which SQLite ≥ 3.35 and PostgreSQL both support; the database assigns them,
so sequences stay correct and the app can insert afterwards.

How to extend it
----------------
Each kind of data has one function, `insert_<kind>(conn, spec, ids, rng)`, called by `generate()` in
dependency order. To add a kind:

1. add its size to `Spec` (and the matching keyword to `generate()` and, if useful, a CLI flag in
   `bench/__main__.py`);
2. write `insert_<kind>()`: build plain dicts for its table, insert them with `_insert()`, and record the ids
   later steps need on `Ids` (add a field there);
3. call it from `generate()` after the kinds it refers to, and count its rows in `Ids.rows`.

Keep every value derived from `spec` and `rng` (seeded), so the same arguments give the same data and
benchmark results stay comparable between runs. (License keys are the one exception: they come from the app's
`generate_key()`, which draws from `secrets`; only their values vary, never how many there are.)

Orders, licenses and invoices follow the app's rules, so later issues can build on them: prices come from
`portal.pricing` with the reseller's tier discount, every order has one order invoice whose number continues
the gapless `invoice_series` counter (which is left at the last number used, so the app's next invoice follows
on), license keys are unique, and generated order numbers (`ORD-G0000001`) can never equal one the app draws
(`ORD-` and eight hexadecimal digits). The probe's order history (`probe_order_invoices` over
`probe_history_months`) is summarized month by month into summary invoices numbered on their own gapless series;
every paid invoice has its payment and a receipt numbered on the receipt series in the order received.

Change GENERATOR_VERSION with any change to what this module writes: bench.books rebuilds the stored books whose
fingerprint (which includes it) no longer matches.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import NamedTuple

from sqlalchemy import Connection, Table, func, insert, select, text, update

from portal import pricing
from portal.accounts.models import BillingMode, Contact, Membership, Organization, PartnerTier, Role, User
from portal.accounts.passwords import hash_password
from portal.audit.models import AuditEntry
from portal.billing.models import (
    SUMMARIZED_NOTE,
    Invoice,
    InvoicePayment,
    InvoiceSeries,
    InvoiceStatus,
    PaymentMethodKind,
    SeriesCounter,
)
from portal.billing.services import OTHER_METHODS_NOTE, PAYMENT_TERMS_DAYS, SUMMARY_NOTE
from portal.catalog.demo import seed_catalog
from portal.catalog.models import (
    AddOn,
    BillingInterval,
    Edition,
    Product,
    ProductKind,
    SubscriptionBasis,
    TierDiscount,
)
from portal.db_types import utcnow
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.licenses.keys import generate_key
from portal.licenses.models import Activation, License, license_addon
from portal.licenses.services import one_year_after
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import OTHER_METHODS
from portal.receipts.methods import OTHER_METHODS_THRESHOLD_MINOR
from portal.receipts.models import Receipt
from portal.reseller_plans.plans import STANDARD
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import add_months
from portal.subscriptions.usage import location_subscriptions_needed

GENERATOR_VERSION = 2  # part of the stored books' fingerprint (bench.books): bump it when the data changes
BENCH_PASSWORD = "bench-password-2026"  # every generated login shares it (one precomputed hash)
STAFF_EMAIL = "bench-staff@vendor.example.com"
BATCH = 5_000  # rows per executemany call; keeps memory flat for very large runs


@dataclass(frozen=True)
class Spec:
    """How much of each kind of data to generate."""

    resellers: int = 200
    customers_per_reseller: int = 25
    users_per_org: int = 2
    audit_entries_per_org: int = 10
    contacts_per_org: int = 1
    installers_per_reseller: int = 2
    orders_per_reseller: int = 3
    lines_per_order: int = 3  # each order has 1 to this many lines
    copies_per_line: int = 3  # each license line buys 1 to this many licenses
    seed: int = 2026
    probe_licenses: int = 10_000  # the probe reseller's licenses, all told (insert_probe_licenses)
    probe_customers: int = 1_000  # and its customers (sub-chains)
    probe_locations: int = 2_000  # the probe's locations and devices (insert_probe_devices)
    probe_devices: int = 10_000
    storefront_products: int = 500  # license products the probe's storefront sells (insert_probe_storefront)
    storefront_special_prices: int = 1_000  # special prices for the storefront's probe customer
    storefront_rules: int = 150  # the storefront's rules for everyone (markups and special prices)
    probe_history_months: int = 0  # months of the probe's order history (insert_orders, insert_invoices)
    probe_order_invoices: int = 0  # its orders (one order invoice each) over those months, spread evenly

    def __post_init__(self) -> None:
        if self.resellers < 1 or self.users_per_org < 1:
            raise ValueError("need at least one reseller and one user per organization (the probe's manager)")
        for name in ("customers_per_reseller", "audit_entries_per_org", "contacts_per_org",
                     "installers_per_reseller", "orders_per_reseller", "probe_locations", "probe_devices",
                     "storefront_products", "storefront_special_prices", "storefront_rules",
                     "probe_history_months", "probe_order_invoices"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.lines_per_order < 1 or self.copies_per_line < 1:
            raise ValueError("lines_per_order and copies_per_line must be at least 1")
        if self.probe_order_invoices and not self.probe_history_months:
            raise ValueError("probe_order_invoices needs probe_history_months")

    @property
    def probe_index(self) -> int:
        """The probe reseller: one from the middle (neither the first nor the last ids)."""
        return self.resellers // 2


class CatalogEdition(NamedTuple):
    id: int
    name: str
    base_price_minor: int
    unit_price_minor: int


class CatalogAddOn(NamedTuple):
    id: int
    name: str
    price_minor: int


class CatalogProduct(NamedTuple):
    """What the order steps need to know of a product on sale."""

    id: int
    slug: str
    name: str
    kind: ProductKind
    unit_label: str
    quantities: list[int]
    interval: BillingInterval | None
    unit_price_minor: int | None
    editions: tuple[CatalogEdition, ...]
    addons: tuple[CatalogAddOn, ...]
    basis: SubscriptionBasis | None = None


@dataclass(frozen=True)
class Catalog:
    products: tuple[CatalogProduct, ...]
    discounts: dict[PartnerTier, int]  # tier -> discount in basis points


@dataclass
class Ids:
    """What the steps have inserted so far: the ids later steps refer to, and row counts per table."""

    resellers: list[int] = field(default_factory=list)
    customers: dict[int, list[int]] = field(default_factory=dict)  # reseller id -> its sub-chain ids
    users: dict[int, list[int]] = field(default_factory=dict)  # organization id -> its users, manager first
    staff_user: int | None = None
    billing: dict[int, dict] = field(default_factory=dict)  # reseller id -> billing columns (tier, mode, address)
    catalog: Catalog | None = None
    orders: list[dict] = field(default_factory=list)  # the purchase_order rows, with their "id"
    order_lines: list[dict] = field(default_factory=list)  # the order_line rows, with "id" and the order's
    rows: dict[str, int] = field(default_factory=dict)  # table name -> rows inserted

    def all_orgs(self) -> Iterator[int]:
        for reseller in self.resellers:
            yield reseller
            yield from self.customers.get(reseller, [])

    def count(self, table: Table, n: int) -> None:
        self.rows[table.name] = self.rows.get(table.name, 0) + n


@dataclass(frozen=True)
class Dataset:
    """What the benchmark needs to know about the generated data."""

    probe_reseller_id: int
    probe_reseller_name: str
    probe_manager_email: str
    probe_sub_chains: int
    staff_email: str
    password: str
    rows: dict[str, int]
    seconds: float
    probe_book: ProbeBook | None = None  # the probe's licenses and customers (insert_probe_licenses)
    probe_fleet: ProbeFleet | None = None  # the probe's locations, devices and plans (insert_probe_devices)
    probe_storefront: ProbeStorefront | None = None  # the probe's storefront (insert_probe_storefront)


# ---------------------------------------------------------------- helpers


def _insert(conn: Connection, table: Table, rows: Iterable[dict], *, returning: bool = False) -> list[int]:
    """Insert `rows` in batches; with `returning`, the new ids in the order of `rows`."""
    ids: list[int] = []
    stmt = insert(table)
    if returning:
        stmt = stmt.returning(table.c.id, sort_by_parameter_order=True)
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        result = conn.execute(stmt, batch)
        if returning:
            ids.extend(result.scalars().all())
    return ids


def _reseller_slug(i: int) -> str:
    return f"reseller-{i:04d}"


def manager_email(i: int) -> str:
    """The email of the Chain & User Manager of reseller number `i` (0-based)."""
    return f"manager@{_reseller_slug(i)}.example.com"


def _org_row(name: str, parent_id: int | None, n: int, rng: random.Random, created: datetime) -> dict:
    main = parent_id is None
    return {
        "parent_id": parent_id,
        "name": name,
        "legal_name": f"{name} LLC",
        "address_line1": f"{n} Main Street",
        "address_line2": "",
        "city": rng.choice(("Seattle", "Portland", "Denver", "Austin", "Boston", "Chicago")),
        "region": "",
        "postal_code": f"{10000 + n % 89999:05d}",
        "country": "US",
        "invoice_email": f"billing{n}@example.com" if main else "",
        "phone": f"+1 555 {n % 10000:04d}",
        "currency": "USD",
        "billing_mode": rng.choice(list(BillingMode)) if main else BillingMode.PAY_ON_ORDER,
        "partner_tier": rng.choice(list(PartnerTier)) if main else PartnerTier.NONE,
        "grandfathered_payment_methods": False,
        "created_at": created,
    }


def _past(rng: random.Random, now: datetime, days: int = 365) -> datetime:
    return now - timedelta(seconds=rng.randrange(days * 86_400))


# ---------------------------------------------------------------- one function per kind of data


def insert_catalog(spec: Spec, ids: Ids, rng: random.Random) -> None:
    """The demo catalog through the app's own `seed_catalog()` (idempotent: a catalog already there stays), in
    a short ORM transaction of its own; then the products on sale and the tier discounts, read into ids.catalog.

    The one step without `conn`: it runs before the main transaction, which on SQLite would otherwise hold the
    write lock that the ORM session's commit waits for.
    """
    tables = (Product.__table__, Edition.__table__, AddOn.__table__, TierDiscount.__table__)

    def counts() -> list[int]:
        return [db.session.scalar(select(func.count()).select_from(t)) for t in tables]

    before = counts()
    seed_catalog()
    db.session.commit()
    for table, n in zip(tables, (a - b for a, b in zip(counts(), before, strict=True)), strict=True):
        ids.count(table, n)

    editions: dict[int, list[CatalogEdition]] = {}
    for row in db.session.execute(select(Edition.product_id, Edition.id, Edition.name, Edition.base_price_minor,
                                         Edition.unit_price_minor)
                                  .where(Edition.active.is_(True)).order_by(Edition.position, Edition.id)):
        editions.setdefault(row.product_id, []).append(CatalogEdition(*row[1:]))
    addons: dict[int, list[CatalogAddOn]] = {}
    for row in db.session.execute(select(AddOn.product_id, AddOn.id, AddOn.name, AddOn.price_minor)
                                  .where(AddOn.active.is_(True)).order_by(AddOn.position, AddOn.id)):
        addons.setdefault(row.product_id, []).append(CatalogAddOn(*row[1:]))
    products = tuple(
        CatalogProduct(p.id, p.slug, p.name, p.kind, p.unit_label, list(p.quantities or []), p.interval,
                       p.unit_price_minor, tuple(editions.get(p.id, ())), tuple(addons.get(p.id, ())), p.basis)
        for p in db.session.execute(select(Product).where(Product.active.is_(True))
                                    .order_by(Product.position, Product.id)).scalars()
        if p.kind is ProductKind.SUBSCRIPTION or editions.get(p.id)
    )
    discounts = {row.tier: row.discount_bp
                 for row in db.session.execute(select(TierDiscount.tier, TierDiscount.discount_bp))}
    db.session.remove()
    ids.catalog = Catalog(products, discounts)


def insert_organizations(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """Resellers (main chains, no parent) and, under each, `customers_per_reseller` sub-chains.

    The probe reseller is always invoiced monthly at the Gold tier, so the benchmark can check out with
    "Invoice me" and a discount line; the others draw their billing mode and tier at random.
    """
    table = Organization.__table__
    now = utcnow()
    reseller_rows = [_org_row(f"Reseller {i:04d}", None, i, rng, _past(rng, now, 3 * 365))
                     for i in range(spec.resellers)]
    reseller_rows[spec.probe_index].update(billing_mode=BillingMode.MONTHLY_INVOICE, partner_tier=PartnerTier.GOLD)
    ids.resellers = _insert(conn, table, reseller_rows, returning=True)
    billing_columns = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                       "invoice_email", "phone")
    ids.billing = {
        reseller: {"billing_mode": row["billing_mode"], "partner_tier": row["partner_tier"],
                   "currency": row["currency"], "address": {c: row[c] for c in billing_columns}}
        for reseller, row in zip(ids.resellers, reseller_rows, strict=True)
    }
    rows = [
        _org_row(f"Customer {i:04d}-{k:03d}", reseller, i * 1000 + k, rng, _past(rng, now))
        for i, reseller in enumerate(ids.resellers) for k in range(spec.customers_per_reseller)
    ]
    customer_ids = _insert(conn, table, rows, returning=True)
    per = spec.customers_per_reseller
    ids.customers = {r: customer_ids[i * per:(i + 1) * per] for i, r in enumerate(ids.resellers)}
    ids.count(table, len(ids.resellers) + len(customer_ids))


def insert_users(conn: Connection, spec: Spec, ids: Ids, rng: random.Random, password_hash: str) -> None:
    """`users_per_org` users for every organization, plus one vendor staff user; all share one password hash."""
    table = User.__table__
    now = utcnow()

    def row(email: str, name: str, is_staff: bool = False) -> dict:
        return {
            "email": email, "full_name": name, "phone": "", "password_hash": password_hash, "is_staff": is_staff,
            "active": True, "created_at": _past(rng, now),
            "last_login_at": None,
        }

    owners: list[int] = []
    rows: list[dict] = []
    for i, reseller in enumerate(ids.resellers):
        slug = _reseller_slug(i)
        for j in range(spec.users_per_org):
            email = manager_email(i) if j == 0 else f"member{j}@{slug}.example.com"
            rows.append(row(email, f"{'Manager' if j == 0 else 'Member'} {j} of Reseller {i:04d}"))
            owners.append(reseller)
        for k, customer in enumerate(ids.customers[reseller]):
            for j in range(spec.users_per_org):
                rows.append(row(f"viewer{j}@customer-{i:04d}-{k:03d}.example.com",
                                f"Viewer {j} of Customer {i:04d}-{k:03d}"))
                owners.append(customer)
    rows.append(row(STAFF_EMAIL, "Bench Staff", is_staff=True))
    user_ids = _insert(conn, table, rows, returning=True)
    ids.staff_user = user_ids.pop()
    ids.users = {}
    for owner, user_id in zip(owners, user_ids, strict=True):
        ids.users.setdefault(owner, []).append(user_id)
    ids.count(table, len(rows))


def insert_memberships(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """Each reseller: its first user is manager, the others members. Each customer: its users are viewers.

    Then installation partners: each reseller grants `installers_per_reseller` members of other resellers the
    installer role on its chain (never a manager, so the probe manager keeps a single working organization).
    """
    table = Membership.__table__
    now = utcnow()
    rows: list[dict] = []

    def row(user_id: int, org_id: int, role: Role) -> dict:
        return {"user_id": user_id, "organization_id": org_id, "role": role, "active": True,
                "created_at": _past(rng, now)}

    for reseller in ids.resellers:
        for j, user_id in enumerate(ids.users[reseller]):
            rows.append(row(user_id, reseller, Role.MANAGER if j == 0 else Role.MEMBER))
        for customer in ids.customers[reseller]:
            rows.extend(row(user_id, customer, Role.VIEWER) for user_id in ids.users[customer])

    others = len(ids.resellers) - 1
    for i, reseller in enumerate(ids.resellers):
        for step in range(1, min(spec.installers_per_reseller, others) + 1):
            members = ids.users[ids.resellers[(i + step) % len(ids.resellers)]][1:]
            if members:
                rows.append(row(members[-1], reseller, Role.INSTALLER))
    _insert(conn, table, rows)
    ids.count(table, len(rows))


def insert_contacts(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """`contacts_per_org` additional contacts (no login) for every organization."""
    table = Contact.__table__
    now = utcnow()
    rows = [
        {"organization_id": org, "full_name": f"Contact {c} of org {org}", "email": f"contact{c}.{org}@example.com",
         "phone": "+1 555 0199", "created_at": _past(rng, now)}
        for org in ids.all_orgs() for c in range(spec.contacts_per_org)
    ]
    _insert(conn, table, rows)
    ids.count(table, len(rows))


_RESELLER_ACTIONS = ("organization.updated", "membership.created", "membership.role_changed",
                     "organization.sub_chain_created", "contact.created", "partner.granted")
_CUSTOMER_ACTIONS = ("membership.created", "user.password_set", "contact.created", "organization.updated")


def insert_audit_entries(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """`audit_entries_per_org` entries in every organization, by one of its users, spread over the last year."""
    table = AuditEntry.__table__
    now = utcnow()

    def rows() -> Iterator[dict]:
        for reseller in ids.resellers:
            for org in (reseller, *ids.customers[reseller]):
                actions = _RESELLER_ACTIONS if org == reseller else _CUSTOMER_ACTIONS
                actors = ids.users[org] + ids.users[reseller][:1]  # its own users or the reseller's manager
                for _ in range(spec.audit_entries_per_org):
                    action = rng.choice(actions)
                    yield {
                        "at": _past(rng, now), "actor_id": rng.choice(actors), "organization_id": org,
                        "action": action, "object_type": action.split(".")[0].title(),
                        "object_id": str(rng.randrange(1, 100_000)),
                        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                        "details": {"email": f"someone{rng.randrange(1000)}@example.com"},
                    }

    n = len(ids.resellers) * (1 + spec.customers_per_reseller) * spec.audit_entries_per_org
    _insert(conn, table, rows())
    ids.count(table, n)


def _order_lines(spec: Spec, catalog: Catalog, discount: int, rng: random.Random) -> tuple[list[dict], pricing.Quote]:
    """1 to `lines_per_order` lines of random configurations, priced as checkout prices them."""
    lines = []
    for position in range(1, rng.randint(1, spec.lines_per_order) + 1):
        product = rng.choice(catalog.products)
        if product.kind is ProductKind.LICENSE:
            edition = rng.choice(product.editions)
            quantity = rng.choice(product.quantities or [1])
            addons = sorted(rng.sample(product.addons, rng.randint(0, len(product.addons))), key=lambda a: a.id)
            copies = rng.randint(1, spec.copies_per_line)
            unit_list = pricing.license_list_price(edition.base_price_minor, edition.unit_price_minor, quantity,
                                                   (a.price_minor for a in addons))
        else:
            edition, addons, copies = None, [], 1
            quantity = rng.choice((1, 2, 5, 10, 25, 50))
            unit_list = pricing.subscription_list_price(product.unit_price_minor, quantity)
        lines.append({
            "position": position, "kind": product.kind, "product_id": product.id,
            "edition_id": edition.id if edition else None, "product_name": product.name,
            "edition_name": edition.name if edition else None, "unit_label": product.unit_label,
            "interval": product.interval, "quantity": quantity, "copies": copies,
            "addons": [{"id": a.id, "name": a.name, "price_minor": a.price_minor} for a in addons],
            "unit_list_minor": unit_list, "list_minor": unit_list * copies,
        })
    quote = pricing.quote([pricing.LineInput(str(line["position"]), line["list_minor"]) for line in lines],
                          discount_bp=discount)
    for line, priced in zip(lines, quote.lines, strict=True):
        line.update(discount_minor=priced.discount_minor, tax_minor=priced.tax_minor, total_minor=priced.total_minor)
    return lines, quote


def _payment_kind(billing_mode: BillingMode, total_minor: int, rng: random.Random) -> PaymentKind:
    """Mostly "Invoice me" where the account is invoiced monthly, else card; wire, ACH or check sometimes from
    USD 1,000.00 (the rule checkout applies)."""
    if billing_mode is BillingMode.MONTHLY_INVOICE and rng.random() < 0.7:
        return PaymentKind.INVOICE
    if total_minor >= OTHER_METHODS_THRESHOLD_MINOR and rng.random() < 0.3:
        return rng.choice(OTHER_METHODS)
    return PaymentKind.CARD


def _month_start(day: date, months_back: int) -> datetime:
    """Midnight of the first day of the month `months_back` months before `day`'s."""
    first = add_months(day.replace(day=1), -months_back)
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def _probe_history(spec: Spec, ids: Ids, catalog: Catalog, now: datetime,
                   rng: random.Random) -> list[tuple[dict, list[dict]]]:
    """The probe reseller's order history: `probe_order_invoices` orders spread evenly over the last
    `probe_history_months` months (this one included, up to now), one line each, paid as the probe pays (mostly
    "Invoice me": it is invoiced monthly). Their lines deliver no licenses (insert_licenses and
    insert_subscriptions skip them): the book's licenses are insert_probe_licenses', so the book and the history
    grow apart, each in proportion to the book size."""
    if not spec.probe_order_invoices:
        return []
    probe = ids.resellers[spec.probe_index]
    terms = ids.billing[probe]
    discount = catalog.discounts.get(terms["partner_tier"], 0)
    one_line = replace(spec, lines_per_order=1, copies_per_line=1)
    orders = []
    for n in range(spec.probe_order_invoices):
        back = n * spec.probe_history_months // spec.probe_order_invoices  # 0 (this month) … months - 1
        start = _month_start(now.date(), back)
        end = min(_month_start(now.date(), back - 1), now)
        created = start + timedelta(seconds=rng.randrange(max(int((end - start).total_seconds()), 1)))
        lines, quote = _order_lines(one_line, catalog, discount, rng)
        orders.append(({**_order_row(probe, ids, quote, rng), "created_at": created}, lines))
    return orders


def _order_row(org_id: int, ids: Ids, quote: pricing.Quote, rng: random.Random) -> dict:
    """An order of `org_id` for `quote`, placed by one of its users and paid as its billing terms allow (its
    `created_at` is the caller's)."""
    terms = ids.billing[org_id]
    kind = _payment_kind(terms["billing_mode"], quote.total_minor, rng)
    card = kind is PaymentKind.CARD and quote.total_minor > 0
    return {
        "organization_id": org_id, "placed_by_id": rng.choice(ids.users[org_id]),
        "idempotency_key": f"{rng.getrandbits(256):064x}", "payment_kind": kind,
        "card_label": rng.choice(("Visa ending 4242", "Mastercard ending 4444")) if card else None,
        "gateway_charge_id": f"ch_bench_{rng.getrandbits(96):024x}" if card else None,
        "currency": terms["currency"], "discount_bp": quote.discount_bp,
        "subtotal_minor": quote.subtotal_minor, "discount_minor": quote.discount_minor,
        "tax_minor": quote.tax_minor, "total_minor": quote.total_minor, "billing": terms["address"],
    }


def insert_orders(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """`orders_per_reseller` orders for every reseller, placed by one of its users over the last year, each with
    1 to `lines_per_order` lines priced with the reseller's tier discount. Orders go in oldest first, so ids,
    numbers and (in insert_invoices) invoice numbers rise with time as they do in the app."""
    catalog = ids.catalog
    if catalog is None or not catalog.products:
        raise RuntimeError("insert_catalog must run before insert_orders")
    now = utcnow()
    pending: list[tuple[dict, list[dict]]] = []
    for reseller in ids.resellers:
        terms = ids.billing[reseller]
        discount = catalog.discounts.get(terms["partner_tier"], 0)
        for _ in range(spec.orders_per_reseller):
            lines, quote = _order_lines(spec, catalog, discount, rng)
            order = _order_row(reseller, ids, quote, rng)
            order["created_at"] = _past(rng, now)  # drawn after the order's own choices, as before
            pending.append((order, lines))
    history = _probe_history(spec, ids, catalog, now, rng)
    pending.extend(history)
    pending.sort(key=lambda pair: pair[0]["created_at"])
    for n, (order, _) in enumerate(pending, start=1):
        order["number"] = f"ORD-G{n:07d}"  # G is not a hexadecimal digit: never one of the app's numbers
    order_ids = _insert(conn, Order.__table__, (order for order, _ in pending), returning=True)
    line_rows = []
    for order_id, (order, lines) in zip(order_ids, pending, strict=True):
        order["id"] = order_id
        line_rows.extend({**line, "order_id": order_id} for line in lines)
    line_ids = _insert(conn, OrderLine.__table__, line_rows, returning=True)
    by_id = {order["id"]: order for order, _ in pending}
    history_ids = {id(order) for order, _ in history}
    for line_id, line in zip(line_ids, line_rows, strict=True):
        order = by_id[line["order_id"]]
        ids.order_lines.append({**line, "id": line_id, "owner_id": order["organization_id"],
                                "created_at": order["created_at"], "history": id(order) in history_ids})
    ids.orders = [order for order, _ in pending]
    ids.count(Order.__table__, len(order_ids))
    ids.count(OrderLine.__table__, len(line_ids))


def insert_licenses(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """One license per copy of every license line, owned by the buyer with a key from the app's generate_key(),
    a year of M&S from the order date, the line's add-ons; about half assigned to one of the buyer's customers."""
    now = utcnow()
    keys: set[str] = set()
    rows, addon_ids = [], []
    for line in ids.order_lines:
        if line["kind"] is not ProductKind.LICENSE or line["history"]:
            continue
        customers = ids.customers.get(line["owner_id"], [])
        for _ in range(line["copies"]):
            key = generate_key()
            while key in keys:  # 120 random bits: never expected, but a duplicate would abort the whole run
                key = generate_key()
            keys.add(key)
            customer = rng.choice(customers) if customers and rng.random() < 0.5 else None
            assigned = min(line["created_at"] + timedelta(days=rng.randrange(30)), now) if customer else None
            rows.append({
                "key": key, "owner_id": line["owner_id"], "customer_id": customer, "assigned_at": assigned,
                "product_id": line["product_id"], "edition_id": line["edition_id"], "quantity": line["quantity"],
                "order_line_id": line["id"], "ms_expires_on": one_year_after(line["created_at"].date()),
                "reactivation_required": False, "created_at": line["created_at"],
            })
            addon_ids.append([a["id"] for a in line["addons"]])
    license_ids = _insert(conn, License.__table__, rows, returning=True)
    links = [{"license_id": license_id, "addon_id": addon}
             for license_id, addons in zip(license_ids, addon_ids, strict=True) for addon in addons]
    _insert(conn, license_addon, links)
    ids.count(License.__table__, len(rows))
    ids.count(license_addon, len(links))


def insert_subscriptions(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """What the subscription lines bought: one plan per buyer and product (the app's unique pair) with the summed
    quantity, started with the first order and renewing on its interval."""
    today = utcnow().date()
    plans: dict[tuple[int, int], dict] = {}
    for line in ids.order_lines:
        if line["kind"] is not ProductKind.SUBSCRIPTION or line["history"]:
            continue
        plan = plans.setdefault((line["owner_id"], line["product_id"]), {
            "organization_id": line["owner_id"], "product_id": line["product_id"], "quantity": 0,
            "started_on": line["created_at"].date(), "interval": line["interval"] or BillingInterval.MONTHLY,
            "created_at": line["created_at"],
        })
        plan["quantity"] += line["quantity"]  # lines come oldest first, so the first one started the plan
    rows = []
    for plan in plans.values():
        months = plan.pop("interval").months
        renews: date = add_months(plan["started_on"], months)
        while renews <= today:
            renews = add_months(renews, months)
        rows.append({**plan, "next_payment_on": renews, "expires_on": None})
    _insert(conn, Subscription.__table__, rows)
    ids.count(Subscription.__table__, len(rows))


def _next_numbers(conn: Connection, series: InvoiceSeries, count: int) -> range:
    """The next `count` numbers of `series`' gapless counter, which is left at the last of them."""
    counter = SeriesCounter.__table__
    start = conn.scalar(select(counter.c.last_number).where(counter.c.series == series))
    if count:
        last = (start or 0) + count
        if start is None:
            conn.execute(insert(counter).values(series=series, last_number=last))
        else:
            conn.execute(update(counter).where(counter.c.series == series).values(last_number=last))
    return range((start or 0) + 1, (start or 0) + 1 + count)


UNPAID_SHARE = 0.1  # wire, ACH and check invoices never paid: overdue once past their terms


def insert_invoices(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """The order invoice of every order, numbered on from the `order` series counter in order date order, with
    the status the app gives it: paid by card, to be summarized when invoiced monthly, else due in 30 days (paid
    if that was long enough ago, except about a tenth: overdue). The probe's history (probe_order_invoices) is
    summarized as the monthly run does: one summary invoice per past month (numbered on the `summary` series,
    issued on the 1st, due net 30, paid except the last two: one due, one overdue), its order invoices
    `summarized` into it; this month's wait `to_be_summarized`. Every paid invoice has its payment and a receipt
    (numbered on the `receipt` series in the order received), as /payments lists them. Counters are left at the
    last number used, so the series stay gapless and the app's next invoice follows on."""
    table = Invoice.__table__
    now = utcnow()
    today = now.date()
    probe = ids.resellers[spec.probe_index]
    this_month = str(today)[:7]
    summaries: dict[str, list[dict]] = {}  # period -> the probe's order invoices it summarizes
    rows = []
    for sequence, order in zip(_next_numbers(conn, InvoiceSeries.ORDER, len(ids.orders)), ids.orders, strict=True):
        number = f"{InvoiceSeries.ORDER.prefix}-{sequence:06d}"
        issued = order["created_at"].date()
        kind = order["payment_kind"]
        due = paid_at = None
        if kind is PaymentKind.CARD:
            status, note, paid_at = InvoiceStatus.PAID, f"Paid by {order['card_label']}.", order["created_at"]
        elif kind is PaymentKind.INVOICE:
            status, note = InvoiceStatus.TO_BE_SUMMARIZED, SUMMARIZED_NOTE
        else:
            due = issued + timedelta(days=PAYMENT_TERMS_DAYS)
            note = OTHER_METHODS_NOTE.format(days=PAYMENT_TERMS_DAYS, number=number)
            paid = order["created_at"] + timedelta(days=rng.randrange(1, PAYMENT_TERMS_DAYS + 1))
            unpaid = paid >= now or rng.random() < UNPAID_SHARE
            status, paid_at = (InvoiceStatus.UNPAID, None) if unpaid else (InvoiceStatus.PAID, paid)
        row = {
            "series": InvoiceSeries.ORDER, "sequence": sequence, "number": number,
            "organization_id": order["organization_id"], "order_id": order["id"], "status": status,
            "currency": order["currency"], "subtotal_minor": order["subtotal_minor"],
            "discount_minor": order["discount_minor"], "tax_minor": order["tax_minor"],
            "total_minor": order["total_minor"], "issued_on": issued, "due_on": due, "paid_at": paid_at,
            "note": note, "created_at": order["created_at"], "summary_id": None,
            "_method": {PaymentKind.CARD: PaymentMethodKind.CARD}.get(kind) or (
                PaymentMethodKind(kind.value) if kind is not PaymentKind.INVOICE else None),
            "_reference": order["card_label"] or "",
            "_charge": order["gateway_charge_id"],
        }
        period = str(issued)[:7]
        if (spec.probe_order_invoices and order["organization_id"] == probe and kind is PaymentKind.INVOICE
                and period != this_month):
            summaries.setdefault(period, []).append(row)
        rows.append(row)

    periods = sorted(summaries)
    summary_rows = []
    address = ids.billing[probe]["address"]
    for age, (sequence, period) in enumerate(zip(_next_numbers(conn, InvoiceSeries.SUMMARY, len(periods)),
                                                 periods, strict=True), start=-len(periods)):
        parts = summaries[period]
        year, month = map(int, period.split("-"))
        issued = add_months(date(year, month, 1), 1)
        due = issued + timedelta(days=PAYMENT_TERMS_DAYS)
        paid = age < -2 and issued < today  # the last two months' summaries are still owed
        paid_at = (datetime(issued.year, issued.month, issued.day, 9, tzinfo=UTC)
                   + timedelta(days=rng.randrange(1, PAYMENT_TERMS_DAYS))) if paid else None
        summary_rows.append({
            "series": InvoiceSeries.SUMMARY, "sequence": sequence,
            "number": f"{InvoiceSeries.SUMMARY.prefix}-{sequence:06d}", "organization_id": probe,
            "period": period, "buyer": address, "status": InvoiceStatus.PAID if paid else InvoiceStatus.UNPAID,
            "currency": parts[0]["currency"],
            **{f"{k}_minor": sum(p[f"{k}_minor"] for p in parts) for k in ("subtotal", "discount", "tax", "total")},
            "issued_on": issued, "due_on": due, "paid_at": min(paid_at, now) if paid_at else None,
            "note": SUMMARY_NOTE.format(count=len(parts), s="" if len(parts) == 1 else "s", period=period,
                                        days=PAYMENT_TERMS_DAYS, due=due.isoformat()),
            "created_at": datetime(issued.year, issued.month, issued.day, 2, tzinfo=UTC),
            "_method": PaymentMethodKind.WIRE, "_reference": f"SUM {period}", "_charge": None,
        })
    summary_ids = _insert(conn, table, [_columns(r) for r in summary_rows], returning=True)
    for summary_id, period in zip(summary_ids, periods, strict=True):
        for part in summaries[period]:
            part.update(summary_id=summary_id, status=InvoiceStatus.SUMMARIZED)
    invoice_ids = _insert(conn, table, [_columns(r) for r in rows], returning=True)
    ids.count(table, len(rows) + len(summary_rows))

    # Payments and their receipts, in the order received.
    paid = sorted(((invoice_id, row) for invoice_id, row in (*zip(summary_ids, summary_rows, strict=True),
                                                             *zip(invoice_ids, rows, strict=True))
                   if row["status"] is InvoiceStatus.PAID and row["total_minor"] > 0),
                  key=lambda pair: (pair[1]["paid_at"], pair[0]))
    receipt_table, payment_table = Receipt.__table__, InvoicePayment.__table__
    receipts = []
    for sequence, (_, row) in zip(_next_numbers(conn, InvoiceSeries.RECEIPT, len(paid)), paid, strict=True):
        method = row["_method"]
        label = row["_reference"] if method is PaymentMethodKind.CARD else f"{method.label}, reference {row['number']}"
        payer = ids.billing[row["organization_id"]]["address"]
        receipts.append({
            "sequence": sequence, "number": f"{InvoiceSeries.RECEIPT.prefix}-{sequence:06d}",
            "organization_id": row["organization_id"], "method": method.value, "method_label": label[:120],
            "amount_minor": row["total_minor"], "currency": row["currency"], "gateway_charge_id": row["_charge"],
            "payer": payer, "payer_email": payer["invoice_email"], "received_at": row["paid_at"],
            "recorded_by_id": None if method is PaymentMethodKind.CARD else ids.staff_user,
        })
    receipt_ids = _insert(conn, receipt_table, receipts, returning=True)
    _insert(conn, payment_table, [
        {"invoice_id": invoice_id, "amount_minor": row["total_minor"], "method": row["_method"],
         "reference": row["_reference"] if row["_method"] is PaymentMethodKind.CARD else row["number"],
         "gateway_charge_id": row["_charge"], "recorded_by_id": receipt["recorded_by_id"],
         "received_at": row["paid_at"], "receipt_id": receipt_id}
        for (invoice_id, row), receipt, receipt_id in zip(paid, receipts, receipt_ids, strict=True)])
    ids.count(receipt_table, len(receipts))
    ids.count(payment_table, len(receipts))


def _columns(row: dict) -> dict:
    """An invoice row without the keys insert_invoices keeps for the payments (those starting with _)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


# ---------------------------------------------------------------- the probe reseller's large license book


@dataclass(frozen=True)
class ProbeBook:
    """What insert_probe_licenses made for the benchmark's /licenses pages: a resold license's key, a fragment
    of some customers' names (for the resold search), and the email of a viewer of one of those customers."""

    license_key: str
    customer_search: str
    customer_viewer_email: str
    licenses: int
    customers: int
    customer_id: int = 0  # the customer holding that license (its page /customers/<id>)


def insert_probe_licenses(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> ProbeBook:
    """Grow the probe reseller to `probe_customers` customers and `probe_licenses` licenses (the issue's
    /licenses benchmark: 10,000 licenses and 1,000 customers by default).

    The missing customers are sub-chains like the others ("Customer 0100-025" …), each with `users_per_org`
    viewers; the missing licenses (counting those insert_licenses made from the probe's orders) are spread over
    the reseller's sections: about 20 % unassigned, 10 % personal (assigned to the reseller itself) and the rest
    resold to its customers; about a third of the assigned ones are active on an installation. Licenses made
    here belong to no order (order_line_id is empty, as for a license the vendor grants by hand).
    """
    catalog = ids.catalog
    if catalog is None:
        raise RuntimeError("insert_catalog must run before insert_probe_licenses")
    probe_index = spec.probe_index
    probe = ids.resellers[probe_index]
    now = utcnow()

    # Customers: sub-chains numbered on from the ones insert_organizations made, each with its viewers.
    first = len(ids.customers[probe])
    new = range(first, max(spec.probe_customers, first))
    org_table, user_table, member_table = Organization.__table__, User.__table__, Membership.__table__
    new_orgs = _insert(conn, org_table, [
        _org_row(f"Customer {probe_index:04d}-{k:03d}", probe, probe_index * 1000 + k, rng, _past(rng, now))
        for k in new
    ], returning=True)
    password_hash = conn.scalar(select(user_table.c.password_hash).where(user_table.c.id == ids.staff_user))
    user_rows, owners = [], []
    for k, org in zip(new, new_orgs, strict=True):
        for j in range(spec.users_per_org):
            user_rows.append({
                "email": f"viewer{j}@customer-{probe_index:04d}-{k:03d}.example.com",
                "full_name": f"Viewer {j} of Customer {probe_index:04d}-{k:03d}", "phone": "",
                "password_hash": password_hash, "is_staff": False, "active": True,
                "created_at": _past(rng, now), "last_login_at": None,
            })
            owners.append(org)
    user_ids = _insert(conn, user_table, user_rows, returning=True)
    for org, user_id in zip(owners, user_ids, strict=True):
        ids.users.setdefault(org, []).append(user_id)
    _insert(conn, member_table, [{"user_id": u, "organization_id": o, "role": Role.VIEWER, "active": True,
                                  "created_at": _past(rng, now)} for o, u in zip(owners, user_ids, strict=True)])
    ids.customers[probe] = [*ids.customers[probe], *new_orgs]
    ids.count(org_table, len(new_orgs))
    ids.count(user_table, len(user_ids))
    ids.count(member_table, len(user_ids))

    # Licenses: the rest of the book, in the three sections.
    table = License.__table__
    have = conn.scalar(select(func.count()).select_from(table).where(table.c.owner_id == probe)) or 0
    keys = set(conn.scalars(select(table.c.key).where(table.c.owner_id == probe)))
    products = [p for p in catalog.products if p.kind is ProductKind.LICENSE and p.editions]
    customers = ids.customers[probe]
    rows, addon_ids = [], []
    for _ in range(max(spec.probe_licenses - have, 0)):
        product = rng.choice(products)
        edition = rng.choice(product.editions)
        addons = rng.sample(product.addons, rng.randint(0, len(product.addons)))
        created = _past(rng, now, 2 * 365)  # some M&S has lapsed
        draw = rng.random()
        customer = None if draw < 0.2 else probe if draw < 0.3 or not customers else rng.choice(customers)
        key = generate_key()
        while key in keys:
            key = generate_key()
        keys.add(key)
        rows.append({
            "key": key, "owner_id": probe, "customer_id": customer,
            "assigned_at": min(created + timedelta(days=rng.randrange(60)), now) if customer else None,
            "product_id": product.id, "edition_id": edition.id, "quantity": rng.choice(product.quantities or [1]),
            "order_line_id": None, "ms_expires_on": one_year_after(created.date()),
            "reactivation_required": customer is not None and rng.random() < 0.05, "created_at": created,
        })
        addon_ids.append([a.id for a in addons])
    license_ids = _insert(conn, table, rows, returning=True)
    links = [{"license_id": lid, "addon_id": a} for lid, addons in zip(license_ids, addon_ids, strict=True)
             for a in addons]
    _insert(conn, license_addon, links)
    activations = [
        {"license_id": lid, "installation_id": f"bench-install-{lid}", "activated_at": row["assigned_at"],
         "deactivated_at": None, "ip": "10.0.0.1"}
        for lid, row in zip(license_ids, rows, strict=True) if row["customer_id"] and rng.random() < 1 / 3
    ]
    _insert(conn, Activation.__table__, activations)
    ids.count(table, len(rows))
    ids.count(license_addon, len(links))
    ids.count(Activation.__table__, len(activations))

    # What the pages ask for: a resold license, a fragment of its customer's name and a viewer of that customer.
    # The license is one of the first ten customers' ("Customer 0010-000" to "-009", made by insert_organizations;
    # the fragment "0010-00"), so the search matches the same ten customers whatever the book's size.
    first_ten = set(ids.customers[probe][:10]) if first else set(customers) - {probe}
    resold = next((row for row in rows if row["customer_id"] in first_ten), None)
    if resold is None:
        return ProbeBook("", "", "", have + len(rows), len(customers))
    holder = resold["customer_id"]
    name = conn.scalar(select(org_table.c.name).where(org_table.c.id == holder))
    email = conn.scalar(select(user_table.c.email).where(user_table.c.id == ids.users[holder][0]))
    return ProbeBook(license_key=resold["key"], customer_search=name.removeprefix("Customer ")[:-1],
                     customer_viewer_email=email, licenses=have + len(rows), customers=len(customers),
                     customer_id=holder)


# ---------------------------------------------------------------- the probe's locations, devices and plans


@dataclass(frozen=True)
class ProbeFleet:
    """What insert_probe_devices made for the /subscriptions and /devices pages: how many locations and devices
    (counting ones, spares aside), and the quantity bought and needed of each plan."""

    locations: int
    devices: int
    counting_devices: int
    plans: dict[SubscriptionBasis, tuple[int, int]]  # basis -> (purchased, needed)
    location_id: int = 0  # the first location (its page /locations/<id>)


SPARE_SHARE = 0.05  # devices kept on the shelf: listed, not counted towards a plan


def insert_probe_devices(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> ProbeFleet:
    """Give the probe reseller's own chain `probe_locations` locations and `probe_devices` devices (the issue's
    benchmark: 2,000 and 10,000 by default), each device at a random location (so some hold none and some more
    than 4) and about 5 % of them spares; then a device plan and a location plan: the device plan a little more
    than the counting devices (some available, the grey part of its bar), the location plan a tenth short of what
    the four-devices rule needs (the yellow part). A plan the probe's orders already started gets the quantity."""
    catalog = ids.catalog
    if catalog is None:
        raise RuntimeError("insert_catalog must run before insert_probe_devices")
    probe = ids.resellers[spec.probe_index]
    manager = ids.users[probe][0]
    now = utcnow()
    location_table, device_table = Location.__table__, Device.__table__
    location_ids = _insert(conn, location_table, [
        {"organization_id": probe, "name": f"Store {k:05d}", "address": f"{k} Market Street",
         "created_at": _past(rng, now, 3 * 365)} for k in range(spec.probe_locations)
    ], returning=True)
    per_location = dict.fromkeys(location_ids, 0)
    devices = []
    for n in range(spec.probe_devices if location_ids else 0):
        location = rng.choice(location_ids)
        counts = rng.random() >= SPARE_SHARE
        per_location[location] += counts
        devices.append({"organization_id": probe, "location_id": location, "name": f"POS {n:06d}",
                        "serial_number": f"SN{rng.randrange(10**10):010d}", "counts": counts,
                        "added_by_id": manager, "created_at": _past(rng, now, 2 * 365)})
    _insert(conn, device_table, devices)
    ids.count(location_table, len(location_ids))
    ids.count(device_table, len(devices))

    counting = sum(per_location.values())
    needed = {SubscriptionBasis.DEVICE: counting,
              SubscriptionBasis.LOCATION: sum(location_subscriptions_needed(n) for n in per_location.values())}
    bought = {SubscriptionBasis.DEVICE: counting + max(counting // 20, 1),
              SubscriptionBasis.LOCATION: needed[SubscriptionBasis.LOCATION] * 9 // 10}
    plans = {}
    table = Subscription.__table__
    today = now.date()
    for basis in (SubscriptionBasis.DEVICE, SubscriptionBasis.LOCATION):
        product = next((p for p in catalog.products if p.basis is basis), None)
        if product is None:
            continue
        existing = conn.scalar(select(table.c.id).where(table.c.organization_id == probe,
                                                          table.c.product_id == product.id))
        if existing is not None:
            conn.execute(update(table).where(table.c.id == existing).values(quantity=bought[basis]))
        else:
            months = (product.interval or BillingInterval.MONTHLY).months
            conn.execute(insert(table).values(
                organization_id=probe, product_id=product.id, quantity=bought[basis], started_on=today,
                next_payment_on=add_months(today, months),
                expires_on=add_months(today, 12) if basis is SubscriptionBasis.LOCATION else None, created_at=now))
            ids.count(table, 1)
        plans[basis] = (bought[basis], needed[basis])
    return ProbeFleet(locations=len(location_ids), devices=len(devices), counting_devices=counting, plans=plans,
                      location_id=location_ids[0] if location_ids else 0)


# ---------------------------------------------------------------- the probe's storefront


@dataclass(frozen=True)
class ProbeStorefront:
    """What insert_probe_storefront made for the /s/<alias> pages: the alias, a product's slug (one with rules
    for everyone and special prices for the probe customer), and how many products, rules and special prices."""

    alias: str
    product_slug: str
    products: int
    rules: int
    special_prices: int
    customer_id: int | None


STOREFRONT_ALIAS = "bench-probe"
STOREFRONT_EDITIONS = (("Standard", 4_900, 1_900), ("Professional", 9_900, 2_900))  # name, base, per unit


def insert_probe_storefront(conn: Connection, spec: Spec, ids: Ids, rng: random.Random,
                            customer_email: str) -> ProbeStorefront:
    """Put the probe reseller on Standard with a storefront selling `storefront_products` more license products
    (each with two editions and an add-on, after the demo's in the catalog), a 20 % default markup,
    `storefront_rules` rules for everyone (markups on products, special prices on editions) and
    `storefront_special_prices` special prices for the customer of `customer_email` (the benchmark's signed-in
    customer: its edition first, then product-wide ones). The products go in after insert_catalog read the
    catalog, so the orders and licenses generated before never use them; the vendor's /shop lists them too."""
    probe = ids.resellers[spec.probe_index]
    now = utcnow()
    today = now.date()
    product_table, edition_table, addon_table = Product.__table__, Edition.__table__, AddOn.__table__
    first_position = (conn.scalar(select(func.max(product_table.c.position))) or 0) + 1
    product_ids = _insert(conn, product_table, [
        {"slug": f"bench-license-{k:04d}", "name": f"Bench License {k:04d}",
         "summary": f"Generated license product {k} of the benchmark's storefront.", "kind": ProductKind.LICENSE,
         "unit_label": "seats", "active": True, "position": first_position + k, "currency": "USD",
         "quantities": [1, 5, 10, 25], "ms_rate_bp": 2000, "reinstatement_fee_minor": 5000, "basis": None,
         "interval": None, "unit_price_minor": None, "updated_at": now}
        for k in range(spec.storefront_products)], returning=True)
    edition_rows = [{"product_id": pid, "name": name, "position": i, "base_price_minor": base + 100 * (k % 50),
                     "unit_price_minor": unit, "active": True}
                    for k, pid in enumerate(product_ids) for i, (name, base, unit) in enumerate(STOREFRONT_EDITIONS)]
    edition_ids = _insert(conn, edition_table, edition_rows, returning=True)
    _insert(conn, addon_table, [{"product_id": pid, "slug": "priority", "name": "Priority support",
                                 "price_minor": 1_500, "position": 0, "active": True} for pid in product_ids])
    ids.count(product_table, len(product_ids))
    ids.count(edition_table, len(edition_ids))
    ids.count(addon_table, len(product_ids))

    # Standard (markups and special prices are its features), unless the probe runs a reseller plan already.
    standard = conn.scalar(select(product_table.c.id).where(product_table.c.slug == STANDARD))
    sub_table = Subscription.__table__
    running = conn.scalar(select(sub_table.c.id).join(product_table, product_table.c.id == sub_table.c.product_id)
                          .where(sub_table.c.organization_id == probe,
                                 product_table.c.basis == SubscriptionBasis.RESELLER))
    if standard is not None and running is None:
        next_payment_on = today + timedelta(days=10)
        conn.execute(insert(sub_table).values(
            organization_id=probe, product_id=standard, quantity=1, started_on=add_months(next_payment_on, -1),
            anchor_day=next_payment_on.day, next_payment_on=next_payment_on, created_at=now))
        ids.count(sub_table, 1)
    storefront_table = Storefront.__table__
    storefront_id = conn.execute(insert(storefront_table).values(
        organization_id=probe, alias=STOREFRONT_ALIAS, display_name=f"Reseller {spec.probe_index:04d} Store",
        accent_colour="#0b7a75", contact_email="store@bench.example.com", contact_phone="", contact_address="",
        tax_id="", registration_id="", default_markup_bp=2_000, notify_emails=[], opened_on=today,
        created_at=now, updated_at=now).returning(storefront_table.c.id)).scalar_one()
    ids.count(storefront_table, 1)

    # Rules for everyone: a markup on a product, or a special price on one of its editions, taking turns.
    editions_of = {pid: edition_ids[2 * k:2 * k + 2] for k, pid in enumerate(product_ids)}
    rules = []
    for k in range(min(spec.storefront_rules, len(product_ids) * 2)):
        pid = product_ids[k % len(product_ids)]
        first, second = editions_of[pid]
        if k >= len(product_ids):  # a second round: markups on the first editions
            rules.append({"product_id": pid, "edition_id": first, "markup_bp": rng.randrange(500, 4_000),
                          "special_minor": None})
        elif k % 2 == 0:
            rules.append({"product_id": pid, "edition_id": None, "markup_bp": rng.randrange(500, 4_000),
                          "special_minor": None})
        else:
            rules.append({"product_id": pid, "edition_id": second, "markup_bp": None,
                          "special_minor": rng.randrange(1_000, 3_000)})
    # The customer's special prices: every edition first, then whole products.
    customer = conn.scalar(select(Membership.__table__.c.organization_id)
                           .join(User.__table__, User.__table__.c.id == Membership.__table__.c.user_id)
                           .where(User.__table__.c.email == customer_email)) if customer_email else None
    specials = []
    if customer is not None:
        targets = [(pid, e) for pid in product_ids for e in editions_of[pid]] + [(pid, None) for pid in product_ids]
        specials = [{"product_id": pid, "edition_id": e, "markup_bp": None,
                     "special_minor": rng.randrange(800, 2_500), "customer_id": customer}
                    for pid, e in targets[:spec.storefront_special_prices]]
    price_table = StorefrontPrice.__table__
    _insert(conn, price_table, [{"storefront_id": storefront_id, "customer_id": None, "updated_at": now, **r}
                                for r in rules])
    _insert(conn, price_table, [{"storefront_id": storefront_id, "updated_at": now, **r} for r in specials])
    ids.count(price_table, len(rules) + len(specials))
    slug = f"bench-license-{0:04d}" if product_ids else ""
    return ProbeStorefront(STOREFRONT_ALIAS, slug, len(product_ids), len(rules), len(specials), customer)


# ---------------------------------------------------------------- the whole dataset


def generate(resellers: int = 200, customers_per_reseller: int = 25, users_per_org: int = 2,
             audit_entries_per_org: int = 10, *, orders_per_reseller: int = 3, contacts_per_org: int = 1,
             installers_per_reseller: int = 2, seed: int = 2026, probe_licenses: int = 10_000,
             probe_customers: int = 1_000, probe_locations: int = 2_000, probe_devices: int = 10_000,
             storefront_products: int = 500, storefront_special_prices: int = 1_000, storefront_rules: int = 150,
             probe_history_months: int = 0, probe_order_invoices: int = 0, password: str = BENCH_PASSWORD,
             analyze: bool = True) -> Dataset:
    """Fill the (migrated) database of the current app; return the probe reseller and its manager.

    The database must hold no organizations, users or orders yet; the demo catalog may be there already
    (`seed_demo()` seeds it), since insert_catalog only adds what is missing.
    `analyze` refreshes the planner statistics afterwards, as autovacuum would on a production PostgreSQL.
    """
    spec = Spec(resellers=resellers, customers_per_reseller=customers_per_reseller, users_per_org=users_per_org,
                audit_entries_per_org=audit_entries_per_org, contacts_per_org=contacts_per_org,
                installers_per_reseller=installers_per_reseller, orders_per_reseller=orders_per_reseller,
                seed=seed, probe_licenses=probe_licenses, probe_customers=probe_customers,
                probe_locations=probe_locations, probe_devices=probe_devices,
                storefront_products=storefront_products, storefront_special_prices=storefront_special_prices,
                storefront_rules=storefront_rules, probe_history_months=probe_history_months,
                probe_order_invoices=probe_order_invoices)
    rng = random.Random(spec.seed)
    started = time.perf_counter()
    password_hash = hash_password(password)  # one hash (under the app's ARGON2_PROFILE) for every login
    ids = Ids()
    insert_catalog(spec, ids, random.Random(spec.seed + 1))  # its own stream: the catalog does not shift the rest
    with db.engine.begin() as conn:
        insert_organizations(conn, spec, ids, rng)
        insert_users(conn, spec, ids, rng, password_hash)
        insert_memberships(conn, spec, ids, rng)
        insert_contacts(conn, spec, ids, rng)
        insert_audit_entries(conn, spec, ids, rng)
        insert_orders(conn, spec, ids, rng)
        insert_licenses(conn, spec, ids, rng)
        insert_subscriptions(conn, spec, ids, rng)
        insert_invoices(conn, spec, ids, rng)
        book = insert_probe_licenses(conn, spec, ids, random.Random(spec.seed + 2))  # its own stream
        fleet = insert_probe_devices(conn, spec, ids, random.Random(spec.seed + 3))  # and its own
        shop = insert_probe_storefront(conn, spec, ids, random.Random(spec.seed + 4), book.customer_viewer_email)
    if analyze:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    probe = spec.probe_index
    return Dataset(
        probe_reseller_id=ids.resellers[probe],
        probe_reseller_name=f"Reseller {probe:04d}",
        probe_manager_email=manager_email(probe),
        probe_sub_chains=len(ids.customers[ids.resellers[probe]]),  # with insert_probe_licenses' customers
        staff_email=STAFF_EMAIL,
        password=password,
        rows=dict(ids.rows),
        seconds=time.perf_counter() - started,
        probe_book=book,
        probe_fleet=fleet,
        probe_storefront=shop,
    )
