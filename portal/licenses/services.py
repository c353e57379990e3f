"""Licenses: created unassigned by orders, listed for resellers and end customers, assigned once to a customer.

Services flush, never commit; the caller commits once (the change, its audit entries and its emails together).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from portal.accounts.models import Membership, Organization, PasswordTokenPurpose, Role, User
from portal.accounts.services import (
    create_sub_chain,
    find_user_by_email,
    issue_password_token,
    normalize_email,
    user_with_access,
)
from portal.audit.services import Actor, record
from portal.authz import Permission, can, chain_ids, organization_ids_where, scoped, scoped_to
from portal.catalog.models import AddOn, Edition, Product
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.keys import InvalidKey, generate_key, normalize_key
from portal.licenses.models import Activation, License, license_addon
from portal.orders.models import OrderLine
from portal.outbox.services import enqueue_email, external_url
from portal.reseller_fees.counting import AccountFees, FeeTotal, fee_bearing_products, fee_total, fees_by_account
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def create_unassigned_licenses(line: OrderLine, owner_id: int, today: date) -> list[License]:
    """One unassigned license per item bought on `line`, each with a new key and a year of M&S."""
    addons = list(db.session.scalars(select(AddOn).where(AddOn.id.in_([a["id"] for a in line.addons]))))
    licenses = []
    for _ in range(line.copies):
        license_ = License(key=generate_key(), owner_id=owner_id, product_id=line.product_id,
                           edition_id=line.edition_id, quantity=line.quantity, order_line_id=line.id,
                           ms_expires_on=one_year_after(today), addons=addons)
        db.session.add(license_)
        licenses.append(license_)
    return licenses


# ---------------------------------------------------------------- what a reseller and an end customer see
#
# A reseller's licenses fall in three groups: unassigned (no customer yet), personal (assigned to the reseller
# itself, or to it by another reseller: the licenses it uses) and resold (assigned to another organization).
# Its customers are its sub-chains and every organization it has resold to. Every query goes through authz.


PER_PAGE = 25


def _key_search(search: str):
    """A condition on License.key for what was typed: the exact key when it is one, else a part of it."""
    try:
        return License.key == normalize_key(search)
    except InvalidKey:
        return License.key.contains(search.upper(), autoescape=True)


def _license_options() -> tuple:
    return (joinedload(License.product), joinedload(License.edition))


def reseller_licenses(user: User, org: Organization) -> Select:
    """Licenses `org` bought, as far as `user` may view them there."""
    return scoped_to(org, select(License).where(License.owner_id == org.id), License.owner_id, user,
                      Permission.VIEW_LICENSES).options(*_license_options())


def unassigned_licenses(user: User, org: Organization, search: str = "") -> Select:
    """Licenses `org` bought and has not assigned yet, oldest first (the stock to assign)."""
    stmt = reseller_licenses(user, org).where(License.customer_id.is_(None)).join(License.product)
    if search:
        stmt = stmt.where(or_(_key_search(search), Product.name.icontains(search, autoescape=True)))
    return stmt.order_by(Product.name, License.created_at, License.id)


def assignable_licenses(user: User, org: Organization, limit: int) -> list[License]:
    """The first unassigned licenses of `org`, to offer in the assignment form."""
    return list(db.session.scalars(unassigned_licenses(user, org).limit(limit)))


def resold_licenses(user: User, org: Organization, search: str = "") -> Select:
    """Licenses `org` assigned to other organizations, most recently assigned first; found by key, product or
    customer."""
    stmt = reseller_licenses(user, org).where(License.customer_id.is_not(None), License.customer_id != org.id)
    if search:
        customer = aliased(Organization)
        stmt = (stmt.join(License.product).join(customer, License.customer)
                .options(contains_eager(License.customer.of_type(customer)))
                .where(or_(_key_search(search), Product.name.icontains(search, autoescape=True),
                           customer.name.icontains(search, autoescape=True))))
    else:  # no joins to sort through: the customer comes with the page's rows (a join by primary key)
        stmt = stmt.options(joinedload(License.customer))
    return stmt.order_by(License.assigned_at.desc(), License.id.desc())


def assigned_to(user: User, org: Organization, org_ids: Select | list[int], search: str = "") -> Select:
    """Licenses assigned to the given organizations (`org`, or `org` and its sub-chains), as far as `user` may
    view them there: a reseller's personal licenses, an end customer's entitlements. Add-ons are loaded; nothing
    about the seller is."""
    stmt = (scoped_to(org, select(License).where(License.customer_id.in_(org_ids)), License.customer_id, user,
                       Permission.VIEW_LICENSES)
            .join(License.product).options(*_license_options(), selectinload(License.addons)))
    if search:
        stmt = stmt.where(or_(_key_search(search), Product.name.icontains(search, autoescape=True)))
    return stmt.order_by(Product.name, License.key)


def personal_licenses(user: User, org: Organization, search: str = "") -> Select:
    """The licenses `org` uses itself."""
    return assigned_to(user, org, [org.id], search)


def entitlements(user: User, org: Organization, search: str = "") -> Select:
    """What an end customer owns: the licenses assigned to `org` and to its sub-chains."""
    return assigned_to(user, org, chain_ids(org.id), search)


def active_installation():
    """The installation a listed license is active on (a scalar subquery correlated to License), so a list reads
    it with its rows instead of in a statement of its own."""
    return (select(Activation.installation_id)
            .where(Activation.license_id == License.id, Activation.deactivated_at.is_(None))
            .limit(1).scalar_subquery())


def active_activations(license_ids: list[int]) -> dict[int, Activation]:
    """The current activation of each license that is active on an installation (one query for a page)."""
    stmt = select(Activation).where(Activation.license_id.in_(license_ids), Activation.deactivated_at.is_(None))
    return {a.license_id: a for a in db.session.scalars(stmt)}


def visible_licenses(user: User) -> Select:
    """Licenses `user` may open: those of organizations where the user may view licenses, as the buyer (the
    reseller) or as the customer."""
    viewable = organization_ids_where(user, Permission.VIEW_LICENSES)
    return (select(License).where(or_(License.owner_id.in_(viewable), License.customer_id.in_(viewable)))
            .options(*_license_options(), joinedload(License.owner), joinedload(License.customer),
                     selectinload(License.addons)))


def find_license(user: User, key: str) -> License | None:
    """The license with this (normalized) key, if `user` may see it."""
    return db.session.scalars(visible_licenses(user).where(License.key == key)).first()


def customers(user: User, org: Organization, search: str = "") -> Select:
    """`org`'s customers (its sub-chains and every organization it resold to) with the number of licenses each
    holds from it, by name: one query whose cost follows the page, not the book. Organizations are read in name
    order (ix_organization_name) and each is checked and counted through its own licenses (ix_license_customer_ms),
    instead of grouping every license of the book to find them. Rows are (Organization, license count)."""
    mine = (License.customer_id == Organization.id, License.owner_id == org.id)
    held = scoped_to(org, select(func.count(License.id)).where(*mine), License.owner_id, user,
                      Permission.VIEW_CUSTOMERS).correlate(Organization).scalar_subquery()
    # a scalar subquery with LIMIT, not EXISTS: PostgreSQL turns an EXISTS under OR into a hashed subplan that reads
    # every license of the book first; this one is probed per organization, through ix_license_customer_ms
    resold_to = scoped_to(org, select(License.id).where(*mine), License.owner_id, user,
                          Permission.VIEW_CUSTOMERS).limit(1).correlate(Organization).scalar_subquery().is_not(None)
    sub_chains = select(Organization.id).where(Organization.parent_id == org.id)
    permitted = scoped_to(org, sub_chains, Organization.parent_id, user, Permission.VIEW_CUSTOMERS)
    in_chain = Organization.parent_id == org.id if permitted is sub_chains else Organization.id.in_(permitted)
    stmt = (select(Organization, func.coalesce(held, 0).label("licenses"))
            .where(Organization.id != org.id, or_(in_chain, resold_to)))
    if search:
        stmt = stmt.where(Organization.name.icontains(search, autoescape=True))
    return stmt.order_by(Organization.name, Organization.id)


LICENSE_CSV_HEADER = ("License key", "Product", "Edition", "Quantity", "Unit", "Add-ons", "M&S until",
                      "Automatic renewal", "Customer", "Assigned on", "Active on installation")


def license_csv_rows(stmt: Select) -> Iterator[tuple]:
    """The rows of a license list's CSV: plain columns of the listed licenses (already filtered, scoped and
    ordered), read 1,000 at a time; a generator, so the query runs while the response streams."""
    product = aliased(Product)
    edition = aliased(Edition)
    customer = aliased(Organization)
    addons = (select(func.aggregate_strings(AddOn.name, "; "))
              .join(license_addon, license_addon.c.addon_id == AddOn.id)
              .where(license_addon.c.license_id == License.id).scalar_subquery())
    installation = active_installation()
    plain = stmt.with_only_columns(
        License.key,
        select(product.name).where(product.id == License.product_id).scalar_subquery(),
        select(edition.name).where(edition.id == License.edition_id).scalar_subquery(),
        License.quantity,
        select(product.unit_label).where(product.id == License.product_id).scalar_subquery(),
        addons, License.ms_expires_on, License.auto_renew,
        select(customer.name).where(customer.id == License.customer_id).scalar_subquery(),
        License.assigned_at, installation).execution_options(yield_per=1000)
    for key, product_name, edition_name, quantity, unit, addon_names, ms, auto, customer_name, assigned, active in (
            db.session.execute(plain)):
        yield (key, product_name, edition_name, quantity, unit, addon_names or "", ms.isoformat(),
               "Yes" if auto else "No", customer_name or "", assigned.date().isoformat() if assigned else "",
               active or "")


def customer_of(user: User, org: Organization, customer_id: int) -> Organization | None:
    """One of `org`'s customers by id (None for anyone else's organization)."""
    return db.session.scalars(customers(user, org).where(Organization.id == customer_id)).first()


@dataclass(frozen=True)
class CustomerFees:
    """What the vendor's fees cost a reseller for its customers this month (DOMAIN §8): in total, and for each of
    a page of customer accounts (those without fees left out)."""

    total: FeeTotal
    by_account: dict[int, AccountFees]


def _fees_apply(reseller_id: int):
    """Whether any product has a fee for this reseller (counting.fee_bearing_products)."""
    return select(exists(fee_bearing_products(reseller_id)))


def customer_fees(org: Organization, customer_ids: list[int], day: date) -> CustomerFees | None:
    """The fees `org` (a reseller) owes the vendor for its customer accounts holding fee-bearing products on `day`:
    in total and for each of these customers (reseller_fees.counting). None when it owes none and no product has a
    fee for it. Three statements whatever the number of customers."""
    applies = db.session.scalar(_fees_apply(org.id))
    total = fee_total(org.id, day)
    # An empty page asks about the reseller itself, never its own customer (so never charged): the page takes the
    # same statements whatever its customers.
    by_account = fees_by_account(org.id, customer_ids or [org.id], day)
    if not applies and not total.accounts:
        return None
    return CustomerFees(total, by_account)


def customer_users(org_ids: list[int]) -> dict[int, list[str]]:
    """The sign-in addresses of each organization's active users (one query for a page of customers)."""
    rows = db.session.execute(
        select(Membership.organization_id, User.email).join(User, Membership.user_id == User.id)
        .where(Membership.organization_id.in_(org_ids), Membership.active.is_(True), User.active.is_(True))
        .order_by(Membership.organization_id, Membership.role != Role.MANAGER, User.email)
    )
    users: dict[int, list[str]] = {}
    for org_id, email in rows:
        users.setdefault(org_id, []).append(email)
    return users


def customer_licenses(user: User, org: Organization) -> Select:
    """Every customer of `org` with each license it holds from `org` (one row per license; a customer without
    licenses has one row whose license columns are None), for the CSV export: plain columns, no ORM objects,
    so tens of thousands of rows stream quickly. Add-ons come separately (addon_names)."""
    customer_ids = customers(user, org).with_only_columns(Organization.id).order_by(None)
    return (select(Organization.name.label("customer"), License.id.label("license_id"), License.key,
                   Product.name.label("product"), Edition.name.label("edition"), License.quantity,
                   Product.unit_label, License.ms_expires_on, License.assigned_at)
            .select_from(Organization)
            .outerjoin(License, and_(License.customer_id == Organization.id, License.owner_id == org.id))
            .outerjoin(Product, Product.id == License.product_id)
            .outerjoin(Edition, Edition.id == License.edition_id)
            .where(Organization.id.in_(customer_ids))
            .order_by(Organization.name, Organization.id, License.key))


def customer_license_addons(licenses: Select) -> Select:
    """The add-ons of the licenses of `licenses` (a customer_licenses statement), as (license id, add-on name), in
    its order and then catalog order: read alongside it, a streamed export takes each license's add-ons as it
    writes the license (a dict of every license's add-ons grew with the export: 36 MiB at 100,000 licenses)."""
    return (licenses.join(license_addon, license_addon.c.license_id == License.id)
            .join(AddOn, AddOn.id == license_addon.c.addon_id)
            .with_only_columns(License.id, AddOn.name).order_by(AddOn.position, AddOn.id))


def addon_names(user: User, org: Organization) -> dict[int, list[str]]:
    """The add-ons of every license `org` has assigned, by license id, in catalog order: one query for the whole
    CSV export (per batch of licenses it would be a query per 500 rows)."""
    stmt = (scoped_to(org, select(license_addon.c.license_id, AddOn.name)
                       .join(License, License.id == license_addon.c.license_id)
                       .join(AddOn, AddOn.id == license_addon.c.addon_id)
                       .where(License.owner_id == org.id), License.owner_id, user, Permission.VIEW_CUSTOMERS)
            .where(License.customer_id.is_not(None))
            .order_by(license_addon.c.license_id, AddOn.position, AddOn.id))
    names: dict[int, list[str]] = {}
    for license_id, name in db.session.execute(stmt):
        names.setdefault(license_id, []).append(name)
    return names


# ---------------------------------------------------------------- assignment


@dataclass(frozen=True)
class Assignment:
    """Licenses given to a customer: the organization that holds them now, the person emailed, and whether that
    person's account (a user and a sub-chain under the reseller) was created for it."""

    licenses: list[License]
    customer: Organization
    recipient: User
    new_account: bool


NEVER_REASSIGNED = "A license can never be re-assigned."


def _already_assigned(license_: License) -> RuleError:
    return RuleError(f"License {license_.key} is already assigned. {NEVER_REASSIGNED}", field="licenses")


def _customer_for(person: User, owner: Organization, email: str) -> Organization:
    """Which of a known person's organizations receives the licenses: their only one; with several, one under
    this reseller (a sub-chain before the reseller itself), else their first main chain, else their first."""
    memberships = sorted((m for m in person.memberships if m.active), key=lambda m: m.id)
    if not person.active or not memberships:
        raise RuleError(f"{email} has no active portal access. Ask the vendor to restore it, or use another "
                        "address.", field="email")
    if len(memberships) == 1:
        return memberships[0].organization
    orgs = [m.organization for m in memberships]
    ours = [o for o in orgs if o.parent_id == owner.id] + [o for o in orgs if o.id == owner.id]
    mains = [o for o in orgs if o.is_main_chain]
    return (ours or mains or orgs)[0]


def _is_customer(owner: Organization, org: Organization) -> bool:
    if org.id == owner.id or org.parent_id == owner.id:
        return True
    return db.session.scalar(select(License.id).where(License.owner_id == owner.id, License.customer_id == org.id)
                             .limit(1)) is not None


def _new_customer_account(owner: Organization, email: str, name: str, actor: Actor) -> tuple[Organization, User]:
    """Scenario 1: a sub-chain under the reseller with the customer as its (viewer) user, who is emailed a link
    to set a password together with the keys (so no separate welcome email)."""
    try:
        sub = create_sub_chain(owner, name or email, email, "", Role.VIEWER, actor, welcome=False)
    except RuleError as error:
        raise RuleError(error.message, field="customer_name" if error.field == "name" else error.field) from None
    return sub, find_user_by_email(email)


def licenses_by_keys(user: User, org: Organization, keys: list[str]) -> list[License]:
    """`org`'s licenses with these keys, assigned or not, where `user` may assign (anyone else's are left out)."""
    if not keys:
        return []
    stmt = scoped(select(License).where(License.owner_id == org.id, License.key.in_(keys)), License.owner_id,
                  user, Permission.ASSIGN_LICENSES)
    return list(db.session.scalars(stmt.options(*_license_options()).order_by(License.key)))


@dataclass(frozen=True)
class _Checked:
    owner: Organization
    email: str
    person: User | None  # None: someone new to the portal
    target: Organization | None  # None until a new customer's account exists


def _check(licenses: list[License], customer_email: str, actor: Actor, customer: Organization | None) -> _Checked:
    if not licenses:
        raise RuleError("Choose at least one license to assign.", field="licenses")
    owner_ids = {lic.owner_id for lic in licenses}
    if len(owner_ids) != 1:
        raise RuleError("Assign the licenses of one organization at a time.", field="licenses")
    owner = db.session.get(Organization, owner_ids.pop())
    acting = user_with_access(actor.user_id) if actor.user_id else None
    if acting is None or not can(acting, Permission.ASSIGN_LICENSES, owner):
        raise RuleError(f"Only {owner.name} can assign its licenses.")
    for lic in licenses:
        if lic.customer_id is not None:
            raise _already_assigned(lic)
    if not (customer_email or "").strip():
        raise RuleError("Type the email address of the person who receives the keys.", field="email")
    email = normalize_email(customer_email)
    person = find_user_by_email(email)
    person = user_with_access(person.id) if person is not None else None
    if customer is not None:
        if not _is_customer(owner, customer):
            raise RuleError(f"{customer.name} is not a customer of {owner.name}.")
        if person is None or not any(m.active and m.organization_id == customer.id for m in person.memberships):
            raise RuleError(f"{email} is not a user of {customer.name}. Use the address of one of its users.",
                            field="email")
        return _Checked(owner, email, person, customer)
    if person is not None:
        return _Checked(owner, email, person, _customer_for(person, owner, email))
    return _Checked(owner, email, None, None)


def check_assignment(licenses: list[License], customer_email: str, actor: Actor, *,
                     customer: Organization | None = None) -> str:
    """What assign_licenses would refuse, checked without writing anything (for the confirmation step); returns
    the email address in its normal form."""
    return _check(licenses, customer_email, actor, customer).email


def licenses_to_assign(org: Organization, keys: list[str], found: list[License]) -> list[License]:
    """`found` (licenses_by_keys) when it holds every key asked for; otherwise RuleError naming the first key that
    is not one of `org`'s licenses."""
    unknown = sorted(set(keys) - {lic.key for lic in found})
    if unknown:
        raise RuleError(f"License {unknown[0]} is not one of {org.name}'s licenses.", field="licenses")
    return found


@dataclass(frozen=True)
class Review:
    """What the confirmation step says before the last click: the address in its normal form, and who receives
    the licenses: a known organization, or (`organization` None) a new customer account named
    `new_customer_name`."""

    email: str
    organization: Organization | None
    new_customer_name: str = ""


def review_assignment(licenses: list[License], customer_email: str, actor: Actor, *,
                      customer: Organization | None = None, customer_name: str = "") -> Review:
    """Check an assignment without writing anything and say who would receive the licenses: the organization of
    a person the portal knows, else the new customer account (its name checked now, so the last click does not
    fail on it)."""
    checked = _check(licenses, customer_email, actor, customer)
    if checked.person is not None:
        return Review(checked.email, checked.target)
    name = customer_name.strip() or checked.email
    taken = db.session.scalar(select(Organization.id).where(Organization.parent_id == checked.owner.id,
                                                            func.lower(Organization.name) == name.lower()).limit(1))
    if taken is not None:
        raise RuleError(f"{checked.owner.name} already has a customer called {name}. To give it these licenses, "
                        "use the address of one of its users; for another company, type its own name.",
                        field="customer_name")
    return Review(checked.email, None, name)


def assign_licenses(licenses: list[License], customer_email: str, actor: Actor, *,
                    customer: Organization | None = None, customer_name: str = "") -> Assignment:
    """Give unassigned licenses to a customer for good and email them the keys.

    The person with `customer_email` receives the keys. A known person's organization gets the licenses (see
    `_customer_for`); with `customer` (picked from the reseller's customers, or the reseller itself for
    "Use myself") the person must be one of its users. Someone new gets an account: a sub-chain under the
    reseller named `customer_name` (or their address), and one email with their username, a link to set their
    password and the keys. Only the buying organization assigns (ASSIGN_LICENSES on it). The database refuses
    a second assignment: each license is written only while it is still unassigned, so of concurrent attempts
    exactly one succeeds; the others raise RuleError and must roll back."""
    checked = _check(licenses, customer_email, actor, customer)
    owner, email, person, target = checked.owner, checked.email, checked.person, checked.target
    new_account = person is None
    if new_account:
        target, person = _new_customer_account(owner, email, customer_name.strip(), actor)
    return give_licenses(licenses, owner, target, person, actor, new_account=new_account)


def give_licenses(licenses: list[License], owner: Organization, target: Organization, person: User, actor: Actor,
                  *, new_account: bool = False) -> Assignment:
    """Write the assignment of `owner`'s unassigned licenses to `target` for good, audit it and email `person` the
    keys. The caller decided who may (assign_licenses checks the acting user; a storefront sale assigns what its
    customer just bought). Each license is written only while still unassigned: RuleError otherwise."""
    email = person.email
    now = utcnow()
    for lic in sorted(licenses, key=lambda lic: lic.id):  # one lock order, so concurrent assignments never deadlock
        # The conditional write is the rule: it succeeds only while the license is unassigned.
        written = db.session.execute(
            update(License)
            .where(License.id == lic.id, License.owner_id == owner.id, License.customer_id.is_(None))
            .values(customer_id=target.id, assigned_at=now, assigned_by_id=actor.user_id)
            .execution_options(synchronize_session=False)
        )
        if written.rowcount != 1:
            raise _already_assigned(lic)
    assigned = list(db.session.scalars(
        select(License).where(License.id.in_([lic.id for lic in licenses]))
        .options(*_license_options(), selectinload(License.addons))
        .order_by(License.key).execution_options(populate_existing=True)
    ))
    for lic in assigned:
        record(actor, "license.assigned", lic, owner.id, key=lic.key, customer_id=target.id, customer=target.name,
               email=email, new_account=new_account or None)
    webhook_events.emit_all(owner.id, [(EventType.LICENSE_ASSIGNED, webhook_events.license_data(
        lic, customer_email=email)) for lic in assigned])
    if new_account:
        raw = issue_password_token(person, PasswordTokenPurpose.SET)
        enqueue_email(email, "license_assigned_new_account", user=person, organization=target, reseller=owner,
                      licenses=assigned, link=external_url("accounts.set_password", token=raw),
                      hours=current_app.config["PASSWORD_TOKEN_HOURS"])
    else:
        enqueue_email(email, "license_assigned", user=person, organization=target, reseller=owner,
                      licenses=assigned, link=external_url("licenses.index"))
    return Assignment(assigned, target, person, new_account)
