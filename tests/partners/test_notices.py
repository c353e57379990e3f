"""The `notify partner-grants` job: 30 and 7 days before a grant ends both sides hear once; a lapsed grant is
marked expired and both sides are told. "Today" is a parameter: nothing sleeps."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.accounts.models import Role
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.partners.models import GrantState, PartnerGrant
from portal.partners.notices import send_partner_grant_notices
from tests.factories import make_member, make_org, make_partner_grant

DAY = date(2027, 3, 1)


def _grant(expires_on: date):
    customer, partner = make_org("Customer Co"), make_org("Partner Co")
    customer_manager = make_member(customer, Role.MANAGER).user
    partner_manager = make_member(partner, Role.MANAGER).user
    grant = make_partner_grant(customer, partner, state=GrantState.ACTIVE, expires_on=expires_on,
                               starts_on=expires_on - timedelta(days=365))
    db.session.commit()
    return grant.id, customer_manager.email, partner_manager.email


def _emails(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                   .order_by(OutboxMessage.id)))


def test_both_sides_hear_30_and_7_days_before_the_end_once_each(ctx):
    _, customer_email, partner_email = _grant(DAY + timedelta(days=30))
    assert send_partner_grant_notices(DAY - timedelta(days=1)).emails == 0  # 31 days ahead: not yet
    assert send_partner_grant_notices(DAY).emails == 2
    assert send_partner_grant_notices(DAY + timedelta(days=1)).emails == 0  # the 30-day window was told
    assert send_partner_grant_notices(DAY + timedelta(days=23)).emails == 2  # 7 days left
    assert send_partner_grant_notices(DAY + timedelta(days=24)).emails == 0
    sent = _emails("partner_grant_expiring")
    assert [m.to_addrs for m in sent] == [[customer_email], [partner_email]] * 2
    assert "ends in 30 days" in sent[0].subject and "ends in 7 days" in sent[2].subject
    assert "Partner Co to Customer Co" in sent[0].subject
    assert "2027-03-31" in sent[1].body_text


def test_a_grant_found_late_gets_only_the_nearest_window(ctx):
    _grant(DAY + timedelta(days=5))
    assert send_partner_grant_notices(DAY).emails == 2
    assert {m.subject.rsplit(" ", 2)[-2] for m in _emails("partner_grant_expiring")} == {"5"}
    assert send_partner_grant_notices(DAY + timedelta(days=1)).emails == 0


def test_a_lapsed_grant_is_marked_expired_and_both_sides_are_told(ctx):
    grant_id, customer_email, partner_email = _grant(DAY)
    run = send_partner_grant_notices(DAY)
    assert (run.expired, run.emails) == (1, 0)
    assert db.session.get(PartnerGrant, grant_id).state is GrantState.EXPIRED
    told = _emails("partner_grant")
    assert sorted(m.to_addrs[0] for m in told) == sorted([customer_email, partner_email])
    assert all("reached its end date" in m.body_text for m in told)
    assert send_partner_grant_notices(DAY + timedelta(days=1)).expired == 0


def test_the_command_runs_the_job(app, demo):
    result = app.test_cli_runner().invoke(args=["notify", "partner-grants", "--today", "2099-01-01"])
    assert result.exit_code == 0, result.output
    assert "1 grant expired" in result.output  # the demo's Fabrikam -> Northwind grant, long over by then


def test_a_manager_who_opted_out_does_not_hear_of_the_expiry(ctx):
    from portal.accounts.services import find_user_by_email
    from portal.notifications.models import EmailCategory, EmailOptOut

    _, customer_email, partner_email = _grant(DAY + timedelta(days=30))
    db.session.add(EmailOptOut(user_id=find_user_by_email(partner_email).id,
                               category=EmailCategory.PARTNER_GRANT_NOTICES))
    db.session.commit()
    assert send_partner_grant_notices(DAY).emails == 1
    sent = _emails("partner_grant_expiring")
    assert [m.to_addrs for m in sent] == [[customer_email]]
    assert "List-Unsubscribe" in (sent[0].headers or {})
