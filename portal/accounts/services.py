"""Account rules: signing in, passwords and their emailed tokens, users, contacts, sub-chains.

Services flush, never commit; the caller (a view or a CLI command) commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.addresses import refuse_po_box
from portal.accounts.models import (
    BillingMode,
    Contact,
    Membership,
    Organization,
    PartnerTier,
    PasswordToken,
    PasswordTokenPurpose,
    Role,
    User,
)
from portal.accounts.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.partners.models import PartnerAssignment, PartnerGrant
from portal.signin.models import UserSession


def normalize_email(raw: str) -> str:
    """The canonical form of an email address, or RuleError if it is not one."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise RuleError(str(exc), field="email") from exc


def find_user_by_email(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == email.strip().lower())).first()


def user_access_options() -> tuple:
    """Loader options that bring a user's memberships, partner grants and those organizations: what every
    permission check reads (the grants join the user's own statement, so a request still starts with two)."""
    return (selectinload(User.memberships).joinedload(Membership.organization).joinedload(Organization.parent),
            joinedload(User.partner_assignments).joinedload(PartnerAssignment.grant)
            .joinedload(PartnerGrant.customer))


def user_with_access(user_id: int) -> User | None:
    """A user with what every permission check reads loaded (user_access_options)."""
    return db.session.scalars(
        select(User)
        .where(User.id == user_id)
        .options(*user_access_options())
        .execution_options(populate_existing=True)
    ).unique().first()


def authenticate(email: str, password: str, actor: Actor) -> User | None:
    """The user these credentials belong to, or None. Records the sign-in and upgrades an old hash."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    record(Actor(user.id, actor.ip), "user.login", user, None)
    return user


def end_all_sessions(user: User) -> None:
    """Every session of this user stops working at its next request (portal/signin: a row per sign-in)."""
    db.session.execute(
        update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow()).execution_options(synchronize_session=False)
    )


def _spend_open_tokens(user: User) -> None:
    """Every set/reset link of the user still open stops working."""
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def check_password_strength(password: str, user: User) -> None:
    if len(password) < MIN_LENGTH:
        raise RuleError(f"Use at least {MIN_LENGTH} characters.", field="password")
    if password.strip().lower() in {user.email.lower(), user.email.split("@")[0].lower()}:
        raise RuleError("Your password must not be your email address.", field="password")


def change_password(user: User, current_password: str, new_password: str, actor: Actor) -> None:
    """Set a new password, end every session of the user (the caller starts a new one for this browser) and
    every reset link emailed before."""
    if not verify_password(user.password_hash, current_password):
        raise RuleError("That is not your current password.", field="current")
    check_password_strength(new_password, user)
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)
    _spend_open_tokens(user)
    record(actor, "user.password_changed", user, None)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_password_token(user: User, purpose: PasswordTokenPurpose) -> str:
    """A new single-use token (the raw value goes into the email; only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    hours = current_app.config["PASSWORD_TOKEN_HOURS"]
    db.session.add(PasswordToken(user=user, token_hash=_token_hash(raw), purpose=purpose,
                                 expires_at=utcnow() + timedelta(hours=hours)))
    return raw


def find_valid_token(raw: str) -> PasswordToken | None:
    token = db.session.scalars(
        select(PasswordToken).where(PasswordToken.token_hash == _token_hash(raw))
        .options(selectinload(PasswordToken.user))
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= utcnow() or not token.user.active:
        return None
    return token


def set_password_with_token(raw: str, new_password: str, actor: Actor) -> User:
    """Use a set/reset link once: set the password, end other sessions, spend every open token of the user."""
    token = find_valid_token(raw)
    if token is None:
        raise RuleError("This link has expired or has already been used. Ask for a new one.")
    user = token.user
    check_password_strength(new_password, user)
    # Conditional write: of two requests racing with the same link, only one finds it unused.
    spent = db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.id == token.id, PasswordToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise RuleError("This link has expired or has already been used. Ask for a new one.")
    _spend_open_tokens(user)
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)
    record(Actor(user.id, actor.ip), f"user.password_{token.purpose.value}", user, None)
    return user


def request_password_reset(email: str, actor: Actor) -> None:
    """Email a reset link if an active account has this address; say nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    raw = issue_password_token(user, PasswordTokenPurpose.RESET)
    enqueue_email(user.email, "password_reset", user=user,
                  link=external_url("accounts.set_password", token=raw),
                  hours=current_app.config["PASSWORD_TOKEN_HOURS"])
    record(actor, "user.password_reset_requested", user, None)


def update_contact_information(org: Organization, changes: dict, actor: Actor) -> None:
    """Change an organization's contact and billing details (legal name, address, invoice email, phone)."""
    refuse_po_box(changes.get("address_line1", ""), "address_line1")
    refuse_po_box(changes.get("address_line2", ""), "address_line2")
    if changes.get("invoice_email"):
        changes["invoice_email"] = normalize_email(changes["invoice_email"])
    before = {k: getattr(org, k) for k in changes}
    for key, value in changes.items():
        setattr(org, key, value)
    diff = {k: [before[k], v] for k, v in changes.items() if before[k] != v}
    if diff:
        record(actor, "organization.updated", org, org.id, changes=diff)


def update_commercial_terms(org: Organization, billing_mode: BillingMode, partner_tier: PartnerTier,
                            grandfathered: bool, actor: Actor, tax_exempt: bool | None = None) -> None:
    """Staff set how a main chain pays (on order, or invoiced monthly), its partner tier (its discount), whether
    it keeps the payment methods it had before April 2019, and whether it buys for resale, exempt from tax."""
    if not org.is_main_chain:
        raise RuleError(f"{org.name} is a sub-chain: billing terms, partner tier and payment methods belong to its "
                        "main chain.")
    changes = {}
    terms = [("billing_mode", billing_mode), ("partner_tier", partner_tier),
             ("grandfathered_payment_methods", bool(grandfathered))]
    if tax_exempt is not None:
        terms.append(("tax_exempt", bool(tax_exempt)))
    for key, value in terms:
        before = getattr(org, key)
        if before != value:
            changes[key] = [getattr(before, "value", before), getattr(value, "value", value)]
            setattr(org, key, value)
    if changes:
        record(actor, "organization.commercial_terms_changed", org, org.id, changes=changes)

def _create_user(email: str, full_name: str) -> User:
    user = User(email=email, full_name=full_name.strip())
    db.session.add(user)
    return user


def _send_welcome(user: User, org: Organization, role: Role, invited_by: User | None) -> None:
    raw = issue_password_token(user, PasswordTokenPurpose.SET)
    enqueue_email(user.email, "welcome", user=user, organization=org, role=role, invited_by=invited_by,
                  link=external_url("accounts.set_password", token=raw),
                  hours=current_app.config["PASSWORD_TOKEN_HOURS"])


def add_login(org: Organization, email: str, full_name: str, role: Role, actor: Actor,
              welcome: bool = True) -> Membership:
    """Give a person a login to `org` with `role`: a new user gets a set-password email, a known one a notice.
    `welcome=False` leaves a new user's set-password email to the caller (license assignment writes one email
    with the link and the keys)."""
    email = normalize_email(email)
    inviter = db.session.get(User, actor.user_id) if actor.user_id else None
    user = find_user_by_email(email)
    if user is None:
        user = _create_user(email, full_name)
        try:
            db.session.flush()
        except IntegrityError:  # another request gave this address an account since we looked: the caller rolls back
            raise RuleError(f"{email} got a portal account a moment ago, in another request. Send the form again "
                            "to give them access.", field="email") from None
        if welcome:
            _send_welcome(user, org, role, inviter)
    else:
        existing = db.session.scalars(
            select(Membership).where(Membership.user_id == user.id, Membership.organization_id == org.id)
        ).first()
        if existing is not None and existing.active:
            raise RuleError(f"{email} already has access to {org.name}.", field="email")
        if not user.active:
            raise RuleError(f"{email} is deactivated; ask the vendor to restore it.", field="email")
        if existing is not None:  # reactivate a former membership rather than duplicate it
            existing.active, existing.role = True, role
            record(actor, "membership.reactivated", existing, org.id, email=email, role=role.value)
            enqueue_email(user.email, "access_granted", user=user, organization=org, role=role,
                          invited_by=inviter, link=external_url("accounts.login"))
            return existing
        enqueue_email(user.email, "access_granted", user=user, organization=org, role=role,
                      invited_by=inviter, link=external_url("accounts.login"))
    membership = Membership(user=user, organization=org, role=role)
    db.session.add(membership)
    record(actor, "membership.created", membership, org.id, email=email, role=role.value)
    return membership


def managers_emails(org: Organization) -> list[str]:
    """Every active Chain & User Manager of the organization (DOMAIN §2: they receive billing, renewal and
    new-device notices)."""
    return sorted(db.session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == org.id, Membership.role == Role.MANAGER,
               Membership.active.is_(True), User.active.is_(True))
    ))


def add_contact(org: Organization, email: str, full_name: str, phone: str, actor: Actor) -> Contact:
    """Record an additional contact (no login) for the organization."""
    contact = Contact(organization_id=org.id, email=normalize_email(email), full_name=full_name.strip(),
                      phone=phone.strip())
    db.session.add(contact)
    record(actor, "contact.created", contact, org.id, email=contact.email)
    return contact


def remove_contact(contact: Contact, actor: Actor) -> None:
    record(actor, "contact.removed", contact, contact.organization_id, email=contact.email)
    db.session.delete(contact)


def _active_managers(org_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.organization_id == org_id, Membership.role == Role.MANAGER, Membership.active.is_(True))
    )


def change_role(membership: Membership, role: Role, actor: Actor) -> None:
    """Change what a user may do in the organization; a chain always keeps one Chain & User Manager."""
    if membership.role == role:
        return
    if membership.role is Role.MANAGER and _active_managers(membership.organization_id) <= 1:
        raise RuleError("A chain needs at least one Chain & User Manager. Appoint another one first.",
                           field="role")
    record(actor, "membership.role_changed", membership, membership.organization_id,
           email=membership.user.email, before=membership.role.value, after=role.value)
    membership.role = role


def deactivate_membership(membership: Membership, actor: Actor) -> None:
    """Remove a user's access to the organization; with no access left anywhere, their login ends too."""
    if not membership.active:
        return
    if membership.role is Role.MANAGER and _active_managers(membership.organization_id) <= 1:
        raise RuleError("A chain needs at least one Chain & User Manager. Appoint another one first.")
    if membership.user_id == actor.user_id:
        raise RuleError("You cannot deactivate yourself; ask another Chain & User Manager.")
    membership.active = False
    user = membership.user
    end_all_sessions(user)
    if not user.is_staff and not any(m.active for m in user.memberships if m is not membership):
        user.active = False
    record(actor, "membership.deactivated", membership, membership.organization_id, email=user.email,
           user_deactivated=not user.active)


def create_sub_chain(parent: Organization, name: str, user_email: str, user_name: str, role: Role,
                     actor: Actor, welcome: bool = True) -> Organization:
    """Scenario 1: a main chain creates a sub-chain for an end customer, with its first user."""
    if not parent.is_main_chain:
        raise RuleError("Sub-chains can only be created under a main chain.")
    name = name.strip()
    if not name:
        raise RuleError("Give the sub-chain a name.", field="name")
    taken = db.session.scalar(
        select(func.count()).select_from(Organization)
        .where(Organization.parent_id == parent.id, func.lower(Organization.name) == name.lower())
    )
    if taken:
        raise RuleError(f"{parent.name} already has a sub-chain called {name}.", field="name")
    sub = Organization(parent=parent, name=name, legal_name=name, currency=parent.currency, country=parent.country)
    db.session.add(sub)
    db.session.flush()
    record(actor, "organization.sub_chain_created", sub, parent.id, name=name)
    add_login(sub, user_email, user_name, role, actor, welcome=welcome)
    return sub


@dataclass(frozen=True)
class ChainUsers:
    memberships: list[Membership]
    contacts: list[Contact]


def chain_users(org: Organization) -> ChainUsers:
    """The logins and additional contacts of one organization, for its users page."""
    memberships = db.session.scalars(
        select(Membership).where(Membership.organization_id == org.id)
        .options(selectinload(Membership.user))
        .join(User).order_by(Membership.active.desc(), User.email)
    ).all()
    contacts = db.session.scalars(
        select(Contact).where(Contact.organization_id == org.id).order_by(Contact.email)
    ).all()
    return ChainUsers(list(memberships), list(contacts))
