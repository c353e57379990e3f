"""The one authorization policy: permissions, what each role grants, and the scoped queries views use.

Rules:
- a membership covers its organization and that organization's sub-chains, never the parent or siblings;
- an active, unexpired partner grant (portal/partners) gives the roles it lists on the customer's main chain and
  its sub-chains, as a membership there would, to each partner user assigned to it, only while that user is an
  active member of the partner organization (checked on every request, so leaving the partner ends it at once);
- billing permissions exist only on a main chain (a sub-chain has no billing);
- vendor staff hold the STAFF permission; it does not by itself open any tenant's data;
- another tenant's object is a 404 (`*_or_404` helpers); a page the role may not use in its own tenant is a 403.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date
from functools import wraps

from flask import abort, g
from flask_login import current_user
from sqlalchemy import CompoundSelect, Select, and_, false, inspect, or_, select, union
from sqlalchemy.orm import InstrumentedAttribute, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import Membership, Organization, PartnerTier, Role, User
from portal.db_types import utcnow
from portal.extensions import db, login_manager
from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant


class Permission(enum.Enum):
    VIEW_ACCOUNT = "view account"
    EDIT_ACCOUNT = "edit contact information"
    MANAGE_USERS = "manage users"
    MANAGE_SUB_CHAINS = "manage sub-chains"
    MANAGE_PARTNERS = "grant installation partners"
    VIEW_AUDIT = "view audit log"
    BUY = "buy"
    VIEW_ORDERS = "view orders"
    VIEW_PRICES = "view prices"
    ASSIGN_LICENSES = "assign licenses"
    VIEW_LICENSES = "view licenses"
    VIEW_CUSTOMERS = "view customers"
    VIEW_REPORTS = "view reports"
    VIEW_INVOICES = "view invoices"
    PAY_INVOICES = "pay invoices"
    MANAGE_SUBSCRIPTIONS = "manage subscriptions"
    MANAGE_PAYMENT_METHODS = "manage payment methods"
    MANAGE_DEVICES = "manage devices and locations"
    VIEW_DEVICES = "view devices and locations"
    ACTIVATE = "activate installations"
    MANAGE_STOREFRONT = "manage the storefront"  # a reseller's storefront: its look, contact details and prices
    # What the vendor's fees (DOMAIN §8) cost a reseller per customer account: its billing roles', never a viewer's
    # or an installer's.
    VIEW_RESELLER_FEES = "view reseller fees"
    # The automation API: its keys (/account/api-keys) and webhook endpoints (/account/webhooks), a main chain's
    # Chain & User Managers'.
    MANAGE_API = "manage API keys and webhooks"
    STAFF = "vendor staff"


P = Permission

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.MANAGER: frozenset({
        P.VIEW_ACCOUNT, P.EDIT_ACCOUNT, P.MANAGE_USERS, P.MANAGE_SUB_CHAINS, P.MANAGE_PARTNERS, P.VIEW_AUDIT,
        P.BUY, P.VIEW_ORDERS, P.VIEW_PRICES, P.ASSIGN_LICENSES, P.VIEW_LICENSES, P.VIEW_CUSTOMERS, P.VIEW_REPORTS,
        P.VIEW_INVOICES, P.PAY_INVOICES, P.MANAGE_SUBSCRIPTIONS, P.MANAGE_PAYMENT_METHODS,
        P.MANAGE_DEVICES, P.VIEW_DEVICES, P.ACTIVATE, P.MANAGE_STOREFRONT, P.VIEW_RESELLER_FEES, P.MANAGE_API,
    }),
    Role.MEMBER: frozenset({
        P.VIEW_ACCOUNT, P.BUY, P.VIEW_ORDERS, P.VIEW_PRICES, P.ASSIGN_LICENSES, P.VIEW_LICENSES, P.VIEW_CUSTOMERS,
        P.VIEW_REPORTS, P.VIEW_INVOICES, P.VIEW_DEVICES, P.VIEW_RESELLER_FEES,
    }),
    Role.INSTALLER: frozenset({P.VIEW_ACCOUNT, P.MANAGE_DEVICES, P.VIEW_DEVICES, P.ACTIVATE}),
    Role.VIEWER: frozenset({P.VIEW_ACCOUNT, P.VIEW_LICENSES, P.VIEW_DEVICES}),
}

# Billing belongs to the main chain alone (DOMAIN §2), and so does buying, which is billed; partners are granted
# on the chain that pays; sub-chains are one level deep, so only a main chain has them.
MAIN_CHAIN_ONLY: frozenset[Permission] = frozenset({
    P.BUY, P.VIEW_ORDERS, P.MANAGE_PARTNERS, P.MANAGE_SUB_CHAINS, P.VIEW_INVOICES, P.PAY_INVOICES,
    P.MANAGE_SUBSCRIPTIONS, P.MANAGE_PAYMENT_METHODS, P.MANAGE_STOREFRONT, P.VIEW_RESELLER_FEES, P.MANAGE_API,
})


# A storefront, a reseller plan and the vendor's fees are a reseller's (Organization.is_reseller), never an end
# customer's main chain.
RESELLER_ONLY: frozenset[Permission] = frozenset({P.MANAGE_STOREFRONT, P.VIEW_RESELLER_FEES})


def _covers(membership: Membership, org: Organization) -> bool:
    return org.id == membership.organization_id or org.parent_id == membership.organization_id


def _assignments(user: User) -> list[PartnerAssignment]:
    """The user's grant assignments with their grants and customers (loaded with the user for a request)."""
    if "partner_assignments" in inspect(user).unloaded:
        rows = list(db.session.scalars(
            select(PartnerAssignment).where(PartnerAssignment.user_id == user.id)
            .options(joinedload(PartnerAssignment.grant).joinedload(PartnerGrant.customer))))
        set_committed_value(user, "partner_assignments", rows)
    return user.partner_assignments


def partner_access(user: User, today: date | None = None) -> dict[int, tuple[Organization, frozenset[Role]]]:
    """Per customer main chain reached through partner grants: the customer and the roles the user holds there.
    Only grants in force on `today`, assigned to the user, of a partner the user is still an active member of."""
    today = today or utcnow().date()
    member_of = {m.organization_id for m in user.memberships if m.active}
    reached: dict[int, tuple[Organization, frozenset[Role]]] = {}
    for assignment in _assignments(user):
        grant = assignment.grant
        if grant.customer is not None and grant.partner_id in member_of and grant.in_force(today):
            roles = reached.get(grant.customer_id, (grant.customer, frozenset()))[1] | grant.role_set
            reached[grant.customer_id] = (grant.customer, roles)
    return reached


def can(user: User, permission: Permission, org: Organization | None = None) -> bool:
    """Whether `user` holds `permission` on `org` (STAFF needs no organization)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if permission is P.STAFF:
        return user.is_staff
    if org is None:
        return False
    if permission in MAIN_CHAIN_ONLY and not org.is_main_chain:
        return False
    if permission in RESELLER_ONLY and not org.is_reseller:
        return False
    if any(m.active and permission in ROLE_PERMISSIONS[m.role] and _covers(m, org) for m in user.memberships):
        return True
    return any(
        org.main_chain_id == customer_id and any(permission in ROLE_PERMISSIONS[r] for r in roles)
        for customer_id, (_, roles) in partner_access(user).items()
    )


def chain_ids(org_id: int) -> Select:
    """SELECT of the ids of an organization and its sub-chains (one level deep): what a membership there covers."""
    return select(Organization.id).where(or_(Organization.id == org_id, Organization.parent_id == org_id))


def organization_ids_where(user: User, permission: Permission) -> CompoundSelect:
    """SELECT of the ids of every organization on which `user` holds `permission`: the organizations its
    memberships and grants name, and their sub-chains. Two branches joined by UNION, each read through an index
    (the primary key, `parent_id`): an OR of the two would make the database scan every organization."""
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if permission in perms]

    def granting() -> CompoundSelect:
        return select(Membership.organization_id).where(
            Membership.user_id == user.id, Membership.active.is_(True), Membership.role.in_(roles)
        ).union(_granted_customer_ids(user, roles))

    branches = [select(Organization.id).where(Organization.id.in_(granting())),
                select(Organization.id).where(Organization.parent_id.in_(granting()))]
    if permission in MAIN_CHAIN_ONLY:
        branches = [branch.where(Organization.parent_id.is_(None)) for branch in branches]
    if permission in RESELLER_ONLY:
        branches = [branch.where(Organization.partner_tier != PartnerTier.NONE) for branch in branches]
    return union(*branches)


def _granted_customer_ids(user: User, roles: list[Role]) -> Select:
    """SELECT of the customer main chains where `user` exercises a grant in force today listing one of `roles`."""
    today = utcnow().date()
    role_match = or_(*(PartnerGrant.roles.contains(r.value) for r in roles)) if roles else false()
    return (
        select(PartnerGrant.customer_id)
        .join(PartnerAssignment, PartnerAssignment.grant_id == PartnerGrant.id)
        .join(Membership, and_(Membership.user_id == PartnerAssignment.user_id,
                               Membership.organization_id == PartnerGrant.partner_id))
        .where(PartnerAssignment.user_id == user.id, Membership.active.is_(True),
               PartnerGrant.state == GrantState.ACTIVE, PartnerGrant.starts_on <= today,
               PartnerGrant.expires_on > today, PartnerGrant.customer_id.is_not(None), role_match)
    )


def scoped(stmt: Select, org_column: InstrumentedAttribute, user: User, permission: Permission) -> Select:
    """Restrict a query of tenant rows (owned through `org_column`) to what `user` may see for `permission`."""
    return stmt.where(org_column.in_(organization_ids_where(user, permission)))


def scoped_to(org: Organization, stmt: Select, org_column, user: User, permission: Permission) -> Select:
    """scoped() for a query already limited to `org` (or to `org` and its sub-chains): when `user` holds
    `permission` on `org`, the scope holds every row the query can return, so it is checked once, in memory (can),
    rather than in SQL, where the IN over every organization the user may see lists all of a reseller's customers
    on every query (thousands of rows on a large book). Otherwise the query is scoped as usual, as it is for a user
    whose memberships are not loaded (no lazy load here)."""
    in_memory = "memberships" not in inspect(user).unloaded
    return stmt if in_memory and can(user, permission, org) else scoped(stmt, org_column, user, permission)


def get_organization_or_404(user: User, permission: Permission, org_id: int) -> Organization:
    """An organization the user holds `permission` on; anything else is a 404."""
    org = db.session.get(Organization, org_id)
    if org is None or not can(user, permission, org):
        abort(404)
    return org


def get_in_scope_or_404(model: type, object_id: int, org_column: InstrumentedAttribute, user: User,
                        permission: Permission, *options) -> object:
    """One tenant object by id, only if it belongs to an organization where the user holds `permission`."""
    stmt = scoped(select(model).where(model.id == object_id), org_column, user, permission).options(*options)
    obj = db.session.scalars(stmt).first()
    if obj is None:
        abort(404)
    return obj


def active_organization() -> Organization | None:
    """The organization the signed-in user is working in (chosen in the header; see accounts.context)."""
    return g.get("organization")


def require(permission: Permission, org: Organization | None = None) -> None:
    """Abort 403 unless the current user holds `permission` on `org` (the active organization by default)."""
    target = org if org is not None else active_organization()
    if not can(current_user, permission, target):
        abort(403)


def requires(permission: Permission) -> Callable:
    """View decorator: the current user must hold `permission` on the active organization (or be staff)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            require(permission)
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # read by the route x role test
        return wrapper

    return decorator


def navigation_permissions(user: User, org: Organization | None) -> frozenset[Permission]:
    """Every permission the user holds on `org`: what the navigation may offer."""
    return frozenset(p for p in Permission if can(user, p, org))


def storefront_customer_chains(user: User, reseller_id: int) -> list[Organization]:
    """The sub-chains of reseller `reseller_id` through which `user` is a customer of its storefront: the user's
    active memberships there, any role (a viewer buys too). The reseller's own users, and partner grants, make
    nobody a customer."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    return sorted((m.organization for m in user.memberships
                   if m.active and m.organization.parent_id == reseller_id),
                  key=lambda org: (org.name.lower(), org.id))


def customer_of_another_storefront(user: User, reseller_id: int) -> bool:
    """Whether `user` is a customer of resellers other than `reseller_id` only: a sub-chain user of another
    reseller, with no membership in this reseller's chain. Such a user is never shown this storefront (a 404)."""
    if not getattr(user, "is_authenticated", False) or user.is_staff:
        return False
    active = [m.organization for m in user.memberships if m.active]
    ours = any(org.id == reseller_id or org.parent_id == reseller_id for org in active)
    return not ours and any(org.parent_id is not None for org in active)
