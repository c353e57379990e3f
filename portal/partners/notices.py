"""The `notify partner-grants` job: grants whose date came are marked expired, and both sides of each active grant
hear 30 and 7 days before it expires, once per grant and window.

"Once" is the renewal notices' mechanism (portal/renewals/notices.py): a unique RenewalNotice row (kind, grant, the
window) written in the same transaction as the email; a rerun sends nothing new, and of two runs at once the loser's
transaction (its email included) rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.services import managers_emails
from portal.billing.models import RenewalNotice
from portal.db_types import utcnow
from portal.extensions import db
from portal.notifications.models import EmailCategory
from portal.outbox.services import enqueue_optional_email, external_url
from portal.partners.models import GrantState, PartnerGrant
from portal.partners.services import expire_lapsed

NOTICE_KIND = "partner_grant"
WINDOWS = (30, 7)  # days before expiry


def _window(grant: PartnerGrant, today: date) -> str | None:
    """The announcement `grant` is due for today ("<expiry>/<days>"), the nearest window it is inside."""
    days_left = (grant.expires_on - today).days
    inside = [days for days in WINDOWS if 0 < days_left <= days]
    return f"{grant.expires_on.isoformat()}/{min(inside)}" if inside else None


def grants_to_announce(today: date) -> list[tuple[PartnerGrant, str]]:
    """Active grants expiring within 30 days whose current window nobody was told about yet."""
    grants = list(db.session.scalars(
        select(PartnerGrant)
        .where(PartnerGrant.state == GrantState.ACTIVE, PartnerGrant.expires_on > today,
               PartnerGrant.expires_on <= today + timedelta(days=max(WINDOWS)))
        .options(joinedload(PartnerGrant.customer), joinedload(PartnerGrant.partner)).order_by(PartnerGrant.id)))
    due = [(grant, window) for grant in grants if (window := _window(grant, today))]
    if not due:
        return []
    told = {tuple(row) for row in db.session.execute(select(RenewalNotice.item_id, RenewalNotice.window).where(
        RenewalNotice.kind == NOTICE_KIND, RenewalNotice.item_id.in_([g.id for g, _ in due])))}
    return [(grant, window) for grant, window in due if (grant.id, window) not in told]


def announce_expiry(grant: PartnerGrant, window: str, today: date) -> int:
    """Email the managers of both sides that `grant` expires soon, and remember the window in the same
    transaction. Flushes; the caller commits (IntegrityError: another run told them first). Returns the emails
    (one per manager who did not opt out)."""
    db.session.add(RenewalNotice(kind=NOTICE_KIND, item_id=grant.id, window=window))
    db.session.flush()
    sent = 0
    for org in (grant.customer, grant.partner):
        recipients = managers_emails(org) if org is not None else []
        if recipients:  # optional: a manager may opt out of these at /account/notifications
            sent += len(enqueue_optional_email(recipients, "partner_grant_expiring",
                                               EmailCategory.PARTNER_GRANT_NOTICES, grant=grant, organization=org,
                                               days=(grant.expires_on - today).days,
                                               link=external_url("partners.index")))
    return sent


@dataclass(frozen=True)
class GrantNoticeRun:
    expired: int
    emails: int


def send_partner_grant_notices(today: date | None = None) -> GrantNoticeRun:
    """The job: expire lapsed grants (one commit), then one transaction per announced grant. Commits."""
    today = today or utcnow().date()
    expired = len(expire_lapsed(today))
    db.session.commit()
    emails = 0
    for grant, window in grants_to_announce(today):
        try:
            sent = announce_expiry(grant, window, today)
            db.session.commit()
        except IntegrityError:  # a concurrent run announced this one first
            db.session.rollback()
            continue
        emails += sent
    return GrantNoticeRun(expired, emails)
