"""Partner grant rules, called directly: the lifecycle over every pair of states, who exercises a grant, expiry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.authz import Permission, can, organization_ids_where
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.partners import services
from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant
from portal.partners.services import Side
from tests.factories import actor, make_member, make_org, make_partner_grant

TODAY = date.today()
S = GrantState

# The lifecycle as the issue states it, written out here rather than read from the code: (from, to) -> who may.
ALLOWED = {
    (S.REQUESTED, S.ACTIVE): Side.CUSTOMER,  # approved by a Chain & User Manager of the customer
    (S.REQUESTED, S.DECLINED): Side.CUSTOMER,
    (S.REQUESTED, S.WITHDRAWN): Side.PARTNER,
    (S.ACTIVE, S.REVOKED): Side.CUSTOMER,  # or the partner: test_either_side_revokes
    (S.ACTIVE, S.EXPIRED): Side.SYSTEM,  # the date passed
}


def _pair(state: GrantState = S.ACTIVE, expires_on: date | None = None):
    """A customer (with a manager), a partner (a manager and a user assigned) and a grant between them."""
    customer, partner = make_org(), make_org()
    customer_manager = make_member(customer, Role.MANAGER).user
    partner_manager = make_member(partner, Role.MANAGER).user
    installer = make_member(partner, Role.MEMBER).user
    grant = make_partner_grant(customer, partner, state=state, assign=[installer], expires_on=expires_on)
    return grant, customer_manager, partner_manager, installer


def _fresh(user):
    return accounts.user_with_access(user.id)


def _loaded(grant: PartnerGrant) -> PartnerGrant:
    """The grant with its organizations and assignments, as the partners page loads it."""
    return db.session.scalars(
        select(PartnerGrant).where(PartnerGrant.id == grant.id).execution_options(populate_existing=True)
        .options(joinedload(PartnerGrant.customer), joinedload(PartnerGrant.partner),
                 selectinload(PartnerGrant.assignments).joinedload(PartnerAssignment.user))).one()


@pytest.mark.parametrize("to", list(GrantState))
@pytest.mark.parametrize("start", list(GrantState))
def test_every_pair_of_states(ctx, start, to):
    """Each allowed move succeeds (audited for both sides); every other pair is refused and changes nothing."""
    # the day the grant ends: past for an expiry, ahead for anything else
    grant, manager, *_ = _pair(start, expires_on=TODAY if to is S.EXPIRED else TODAY + timedelta(days=30))
    side = ALLOWED.get((start, to), Side.CUSTOMER)
    if (start, to) in ALLOWED:
        services.move(grant, to, side, actor(manager), TODAY)
        assert grant.state is to
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "PartnerGrant")).all()
        assert {e.organization_id for e in entries} == {grant.customer_id, grant.partner_id}
    else:
        with pytest.raises(RuleError) as refused:
            services.move(grant, to, side, actor(manager), TODAY)
        assert refused.value.message == f"This grant is {start.value}: it cannot be {services._VERBS[to]}."
        assert grant.state is start


@pytest.mark.parametrize(("start", "to", "wrong"), [
    (S.REQUESTED, S.ACTIVE, Side.PARTNER),  # a partner cannot approve its own request
    (S.REQUESTED, S.DECLINED, Side.PARTNER),
    (S.REQUESTED, S.WITHDRAWN, Side.CUSTOMER),
    (S.ACTIVE, S.EXPIRED, Side.CUSTOMER),  # expiry is the date's doing
    (S.ACTIVE, S.REVOKED, Side.SYSTEM),
])
def test_a_move_by_the_wrong_side_is_refused(ctx, start, to, wrong):
    grant, *_ = _pair(start, expires_on=TODAY)
    with pytest.raises(RuleError, match="Only the"):
        services.move(grant, to, wrong, actor(), TODAY)
    assert grant.state is start


@pytest.mark.parametrize("side", [Side.CUSTOMER, Side.PARTNER])
def test_either_side_revokes_and_access_ends(ctx, side):
    grant, customer_manager, partner_manager, installer = _pair(S.ACTIVE)
    assert can(_fresh(installer), Permission.MANAGE_DEVICES, grant.customer)
    services.move(grant, S.REVOKED, side, actor(customer_manager if side is Side.CUSTOMER else partner_manager))
    db.session.flush()
    assert not can(_fresh(installer), Permission.MANAGE_DEVICES, grant.customer)
    other = partner_manager if side is Side.CUSTOMER else customer_manager
    told = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "partner_grant")).all()
    assert [m.to_addrs for m in told] == [[other.email]]
    assert "revoked" in told[0].body_text


def test_an_active_grant_expires_only_once_its_date_has_come(ctx):
    grant, *_ = _pair(S.ACTIVE, expires_on=TODAY + timedelta(days=1))
    with pytest.raises(RuleError, match="has not expired"):
        services.move(grant, S.EXPIRED, Side.SYSTEM, actor(), TODAY)
    services.move(grant, S.EXPIRED, Side.SYSTEM, actor(), TODAY + timedelta(days=1))
    assert grant.state is S.EXPIRED


def test_a_request_whose_end_date_passed_cannot_be_approved(ctx):
    grant, manager, *_ = _pair(S.REQUESTED, expires_on=TODAY)
    with pytest.raises(RuleError, match="end date has passed"):
        services.move(grant, S.ACTIVE, Side.CUSTOMER, actor(manager), TODAY)


def test_an_assigned_partner_user_installs_on_the_customer_and_its_sub_chains_and_nothing_else(ctx):
    grant, _, _, installer = _pair(S.ACTIVE)
    sub = make_org(parent=grant.customer)
    user = _fresh(installer)
    for org in (grant.customer, sub):
        for allowed in (Permission.VIEW_ACCOUNT, Permission.MANAGE_DEVICES, Permission.VIEW_DEVICES,
                        Permission.ACTIVATE):
            assert can(user, allowed, org), (allowed, org.name)
    for denied in (Permission.MANAGE_USERS, Permission.VIEW_REPORTS, Permission.VIEW_INVOICES,
                   Permission.VIEW_PRICES, Permission.MANAGE_SUBSCRIPTIONS, Permission.MANAGE_PARTNERS,
                   Permission.BUY, Permission.VIEW_LICENSES):
        assert not can(user, denied, grant.customer), denied
    reached = set(db.session.scalars(organization_ids_where(user, Permission.MANAGE_DEVICES)))
    assert {grant.customer_id, sub.id} <= reached
    assert not set(db.session.scalars(organization_ids_where(user, Permission.MANAGE_USERS))) & {grant.customer_id}
    stranger = make_org()  # a customer that gave this partner nothing
    assert not can(user, Permission.VIEW_DEVICES, stranger)
    assert stranger.id not in reached


def test_an_unassigned_partner_user_has_no_access(ctx):
    grant, _, partner_manager, _ = _pair(S.ACTIVE)
    colleague = make_member(grant.partner, Role.MEMBER).user
    for user in (colleague, partner_manager):  # not even the partner's own manager, until assigned
        assert not can(_fresh(user), Permission.VIEW_DEVICES, grant.customer)
        assert grant.customer_id not in set(db.session.scalars(
            organization_ids_where(_fresh(user), Permission.VIEW_DEVICES)))


def test_a_user_who_leaves_the_partner_loses_the_access_at_once(ctx):
    grant, _, partner_manager, installer = _pair(S.ACTIVE)
    membership = next(m for m in _fresh(installer).memberships if m.organization_id == grant.partner_id)
    accounts.deactivate_membership(membership, actor(partner_manager))
    db.session.flush()
    user = _fresh(installer)
    assert not can(user, Permission.MANAGE_DEVICES, grant.customer)
    assert grant.customer_id not in set(db.session.scalars(organization_ids_where(user, Permission.VIEW_DEVICES)))


@pytest.mark.parametrize(("state", "expires_on"), [
    (S.ACTIVE, TODAY),  # its date came (the job has not marked it yet): access ended that morning
    (S.ACTIVE, TODAY - timedelta(days=3)),
    (S.REQUESTED, TODAY + timedelta(days=30)),
    (S.DECLINED, TODAY + timedelta(days=30)),
    (S.REVOKED, TODAY + timedelta(days=30)),
    (S.EXPIRED, TODAY - timedelta(days=1)),
])
def test_only_an_active_grant_before_its_end_date_gives_access(ctx, state, expires_on):
    grant, _, _, installer = _pair(state, expires_on=expires_on)
    user = _fresh(installer)
    assert not can(user, Permission.VIEW_DEVICES, grant.customer)
    assert grant.customer_id not in set(db.session.scalars(organization_ids_where(user, Permission.VIEW_DEVICES)))


def test_expiry_is_one_year_by_default_and_at_most_two(ctx):
    customer, partner = make_org(), make_org()
    manager = make_member(customer, Role.MANAGER).user
    day = date(2026, 12, 6)
    for expires_on, message in ((date(2028, 12, 7), "at most 2 years"), (day, "after today")):
        with pytest.raises(RuleError, match=message) as refused:
            services.grant_directly(customer, services.partner_id_code(partner), actor(manager),
                                    expires_on=expires_on, today=day)
        assert refused.value.field == "expires_on"
    grant = services.grant_directly(customer, services.partner_id_code(partner), actor(manager), today=day)
    assert (grant.state, grant.starts_on, grant.expires_on) == (S.ACTIVE, day, date(2027, 12, 6))
    longest = services.grant_directly(make_org(), services.partner_id_code(partner), actor(),
                                      expires_on=date(2028, 12, 6), today=day)
    assert longest.expires_on == date(2028, 12, 6)


def test_a_partner_id_names_its_organization_only_with_its_signature(ctx):
    partner = make_org()
    code = services.partner_id_code(partner)
    assert services.find_partner_by_code(code.lower()) == partner
    forged = f"{partner.id}-{'0' * 12}"
    for wrong in (forged, str(partner.id), "", "x-y", "9" * 40):
        assert services.find_partner_by_code(wrong) is None
    assert services.grant_directly(make_org(), forged, actor()) is None
    assert services.grant_directly(partner, code, actor()) is None  # no grant to itself


def test_a_request_is_recorded_the_same_way_whether_or_not_the_address_is_a_managers(ctx):
    customer, partner = make_org(), make_org()
    dave = make_member(customer, Role.MANAGER).user
    partner_manager = make_member(partner, Role.MANAGER).user
    known = services.request_access(partner, dave.email.upper(), actor(partner_manager))
    unknown = services.request_access(partner, "nobody@example.com", actor(partner_manager))
    assert (known.state, unknown.state) == (S.REQUESTED, S.REQUESTED)
    assert known.customer_id == customer.id and unknown.customer_id is None
    held = services.grants_held(partner)
    assert {g.requested_email for g in held.pending} == {dave.email, "nobody@example.com"}
    asked = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "partner_grant")).all()
    assert [m.to_addrs for m in asked] == [[dave.email]]  # the customer's managers hear of it, nobody else
    assert services.grants_given(customer).pending == [known]
    with pytest.raises(RuleError, match="names no customer"):
        services.move(unknown, S.ACTIVE, Side.CUSTOMER, actor(dave))


def test_partner_managers_assign_only_their_own_active_users(ctx):
    grant, _, partner_manager, installer = _pair(S.ACTIVE)
    grant = _loaded(grant)
    outsider = make_member(make_org(), Role.MEMBER).user
    with pytest.raises(RuleError, match="active users of") as refused:
        services.assign(grant, outsider.id, actor(partner_manager))
    assert refused.value.field == "user_id"
    with pytest.raises(RuleError, match="already assigned"):
        services.assign(grant, installer.id, actor(partner_manager))
    colleague = make_member(grant.partner, Role.MEMBER).user
    services.assign(grant, colleague.id, actor(partner_manager))
    db.session.flush()
    assert can(_fresh(colleague), Permission.ACTIVATE, grant.customer)
    services.unassign(_loaded(grant), colleague.id, actor(partner_manager))
    db.session.flush()
    assert not can(_fresh(colleague), Permission.ACTIVATE, grant.customer)
    ended = _loaded(make_partner_grant(make_org(), grant.partner, state=S.REVOKED))
    with pytest.raises(RuleError, match="revoked"):
        services.assign(ended, colleague.id, actor(partner_manager))


def test_the_lists_separate_active_pending_and_past(ctx):
    customer = make_org()
    active = make_partner_grant(customer, make_org(), state=S.ACTIVE)
    pending = make_partner_grant(customer, make_org())
    revoked = make_partner_grant(customer, make_org(), state=S.REVOKED)
    lapsed = make_partner_grant(customer, make_org(), state=S.ACTIVE, expires_on=TODAY,
                                starts_on=TODAY - timedelta(days=365))
    db.session.expire_all()
    lists = services.grants_given(db.session.get(type(customer), customer.id))
    assert [g.id for g in lists.active] == [active.id]
    assert [g.id for g in lists.pending] == [pending.id]
    assert {g.id for g in lists.past} == {revoked.id, lapsed.id}
