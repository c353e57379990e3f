"""Renewal notices (issue 5 item 9, DOMAIN §7): every Chain & User Manager of a main chain hears about M&S ending
within 30 days and subscriptions renewing within 7 days, once per item and window however often the job runs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from portal.accounts.models import Organization, Role
from portal.billing.models import RenewalNotice
from portal.catalog.services import product_by_slug
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.renewals.notices import renewals_due, send_renewal_notices
from portal.subscriptions.models import Subscription
from tests.factories import make_license, make_member, make_org

TODAY = date(2026, 11, 21)


def _subscription(org: Organization, next_payment_on: date, quantity: int = 4,
                  slug: str = "device-protection") -> Subscription:
    product_id = product_by_slug(slug).id
    # The demo's plan, if the organization has one (Fabrikam's location plan), else a new one.
    plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == org.id,
                                                         Subscription.product_id == product_id)).first()
    if plan is None:
        plan = Subscription(organization_id=org.id, product_id=product_id)
        db.session.add(plan)
    plan.quantity, plan.started_on = quantity, next_payment_on - timedelta(days=30)
    plan.next_payment_on = next_payment_on
    db.session.flush()
    return plan


def _renewal_emails() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "renewal_notice")
                                   .order_by(OutboxMessage.id)))


def test_managers_hear_about_ms_within_30_days_and_subscriptions_within_7(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    second_manager = make_member(northwind, Role.MANAGER).user
    soon = make_license(northwind, ms_expires_on=TODAY + timedelta(days=30))
    make_license(northwind, ms_expires_on=TODAY + timedelta(days=31))  # not yet
    make_license(northwind, ms_expires_on=TODAY - timedelta(days=1))  # lapsed: reinstatement, not a renewal notice
    plan = _subscription(northwind, TODAY + timedelta(days=7))
    db.session.commit()

    run = send_renewal_notices(TODAY)

    assert (run.emails, run.licenses, run.subscriptions) == (2, 1, 1)  # one email per manager (and unsubscribe link)
    emails = _renewal_emails()
    assert sorted(e.to_addrs[0] for e in emails) == sorted(["alice@northwind.example.com", second_manager.email])
    assert all(len(e.to_addrs) == 1 for e in emails)  # managers only, each their own
    email = emails[0]
    assert soon.key in email.body_text and "M&S ends 2026-12-21" in email.body_text
    assert f"Renew: http://portal.test/licenses/{soon.key}/modify" in email.body_text
    assert "Device Protection: 4 devices, next payment on 2026-11-28" in email.body_text
    assert {(n.kind, n.item_id, n.window) for n in db.session.scalars(select(RenewalNotice))} == {
        ("maintenance", soon.id, "2026-12-21"), ("subscription", plan.id, "2026-11-28")}


def test_running_again_sends_nothing_new(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    make_license(northwind, ms_expires_on=TODAY + timedelta(days=3))
    db.session.commit()
    send_renewal_notices(TODAY)
    for day in range(4):  # a daily cron over the following days
        assert send_renewal_notices(TODAY + timedelta(days=day)).emails == 0
    assert len(_renewal_emails()) == 1


def test_a_new_item_coming_into_its_window_is_told_in_its_turn(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    make_license(northwind, ms_expires_on=TODAY + timedelta(days=3))
    db.session.commit()
    send_renewal_notices(TODAY)
    later = make_license(northwind, ms_expires_on=TODAY + timedelta(days=40))
    db.session.commit()
    run = send_renewal_notices(TODAY + timedelta(days=10))
    assert (run.emails, run.licenses) == (1, 1)
    assert later.key in _renewal_emails()[-1].body_text


def test_each_main_chain_is_told_about_its_own(billing):
    litware = db.session.get(Organization, billing.orgs["Litware Solutions"])
    fabrikam = db.session.get(Organization, billing.orgs["Fabrikam Stores"])
    make_license(litware, ms_expires_on=TODAY + timedelta(days=5))
    _subscription(fabrikam, TODAY + timedelta(days=2))
    _subscription(fabrikam, TODAY + timedelta(days=2), quantity=0, slug="location-plan")
    db.session.commit()
    send_renewal_notices(TODAY)
    emails = {tuple(e.to_addrs): e for e in _renewal_emails()}
    assert set(emails) == {("frank@litware.example.com",), ("dave@fabrikam.example.com",)}
    assert "Location Plan" not in emails[("dave@fabrikam.example.com",)].body_text  # nothing left to renew


def test_a_chain_without_a_manager_is_told_once_it_has_one(billing):
    orphan = make_org("No Manager Ltd")
    make_license(orphan, ms_expires_on=TODAY + timedelta(days=5))
    db.session.commit()
    assert send_renewal_notices(TODAY).emails == 0
    make_member(orphan, Role.MANAGER)
    db.session.commit()
    assert send_renewal_notices(TODAY).emails == 1
    assert renewals_due(TODAY) == []


def test_the_cli_reports_what_it_queued(app, demo):
    with app.app_context():
        make_license(db.session.get(Organization, demo.orgs["Litware Solutions"]),
                     ms_expires_on=TODAY + timedelta(days=5))
        db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["notify", "renewals", "--today", TODAY.isoformat()])
    assert first.exit_code == 0 and "1 renewal email queued: 1 M&S, 0 subscriptions." in first.output
    second = runner.invoke(args=["notify", "renewals", "--today", TODAY.isoformat()])
    assert "0 renewal emails queued" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RenewalNotice)) == 1
