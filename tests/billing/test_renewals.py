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
from tests.factories import make_license, make_member, make_org, make_payment_method

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
    assert "add the ones you choose to your cart at once: http://portal.test/renewals" in email.body_text
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


# ---------------------------------------------------------------- what each line says (issue 13 item 4)


def _notice_to(email: str) -> str:
    [message] = [m for m in _renewal_emails() if m.to_addrs == [email]]
    return " ".join(message.body_text.split())


def test_ms_that_renews_automatically_says_when_for_how_much_how_it_is_collected_and_for_whom(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])  # Gold 20 %, monthly, tax exempt
    contoso = db.session.get(Organization, billing.orgs["Contoso Retail"])
    auto = make_license(northwind, contoso, edition="Professional", quantity=25,
                        ms_expires_on=TODAY + timedelta(days=10))
    auto.auto_renew = True
    db.session.commit()

    send_renewal_notices(TODAY)

    text = _notice_to("alice@northwind.example.com")
    assert (f"Contoso Retail: - MailSuite Mail Server Professional, 25 mailboxes, license {auto.key}: M&S ends "
            "2026-12-01. It renews automatically on 2026-12-02: $16.00 ($20.00 at list price less your 20% partner "
            "discount), added to your monthly summary invoice.") in text
    assert f"To change this: http://portal.test/licenses/{auto.key}" in text


def test_ms_that_does_not_renew_automatically_lapses_unless_renewed_with_the_link(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    manual = make_license(northwind, edition="Professional", quantity=25, ms_expires_on=TODAY + timedelta(days=10))
    personal = make_license(northwind, northwind, ms_expires_on=TODAY + timedelta(days=11))
    db.session.commit()

    send_renewal_notices(TODAY)

    text = _notice_to("alice@northwind.example.com")
    assert (f"license {manual.key}: M&S ends 2026-12-01. It does not renew automatically and "
            "lapses unless you renew it; one more year is $16.00 ($20.00 at list price less your 20% partner "
            f"discount). Renew: http://portal.test/licenses/{manual.key}/modify") in text
    assert f"Northwind IT's own licenses: - MailSuite Mail Server Professional, 25 mailboxes, license " \
           f"{personal.key}: M&S ends 2026-12-02." in text
    assert text.index("Northwind IT's own licenses:") < text.index("Not assigned yet:") < text.index(manual.key)


def test_the_notice_groups_the_licenses_by_customer_and_links_to_the_renewals_page(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    contoso = db.session.get(Organization, billing.orgs["Contoso Retail"])
    acme = make_org("Acme Dental")
    first = make_license(northwind, contoso, ms_expires_on=TODAY + timedelta(days=3))
    unassigned = make_license(northwind, ms_expires_on=TODAY + timedelta(days=4))
    dental = make_license(northwind, acme, ms_expires_on=TODAY + timedelta(days=5))
    second = make_license(northwind, contoso, ms_expires_on=TODAY + timedelta(days=6))
    db.session.commit()

    send_renewal_notices(TODAY)

    text = _notice_to("alice@northwind.example.com")
    assert "Maintenance & Support ending within 30 days, by customer:" in text
    # customers by name, each with its licenses by expiry, then those not assigned yet
    order = [text.index(s) for s in ("Acme Dental:", dental.key, "Contoso Retail:", first.key, second.key,
                                     "Not assigned yet:", unassigned.key)]
    assert order == sorted(order)
    assert text.count("Contoso Retail:") == 1
    assert "your cart at once: http://portal.test/renewals " in text


def test_a_card_account_is_told_the_card_and_a_plan_its_amount_at_list_price_less_discount(billing):
    litware = db.session.get(Organization, billing.orgs["Litware Solutions"])  # pay on order, Silver 10 %, exempt
    make_payment_method(litware, last4="1881").is_default = True
    auto = make_license(litware, edition="Professional", quantity=25, ms_expires_on=TODAY + timedelta(days=5))
    auto.auto_renew = True
    _subscription(litware, TODAY + timedelta(days=3), quantity=5)  # Device Protection, $4.00 a device a month
    db.session.commit()

    send_renewal_notices(TODAY)

    text = _notice_to("frank@litware.example.com")
    assert ("It renews automatically on 2026-11-27: $18.00 ($20.00 at list price less your 10% partner discount), "
            "charged to the saved card Visa ending 1881.") in text
    assert ("Device Protection: 5 devices, next payment on 2026-11-24: $18.00 ($20.00 at list price less your 10% "
            "partner discount), charged to the saved card Visa ending 1881.") in text


def test_an_account_without_a_card_is_told_it_will_be_invoiced(billing):
    fabrikam = db.session.get(Organization, billing.orgs["Fabrikam Stores"])  # pay on order, no tier, no card
    license_ = make_license(fabrikam, edition="Professional", quantity=25, ms_expires_on=TODAY + timedelta(days=5))
    license_.auto_renew = True
    db.session.commit()
    send_renewal_notices(TODAY)
    text = _notice_to("dave@fabrikam.example.com")
    assert "It renews automatically on 2026-11-27: $20.00" in text and "invoiced, due in 30 days." in text


def test_a_plan_with_a_scheduled_decrease_or_cancellation_says_what_its_next_payment_will_be(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    decreased = _subscription(northwind, TODAY + timedelta(days=4), quantity=10)
    decreased.scheduled_quantity = 6
    cancelled = _subscription(northwind, TODAY + timedelta(days=5), quantity=2, slug="location-plan")
    cancelled.scheduled_quantity = 0
    db.session.commit()

    send_renewal_notices(TODAY)

    text = _notice_to("alice@northwind.example.com")
    assert ("Device Protection: 10 devices, next payment on 2026-11-25: from then 6 devices of Device Protection "
            "(monthly) (the scheduled change), $19.20 ($24.00 at list price less your 20% partner discount), added "
            "to your monthly summary invoice.") in text
    assert "Location Plan: 2 locations, cancelled: it ends on 2026-11-25 and nothing more is billed." in text


def test_the_notice_is_still_sent_once_per_window_whatever_the_setting(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    license_ = make_license(northwind, ms_expires_on=TODAY + timedelta(days=8))
    db.session.commit()
    send_renewal_notices(TODAY)
    license_.auto_renew = True  # turned on after the notice: the window is the same, nothing new is sent
    db.session.commit()
    assert send_renewal_notices(TODAY + timedelta(days=1)).emails == 0
    assert len(_renewal_emails()) == 1


def test_a_plan_switching_interval_is_priced_on_the_plan_it_moves_to(billing):
    """(The demo catalog has one product per basis; the switch here only needs a product of the other interval.)"""
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])
    plan = _subscription(northwind, TODAY + timedelta(days=2), quantity=3)  # Device Protection, monthly
    plan.scheduled_product_id = product_by_slug("location-plan").id  # annual, $240.00 a unit; no such plan yet
    db.session.commit()
    send_renewal_notices(TODAY)
    assert ("Device Protection: 3 devices, next payment on 2026-11-23: from then 3 locations of Location Plan "
            "(annual) (the scheduled change), $576.00 ($720.00 at list price less your 20% partner discount)"
            in _notice_to("alice@northwind.example.com"))
