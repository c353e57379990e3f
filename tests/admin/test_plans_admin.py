"""Staff's view of an organization's plans (issue 13 item 7): each plan's quantity, interval, next payment date,
anchor day, scheduled change, past-due state and end; the renewal history; and the correction of a next payment
date with a reason (portal/recurring/corrections.py), audited, refused beside the field when it would bill a period
twice, lies in the past or too far ahead."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.billing.models import InvoiceStatus
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.recurring.corrections import correct_next_payment
from portal.subscriptions.models import Subscription
from tests.factories import actor, make_invoice, make_org, make_renewal, make_subscription

TODAY = date(2027, 3, 10)


def _entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "subscription.next_payment_corrected").order_by(AuditEntry.id)))


def _plan(slug: str = "device-protection", next_payment_on: date = date(2027, 3, 20), **fields) -> Subscription:
    plan = make_subscription(make_org(), slug, quantity=5, next_payment_on=next_payment_on)
    plan.started_on, plan.anchor_day = next_payment_on - timedelta(days=60), next_payment_on.day
    for key, value in fields.items():
        setattr(plan, key, value)
    db.session.flush()
    return plan


# ---------------------------------------------------------------- the service


@pytest.fixture
def ctx(app, demo):
    """The demo (its catalog), with an application context to call the service in."""
    with app.app_context():
        yield
        db.session.rollback()


def test_a_next_payment_date_is_corrected_with_its_reason_and_audited(ctx):
    plan = _plan()
    correct_next_payment(plan, date(2027, 3, 25), "  Customer asked  to align with   their fiscal month ", actor(),
                         TODAY)
    assert (plan.next_payment_on, plan.anchor_day) == (date(2027, 3, 25), 25)  # renews on the 25th from now on
    [entry] = _entries()
    assert entry.organization_id == plan.organization_id and entry.object_id == str(plan.id)
    assert entry.details == {"old": "2027-03-20", "new": "2027-03-25", "anchor_day": [20, 25],
                             "reason": "Customer asked to align with their fiscal month"}


def test_a_date_on_a_short_month_keeps_an_anchor_of_the_31st(ctx):
    plan = _plan(next_payment_on=date(2027, 3, 31))
    correct_next_payment(plan, date(2027, 4, 30), "One month of service given for free", actor(), TODAY)
    assert (plan.next_payment_on, plan.anchor_day) == (date(2027, 4, 30), 31)
    assert "anchor_day" not in _entries()[0].details


@pytest.mark.parametrize(("reason", "message"), [("", "Say why"), ("   ", "Say why"), ("x" * 501, "500 characters")])
def test_a_reason_is_required(ctx, reason, message):
    plan = _plan()
    with pytest.raises(RuleError, match=message) as refused:
        correct_next_payment(plan, date(2027, 3, 25), reason, actor(), TODAY)
    assert refused.value.field == "reason" and plan.next_payment_on == date(2027, 3, 20) and not _entries()


@pytest.mark.parametrize(("new", "message"), [
    (None, "Give the new next payment date"),
    (date(2027, 3, 9), "Choose today \\(2027-03-10\\) or a later date"),
    (date(2027, 3, 20), "already the plan's next payment date"),
    (date(2027, 5, 11), "Choose a date up to 2027-05-10"),  # a monthly plan: one month and one more
])
def test_a_date_in_the_past_or_too_far_ahead_is_refused(ctx, new, message):
    plan = _plan()
    with pytest.raises(RuleError, match=message) as refused:
        correct_next_payment(plan, new, "A reason", actor(), TODAY)
    assert refused.value.field == "next_payment_on" and plan.next_payment_on == date(2027, 3, 20)
    assert not _entries()


def test_the_furthest_date_is_one_interval_and_a_month_ahead(ctx):
    monthly = _plan()
    correct_next_payment(monthly, date(2027, 5, 10), "Two months free (goodwill)", actor(), TODAY)
    annual = _plan("location-plan")
    with pytest.raises(RuleError, match="Choose a date up to 2028-04-10"):
        correct_next_payment(annual, date(2028, 4, 11), "Too far", actor(), TODAY)
    correct_next_payment(annual, date(2028, 4, 10), "Thirteen months", actor(), TODAY)
    assert annual.next_payment_on == date(2028, 4, 10)


def test_a_date_within_a_billed_period_is_refused(ctx):
    plan = _plan(next_payment_on=date(2027, 3, 20))
    make_renewal(plan, date(2027, 2, 20), date(2027, 3, 19))
    make_renewal(plan, date(2027, 3, 20), date(2027, 4, 19))  # billed ahead (the run ran on a later date)
    plan.next_payment_on = date(2027, 4, 20)
    with pytest.raises(RuleError, match="billed up to 2027-04-19: choose a date after it") as refused:
        correct_next_payment(plan, date(2027, 4, 19), "Would bill the 19th twice", actor(), TODAY)
    assert refused.value.field == "next_payment_on"
    correct_next_payment(plan, date(2027, 4, 22), "Two days later", actor(), TODAY)
    assert plan.next_payment_on == date(2027, 4, 22)


def test_an_ended_plan_has_no_next_payment_to_correct(ctx):
    plan = _plan(ended_on=date(2027, 3, 1))
    with pytest.raises(RuleError, match="has ended"):
        correct_next_payment(plan, date(2027, 3, 25), "A reason", actor(), TODAY)


# ---------------------------------------------------------------- the page, without JavaScript


@pytest.fixture
def acme(app, demo):
    """A main chain with a monthly device plan past due on a renewal, a scheduled decrease on its annual location
    plan, and their renewal history."""
    today = utcnow().date()
    with app.app_context():
        org = make_org("Acme Kiosks")
        devices = make_subscription(org, "device-protection", quantity=12, next_payment_on=today + timedelta(days=9))
        locations = make_subscription(org, "location-plan", quantity=3, next_payment_on=today + timedelta(days=40))
        locations.scheduled_quantity, locations.scheduled_at = 2, utcnow()
        past = today - timedelta(days=21)
        paid = make_invoice(org, status=InvoiceStatus.PAID, issued_on=past - timedelta(days=31))
        make_renewal(devices, past - timedelta(days=31), past - timedelta(days=1), invoice=paid, state="paid")
        owed = make_invoice(org, issued_on=past)
        make_renewal(devices, past, today + timedelta(days=8), invoice=owed, state="past_due", attempts=4,
                     past_due_on=today - timedelta(days=2), last_message="Card declined (insufficient funds)")
        retrying_invoice = make_invoice(org, issued_on=today - timedelta(days=1))
        make_renewal(locations, today - timedelta(days=325), today + timedelta(days=39), invoice=retrying_invoice,
                     state="charging", attempts=2, next_attempt_on=today + timedelta(days=2))
        db.session.commit()
        return {"org": org.id, "devices": devices.id, "locations": locations.id, "owed": owed.number,
                "paid": paid.number, "retrying": retrying_invoice.number, "today": today}


def _text(response) -> str:
    """The page with its spaces squeezed and without its cells' column names (data-label, shown on phones)."""
    return re.sub(r"\s+", " ", re.sub(r' data-label="[^"]*"', "", response.get_data(as_text=True)))


def _plan_row(app, plan_id: int) -> Subscription:
    with app.app_context():
        plan = db.session.get(Subscription, plan_id)
        db.session.expunge(plan)
        return plan


def test_staff_see_an_organizations_plans_and_renewal_history(app, login, acme):
    page = _text(login("ops").get(f"/admin/organizations/{acme['org']}"))
    today = acme["today"]
    assert "Device Protection</td> <td>12</td> <td>Monthly</td>" in page
    assert f"<td>{(today + timedelta(days=9)).isoformat()}</td>" in page
    assert "Location Plan</td> <td>3</td> <td>Annual</td>" in page
    assert f"At {(today + timedelta(days=40)).isoformat()}: quantity 3 → 2" in page
    assert f"<strong>Past due</strong> on {acme['owed']}" in page
    # the history, newest period first: the past-due one, the paid one, the location plan's year being retried
    assert page.index(acme["owed"] + "</a>") < page.index(acme["paid"]) < page.index(acme["retrying"])
    assert f'href="/admin/invoices?q={acme["owed"]}"' in page
    assert 'Past due <span class="meta">Card declined (insufficient funds)</span></td> <td>4</td>' in page
    assert f"<td>{(today - timedelta(days=2)).isoformat()}</td>" in page  # past due since
    assert f"Charging</td> <td>2</td> <td>{(today + timedelta(days=2)).isoformat()}</td>" in page  # next retry
    assert page.count("Correct the date") == 2


def test_a_page_without_plans_says_so(app, login, demo):
    ops = login("ops")
    assert "Fabrikam Stores has no device or location plan" not in _text(ops.get(
        f"/admin/organizations/{demo.orgs['Fabrikam Stores']}"))  # the demo's location plan is shown
    assert "A sub-chain has no plans of its own" in _text(ops.get(
        f"/admin/organizations/{demo.orgs['Contoso Retail']}"))
    assert "No renewal billed yet." in _text(ops.get(f"/admin/organizations/{demo.orgs['Litware Solutions']}"))


def _correction_action(org_id: int, plan_id: int) -> str:
    return f"/admin/organizations/{org_id}/plans/{plan_id}/next-payment"


def _forged(client, url: str, data: dict | None = None):
    """A correction no page offers this user (another organization's plan, not staff), with the session's token."""
    return client.post(url, data={**(data or {}), "csrf_token": client.csrf_token()})


def test_staff_correct_a_next_payment_date_with_a_reason(app, login, acme):
    ops = login("ops")
    page = ops.page(f"/admin/organizations/{acme['org']}")
    action = _correction_action(acme["org"], acme["devices"])
    form, _ = page.find(action=action)
    shown = dict(form.successful())[f"plan-{acme['devices']}-next_payment_on"]
    assert shown == (acme["today"] + timedelta(days=9)).isoformat()
    new = acme["today"] + timedelta(days=12)
    response = ops.submit(page, {f"plan-{acme['devices']}-next_payment_on": new.isoformat(),
                                 f"plan-{acme['devices']}-reason": "Ticket 4411: card replaced late"}, action=action)
    assert response.status_code == 302
    done = _text(ops.get(response.headers["Location"]))
    assert f"Next payment date of Device Protection corrected: {(acme['today'] + timedelta(days=9)).isoformat()} → " \
           f"{new.isoformat()}." in done
    plan = _plan_row(app, acme["devices"])
    assert (plan.next_payment_on, plan.anchor_day) == (new, new.day)
    with app.app_context():
        [entry] = _entries()
        assert entry.actor_id is not None and entry.details["reason"] == "Ticket 4411: card replaced late"


@pytest.mark.parametrize(("date_text", "reason", "field", "message"), [
    ("PAST", "Goodwill", "next_payment_on", "or a later date"),
    ("BILLED", "Goodwill", "next_payment_on", "choose a date after it"),
    ("FAR", "Goodwill", "next_payment_on", "Choose a date up to"),
    ("31/12/2027", "Goodwill", "next_payment_on", "Not a valid date"),
    ("", "Goodwill", "next_payment_on", "Give the new date."),
    ("OK", "", "reason", "Say why the date is corrected."),
    ("OK", "r" * 501, "reason", "500 characters or fewer"),
])
def test_a_bad_correction_is_explained_beside_the_field_and_changes_nothing(app, login, acme, date_text, reason,
                                                                             field, message):
    today, plan_id = acme["today"], acme["devices"]
    dates = {"PAST": today - timedelta(days=1), "BILLED": today + timedelta(days=8),
             "FAR": today + timedelta(days=120), "OK": today + timedelta(days=12)}
    ops = login("ops")
    response = ops.submit(f"/admin/organizations/{acme['org']}", {
        f"plan-{plan_id}-next_payment_on": str(dates.get(date_text, date_text)), f"plan-{plan_id}-reason": reason},
        action=_correction_action(acme["org"], plan_id))
    html = _text(response)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="plan-{plan_id}-{field}-error">(.*?)</p>', html)
    assert error and message in error.group(1)
    assert "<details open>" in html
    assert _plan_row(app, plan_id).next_payment_on == today + timedelta(days=9)
    with app.app_context():
        assert not _entries()


def test_a_plan_of_another_organization_is_not_found(app, login, acme, demo):
    fabrikam = demo.orgs["Fabrikam Stores"]
    ops = login("ops")
    new = (acme["today"] + timedelta(days=12)).isoformat()
    response = _forged(ops, _correction_action(fabrikam, acme["devices"]),
                       {f"plan-{acme['devices']}-next_payment_on": new,
                        f"plan-{acme['devices']}-reason": "Wrong organization"})
    assert response.status_code == 404
    assert _forged(ops, _correction_action(acme["org"], 999999)).status_code == 404
    assert _plan_row(app, acme["devices"]).next_payment_on == acme["today"] + timedelta(days=9)


@pytest.mark.parametrize("user", ["alice", "dave"])
def test_only_staff_correct_a_next_payment_date(app, login, acme, user):
    response = _forged(login(user), _correction_action(acme["org"], acme["devices"]),
                       {f"plan-{acme['devices']}-next_payment_on": "2030-01-01",
                        f"plan-{acme['devices']}-reason": "Not staff"})
    assert response.status_code == 404
    assert _plan_row(app, acme["devices"]).next_payment_on == acme["today"] + timedelta(days=9)


def test_invoice_status_is_shown_for_each_renewal(app, login, acme):
    page = _text(login("ops").get(f"/admin/organizations/{acme['org']}"))
    assert f'{acme["paid"]}</a> <span class="meta">{InvoiceStatus.PAID.value}</span>' in page
