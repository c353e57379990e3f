"""Assigning licenses (DOMAIN §4): to a known person's organization or to a new customer account, several at once,
only by the buyer, never twice; and what resellers and end customers are shown."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy import inspect as sa_inspect

from portal.accounts.models import Membership, Role, User
from portal.accounts.services import find_valid_token
from portal.audit.models import AuditEntry
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import services
from portal.licenses.models import License
from portal.outbox.models import OutboxMessage
from tests.factories import DEMO_EMAILS, actor, make_license, make_member, make_org
from tests.factories import demo_org as _org
from tests.factories import demo_user as _user

CAROL, ALICE = DEMO_EMAILS["carol"], DEMO_EMAILS["alice"]


@pytest.fixture
def world(app, demo):
    """The demo, with an application context to call the services in."""
    with app.app_context():
        yield demo
        db.session.rollback()




def _stock(org_name: str = "Northwind IT", n: int = 1, slug: str = "mailsuite") -> list[License]:
    owner = _org(org_name)
    edition, addons = ("Professional", ("antispam",)) if slug == "mailsuite" else ("Standard", ())
    return [make_license(owner, slug=slug, edition=edition, addons=addons) for _ in range(n)]


def _mail(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_a_known_customer_receives_the_key_and_its_organization_holds_the_license(world):
    [lic] = _stock()
    alice = _user("alice")
    assignment = services.assign_licenses([lic], "  Carol@Contoso.example.com ", actor(alice))
    db.session.commit()
    contoso = _org("Contoso Retail")
    assert (assignment.customer.id, assignment.recipient.email, assignment.new_account) == (contoso.id, CAROL, False)
    db.session.refresh(lic)
    assert (lic.customer_id, lic.assigned_by_id) == (contoso.id, alice.id) and lic.assigned_at is not None
    [mail] = _mail("license_assigned")
    assert mail.to_addrs == [CAROL] and lic.key in mail.body_text and "Advanced Anti-Spam" in mail.body_text
    assert "Northwind IT assigned a license to Contoso Retail" in mail.body_text
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "license.assigned")).one()
    assert entry.organization_id == lic.owner_id and entry.details["email"] == CAROL


def test_a_new_customer_gets_a_sub_chain_a_login_and_one_email_with_username_link_and_keys(world):
    licenses = _stock(n=2)
    assignment = services.assign_licenses(licenses, "pat@tailspin.example.com", actor(_user("bob")),
                                          customer_name="Tailspin Toys")
    db.session.commit()
    northwind = _org("Northwind IT")
    tailspin = _org("Tailspin Toys")
    assert tailspin.parent_id == northwind.id and assignment.customer.id == tailspin.id and assignment.new_account
    membership = db.session.scalars(select(Membership).join(User).where(User.email == "pat@tailspin.example.com")).one()
    assert (membership.organization_id, membership.role) == (tailspin.id, Role.VIEWER)
    assert not _mail("welcome")  # one email, not a welcome and a license email
    [mail] = _mail("license_assigned_new_account")
    body = mail.body_text
    assert mail.to_addrs == ["pat@tailspin.example.com"] and "Your username: pat@tailspin.example.com" in body
    assert all(lic.key in body for lic in licenses)
    token = re.search(r"http://portal\.test/password/set/([\w-]+)", body).group(1)
    assert find_valid_token(token).user.email == "pat@tailspin.example.com"
    assert {lic.customer_id for lic in db.session.scalars(select(License).where(
        License.id.in_([lic.id for lic in licenses])))} == {tailspin.id}


def test_a_new_customer_without_a_name_is_named_after_their_address(world):
    [lic] = _stock()
    assignment = services.assign_licenses([lic], "sam@example.org", actor(_user("alice")))
    assert assignment.customer.name == "sam@example.org" and assignment.customer.parent_id == lic.owner_id


def test_several_licenses_go_to_one_customer_in_one_email(world):
    licenses = _stock(n=2) + _stock(slug="webstats")
    services.assign_licenses(licenses, CAROL, actor(_user("alice")))
    db.session.commit()
    [mail] = _mail("license_assigned")
    assert "3 license keys" in mail.subject and all(lic.key in mail.body_text for lic in licenses)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "license.assigned")) == 3


def test_license_cannot_be_assigned_twice(world):
    [lic] = _stock()
    services.assign_licenses([lic], CAROL, actor(_user("alice")))
    db.session.commit()
    with pytest.raises(RuleError, match="can never be re-assigned"):
        services.assign_licenses([lic], "someone@example.org", actor(_user("alice")))
    db.session.rollback()
    assert db.session.get(License, lic.id).customer_id == _org("Contoso Retail").id


def test_the_database_refuses_a_license_assigned_meanwhile_even_from_a_stale_copy(world):
    """The page was opened while the license was unassigned; another request assigned it since. The conditional
    write finds it assigned and refuses, and nothing of the attempt stays (no account, no email)."""
    [lic] = _stock()
    contoso = _org("Contoso Retail")
    db.session.commit()
    with db.engine.begin() as other:  # another request, on its own connection
        other.execute(text("UPDATE license SET customer_id = :c WHERE id = :i"), {"c": contoso.id, "i": lic.id})
    assert lic.customer_id is None  # this request's copy is stale
    with pytest.raises(RuleError, match=f"License {lic.key} is already assigned. A license can never be re-assigned"):
        services.assign_licenses([lic], "newcomer@example.org", actor(_user("alice")))
    db.session.rollback()
    assert db.session.get(License, lic.id).customer_id == contoso.id
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "newcomer@example.org")) == 0
    assert not _mail("license_assigned_new_account")


def test_only_the_buying_organization_assigns(world):
    [lic] = _stock()
    for intruder in ("frank", "carol", "dave"):
        with pytest.raises(RuleError, match="Only Northwind IT can assign its licenses"):
            services.assign_licenses([lic], CAROL, actor(_user(intruder)))
    installer = make_member(_org("Northwind IT"), Role.INSTALLER).user  # a member of the chain, but no assigning
    with pytest.raises(RuleError, match="Only Northwind IT"):
        services.assign_licenses([lic], CAROL, actor(installer))
    assert services.assign_licenses([lic], CAROL, actor(_user("bob"))).customer.name == "Contoso Retail"


def test_licenses_of_two_owners_are_not_assigned_together(world):
    licenses = _stock() + _stock("Litware Solutions")
    with pytest.raises(RuleError, match="one organization at a time"):
        services.assign_licenses(licenses, CAROL, actor(_user("alice")))


def test_a_person_in_several_organizations_receives_in_the_one_under_this_reseller(world):
    """Several memberships: a sub-chain of this reseller first; otherwise their first main chain."""
    northwind, fabrikam = _org("Northwind IT"), _org("Fabrikam Stores")
    person = make_member(fabrikam, Role.MANAGER).user
    litware_branch = make_org("Litware Branch", parent=_org("Litware Solutions"))
    make_member(litware_branch, Role.VIEWER, user=person)
    [first] = _stock()
    assert services.assign_licenses([first], person.email, actor(_user("alice"))).customer.id == fabrikam.id
    customer = make_org("Woodgrove", parent=northwind)
    make_member(customer, Role.VIEWER, user=person)
    [second] = _stock()
    assert services.assign_licenses([second], person.email, actor(_user("alice"))).customer.id == customer.id


def test_use_myself_keeps_the_license_as_personal(world):
    [lic] = _stock()
    northwind = _org("Northwind IT")
    erin = _user("erin")  # also an Installation Partner of Fabrikam: the license still stays with Northwind
    assignment = services.assign_licenses([lic], erin.email, actor(erin), customer=northwind)
    assert assignment.customer.id == northwind.id == db.session.get(License, lic.id).customer_id


def test_a_customer_picked_from_the_list_needs_one_of_its_users(world):
    [lic] = _stock()
    with pytest.raises(RuleError, match="is not a user of Contoso Retail") as refused:
        services.assign_licenses([lic], DEMO_EMAILS["bob"], actor(_user("alice")), customer=_org("Contoso Retail"))
    assert refused.value.field == "email"
    with pytest.raises(RuleError, match="not a customer of Northwind IT"):
        services.assign_licenses([lic], DEMO_EMAILS["dave"], actor(_user("alice")), customer=_org("Fabrikam Stores"))


@pytest.mark.parametrize("email", ["not-an-email", "carol@", "", "two@@example.com"])
def test_a_malformed_email_is_refused_beside_the_email_field(world, email):
    [lic] = _stock()
    with pytest.raises(RuleError) as refused:
        services.assign_licenses([lic], email, actor(_user("alice")))
    assert refused.value.field == "email"


def test_a_deactivated_person_is_refused(world):
    [lic] = _stock()
    person = make_member(_org("Contoso Retail"), Role.VIEWER).user
    person.active = False
    with pytest.raises(RuleError, match="no active portal access"):
        services.assign_licenses([lic], person.email, actor(_user("alice")))


def test_a_new_customer_named_like_an_existing_sub_chain_is_refused_beside_the_name(world):
    [lic] = _stock()
    with pytest.raises(RuleError, match="already has a sub-chain called contoso retail") as refused:
        services.assign_licenses([lic], "new@example.org", actor(_user("alice")), customer_name="contoso retail")
    assert refused.value.field == "customer_name"


def test_nothing_is_emailed_when_the_assignment_is_rolled_back(world, mailbox):
    [lic] = _stock()
    db.session.commit()
    services.assign_licenses([lic], CAROL, actor(_user("alice")))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert not mailbox.messages and db.session.get(License, lic.id).customer_id is None


def test_check_assignment_writes_nothing(world):
    [lic] = _stock()
    assert services.check_assignment([lic], "Someone@Example.org", actor(_user("alice"))) == "someone@example.org"
    assert not db.session.new and not db.session.dirty
    assert db.session.get(License, lic.id).customer_id is None


# ---------------------------------------------------------------- what is shown


def test_the_reseller_sees_unassigned_resold_and_personal_licenses_apart(world):
    northwind, contoso = _org("Northwind IT"), _org("Contoso Retail")
    alice = _user("alice")
    keys = {name: set(db.session.scalars(stmt.with_only_columns(License.key))) for name, stmt in {
        "unassigned": services.unassigned_licenses(alice, northwind),
        "resold": services.resold_licenses(alice, northwind),
        "personal": services.personal_licenses(alice, northwind)}.items()}
    owned = {lic.key: lic for lic in db.session.scalars(select(License).where(License.owner_id == northwind.id))}
    assert keys["unassigned"] == {k for k, lic in owned.items() if lic.customer_id is None}
    assert keys["resold"] == {k for k, lic in owned.items() if lic.customer_id == contoso.id}
    assert keys["personal"] == {k for k, lic in owned.items() if lic.customer_id == northwind.id}
    assert all(keys.values())  # the demo has each kind


def test_frank_sees_none_of_northwinds_licenses(world):
    northwind, frank = _org("Northwind IT"), _user("frank")
    for stmt in (services.unassigned_licenses(frank, northwind), services.resold_licenses(frank, northwind),
                 services.personal_licenses(frank, northwind), services.customers(frank, northwind)):
        assert db.session.execute(stmt).first() is None
    some_key = db.session.scalars(select(License.key).where(License.owner_id == northwind.id)).first()
    assert services.find_license(frank, some_key) is None


def test_the_scope_checked_in_memory_gives_the_same_rows_as_the_sql_scope(world):
    """With memberships loaded (as for the signed-in user) the reseller queries check the scope once in Python
    instead of in SQL: the same rows for alice, still none for frank, and nothing from another organization."""
    from portal.accounts.services import user_with_access

    northwind, litware = _org("Northwind IT"), _org("Litware Solutions")
    for name, org, sees in (("alice", northwind, True), ("frank", northwind, False), ("alice", litware, False)):
        user = _user(name)
        for query in (services.unassigned_licenses, services.resold_licenses, services.personal_licenses,
                      services.customers, services.customer_licenses, services.addon_names):
            db.session.expire(user, ["memberships"])  # the scope in SQL
            in_sql = query(user, org)
            in_sql = list(in_sql.items()) if isinstance(in_sql, dict) else db.session.execute(in_sql).all()
            assert user_with_access(user.id) is user and "memberships" not in sa_inspect(user).unloaded
            in_memory = query(user, org)
            in_memory = list(in_memory.items()) if isinstance(in_memory, dict) else db.session.execute(in_memory).all()
            assert in_sql == in_memory and bool(in_memory) is sees, (name, org.name, query.__name__)


def test_customers_are_sub_chains_and_everyone_resold_to_with_their_license_counts(world):
    northwind = _org("Northwind IT")
    empty_sub = make_org("Adatum", parent=northwind)
    fabrikam = _org("Fabrikam Stores")
    make_license(northwind, customer=fabrikam)
    make_license(northwind, customer=northwind)  # personal: not a customer
    rows = db.session.execute(services.customers(_user("bob"), northwind)).all()
    assert [(org.name, count) for org, count in rows] == [
        (empty_sub.name, 0), ("Contoso Retail", 2), ("Fabrikam Stores", 1)]
    assert [org.name for org, _ in db.session.execute(services.customers(_user("bob"), northwind, "fab"))] == [
        "Fabrikam Stores"]


def test_an_end_customer_is_entitled_to_the_licenses_of_its_chain_only(world):
    carol, contoso = _user("carol"), _org("Contoso Retail")
    entitled = list(db.session.scalars(services.entitlements(carol, contoso)))
    assert entitled and {lic.customer_id for lic in entitled} == {contoso.id}
    other = make_org("Contoso West", parent=_org("Northwind IT"))
    make_license(_org("Northwind IT"), customer=other)  # a sibling's license
    assert {lic.customer_id for lic in db.session.scalars(services.entitlements(carol, contoso))} == {contoso.id}


def test_a_key_is_found_whatever_its_spelling(world):
    [lic] = _stock()
    alice = _user("alice")
    sloppy = lic.key.replace("-", " ").lower()
    found = db.session.scalars(services.unassigned_licenses(alice, _org("Northwind IT"), sloppy)).all()
    assert [f.key for f in found] == [lic.key]
    partial = db.session.scalars(services.unassigned_licenses(alice, _org("Northwind IT"), lic.key[6:11].lower()))
    assert lic.key in [f.key for f in partial]


def test_demo_licenses_are_seeded_once(world):
    from portal.demo import seed_demo

    before = db.session.scalar(select(func.count()).select_from(License))
    seed_demo()
    assert db.session.scalar(select(func.count()).select_from(License)) == before
    assert before >= 7
