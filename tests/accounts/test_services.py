"""Account rules, called directly: users, roles, sub-chains, password tokens (partner grants: tests/partners)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts import services
from portal.accounts.addresses import is_po_box
from portal.accounts.models import Membership, PasswordToken, PasswordTokenPurpose, Role, User
from portal.audit.models import AuditEntry
from portal.authz import Permission, can
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.signin.sessions import start_session
from tests.factories import actor, make_member, make_org, make_user


def _audit_actions() -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_adding_a_login_creates_the_user_emails_a_set_password_link_and_audits(ctx):
    org = make_org()
    manager = make_member(org, Role.MANAGER).user
    membership = services.add_login(org, " New.Person@Example.COM ", "New Person", Role.MEMBER, actor(manager))
    db.session.flush()
    assert membership.user.email == "new.person@example.com"
    assert membership.user.password_hash is None
    mail = db.session.scalars(select(OutboxMessage)).one()
    assert mail.to_addrs == ["new.person@example.com"] and "/password/set/" in mail.body_text
    assert "membership.created" in _audit_actions()


def test_an_existing_user_is_given_access_without_a_new_account(ctx):
    org, other = make_org(), make_org()
    manager = make_member(org, Role.MANAGER).user
    existing = make_member(other).user
    services.add_login(org, existing.email, "", Role.VIEWER, actor(manager))
    db.session.flush()
    assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email == existing.email)) == 1
    assert db.session.scalars(select(OutboxMessage.kind)).one() == "access_granted"


def test_the_same_person_cannot_be_added_twice(ctx):
    org = make_org()
    manager = make_member(org, Role.MANAGER).user
    services.add_login(org, "twice@example.com", "Twice", Role.MEMBER, actor(manager))
    with pytest.raises(RuleError) as refused:
        services.add_login(org, "TWICE@example.com", "Twice", Role.MEMBER, actor(manager))
    assert refused.value.field == "email"


def test_an_invalid_email_is_refused_beside_the_email_field(ctx):
    org = make_org()
    with pytest.raises(RuleError) as refused:
        services.add_login(org, "not an email", "X", Role.MEMBER, actor())
    assert refused.value.field == "email"


def test_a_chain_keeps_at_least_one_manager(ctx):
    org = make_org()
    only_manager = make_member(org, Role.MANAGER)
    with pytest.raises(RuleError):
        services.change_role(only_manager, Role.MEMBER, actor())
    with pytest.raises(RuleError):
        services.deactivate_membership(only_manager, actor())
    second = make_member(org, Role.MANAGER)
    services.change_role(only_manager, Role.MEMBER, actor(second.user))
    assert only_manager.role is Role.MEMBER


def test_deactivating_the_last_membership_ends_the_login_and_its_sessions(ctx):
    org = make_org()
    manager = make_member(org, Role.MANAGER).user
    leaver = make_member(org, Role.MEMBER)
    signed_in = start_session(leaver.user, "192.0.2.1", "Firefox/130 (Windows)")
    services.deactivate_membership(leaver, actor(manager))
    assert not leaver.user.active
    db.session.refresh(signed_in)
    assert signed_in.ended_at is not None
    assert not can(leaver.user, Permission.VIEW_ACCOUNT, org)


def test_deactivating_one_of_two_memberships_keeps_the_login(ctx):
    org, other = make_org(), make_org()
    manager = make_member(org, Role.MANAGER).user
    person = make_user()
    leaving = make_member(org, Role.MEMBER, user=person)
    make_member(other, Role.MEMBER, user=person)
    db.session.refresh(person)
    services.deactivate_membership(leaving, actor(manager))
    assert person.active
    assert can(person, Permission.VIEW_ACCOUNT, other) and not can(person, Permission.VIEW_ACCOUNT, org)


def test_a_manager_cannot_deactivate_themselves(ctx):
    org = make_org()
    me = make_member(org, Role.MANAGER)
    make_member(org, Role.MANAGER)
    with pytest.raises(RuleError):
        services.deactivate_membership(me, actor(me.user))


def test_sub_chain_is_created_with_its_first_user(ctx):
    parent = make_org()
    manager = make_member(parent, Role.MANAGER).user
    sub = services.create_sub_chain(parent, "Adventure Works", "ann@adventure.example.com", "Ann", Role.VIEWER,
                                    actor(manager))
    db.session.flush()
    assert sub.parent_id == parent.id and not sub.is_main_chain
    ann = services.user_with_access(services.find_user_by_email("ann@adventure.example.com").id)
    assert [(m.organization_id, m.role) for m in ann.memberships] == [(sub.id, Role.VIEWER)]
    # The sub-chain's viewer sees the sub-chain, never the parent; the parent's manager reaches both.
    assert can(ann, Permission.VIEW_ACCOUNT, sub) and not can(ann, Permission.VIEW_ACCOUNT, parent)
    assert can(manager, Permission.MANAGE_USERS, sub)


def test_sub_chains_are_one_level_deep_and_names_unique(ctx):
    parent = make_org()
    sub = make_org("Branch", parent=parent)
    with pytest.raises(RuleError):
        services.create_sub_chain(sub, "Deeper", "x@example.com", "X", Role.VIEWER, actor())
    with pytest.raises(RuleError) as refused:
        services.create_sub_chain(parent, "branch", "y@example.com", "Y", Role.VIEWER, actor())
    assert refused.value.field == "name"


def test_a_password_link_works_once(ctx):
    user = make_user(password=None)
    raw = services.issue_password_token(user, PasswordTokenPurpose.SET)
    services.set_password_with_token(raw, "correct horse battery", actor())
    with pytest.raises(RuleError):
        services.set_password_with_token(raw, "another good password", actor())


def test_a_password_link_expires(ctx):
    user = make_user(password=None)
    raw = services.issue_password_token(user, PasswordTokenPurpose.RESET)
    db.session.flush()
    token = db.session.scalars(select(PasswordToken)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(RuleError):
        services.set_password_with_token(raw, "correct horse battery", actor())


def test_setting_a_password_spends_every_open_link_and_ends_sessions(ctx):
    user = make_user(password=None)
    first = services.issue_password_token(user, PasswordTokenPurpose.SET)
    second = services.issue_password_token(user, PasswordTokenPurpose.RESET)
    signed_in = start_session(user, "192.0.2.1", "Firefox/130 (Windows)")
    services.set_password_with_token(second, "correct horse battery", actor())
    assert services.find_valid_token(first) is None
    db.session.refresh(signed_in)
    assert signed_in.ended_at is not None


def test_short_passwords_are_refused(ctx):
    user = make_user(password=None)
    raw = services.issue_password_token(user, PasswordTokenPurpose.SET)
    with pytest.raises(RuleError) as refused:
        services.set_password_with_token(raw, "short", actor())
    assert refused.value.field == "password"


def test_reset_for_an_unknown_address_sends_nothing_and_says_nothing(ctx):
    services.request_password_reset("nobody@example.com", actor())
    assert db.session.scalars(select(OutboxMessage)).first() is None


def test_changing_password_needs_the_current_one(ctx):
    user = make_user(password="the-old-password")
    with pytest.raises(RuleError) as refused:
        services.change_password(user, "wrong", "a-new-password-1", actor(user))
    assert refused.value.field == "current"
    services.change_password(user, "the-old-password", "a-new-password-1", actor(user))
    assert services.authenticate(user.email, "a-new-password-1", actor()) is user


def test_authentication_refuses_wrong_passwords_and_deactivated_users(ctx):
    user = make_user(password="right-password")
    assert services.authenticate(user.email, "wrong-password", actor()) is None
    user.active = False
    assert services.authenticate(user.email, "right-password", actor()) is None


@pytest.mark.parametrize("line", ["P.O. Box 123", "PO Box 9", "p o box 55", "POB 12", "Post Office Box 7",
                                  "Box 42", "PO Drawer 3", "Postfach 1234", "Apartado 15"])
def test_po_boxes_are_recognised(line):
    assert is_po_box(line)


@pytest.mark.parametrize("line", ["200 Harbor Way", "12 Boxwood Lane", "1 Post Road", "5 Boxer Street",
                                  "48 Elm Avenue, Suite 4"])
def test_street_addresses_are_not_po_boxes(line):
    assert not is_po_box(line)


def test_contact_information_refuses_a_po_box_and_audits_changes(ctx):
    org = make_org()
    with pytest.raises(RuleError) as refused:
        services.update_contact_information(org, {"address_line1": "P.O. Box 77"}, actor())
    assert refused.value.field == "address_line1"
    services.update_contact_information(org, {"phone": "+1 555 0199"}, actor())
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.action == "organization.updated" and entry.details["changes"]["phone"][1] == "+1 555 0199"


def test_memberships_cover_sub_chains_but_never_parents_or_siblings(ctx):
    main = make_org()
    left, right = make_org(parent=main), make_org(parent=main)
    main_manager = make_member(main, Role.MANAGER).user
    left_manager = make_member(left, Role.MANAGER).user
    db.session.refresh(main_manager)
    db.session.refresh(left_manager)
    assert can(main_manager, Permission.MANAGE_USERS, left) and can(main_manager, Permission.MANAGE_USERS, right)
    assert can(left_manager, Permission.MANAGE_USERS, left)
    assert not can(left_manager, Permission.MANAGE_USERS, main)
    assert not can(left_manager, Permission.MANAGE_USERS, right)
    # Billing is the main chain's alone, even for a sub-chain's manager.
    assert not can(left_manager, Permission.VIEW_INVOICES, left)
    assert can(main_manager, Permission.VIEW_INVOICES, main)
    assert not db.session.scalars(select(Membership).where(Membership.organization_id == right.id)).first()
