"""Partner grant rules: the lifecycle (a state machine), who exercises a grant, partner IDs, the lists both sides see.

A grant goes requested -> active (approved by the customer) | declined (by the customer) | withdrawn (by the
partner); or it starts active (granted directly by the customer); active -> revoked (by either side) | expired (its
date passed). Every move is audited for both organizations and emailed to the other side. Services flush, never
commit.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import case, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Membership, Organization, Role, User
from portal.accounts.services import managers_emails, normalize_email
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.partners.models import OPEN_STATES, GrantState, PartnerAssignment, PartnerGrant

GRANTABLE_ROLES = frozenset({Role.INSTALLER})  # what a grant may carry; more roles can join this set
DEFAULT_YEARS = 1
MAX_YEARS = 2


class Side(enum.StrEnum):
    CUSTOMER = "customer"
    PARTNER = "partner"
    SYSTEM = "system"  # the expiry job


# (from, to) -> the sides that may make the move. Creation (requested by the partner, active when granted directly
# by the customer) is not a move: `request_access` and `grant_directly` make new grants.
TRANSITIONS: dict[tuple[GrantState, GrantState], frozenset[Side]] = {
    (GrantState.REQUESTED, GrantState.ACTIVE): frozenset({Side.CUSTOMER}),
    (GrantState.REQUESTED, GrantState.DECLINED): frozenset({Side.CUSTOMER}),
    (GrantState.REQUESTED, GrantState.WITHDRAWN): frozenset({Side.PARTNER}),
    (GrantState.ACTIVE, GrantState.REVOKED): frozenset({Side.CUSTOMER, Side.PARTNER}),
    (GrantState.ACTIVE, GrantState.EXPIRED): frozenset({Side.SYSTEM}),
}
_VERBS = {GrantState.ACTIVE: "approved", GrantState.DECLINED: "declined", GrantState.WITHDRAWN: "withdrawn",
          GrantState.REVOKED: "revoked", GrantState.EXPIRED: "expired", GrantState.REQUESTED: "requested"}


def years_later(day: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_expiry(expires_on: date | None, today: date) -> date:
    """The expiry date to use: one year from today by default; after today and at most two years away."""
    if expires_on is None:
        return years_later(today, DEFAULT_YEARS)
    if expires_on <= today:
        raise RuleError("Choose an end date after today.", field="expires_on")
    if expires_on > years_later(today, MAX_YEARS):
        raise RuleError(f"A grant lasts at most {MAX_YEARS} years: choose "
                        f"{years_later(today, MAX_YEARS).isoformat()} or earlier.", field="expires_on")
    return expires_on


def _check_roles(roles: frozenset[Role]) -> str:
    if not roles or not roles <= GRANTABLE_ROLES:
        raise RuleError("A grant gives Installation Partner access.", field="roles")
    return ",".join(sorted(r.value for r in roles))


# ---------------------------------------------------------------- partner IDs


def partner_id_code(org: Organization) -> str:
    """The partner ID a partner organization gives its customers: its id and a keyed signature, so that it cannot
    be guessed from another's (changing SECRET_KEY changes every partner ID)."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"partner-id:{org.id}".encode(), hashlib.sha256)
    return f"{org.id}-{digest.hexdigest()[:12].upper()}"


def find_partner_by_code(code: str) -> Organization | None:
    """The main chain a partner ID names, or None for anything else (a wrong signature looks like no partner)."""
    org_id, _, _ = code.strip().upper().partition("-")
    if not org_id.isdigit() or len(org_id) > 12:
        return None
    org = db.session.get(Organization, int(org_id))
    if org is None or not org.is_main_chain or not hmac.compare_digest(partner_id_code(org), code.strip().upper()):
        return None
    return org


# ---------------------------------------------------------------- the lifecycle


def _audit(grant: PartnerGrant, action: str, actor: Actor, **details) -> None:
    """One entry in each organization's activity (the customer's only once it is known)."""
    details = {"customer": grant.customer.name if grant.customer else None, "partner": grant.partner.name,
               "expires_on": grant.expires_on.isoformat(), **details}
    for org_id in dict.fromkeys(i for i in (grant.customer_id, grant.partner_id) if i is not None):
        record(actor, f"partner_grant.{action}", grant, org_id, **details)


def _email(org: Organization | None, event: str, grant: PartnerGrant) -> None:
    """Tell the managers of one side what happened."""
    recipients = managers_emails(org) if org is not None else []
    if recipients:
        enqueue_email(recipients, "partner_grant", event=event, grant=grant, organization=org,
                      link=external_url("partners.index"))


def move(grant: PartnerGrant, to: GrantState, side: Side, actor: Actor, today: date | None = None) -> None:
    """Move a grant to state `to` on behalf of `side`, if the lifecycle allows it; audited, emailed to the other
    side. RuleError names what is refused."""
    today = today or utcnow().date()
    allowed = TRANSITIONS.get((grant.state, to))
    if allowed is None:
        raise RuleError(f"This grant is {grant.state.value}: it cannot be {_VERBS[to]}.")
    if side not in allowed:
        raise RuleError(f"Only the {' or '.join(sorted(s.value for s in allowed))} can make this grant {to.value}.")
    if to is GrantState.ACTIVE:
        if grant.customer is None:
            raise RuleError("This request names no customer of yours.")
        if grant.expires_on <= today:
            raise RuleError("This request's end date has passed; decline it and ask the partner for a new one.")
        grant.starts_on = today
    if to is GrantState.EXPIRED and grant.expires_on > today:
        raise RuleError(f"This grant runs until {grant.expires_on.isoformat()}; it has not expired.")
    before = grant.state
    grant.state = to
    if to in (GrantState.ACTIVE, GrantState.DECLINED):
        grant.decided_at = utcnow()
    else:
        grant.ended_at = utcnow()
    _audit(grant, _VERBS[to], actor, before=before.value, by=side.value)
    if side is not Side.CUSTOMER:
        _email(grant.customer, _VERBS[to], grant)
    if side is not Side.PARTNER:
        _email(grant.partner, _VERBS[to], grant)


def _open_grant(customer_id: int, partner_id: int) -> PartnerGrant | None:
    return db.session.scalars(select(PartnerGrant).where(
        PartnerGrant.customer_id == customer_id, PartnerGrant.partner_id == partner_id,
        PartnerGrant.state.in_(OPEN_STATES))).first()


def _customer_of_manager(email: str) -> Organization | None:
    """The main chain where an active user with this address is an active Chain & User Manager."""
    return db.session.scalars(
        select(Organization).join(Membership, Membership.organization_id == Organization.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email, User.active.is_(True), Membership.active.is_(True),
               Membership.role == Role.MANAGER, Organization.parent_id.is_(None))
        .order_by(Organization.id)
    ).first()


def request_access(partner: Organization, customer_email: str, actor: Actor, expires_on: date | None = None,
                   roles: frozenset[Role] = GRANTABLE_ROLES, today: date | None = None) -> PartnerGrant:
    """A partner asks a customer (named by one of its managers' addresses) for access. The request is recorded
    whether or not the address is a manager's, and the partner sees only the address until the customer approves:
    nothing tells the partner whether the address has an account."""
    today = today or utcnow().date()
    if not partner.is_main_chain:
        raise RuleError("Partner access is requested by a main chain.")
    email = normalize_email(customer_email)
    expires_on = check_expiry(expires_on, today)
    roles_value = _check_roles(roles)
    customer = _customer_of_manager(email)
    if customer is not None and customer.id == partner.id:
        customer = None  # a chain needs no grant to itself; recorded like any address that leads nowhere
    if customer is not None and (existing := _open_grant(customer.id, partner.id)) is not None:
        return existing
    grant = PartnerGrant(customer=customer, partner=partner, requested_email=email, roles=roles_value,
                         state=GrantState.REQUESTED, expires_on=expires_on, created_by_id=actor.user_id)
    db.session.add(grant)
    db.session.flush()
    _audit(grant, "requested", actor, email=email)
    _email(customer, "requested", grant)
    return grant


def grant_directly(customer: Organization, partner_code: str, actor: Actor, expires_on: date | None = None,
                   roles: frozenset[Role] = GRANTABLE_ROLES, today: date | None = None) -> PartnerGrant | None:
    """A customer gives a partner organization (named by its partner ID) access at once. None when the ID names
    no other main chain; an open grant to that partner is returned as it is (approving a request is its own step)."""
    today = today or utcnow().date()
    if not customer.is_main_chain:
        raise RuleError("Installation Partner access is granted on a main chain.")
    expires_on = check_expiry(expires_on, today)
    roles_value = _check_roles(roles)
    partner = find_partner_by_code(partner_code)
    if partner is None or partner.id == customer.id:
        return None
    if (existing := _open_grant(customer.id, partner.id)) is not None:
        return existing
    grant = PartnerGrant(customer=customer, partner=partner, requested_email="", roles=roles_value,
                         state=GrantState.ACTIVE, starts_on=today, expires_on=expires_on,
                         created_by_id=actor.user_id, decided_at=utcnow())
    db.session.add(grant)
    db.session.flush()
    _audit(grant, "granted", actor)
    _email(partner, "granted", grant)
    return grant


def expire_lapsed(today: date | None = None) -> list[PartnerGrant]:
    """Mark active grants whose expiry date has come as expired (access already ended on that date: authz reads
    the date). Both sides are told."""
    today = today or utcnow().date()
    lapsed = list(db.session.scalars(
        select(PartnerGrant).where(PartnerGrant.state == GrantState.ACTIVE, PartnerGrant.expires_on <= today)
        .options(joinedload(PartnerGrant.customer), joinedload(PartnerGrant.partner)).order_by(PartnerGrant.id)))
    for grant in lapsed:
        move(grant, GrantState.EXPIRED, Side.SYSTEM, Actor.system(), today)
    return lapsed


# ---------------------------------------------------------------- who exercises a grant


def assignable_users(partner: Organization) -> list[tuple[int, str]]:
    """The partner's active users (id, email), the only ones its managers may assign to a grant."""
    return [tuple(row) for row in db.session.execute(
        select(User.id, User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == partner.id, Membership.active.is_(True), User.active.is_(True))
        .order_by(User.email))]


def assign(grant: PartnerGrant, user_id: int, actor: Actor) -> PartnerAssignment:
    """The partner's managers let one of their users exercise the grant."""
    if grant.state not in OPEN_STATES:
        raise RuleError(f"This grant is {grant.state.value}: nobody can be assigned to it.", field="user_id")
    if user_id not in {uid for uid, _ in assignable_users(grant.partner)}:
        raise RuleError(f"Choose one of the active users of {grant.partner.name}.", field="user_id")
    user = db.session.get(User, user_id)
    if any(a.user_id == user.id for a in grant.assignments):
        raise RuleError(f"{user.email} is already assigned.", field="user_id")
    assignment = PartnerAssignment(grant=grant, user=user)
    db.session.add(assignment)
    _audit(grant, "assigned", actor, email=user.email)
    if grant.state is GrantState.ACTIVE and grant.customer is not None:
        enqueue_email(user.email, "partner_granted", user=user, organization=grant.customer, partner=grant.partner,
                      expires_on=grant.expires_on, link=external_url("accounts.login"))
    return assignment


def unassign(grant: PartnerGrant, user_id: int, actor: Actor) -> None:
    """The user stops exercising the grant (at their next request)."""
    assignment = next((a for a in grant.assignments if a.user_id == user_id), None)
    if assignment is None:
        raise RuleError("That user is not assigned to this grant.")
    _audit(grant, "unassigned", actor, email=assignment.user.email)
    grant.assignments.remove(assignment)


# ---------------------------------------------------------------- what each side sees


@dataclass(frozen=True)
class GrantLists:
    active: list[PartnerGrant]
    pending: list[PartnerGrant]
    past: list[PartnerGrant]


def _lists(grants: list[PartnerGrant], today: date) -> GrantLists:
    active = [g for g in grants if g.state is GrantState.ACTIVE and g.expires_on > today]
    pending = [g for g in grants if g.state is GrantState.REQUESTED]
    past = [g for g in grants if g not in active and g not in pending]
    return GrantLists(active, pending, past)


SHOWN = 200  # per organization, open grants first, then the most recent past ones (the activity log keeps all)


@dataclass(frozen=True)
class PartnerPage:
    given: GrantLists  # as the customer
    held: GrantLists  # as the partner


def partner_page(org: Organization, today: date | None = None) -> PartnerPage:
    """Both sides of an organization's grants, in one query (and one for the users assigned)."""
    today = today or utcnow().date()
    grants = list(db.session.scalars(
        select(PartnerGrant).where(or_(PartnerGrant.customer_id == org.id, PartnerGrant.partner_id == org.id))
        .options(joinedload(PartnerGrant.customer), joinedload(PartnerGrant.partner),
                 selectinload(PartnerGrant.assignments).joinedload(PartnerAssignment.user))
        .order_by(case((PartnerGrant.state.in_(OPEN_STATES), 0), else_=1), PartnerGrant.created_at.desc(),
                  PartnerGrant.id.desc())
        .limit(SHOWN)))
    return PartnerPage(given=_lists([g for g in grants if g.customer_id == org.id], today),
                       held=_lists([g for g in grants if g.partner_id == org.id], today))


def grants_given(customer: Organization, today: date | None = None) -> GrantLists:
    """The grants a customer gave or was asked for: active, waiting for its approval, and past."""
    return partner_page(customer, today).given


def grants_held(partner: Organization, today: date | None = None) -> GrantLists:
    """The grants a partner holds or asked for: active, waiting for the customer, and past."""
    return partner_page(partner, today).held


def seed_partner_grant(customer: Organization, partner: Organization, users: list[User],
                       today: date | None = None) -> PartnerGrant:
    """An active one-year grant customer -> partner with `users` assigned, unless an open grant exists (the demo
    and the migration of per-person Installation Partner access). No email, no audit: nobody acted."""
    today = today or utcnow().date()
    grant = _open_grant(customer.id, partner.id)
    if grant is None:
        grant = PartnerGrant(customer=customer, partner=partner, roles=Role.INSTALLER.value, state=GrantState.ACTIVE,
                             starts_on=today, expires_on=years_later(today, DEFAULT_YEARS), decided_at=utcnow())
        db.session.add(grant)
        db.session.flush()
    assigned = set(db.session.scalars(select(PartnerAssignment.user_id)
                                      .where(PartnerAssignment.grant_id == grant.id)))
    for user in users:
        if user.id not in assigned:
            db.session.add(PartnerAssignment(grant_id=grant.id, user_id=user.id))
    db.session.flush()
    return grant
