"""Staff corrections of a plan's billing dates (the admin organization page), audited with their reason.

A next payment date is corrected, never a billed period: the new date must come after the last day already billed
(the latest `Renewal.period_end` of the plan), so that no period is billed twice or skipped over a billed one; it
is not in the past (the renewal run would bill it at once: staff run renewals for that) and not further than one
interval and a month ahead. The plan then renews on the new date's day of the month from there on: its anchor day
becomes that day, unless the new date is the anchor day clamped to a short month (28 February for an anchor of
31), which keeps the anchor.
"""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import func, inspect, select

from portal import pricing
from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.extensions import db
from portal.recurring.models import Renewal
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import interval_of, is_running

REASON_MAX = 500
EXTRA_MONTHS = 1  # how far past one interval ahead a next payment date may be put


def latest_billed_day(subscription: Subscription) -> date | None:
    """The last day of the plan's latest billed period, if the renewal run billed any."""
    return db.session.scalar(select(func.max(Renewal.period_end)).where(Renewal.subscription_id == subscription.id))


def latest_allowed(subscription: Subscription, today: date) -> date:
    """The furthest a next payment date may be put: one interval of the plan and a month after today."""
    return pricing.advance_billing_date(today, interval_of(subscription.product).months + EXTRA_MONTHS, today.day)


def _anchor_for(new_date: date, anchor_day: int) -> int:
    last_day = calendar.monthrange(new_date.year, new_date.month)[1]
    return anchor_day if new_date.day == min(anchor_day, last_day) else new_date.day


def correct_next_payment(subscription: Subscription, new_date: date | None, reason: str, actor: Actor,
                         today: date) -> None:
    """Correct a plan's next payment date (staff), with the reason, audited; the plan renews on that day from
    then on."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise RuleError("Say why the date is corrected: the reason is kept in the audit log.", field="reason")
    if len(reason) > REASON_MAX:
        raise RuleError(f"Keep the reason to {REASON_MAX} characters or fewer.", field="reason")
    if new_date is None:
        raise RuleError("Give the new next payment date (YYYY-MM-DD).", field="next_payment_on")
    # Under a row lock, read again: the renewal run (or a manager's change) may have moved the plan meanwhile.
    db.session.refresh(subscription, [c.key for c in inspect(Subscription).column_attrs], with_for_update=True)
    if not is_running(subscription):
        raise RuleError("This plan has ended: it has no next payment to correct.", field="next_payment_on")
    old = subscription.next_payment_on
    if new_date == old:
        raise RuleError(f"{old.isoformat()} is already the plan's next payment date.", field="next_payment_on")
    if new_date < today:
        raise RuleError(f"Choose today ({today.isoformat()}) or a later date: a date in the past would be billed "
                        "at once. To bill what is due, run the renewals.", field="next_payment_on")
    furthest = latest_allowed(subscription, today)
    if new_date > furthest:
        raise RuleError(f"Choose a date up to {furthest.isoformat()}: one billing interval of the plan and a month "
                        "from today.", field="next_payment_on")
    billed = latest_billed_day(subscription)
    if billed is not None and new_date <= billed:
        raise RuleError(f"The plan is billed up to {billed.isoformat()}: choose a date after it, so that no period "
                        "is billed twice.", field="next_payment_on")
    anchor = _anchor_for(new_date, subscription.anchor_day)
    details = {"anchor_day": [subscription.anchor_day, anchor]} if anchor != subscription.anchor_day else {}
    subscription.next_payment_on, subscription.anchor_day = new_date, anchor
    db.session.flush()
    record(actor, "subscription.next_payment_corrected", subscription, subscription.organization_id,
           old=old.isoformat(), new=new_date.isoformat(), reason=reason, **details)
