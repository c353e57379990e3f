"""Renewal notices (DOMAIN §7): every Chain & User Manager of a main chain (unless they opted out) hears about the
Maintenance & Support that expires within 30 days and the subscriptions that renew within 7 days, once per item and
window.

"Once" is the database's promise: a RenewalNotice row (kind, item, the date the notice is about) is unique, and
it is written in the same transaction as the email. A rerun finds the rows and sends nothing new; two runs at once
collide on the unique row, and the loser's transaction (its email included) rolls back. A new expiry date (M&S
renewed for another year) is a new window, so next year's notice is sent in its turn.

Each line says what will happen and for how much (issue 13 item 4): M&S that renews automatically, on which day,
for what amount (the renewal price less the partner discount, plus tax) and how it is collected (the saved card,
an invoice, the monthly summary); M&S that does not, that it lapses unless renewed, with the link to renew it;
the licenses grouped by the customer each is assigned to; a plan's next payment, at the list price in force times
the quantity it will have (a scheduled decrease or switch applied), less discount, plus tax, or that it ends.
The figures come from portal/recurring/autorenew.py, which prices them as the renewal run bills them. The email
links to /renewals, where every renewal of the coming weeks is reviewed and put into the cart at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.billing.models import RenewalNotice
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.notifications.models import EmailCategory
from portal.outbox.services import enqueue_optional_email, external_url
from portal.recurring.autorenew import maintenance_renewals, plan_renewals
from portal.subscriptions.models import Subscription

MAINTENANCE_DAYS = 30
SUBSCRIPTION_DAYS = 7
MAINTENANCE, SUBSCRIPTION = "maintenance", "subscription"


@dataclass
class Due:
    """What one main chain is to be told about."""

    organization: Organization
    licenses: list[License] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)


def _noticed(kind: str, windows: dict[int, str]) -> set[int]:
    """The items of `kind` already told about for their current window."""
    if not windows:
        return set()
    rows = db.session.execute(select(RenewalNotice.item_id, RenewalNotice.window)
                              .where(RenewalNotice.kind == kind, RenewalNotice.item_id.in_(list(windows))))
    return {row.item_id for row in rows if windows.get(row.item_id) == row.window}


def renewals_due(today: date) -> list[Due]:
    """Per main chain (in id order), the licenses whose M&S expires within 30 days and the subscriptions that
    renew within 7 days, that nobody was told about yet."""
    licenses = list(db.session.scalars(
        select(License).join(Organization, Organization.id == License.owner_id)
        .where(Organization.parent_id.is_(None), License.ms_expires_on >= today,
               License.ms_expires_on <= today + timedelta(days=MAINTENANCE_DAYS))
        .options(selectinload(License.product), selectinload(License.edition), selectinload(License.addons),
                 selectinload(License.customer))
        .order_by(License.ms_expires_on, License.id)))
    subscriptions = list(db.session.scalars(
        select(Subscription).join(Organization, Organization.id == Subscription.organization_id)
        .where(Organization.parent_id.is_(None), Subscription.quantity > 0, Subscription.next_payment_on >= today,
               Subscription.next_payment_on <= today + timedelta(days=SUBSCRIPTION_DAYS))
        .options(selectinload(Subscription.product))
        .order_by(Subscription.next_payment_on, Subscription.id)))
    told_licenses = _noticed(MAINTENANCE, {lic.id: lic.ms_expires_on.isoformat() for lic in licenses})
    told_subscriptions = _noticed(SUBSCRIPTION, {s.id: s.next_payment_on.isoformat() for s in subscriptions})
    org_ids = {lic.owner_id for lic in licenses} | {s.organization_id for s in subscriptions}
    orgs = {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
    due: dict[int, Due] = {}
    for lic in licenses:
        if lic.id not in told_licenses:
            due.setdefault(lic.owner_id, Due(orgs[lic.owner_id])).licenses.append(lic)
    for sub in subscriptions:
        if sub.id not in told_subscriptions:
            due.setdefault(sub.organization_id, Due(orgs[sub.organization_id])).subscriptions.append(sub)
    return [due[org_id] for org_id in sorted(due)]


def by_customer(licenses: list[License], org: Organization) -> list[tuple[str, list[License]]]:
    """The licenses under a heading per customer: customers by name, then the chain's own, then those not assigned
    yet; each group in the order given (by expiry)."""
    groups: dict[tuple[int, str, int], list[License]] = {}
    for lic in licenses:
        if lic.customer_id is None:
            key = (2, "Not assigned yet", 0)
        elif lic.customer_id == lic.owner_id:
            key = (1, f"{org.name}'s own licenses", 0)
        else:
            key = (0, lic.customer.name, lic.customer_id)
        groups.setdefault(key, []).append(lic)
    return [(key[1], groups[key]) for key in sorted(groups, key=lambda k: (k[0], k[1].casefold(), k[2]))]


def notify_renewals(due: Due, today: date | None = None) -> int:
    """Tell each of the chain's managers who receives renewal notices about `due` (one email each, with their own
    unsubscribe link): per item, when and for how much it renews, or that it lapses or ends; and remember each
    item and window in the same transaction; returns the emails written. 0 when the chain has no manager to tell
    (nothing is remembered, so a later run tells the manager it gets, or one who opts in again). Flushes; the
    caller commits (IntegrityError: another run told them first)."""
    today = today or utcnow().date()
    org = due.organization
    renew_links = {lic.id: external_url("licenses.modify_license", key=lic.key) for lic in due.licenses}
    messages = enqueue_optional_email(managers_emails(org), "renewal_notice",
                                      EmailCategory.RENEWAL_NOTICES, organization=org,
                                      licenses=due.licenses, subscriptions=due.subscriptions,
                                      maintenance=maintenance_renewals(due.licenses, {org.id: org}, today),
                                      plans=plan_renewals(due.subscriptions, org),
                                      customers=by_customer(due.licenses, org),
                                      renew_links=renew_links, link=external_url("renewals.index"),
                                      license_links={lic.id: external_url("licenses.detail", key=lic.key)
                                                     for lic in due.licenses})
    if not messages:
        return 0
    for lic in due.licenses:
        db.session.add(RenewalNotice(kind=MAINTENANCE, item_id=lic.id, window=lic.ms_expires_on.isoformat()))
    for sub in due.subscriptions:
        db.session.add(RenewalNotice(kind=SUBSCRIPTION, item_id=sub.id, window=sub.next_payment_on.isoformat()))
    db.session.flush()
    return len(messages)


@dataclass(frozen=True)
class RenewalRun:
    emails: int
    licenses: int
    subscriptions: int


def send_renewal_notices(today: date | None = None) -> RenewalRun:
    """The `notify renewals` job: one transaction per main chain, so a failure loses nothing already told and a
    rerun finishes the rest. Commits (it is a job's unit of work, like the outbox worker)."""
    today = today or utcnow().date()
    emails = licenses = subscriptions = 0
    for due in renewals_due(today):
        try:
            sent = notify_renewals(due, today)
            db.session.commit()
        except IntegrityError:  # a concurrent run told this chain first
            db.session.rollback()
            continue
        if sent:
            emails += sent
            licenses += len(due.licenses)
            subscriptions += len(due.subscriptions)
    return RenewalRun(emails, licenses, subscriptions)
