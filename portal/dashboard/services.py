"""What needs attention, per panel of the home page: one aggregated statement each (counts and sums grouped by the
database, a LIMIT on top-N lists), so the page takes the same statements whatever the size of the books.

Every panel that reads a tenant's rows is scoped through portal/authz.py for the permission its page needs; the
staff panel reads the vendor's queues and is asked for staff alone. `dashboard_for` decides which panels a user
sees, from the organization they work in and what they may do there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from portal.accounts.models import Organization, User
from portal.authz import Permission, can, chain_ids, partner_access, scoped, scoped_to
from portal.billing.models import Invoice, InvoiceStatus
from portal.catalog.models import Product, SubscriptionBasis
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.licenses.models import Activation, License
from portal.money import Money
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import location_subscriptions_required_select
from portal.transfers.models import TransferRequest, TransferStatus

TOP = 5  # rows a top-N panel lists; the rest is counted
WINDOWS = (30, 60, 90)  # days ahead that renewals are counted for
OPEN = (InvoiceStatus.UNPAID, InvoiceStatus.PAYMENT_PENDING)


def _int(value) -> int:
    return int(value or 0)


# ---------------------------------------------------------------- invoices


@dataclass(frozen=True)
class OwedInCurrency:
    """Unpaid invoices of one currency: how many and how much is due, and the overdue part of it."""

    count: int
    due: Money
    overdue_count: int
    overdue: Money


def unpaid_invoices(user: User, org: Organization, today: date) -> list[OwedInCurrency]:
    """What the chain owes (unpaid summary and pay-on-order invoices, payment pending included) and what of it is
    past its due date, per currency."""
    owed = Invoice.total_minor - Invoice.credit_applied_minor
    overdue = and_(Invoice.due_on.is_not(None), Invoice.due_on < today)
    stmt = scoped_to(
        org, select(Invoice.currency, func.count(Invoice.id), func.coalesce(func.sum(owed), 0),
               func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
               func.coalesce(func.sum(case((overdue, owed), else_=0)), 0))
        .where(Invoice.organization_id == org.id, Invoice.issuer_id.is_(None), Invoice.status.in_(OPEN))
        .group_by(Invoice.currency).order_by(Invoice.currency),
        Invoice.organization_id, user, Permission.VIEW_INVOICES)
    return [OwedInCurrency(count, Money(_int(due), currency), _int(late), Money(_int(late_due), currency))
            for currency, count, due, late, late_due in db.session.execute(stmt)]


# ---------------------------------------------------------------- licenses


@dataclass(frozen=True)
class ProductCount:
    name: str
    count: int


@dataclass(frozen=True)
class Stock:
    """Unassigned licenses: the products with the most, and the totals over every product."""

    products: list[ProductCount]
    total: int
    product_count: int


def unassigned_by_product(user: User, org: Organization, limit: int = TOP) -> Stock:
    """The licenses the organization bought and has not assigned yet, counted per product, most first."""
    n = func.count(License.id)
    stmt = scoped_to(
        org, select(Product.name, n, func.sum(n).over(), func.count().over())
        .join(Product, Product.id == License.product_id)
        .where(License.owner_id == org.id, License.customer_id.is_(None))
        .group_by(Product.id, Product.name).order_by(n.desc(), Product.name).limit(limit),
        License.owner_id, user, Permission.ASSIGN_LICENSES)
    rows = db.session.execute(stmt).all()
    return Stock([ProductCount(name, count) for name, count, _, _ in rows],
                 _int(rows[0][2]) if rows else 0, _int(rows[0][3]) if rows else 0)


@dataclass(frozen=True)
class Entitlement:
    """An end customer's licenses of one product: how many, how many need their M&S renewed within 90 days or
    have lapsed, and how many must be reactivated after a change."""

    name: str
    count: int
    expiring: int
    lapsed: int
    reactivate: int


@dataclass(frozen=True)
class Entitlements:
    products: list[Entitlement]
    total: int
    product_count: int


def entitlements_by_product(user: User, org: Organization, today: date, limit: int = TOP) -> Entitlements:
    """The licenses assigned to the chain (the organization and its sub-chains), per product."""
    ahead = today + timedelta(days=WINDOWS[-1])
    n = func.count(License.id)
    stmt = scoped_to(
        org, select(Product.name, n,
               func.sum(case((License.ms_expires_on.between(today, ahead), 1), else_=0)),
               func.sum(case((License.ms_expires_on < today, 1), else_=0)),
               func.sum(case((License.reactivation_required.is_(True), 1), else_=0)),
               func.sum(n).over(), func.count().over())
        .join(Product, Product.id == License.product_id)
        .where(License.customer_id.in_(chain_ids(org.id)))
        .group_by(Product.id, Product.name).order_by(Product.name).limit(limit),
        License.customer_id, user, Permission.VIEW_LICENSES)
    rows = db.session.execute(stmt).all()
    return Entitlements([Entitlement(name, count, _int(expiring), _int(lapsed), _int(reactivate))
                         for name, count, expiring, lapsed, reactivate, _, _ in rows],
                        _int(rows[0][5]) if rows else 0, _int(rows[0][6]) if rows else 0)


# ---------------------------------------------------------------- renewals


@dataclass(frozen=True)
class Renewals:
    """M&S expiring and plans renewing within each window (30, 60, 90 days: each window includes the shorter)."""

    maintenance: dict[int, int] | None  # None: not shown to this user
    plans: dict[int, int] | None

    @property
    def any(self) -> bool:
        return any(n for counts in (self.maintenance, self.plans) if counts for n in counts.values())


MAINTENANCE, PLANS = "maintenance", "plans"


def renewals_ahead(user: User, org: Organization, today: date, maintenance: bool, plans: bool) -> Renewals:
    """M&S expiring within 30/60/90 days (of the licenses a reseller bought, or of those assigned to an end
    customer's chain) and the chain's device and location plans renewing then; the two counted in one statement."""
    ahead = today + timedelta(days=WINDOWS[-1])
    parts = []
    if maintenance:
        mine = License.owner_id == org.id if org.is_reseller else License.customer_id.in_(chain_ids(org.id))
        column = License.owner_id if org.is_reseller else License.customer_id
        parts.append(scoped_to(org, select(literal(MAINTENANCE).label("kind"), License.ms_expires_on.label("day"))
                            .where(mine, License.ms_expires_on.between(today, ahead)),
                            column, user, Permission.VIEW_LICENSES))
    if plans:
        parts.append(scoped_to(
            org, select(literal(PLANS).label("kind"), Subscription.next_payment_on.label("day"))
            .join(Product, Product.id == Subscription.product_id)
            .where(Subscription.organization_id == org.id, Subscription.quantity > 0,
                   Subscription.ended_on.is_(None), Product.basis != SubscriptionBasis.RESELLER,
                   Subscription.next_payment_on.between(today, ahead)),
            Subscription.organization_id, user, Permission.MANAGE_SUBSCRIPTIONS))
    if not parts:
        return Renewals(None, None)
    due = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    stmt = select(due.c.kind, *(func.sum(case((due.c.day <= today + timedelta(days=days), 1), else_=0))
                                for days in WINDOWS)).group_by(due.c.kind)
    counted = {kind: dict(zip(WINDOWS, map(_int, sums), strict=True)) for kind, *sums in db.session.execute(stmt)}
    nothing = dict.fromkeys(WINDOWS, 0)
    return Renewals(counted.get(MAINTENANCE, nothing) if maintenance else None,
                    counted.get(PLANS, nothing) if plans else None)


# ---------------------------------------------------------------- plans and devices


@dataclass(frozen=True)
class Overrun:
    """A kind of plan used beyond what was bought (the yellow part of the usage bar)."""

    basis: SubscriptionBasis
    purchased: int
    used: int

    @property
    def over(self) -> int:
        return self.used - self.purchased


PLAN_BASES = (SubscriptionBasis.LOCATION, SubscriptionBasis.DEVICE)


def plan_overrun(user: User, org: Organization) -> list[Overrun]:
    """The kinds of plan the main chain has and uses beyond what it bought, by the Manage Subscriptions page's
    rule (portal/subscriptions/usage.py: counting devices; location subscriptions per 4 devices)."""
    chain = chain_ids(org.id)

    def plans_of(basis: SubscriptionBasis, what):
        return scoped_to(org, select(what).join(Product, Product.id == Subscription.product_id)
                      .where(Subscription.organization_id == org.id, Product.basis == basis),
                      Subscription.organization_id, user, Permission.MANAGE_SUBSCRIPTIONS).scalar_subquery()

    running = case((and_(Subscription.quantity > 0, Subscription.ended_on.is_(None)), Subscription.quantity),
                   else_=0)
    columns = []
    for basis in PLAN_BASES:
        columns += [plans_of(basis, func.count(Subscription.id)), plans_of(basis, func.coalesce(func.sum(running), 0))]
    devices = select(func.count(Device.id)).where(Device.organization_id.in_(chain), Device.counts.is_(True))
    row = db.session.execute(select(
        *columns, location_subscriptions_required_select(chain).scalar_subquery(),
        scoped_to(org, devices, Device.organization_id, user, Permission.VIEW_DEVICES).scalar_subquery())).one()
    used = {SubscriptionBasis.LOCATION: _int(row[4]), SubscriptionBasis.DEVICE: _int(row[5])}
    overruns = []
    for i, basis in enumerate(PLAN_BASES):
        plan_count, purchased = _int(row[2 * i]), _int(row[2 * i + 1])
        if plan_count and used[basis] > purchased:
            overruns.append(Overrun(basis, purchased, used[basis]))
    return overruns


@dataclass(frozen=True)
class Installed:
    """An end customer's locations and devices (spares are listed, not counted)."""

    locations: int
    devices: int
    spares: int


def devices_summary(user: User, org: Organization) -> Installed:
    """How many locations and devices the chain (the organization and its sub-chains) has."""
    chain = chain_ids(org.id)
    locations = scoped_to(org, select(func.count(Location.id)).where(Location.organization_id.in_(chain)),
                       Location.organization_id, user, Permission.VIEW_DEVICES)
    devices = scoped_to(org, select(func.count(Device.id), func.sum(case((Device.counts.is_(False), 1), else_=0)))
                     .where(Device.organization_id.in_(chain)),
                     Device.organization_id, user, Permission.VIEW_DEVICES).subquery()
    row = db.session.execute(select(locations.scalar_subquery(), devices.c[0], devices.c[1])).one()
    return Installed(_int(row[0]), _int(row[1]), _int(row[2]))


# ---------------------------------------------------------------- installation partners


@dataclass(frozen=True)
class CustomerInstallations:
    """A customer an installation partner supports: its locations, devices, active installations and licenses
    that must be reactivated after a change."""

    org_id: int
    name: str
    locations: int
    devices: int
    active: int
    reactivate: int


@dataclass(frozen=True)
class Installations:
    customers: list[CustomerInstallations]
    total: int


def supported_customer_ids(user: User) -> list[int]:
    """The customer main chains the user supports through partner grants in force that open their devices."""
    return sorted(customer_id for customer_id, (customer, _) in partner_access(user).items()
                  if can(user, Permission.VIEW_DEVICES, customer))


def installations(user: User, customer_ids: list[int], limit: int = TOP * 2) -> Installations:
    """Per customer the user supports as an installation partner (by name): what is installed there."""
    if not customer_ids:
        return Installations([], 0)
    customer = Organization
    member = aliased(Organization, name="chain_org")  # an organization of the customer's chain
    in_chain = or_(member.id == customer.id, member.parent_id == customer.id)

    def counted(stmt: Select):
        # joined to the chain's organizations in its own FROM, so that it correlates with the customer's row alone
        return stmt.where(in_chain).correlate(customer).scalar_subquery()

    locations = counted(select(func.count(Location.id)).join(member, member.id == Location.organization_id))
    devices = counted(select(func.count(Device.id)).join(member, member.id == Device.organization_id))
    active = counted(select(func.count(Activation.id)).join(License, License.id == Activation.license_id)
                     .join(member, member.id == License.customer_id).where(Activation.deactivated_at.is_(None)))
    reactivate = counted(select(func.count(License.id)).join(member, member.id == License.customer_id)
                         .where(License.reactivation_required.is_(True)))
    stmt = scoped(select(customer.id, customer.name, locations, devices, active, reactivate, func.count().over())
                  .where(customer.id.in_(customer_ids)).order_by(customer.name, customer.id).limit(limit),
                  customer.id, user, Permission.VIEW_DEVICES)
    rows = db.session.execute(stmt).all()
    return Installations([CustomerInstallations(org_id, name, _int(loc), _int(dev), _int(act), _int(re))
                          for org_id, name, loc, dev, act, re, _ in rows], _int(rows[0][6]) if rows else 0)


# ---------------------------------------------------------------- transfers and staff


def pending_transfers(user: User, org: Organization) -> int:
    """The organization's transfer requests waiting for the vendor's review."""
    stmt = scoped_to(org, select(func.count(TransferRequest.id))
                  .where(TransferRequest.requester_id == org.id, TransferRequest.status == TransferStatus.REQUESTED),
                  TransferRequest.requester_id, user, Permission.MANAGE_SUB_CHAINS)
    return _int(db.session.scalar(stmt))


@dataclass(frozen=True)
class StaffQueue:
    """What waits for vendor staff."""

    transfers: int  # transfer requests to review
    payments: int  # wire, ACH and check payments announced, to record when they arrive
    unpaid: int  # the vendor's invoices not paid yet (payments announced included)
    failed_emails: int  # given up after every attempt
    retrying_emails: int  # failed at least once, to be retried


def staff_queue() -> StaffQueue:
    """Transfers to review, payments to record and emails not delivered, counted in one statement (staff only:
    the caller checks Permission.STAFF)."""
    def count(stmt: Select):
        return stmt.scalar_subquery()

    vendor_open = select(func.count(Invoice.id)).where(Invoice.issuer_id.is_(None), Invoice.status.in_(OPEN))
    row = db.session.execute(select(
        count(select(func.count(TransferRequest.id)).where(TransferRequest.status == TransferStatus.REQUESTED)),
        count(vendor_open.where(Invoice.status == InvoiceStatus.PAYMENT_PENDING)),
        count(vendor_open),
        count(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.FAILED)),
        count(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.PENDING,
                                                         OutboxMessage.attempts > 0)),
    )).one()
    return StaffQueue(*map(_int, row))


# ---------------------------------------------------------------- the page


@dataclass
class Dashboard:
    """The panels one user sees on the home page (None: not shown)."""

    org: Organization | None
    kind: str  # "reseller", "customer", "installer" or "staff"
    invoices: list[OwedInCurrency] | None = None
    unassigned: Stock | None = None
    entitlements: Entitlements | None = None
    renewals: Renewals | None = None
    overrun: list[Overrun] | None = None
    devices: Installed | None = None
    transfers: int | None = None
    installations: Installations | None = None
    supports_active: bool = False  # the organization worked in is one the user supports as a partner
    staff: StaffQueue | None = None


def _member_of(user: User, org: Organization) -> bool:
    return any(m.active and (m.organization_id == org.id or m.organization_id == org.parent_id)
               for m in user.memberships)


def dashboard_for(user: User, org: Organization | None, today: date) -> Dashboard:
    """The home page's panels for the user's role in the organization they work in: a reseller's, an end
    customer's, an installation partner's (for the customers it supports) and vendor staff's queues."""
    supported = supported_customer_ids(user) if org is not None else []
    if org is None:
        board = Dashboard(None, "staff" if user.is_staff else "customer")
    elif not _member_of(user, org) and org.id in supported:
        board = Dashboard(org, "installer")  # working in a customer's chain as its installation partner
    else:
        board = Dashboard(org, "reseller" if org.is_reseller else "customer")
        if can(user, Permission.VIEW_INVOICES, org):
            board.invoices = unpaid_invoices(user, org, today)
        if can(user, Permission.ASSIGN_LICENSES, org):
            board.unassigned = unassigned_by_product(user, org)
        if not org.is_reseller and can(user, Permission.VIEW_LICENSES, org):
            board.entitlements = entitlements_by_product(user, org, today)
        maintenance = can(user, Permission.VIEW_LICENSES, org)
        plans = can(user, Permission.MANAGE_SUBSCRIPTIONS, org)
        if maintenance or plans:
            board.renewals = renewals_ahead(user, org, today, maintenance, plans)
        if plans:
            board.overrun = plan_overrun(user, org)
        if not org.is_reseller and can(user, Permission.VIEW_DEVICES, org):
            board.devices = devices_summary(user, org)
        if can(user, Permission.MANAGE_SUB_CHAINS, org):
            board.transfers = pending_transfers(user, org)
    if supported:
        board.installations = installations(user, supported)
        board.supports_active = org is not None and org.id in supported
    if user.is_staff:
        board.staff = staff_queue()
    return board
