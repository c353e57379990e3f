"""Who may use a storefront: finding it by its alias, whether it is open, and its customers, who are the users of
the reseller's sub-chains (any role) and sign up there, which creates a sub-chain under the reseller.

Services flush, never commit; the view commits once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.addresses import refuse_po_box
from portal.accounts.models import Membership, Organization, Role, User
from portal.accounts.passwords import hash_password
from portal.accounts.services import check_password_strength, find_user_by_email, normalize_email
from portal.audit.services import Actor, record
from portal.authz import storefront_customer_chains
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.reseller_plans.plans import storefront_is_open
from portal.storefronts.models import ALIAS_LENGTH, Storefront
from portal.storefronts.prices import sells_own_prices_clause

_ALIAS_SHAPE = re.compile(rf"[a-z0-9-]{{1,{ALIAS_LENGTH}}}", re.ASCII)
CLOSED = "This storefront is closed. Nothing can be bought here, and nobody can sign in."
NOT_A_CUSTOMER = "That email and password do not match a customer account of this storefront."
EXISTING_EMAIL = ("An account with this email address already exists. Sign in with it instead; if you forgot its "
                  "password, reset it from the sign-in page.")


def storefront_by_alias(alias: str) -> Storefront | None:
    """The storefront at /s/<alias> (open or closed), with its reseller; None when there is none (an unknown alias,
    or a reseller without a storefront)."""
    alias = (alias or "").lower()
    if not _ALIAS_SHAPE.fullmatch(alias):  # nothing else can be an alias (nor reach the database: NUL bytes…)
        return None
    return db.session.scalars(select(Storefront).where(Storefront.alias == alias)
                              .options(joinedload(Storefront.organization))).first()


@lru_cache(maxsize=1)
def _storefront_for_page() -> Select:
    """storefront_for_page's statement, built once (building it cost more than running it)."""
    return (select(Storefront, sells_own_prices_clause()).where(Storefront.alias == bindparam("alias"))
            .options(joinedload(Storefront.organization)))


def storefront_for_page(alias: str) -> tuple[Storefront, bool] | None:
    """storefront_by_alias and, in the same statement, whether its own prices apply (prices.sells_own_prices):
    what every storefront page needs first."""
    alias = (alias or "").lower()
    if not _ALIAS_SHAPE.fullmatch(alias):
        return None
    row = db.session.execute(_storefront_for_page(), {"alias": alias}).first()
    return (row[0], bool(row[1])) if row is not None else None


def is_open(storefront: Storefront) -> bool:
    """Whether customers may sign in and buy (the plans' rule: a plan ended closes the storefront)."""
    return storefront_is_open(storefront)


def check_open(storefront: Storefront) -> None:
    """RuleError when the storefront is closed: nobody signs in, signs up, adds to a cart or buys."""
    if not is_open(storefront):
        raise RuleError(CLOSED)


def customer_chain(user: User, storefront: Storefront, preferred_id: int | None = None) -> Organization | None:
    """The sub-chain the user buys for on this storefront: the preferred one (the working organization) if the user
    is a customer through it, else the first; None when the user is not a customer of this storefront."""
    chains = storefront_customer_chains(user, storefront.organization_id)
    return next((org for org in chains if org.id == preferred_id), chains[0] if chains else None)


def check_customer(user: User | None, storefront: Storefront) -> Organization:
    """After the password: the user's sub-chain at this reseller. RuleError (the same as a wrong password, so
    that the page never tells whether the account exists elsewhere) when the user is not its customer."""
    check_open(storefront)
    chain = customer_chain(user, storefront) if user is not None else None
    if chain is None:
        raise RuleError(NOT_A_CUSTOMER, field="password")
    return chain


@dataclass(frozen=True)
class SignUp:
    """What a new customer gives on the storefront's sign-up page."""

    email: str
    full_name: str
    password: str
    organization_name: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


def _chain_name(reseller: Organization, name: str, email: str) -> str:
    """The new sub-chain's name: the one given, made distinct from the reseller's other sub-chains by the
    customer's email when taken (the sign-up page never says which customers a reseller has)."""
    taken = db.session.scalar(select(func.count()).select_from(Organization).where(
        Organization.parent_id == reseller.id, func.lower(Organization.name) == name.lower()))
    return name if not taken else f"{name} ({email})"[:200]


def sign_up_customer(storefront: Storefront, details: SignUp, actor: Actor) -> Membership:
    """A new customer of the storefront: a user with the password given and a sub-chain under the reseller with
    the billing address given, the user its Chain & User Manager; audited, with a welcome email. RuleError beside
    the field otherwise (an address that already has an account is refused, and nothing is created)."""
    check_open(storefront)
    email = normalize_email(details.email)
    if find_user_by_email(email) is not None:
        raise RuleError(EXISTING_EMAIL, field="email")
    name = details.organization_name.strip()
    if not name:
        raise RuleError("Give your organization's name.", field="organization_name")
    country = details.country.strip().upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise RuleError("Give the country as its 2-letter code, such as US or CA.", field="country")
    refuse_po_box(details.address_line1, "address_line1")
    refuse_po_box(details.address_line2, "address_line2")
    user = User(email=email, full_name=details.full_name.strip())
    check_password_strength(details.password, user)
    user.password_hash = hash_password(details.password)
    reseller = storefront.organization
    chain = Organization(parent_id=reseller.id, name=_chain_name(reseller, name, email), legal_name=name[:200],
                         address_line1=details.address_line1.strip(), address_line2=details.address_line2.strip(),
                         city=details.city.strip(), region=details.region.strip(),
                         postal_code=details.postal_code.strip(), country=country, invoice_email=email,
                         phone=details.phone.strip(), currency=reseller.currency)
    db.session.add_all([user, chain])
    try:
        db.session.flush()
    except IntegrityError:  # the address got an account a moment ago, in another request: the caller rolls back
        raise RuleError(EXISTING_EMAIL, field="email") from None
    membership = Membership(user_id=user.id, organization_id=chain.id, role=Role.MANAGER)
    db.session.add(membership)
    db.session.flush()
    signed_up = Actor(user.id, actor.ip)
    record(signed_up, "organization.sub_chain_created", chain, reseller.id, name=chain.name, via="storefront")
    record(signed_up, "storefront.customer_signed_up", membership, chain.id, email=email,
           storefront=storefront.alias, role=Role.MANAGER.value)
    enqueue_email(email, "storefront_customer_welcome", user=user, organization=chain,
                  seller_name=storefront.display_name or reseller.name,
                  link=external_url("storefront_sales.catalog", alias=storefront.alias))
    return membership
