"""/account/partners without JavaScript, for both sides: forms read from the page and posted as they are; erin's
access to Fabrikam through Northwind's grant, and how it ends."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select, update

from portal.accounts.models import Membership, Role
from portal.devices.models import Location
from portal.extensions import db
from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant
from tests.factories import demo_org, make_member


def post_form(client, page_url: str, action: str, **values):
    """Open the page, fill its form posting to `action` in (`values` by field name, with or without the form's
    prefix) and submit it, as a browser without JavaScript does."""
    page = client.page(page_url)
    form, _ = page.find(action=action)
    typed = {next((name for name in form.names if name.endswith(f"-{key}")), key): value
             for key, value in values.items()}
    return client.submit(page, typed, action=action)


def forged(client, url: str, data: dict | None = None):
    """A request no page of this user offers (another organization, another's grant), with the session's token."""
    return client.post(url, data={**(data or {}), "csrf_token": client.csrf_token()})


def confirm(client, page_url: str, action: str):
    """Press a destructive action's button on the page (a link to its question), then confirm on that page."""
    assert f'href="{action}"' in client.get(page_url).get_data(as_text=True)
    return post_form(client, action, action)


def _flash(client) -> str:
    page = client.get("/account/partners").get_data(as_text=True)
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>\s*(.*?)\s*<', page, flags=re.S))


def _grants(app) -> list[tuple]:
    with app.app_context():
        return sorted((g.customer_id, g.partner_id, g.state.value, g.requested_email)
                      for g in db.session.scalars(select(PartnerGrant)))


def _grant_id(app, customer: str, partner: str) -> int:
    with app.app_context():
        return db.session.scalars(select(PartnerGrant.id).where(
            PartnerGrant.customer_id == demo_org(customer).id, PartnerGrant.partner_id == demo_org(partner).id)
            .order_by(PartnerGrant.id.desc())).first()


def _fabrikam_location(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Location.id).where(
            Location.organization_id == demo_org("Fabrikam Stores").id)).first()


# ---------------------------------------------------------------- erin, through Northwind's grant


def test_the_demo_gives_erin_fabrikam_through_northwinds_grant_not_a_membership(app, login, demo):
    with app.app_context():
        grant = db.session.scalars(select(PartnerGrant)).one()
        assert (grant.customer_id, grant.partner_id, grant.state) == (
            demo.orgs["Fabrikam Stores"], demo.orgs["Northwind IT"], GrantState.ACTIVE)
        assert [a.user_id for a in db.session.scalars(select(PartnerAssignment))] == [demo.users["erin"]]
        assert ("erin", "Fabrikam Stores") not in demo.memberships
    erin = login("erin")
    page = erin.get("/devices").get_data(as_text=True)  # Fabrikam, her first working organization
    assert "Fabrikam Stores" in page
    assert erin.get(f"/locations/{_fabrikam_location(app)}").status_code == 200
    assert erin.get("/account/partners").status_code == 403  # no partner management as installer


def test_erin_removed_from_northwind_loses_fabrikam_on_her_next_request(app, login, demo):
    erin = login("erin")
    location = f"/locations/{_fabrikam_location(app)}"
    assert erin.get(location).status_code == 200
    with app.app_context():  # her membership ends; her session is left as it was, to show authz alone decides
        db.session.execute(update(Membership).where(Membership.id == demo.memberships[("erin", "Northwind IT")])
                           .values(active=False))
        db.session.commit()
    assert erin.get(location).status_code == 404
    assert erin.get("/devices").status_code == 403  # no organization to work in any more
    assert forged(erin, "/account/switch", {"org_id": demo.orgs["Fabrikam Stores"]}).status_code == 404
    assert "Fabrikam Stores" not in erin.get("/account/password").get_data(as_text=True)


def test_alice_removing_erin_ends_her_fabrikam_access(app, login, demo):
    erin, alice = login("erin"), login("alice")
    membership = demo.memberships[("erin", "Northwind IT")]
    response = confirm(alice, "/account/users", f"/account/users/{membership}/deactivate")
    assert response.status_code == 302
    assert erin.get(f"/locations/{_fabrikam_location(app)}").status_code in (302, 404)
    assert erin.submit("/login", {"email": "erin@northwind.example.com",
                                  "password": "portal-demo-2026"}).status_code != 302


def test_a_partner_user_not_assigned_sees_nothing_of_the_customer(app, login, demo):
    bob = login("bob")  # a Master user of Northwind, the partner, but not chosen for the grant
    assert bob.get(f"/locations/{_fabrikam_location(app)}").status_code == 404
    assert forged(bob, "/account/switch", {"org_id": demo.orgs["Fabrikam Stores"]}).status_code == 404
    alice = login("alice")  # Northwind's manager: she chooses who exercises it, but is not chosen herself
    assert alice.get(f"/locations/{_fabrikam_location(app)}").status_code == 404


def test_a_partner_never_sees_a_customer_it_has_no_grant_from(app, login, demo):
    erin = login("erin")
    assert forged(erin, "/account/switch", {"org_id": demo.orgs["Litware Solutions"]}).status_code == 404
    alice = login("alice")
    page = alice.get("/account/partners").get_data(as_text=True)
    assert "Fabrikam Stores" in page and "Litware Solutions" not in page
    frank = login("frank")
    assert "Fabrikam Stores" not in frank.get("/account/partners").get_data(as_text=True)
    assert forged(frank, f"/account/partners/{_grant_id(app, 'Fabrikam Stores', 'Northwind IT')}/revoke"
                  ).status_code == 404


# ---------------------------------------------------------------- the lifecycle through the pages


def test_request_approve_assign_and_revoke_without_javascript(app, login, demo, mailbox):
    frank, dave = login("frank"), login("dave")
    with app.app_context():
        gina = make_member(demo_org("Litware Solutions"), Role.MEMBER).user
        gina_email = gina.email
        gina.password_hash = db.session.get(type(gina), demo.users["frank"]).password_hash
        db.session.commit()
    response = post_form(frank, "/account/partners", "/account/partners/request",
                         email="dave@fabrikam.example.com")
    assert response.status_code == 302
    assert "Requested from dave@fabrikam.example.com" in frank.get("/account/partners").get_data(as_text=True)
    asked = mailbox.to("dave@fabrikam.example.com")
    assert asked and "Litware Solutions asks for Installation Partner access" in asked[-1]["Subject"]

    grant_id = _grant_id(app, "Fabrikam Stores", "Litware Solutions")
    page = dave.get("/account/partners").get_data(as_text=True)
    assert "Requests waiting for your approval" in page and "Litware Solutions" in page
    assert forged(frank, f"/account/partners/{grant_id}/approve").status_code == 403  # not his to approve
    assert post_form(dave, "/account/partners", f"/account/partners/{grant_id}/approve").status_code == 302
    assert "approved" in mailbox.to("frank@litware.example.com")[-1]["Subject"]

    gina_client = app.test_client()
    gina_client.login(gina_email)
    assert gina_client.get(f"/locations/{_fabrikam_location(app)}").status_code == 404  # not assigned yet
    with app.app_context():
        gina_id = db.session.scalars(select(Membership.user_id).join(Membership.user)
                                     .where(Membership.user.has(email=gina_email))).first()
    assert post_form(frank, "/account/partners", f"/account/partners/{grant_id}/assign",
                     user_id=str(gina_id)).status_code == 302
    assert gina_client.get(f"/locations/{_fabrikam_location(app)}").status_code == 200
    assert mailbox.to(gina_email)

    assert confirm(dave, "/account/partners", f"/account/partners/{grant_id}/revoke").status_code == 302
    assert gina_client.get(f"/locations/{_fabrikam_location(app)}").status_code == 404
    assert "revoked" in mailbox.to("frank@litware.example.com")[-1]["Subject"]
    page = dave.get("/account/partners").get_data(as_text=True)
    past = page[page.index("Past grants and requests"):]
    assert "Litware Solutions" in past and "Revoked" in past and date.today().isoformat() in past


def test_the_partner_withdraws_a_request_and_gives_up_a_grant(app, login, demo, mailbox):
    alice = login("alice")
    fabrikam_grant = _grant_id(app, "Fabrikam Stores", "Northwind IT")
    assert confirm(alice, "/account/partners", f"/account/partners/{fabrikam_grant}/revoke").status_code == 302
    assert "revoked" in mailbox.to("dave@fabrikam.example.com")[-1]["Subject"]
    assert login("erin").get(f"/locations/{_fabrikam_location(app)}").status_code == 404
    post_form(alice, "/account/partners", "/account/partners/request", email="frank@litware.example.com")
    request_id = _grant_id(app, "Litware Solutions", "Northwind IT")
    assert confirm(alice, "/account/partners", f"/account/partners/{request_id}/withdraw").status_code == 302
    assert ("withdrawn" in s for s in _grants(app))
    assert [g[2] for g in _grants(app)] == ["revoked", "withdrawn"]


def test_a_customer_grants_a_partner_directly_by_its_partner_id(app, login, demo, mailbox):
    frank, dave = login("frank"), login("dave")
    code = re.search(r"Your partner ID: <strong><code>([^<]+)</code>",
                     frank.get("/account/partners").get_data(as_text=True)).group(1)
    assert post_form(dave, "/account/partners", "/account/partners/grant", partner_code=code).status_code == 302
    page = frank.get("/account/partners").get_data(as_text=True)
    active = page[page.index("Customers Litware Solutions supports"):]
    assert "Fabrikam Stores" in active.split("Requests waiting for the customer")[0]
    assert "gave Litware Solutions Installation Partner access" in mailbox.to("frank@litware.example.com")[-1][
        "Subject"]


# ---------------------------------------------------------------- no enumeration, bad input


def test_a_request_answers_the_same_whether_or_not_the_address_has_an_account(app, login, demo):
    frank = login("frank")
    answers = []
    for address in ("dave@fabrikam.example.com", "bob@northwind.example.com", "nobody@fabrikam.example.com"):
        response = post_form(frank, "/account/partners", "/account/partners/request", email=address)
        answers.append((response.status_code, response.headers["Location"], _flash(frank)))
    assert answers[0] == answers[1] == answers[2]
    assert "Your request was recorded" in answers[0][2]
    page = frank.get("/account/partners").get_data(as_text=True)
    for address in ("dave@fabrikam.example.com", "bob@northwind.example.com", "nobody@fabrikam.example.com"):
        assert f"Requested from {address}" in page
    assert "Fabrikam Stores" not in page  # the customer's name appears only once it approves


def test_a_grant_answers_the_same_for_a_right_and_a_wrong_partner_id(app, login, demo):
    frank, dave = login("frank"), login("dave")
    code = re.search(r"<code>([^<]+)</code>", frank.get("/account/partners").get_data(as_text=True)).group(1)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    answers = []
    for partner_code in (wrong, "999999-ABCDEF123456", code):
        response = post_form(dave, "/account/partners", "/account/partners/grant", partner_code=partner_code)
        answers.append((response.status_code, response.headers["Location"], _flash(dave)))
    assert answers[0] == answers[1] == answers[2]


def test_an_end_date_beyond_two_years_is_refused_beside_the_field_and_nothing_changes(app, login, demo):
    frank = login("frank")
    before = _grants(app)
    too_late = (date.today() + timedelta(days=800)).isoformat()
    response = post_form(frank, "/account/partners", "/account/partners/request",
                         **{"request-email": "dave@fabrikam.example.com", "request-expires_on": too_late})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="request-expires_on-error">A grant lasts at most 2 years', page)
    response = post_form(frank, "/account/partners", "/account/partners/request", **{"request-email": "not an address"})
    assert response.status_code == 422 and 'id="request-email-error"' in response.get_data(as_text=True)
    assert _grants(app) == before


def test_a_manager_who_assigns_himself_keeps_working_in_his_own_organization(app, login, demo):
    """Found by the browser journey: frank (Litware) assigned himself to Fabrikam's grant, and since Fabrikam sorts
    first he was moved into it, where he is an installer, so his own partners page answered 403."""
    frank, dave = login("frank"), login("dave")
    assert frank.get("/account/partners").status_code == 200  # working in Litware Solutions
    post_form(frank, "/account/partners", "/account/partners/request", email="dave@fabrikam.example.com")
    grant_id = _grant_id(app, "Fabrikam Stores", "Litware Solutions")
    post_form(dave, "/account/partners", f"/account/partners/{grant_id}/approve")
    response = post_form(frank, "/account/partners", f"/account/partners/{grant_id}/assign",
                         user_id=str(demo.users["frank"]))
    assert response.status_code == 302
    page = frank.get("/account/partners")
    assert page.status_code == 200
    assert "Installation partners of Litware Solutions" in page.get_data(as_text=True)
    litware = demo.orgs["Litware Solutions"]
    assert re.search(rf'<option value="{litware}"\s+selected>Litware Solutions<', page.get_data(as_text=True))
