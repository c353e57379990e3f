"""A large, deterministic dataset for the benchmark, written with SQLAlchemy Core bulk inserts.

`generate()` fills a migrated, empty database with resellers (main chains), their customers (sub-chains),
users, memberships, contacts, installation partners and audit entries. It must run inside an application
context (it uses `db.engine` and the app's ARGON2_PROFILE) and writes everything in one transaction.

Rows go in as multi-row INSERTs (`conn.execute(insert(table), rows)`), never through ORM objects, so tens of
thousands of rows take seconds. Ids come back with `INSERT … RETURNING` in parameter order
(`sort_by_parameter_order=True`), which SQLite ≥ 3.35 and PostgreSQL both support; the database assigns them,
so sequences stay correct and the app can insert afterwards.

How to extend it (licenses, orders and invoices in later issues)
-----------------------------------------------------------------
Each kind of data has one function, `insert_<kind>(conn, spec, ids, rng)`, called by `generate()` in
dependency order. To add a kind:

1. add its size to `Spec` (and the matching keyword to `generate()` and, if useful, a CLI flag in
   `bench/__main__.py`);
2. write `insert_<kind>()`: build plain dicts for its table, insert them with `_insert()`, and record the ids
   later steps need on `Ids` (add a field there);
3. call it from `generate()` after the kinds it refers to, and count its rows in `Ids.rows`.

Keep every value derived from `spec` and `rng` (seeded), so the same arguments give the same data and
benchmark results stay comparable between runs.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import Connection, Table, insert, text

from portal.accounts.models import BillingMode, Contact, Membership, Organization, PartnerTier, Role, User
from portal.accounts.passwords import hash_password
from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.extensions import db

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
    seed: int = 2026

    def __post_init__(self) -> None:
        if self.resellers < 1 or self.users_per_org < 1:
            raise ValueError("need at least one reseller and one user per organization (the probe's manager)")
        for name in ("customers_per_reseller", "audit_entries_per_org", "contacts_per_org",
                     "installers_per_reseller"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass
class Ids:
    """What the steps have inserted so far: the ids later steps refer to, and row counts per table."""

    resellers: list[int] = field(default_factory=list)
    customers: dict[int, list[int]] = field(default_factory=dict)  # reseller id -> its sub-chain ids
    users: dict[int, list[int]] = field(default_factory=dict)  # organization id -> its users, manager first
    staff_user: int | None = None
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


def insert_organizations(conn: Connection, spec: Spec, ids: Ids, rng: random.Random) -> None:
    """Resellers (main chains, no parent) and, under each, `customers_per_reseller` sub-chains."""
    table = Organization.__table__
    now = utcnow()
    ids.resellers = _insert(conn, table, (
        _org_row(f"Reseller {i:04d}", None, i, rng, _past(rng, now, 3 * 365)) for i in range(spec.resellers)
    ), returning=True)
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
            "active": True, "session_token": secrets.token_urlsafe(32), "created_at": _past(rng, now),
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


# ---------------------------------------------------------------- the whole dataset


def generate(resellers: int = 200, customers_per_reseller: int = 25, users_per_org: int = 2,
             audit_entries_per_org: int = 10, *, contacts_per_org: int = 1, installers_per_reseller: int = 2,
             seed: int = 2026, password: str = BENCH_PASSWORD, analyze: bool = True) -> Dataset:
    """Fill the (empty, migrated) database of the current app; return the probe reseller and its manager.

    `analyze` refreshes the planner statistics afterwards, as autovacuum would on a production PostgreSQL.
    """
    spec = Spec(resellers=resellers, customers_per_reseller=customers_per_reseller, users_per_org=users_per_org,
                audit_entries_per_org=audit_entries_per_org, contacts_per_org=contacts_per_org,
                installers_per_reseller=installers_per_reseller, seed=seed)
    rng = random.Random(spec.seed)
    started = time.perf_counter()
    password_hash = hash_password(password)  # one hash (under the app's ARGON2_PROFILE) for every login
    ids = Ids()
    with db.engine.begin() as conn:
        insert_organizations(conn, spec, ids, rng)
        insert_users(conn, spec, ids, rng, password_hash)
        insert_memberships(conn, spec, ids, rng)
        insert_contacts(conn, spec, ids, rng)
        insert_audit_entries(conn, spec, ids, rng)
    if analyze:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    probe = spec.resellers // 2  # a reseller from the middle: neither the first nor the last ids
    return Dataset(
        probe_reseller_id=ids.resellers[probe],
        probe_reseller_name=f"Reseller {probe:04d}",
        probe_manager_email=manager_email(probe),
        probe_sub_chains=spec.customers_per_reseller,
        staff_email=STAFF_EMAIL,
        password=password,
        rows=dict(ids.rows),
        seconds=time.perf_counter() - started,
    )
