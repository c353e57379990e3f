"""A reseller's page for one of its customers: who they are, what they hold from it, what renews, what was
invoiced and what happened, each section one limited query (the page's statements do not grow with the data).

Only the reseller's own customers (licenses.services.customer_of: its sub-chains and the organizations it
assigned licenses to) ever reach these functions; the view answers 404 for anyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Organization, User
from portal.accounts.services import ChainUsers, chain_users
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice
from portal.extensions import db
from portal.licenses.models import License
from portal.licenses.services import reseller_licenses

LICENSES_PER_PAGE = 25
RENEWAL_DAYS = 90  # what renews "soon": the next 90 days
RENEWALS_SHOWN = 10
INVOICES_SHOWN = 10
ACTIVITY_SHOWN = 10


def is_sub_chain(org: Organization, customer: Organization) -> bool:
    """Whether the customer is one of the reseller's sub-chains (its users, contacts and the reseller's
    storefront invoices to it are the reseller's to know), rather than another's account it resold to."""
    return customer.parent_id == org.id


def contacts_of(org: Organization, customer: Organization) -> ChainUsers | None:
    """The users and contacts of a sub-chain of `org`; None for another account (they are its own)."""
    return chain_users(customer) if is_sub_chain(org, customer) else None


@dataclass(frozen=True)
class LicensePage:
    """One page of the licenses a customer holds from the reseller, by key; `next_after` is the key to continue
    after (None on the last page)."""

    licenses: list[License]
    next_after: str | None


def held_licenses(user: User, org: Organization, customer: Organization, after: str = "",
                  per_page: int = LICENSES_PER_PAGE) -> LicensePage:
    """The licenses `customer` holds from `org`, by key, a page at a time after the key `after` (keyset), with
    their add-ons: two statements whatever the number of licenses."""
    stmt = reseller_licenses(user, org).where(License.customer_id == customer.id)
    if after:
        stmt = stmt.where(License.key > after)
    found = list(db.session.scalars(stmt.options(selectinload(License.addons)).order_by(License.key)
                                    .limit(per_page + 1)).unique())
    page = found[:per_page]
    return LicensePage(page, page[-1].key if len(found) > per_page else None)


def renewals(user: User, org: Organization, customer: Organization, today: date) -> list[License]:
    """The M&S of the customer's licenses from `org` that ends within RENEWAL_DAYS, soonest first (the first
    RENEWALS_SHOWN): what renews, or lapses, when."""
    return list(db.session.scalars(
        reseller_licenses(user, org)
        .where(License.customer_id == customer.id, License.ms_expires_on >= today,
               License.ms_expires_on <= today + timedelta(days=RENEWAL_DAYS))
        .order_by(License.ms_expires_on, License.key).limit(RENEWALS_SHOWN)))


def storefront_invoices(org: Organization, customer: Organization) -> list[Invoice]:
    """The reseller's own invoices to a sub-chain (its storefront sales), newest first; none for another's
    account, which a storefront never sells to."""
    if not is_sub_chain(org, customer):
        return []
    return list(db.session.scalars(
        select(Invoice).where(Invoice.issuer_id == org.id, Invoice.organization_id == customer.id)
        .order_by(Invoice.issued_on.desc(), Invoice.id.desc()).limit(INVOICES_SHOWN)))


def activity(org: Organization, customer: Organization) -> list[AuditEntry]:
    """Recent audit entries about the customer, newest first: what the reseller did to it or to the licenses it
    holds (recorded in the reseller's log), and for a sub-chain what happened in its own account."""
    held = select(cast(License.id, String)).where(License.owner_id == org.id, License.customer_id == customer.id)
    about = and_(AuditEntry.organization_id == org.id,
                 or_(and_(AuditEntry.object_type == "Organization", AuditEntry.object_id == str(customer.id)),
                     and_(AuditEntry.object_type == "License", AuditEntry.object_id.in_(held))))
    if is_sub_chain(org, customer):
        about = or_(about, AuditEntry.organization_id == customer.id)
    return list(db.session.scalars(
        select(AuditEntry).where(about).options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(ACTIVITY_SHOWN)))
