"""The audit log: every state change records who, where, what and when; staff see all, managers their chain."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.factories import make_org


def test_a_change_through_a_page_is_audited_with_actor_organization_and_ip(app, login, demo):
    alice = login("alice")
    alice.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert alice.submit("/account/users", {"kind": "login", "full_name": "Audited", "role": "member",
                                           "email": "audited@northwind.example.com"}).status_code == 302
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "membership.created")).one()
        assert entry.actor_id == demo.users["alice"]
        assert entry.organization_id == demo.orgs["Northwind IT"]
        assert entry.ip == "203.0.113.9"
        assert entry.details["email"] == "audited@northwind.example.com"


def test_managers_see_their_chain_and_sub_chains_only(app, login, demo):
    alice, dave = login("alice"), login("dave")
    assert alice.submit("/account/chains", {"name": "Alpine Ski", "full_name": "A", "email": "a@alpine.example.com",
                                            "role": "viewer"}).status_code == 302
    assert dave.submit("/account/users", {"kind": "contact", "full_name": "Secret",
                                          "email": "secret@fabrikam.example.com"}).status_code == 302
    alice_log = alice.get("/account/audit").get_data(as_text=True)
    assert "a@alpine.example.com" in alice_log and "secret@fabrikam.example.com" not in alice_log
    assert "secret@fabrikam.example.com" in dave.get("/account/audit").get_data(as_text=True)


def test_staff_see_everything_and_filter_by_action_and_actor(login, demo):
    for name, letter in (("alice", "c"), ("dave", "d")):
        assert login(name).submit("/account/users", {"kind": "contact", "full_name": letter.upper(),
                                                     "email": f"{letter}@example.com"}).status_code == 302
    ops = login("ops")
    everything = ops.get("/admin/audit").get_data(as_text=True)
    assert "c@example.com" in everything and "d@example.com" in everything
    by_dave = ops.get("/admin/audit?action=contact.&actor=dave@fabrikam.example.com").get_data(as_text=True)
    assert "d@example.com" in by_dave and "c@example.com" not in by_dave


def test_audit_pages_paginate_and_htmx_gets_only_the_table(app, login, demo):
    with app.app_context():
        org = make_org()
        db.session.add_all(AuditEntry(action="test.entry", object_type="X", object_id=str(i), organization_id=org.id)
                           for i in range(120))
        db.session.commit()
    ops = login("ops")
    page = ops.get("/admin/audit?action=test.").get_data(as_text=True)
    assert "<html" in page and 'rel="next"' in page and 'rel="prev"' not in page
    assert page.count("test.entry") == 50
    fragment = ops.get("/admin/audit?action=test.&page=3", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and text.count("test.entry") == 20
    assert 'rel="prev"' in text and 'rel="next"' not in text
    assert "HX-Request" in fragment.headers["Vary"]


def test_a_page_number_out_of_range_is_an_empty_page_not_an_error(login, demo):
    assert login("ops").get("/admin/audit?page=999").status_code == 200
    assert login("ops").get("/admin/audit?page=abc").status_code == 200
