"""Account pages without JavaScript: sign-in, sessions, passwords by email, users, sub-chains (partner grants:
tests/partners)."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD

LINK = re.compile(r"http://portal\.test(/password/set/[\w-]+)")


def _link_in(message) -> str:
    return LINK.search(message.get_content()).group(1)


def test_sign_in_starts_a_new_session_and_sign_out_ends_it(client, demo):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    response = client.submit("/login", {"email": "alice@northwind.example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
    assert client.get("/account").status_code == 200
    assert client.submit("/account", action="/logout").status_code == 302
    assert client.get("/account").status_code == 302


def test_wrong_password_is_explained_beside_the_field_and_changes_nothing(client, demo):
    response = client.submit("/login", {"email": "alice@northwind.example.com", "password": "nope"})
    assert response.status_code == 422
    assert 'id="password-error"' in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_logout_by_get_only_offers_the_button(login, demo):
    alice = login("alice")
    assert alice.get("/logout").status_code == 200
    assert alice.get("/account").status_code == 200  # still signed in: GET changes nothing


def test_repeated_failed_sign_ins_for_one_account_answer_429_with_a_clear_page(client, demo):
    guess = {"email": "bob@northwind.example.com", "password": "guess"}
    for _ in range(5):
        assert client.submit("/login", guess).status_code == 422
    response = client.submit("/login", guess)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_sign_ins_from_one_address_are_limited_across_accounts(app, client, demo):
    limit = int(app.config["LOGIN_LIMIT_PER_IP"].split()[0])
    statuses = [client.submit("/login", {"email": f"user{i}@example.com", "password": "x"}).status_code
                for i in range(limit + 1)]
    assert statuses[-1] == 429 and 429 not in statuses[:-1]


def test_changing_the_password_ends_other_sessions_but_keeps_this_one(login, demo):
    laptop, phone = login("bob"), login("bob")
    response = laptop.submit("/account/password", {"current": DEMO_PASSWORD, "password": "a brand new secret",
                                                   "confirm": "a brand new secret"})
    assert response.status_code == 302
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302


def test_deactivated_user_is_signed_out_everywhere(login, demo):
    alice, bob = login("alice"), login("bob")
    # Deactivate asks first: its button leads to the confirmation page, whose form deactivates
    response = alice.submit(f"/account/users/{demo.memberships[('bob', 'Northwind IT')]}/deactivate")
    assert response.status_code == 302
    assert bob.get("/account").status_code == 302
    assert bob.submit("/login", {"email": "bob@northwind.example.com", "password": DEMO_PASSWORD}).status_code == 422


def test_manager_adds_an_employee_who_sets_a_password_from_the_emailed_link(app, login, client, demo, mailbox):
    alice = login("alice")
    response = alice.submit("/account/users", {"kind": "login", "full_name": "Nina New",
                                               "email": "nina@northwind.example.com", "role": "member"})
    assert response.status_code == 302
    [welcome] = mailbox.to("nina@northwind.example.com")
    assert "Northwind IT" in welcome["Subject"]
    link = _link_in(welcome)
    page = client.get(link)
    assert page.status_code == 200 and "nina@northwind.example.com" in page.get_data(as_text=True)
    assert client.submit(link, {"password": "nina's long password", "confirm": "nina's long password"}
                         ).status_code == 302
    assert client.get(link).status_code == 410  # used once
    client.login("nina@northwind.example.com", "nina's long password")
    assert "Northwind IT" in client.get("/account").get_data(as_text=True)


def test_add_user_with_a_bad_email_shows_the_error_and_adds_no_one(login, demo, mailbox):
    alice = login("alice")
    response = alice.submit("/account/users", {"kind": "login", "full_name": "X", "email": "x@", "role": "member"})
    assert response.status_code == 422
    assert 'id="email-error"' in response.get_data(as_text=True)
    assert not mailbox.messages


def test_additional_contact_has_no_login(app, login, demo, mailbox):
    alice = login("alice")
    response = alice.submit("/account/users", {"kind": "contact", "full_name": "Paula Payables",
                                               "email": "ap@northwind.example.com", "phone": "+1 206 555 0111"})
    assert response.status_code == 302
    assert "ap@northwind.example.com" in alice.get("/account/users").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User).where(User.email == "ap@northwind.example.com")).first() is None
    assert not mailbox.messages


def test_forgotten_password_is_reset_through_the_emailed_link(client, demo, mailbox):
    response = client.submit("/password/forgot", {"email": "carol@contoso.example.com"})
    assert response.status_code == 302
    [mail] = mailbox.to("carol@contoso.example.com")
    link = _link_in(mail)
    assert client.submit(link, {"password": "carol's new password", "confirm": "carol's new password"}
                         ).status_code == 302
    client.login("carol@contoso.example.com", "carol's new password")


def test_mismatched_passwords_are_refused_beside_the_field(client, demo, mailbox):
    assert client.submit("/password/forgot", {"email": "carol@contoso.example.com"}).status_code == 302
    link = _link_in(mailbox.to("carol@contoso.example.com")[0])
    response = client.submit(link, {"password": "one long password", "confirm": "another long one"})
    assert response.status_code == 422
    assert "The passwords differ." in response.get_data(as_text=True)


def test_manager_creates_a_sub_chain_whose_user_sees_only_it(app, login, demo, mailbox):
    alice = login("alice")
    response = alice.submit("/account/chains", {"name": "Adventure Works", "full_name": "Ann Avery",
                                                "email": "ann@adventure.example.com", "role": "viewer"})
    assert response.status_code == 302
    assert mailbox.to("ann@adventure.example.com")
    with app.app_context():
        sub = db.session.scalars(select(Organization).where(Organization.name == "Adventure Works")).one()
        assert sub.parent_id == demo.orgs["Northwind IT"]
    assert "Adventure Works" in alice.get(response.headers["Location"]).get_data(as_text=True)


def test_sub_chain_viewer_cannot_manage_users_or_see_the_main_chain(login, demo):
    carol = login("carol")
    assert carol.get("/account/users").status_code == 403
    assert carol.get("/account/chains").status_code == 403
    page = carol.get("/account").get_data(as_text=True)
    assert "Contoso Retail" in page and "billing@northwind.example.com" not in page


def test_contact_information_refuses_a_po_box_beside_the_field(login, demo):
    alice = login("alice")
    data = {"legal_name": "Northwind IT LLC", "address_line1": "PO Box 1234", "city": "Seattle", "region": "WA",
            "postal_code": "98101", "country": "US", "invoice_email": "billing@northwind.example.com",
            "phone": "+1 206 555 0100"}
    response = alice.submit("/account", data, button="Save contact information")
    assert response.status_code == 422
    assert "not a P.O. box" in response.get_data(as_text=True)
    data["address_line1"] = "1 Pike Street"
    assert alice.submit("/account", data, button="Save contact information").status_code == 302
    assert "1 Pike Street" in alice.get("/account").get_data(as_text=True)


def test_user_with_two_organizations_switches_between_them(login, demo):
    erin = login("erin")
    assert erin.submit("/account", {"org_id": demo.orgs["Northwind IT"]}, button="Switch").status_code == 302
    assert "<h1>Northwind IT</h1>" in erin.get("/account").get_data(as_text=True)
    assert erin.submit("/account", {"org_id": demo.orgs["Fabrikam Stores"]}, button="Switch").status_code == 302
    assert "<h1>Fabrikam Stores</h1>" in erin.get("/account").get_data(as_text=True)
    # Litware is not among her choices: forged, with her session's token
    forged = {"org_id": demo.orgs["Litware Solutions"], "csrf_token": erin.csrf_token()}
    assert erin.post("/account/switch", data=forged).status_code == 404


def test_navigation_shows_each_role_only_what_it_may_use(login, demo):
    def nav(name):
        html = login(name).get("/account").get_data(as_text=True)
        block = html.split('aria-label="Main"')[1].split("</nav>")[0]
        return re.findall(r">([^<]+)</a>", block)

    assert nav("alice") == ["Account", "Licenses", "Renewals", "Activations", "Customers", "Locations", "Devices",
                            "Shipments", "Shop",
                            "Orders", "Invoices", "Payments", "Manage Subscriptions", "Reseller plan",
                            "Payment methods", "Users", "Sub-chains",
                            "Transfers", "Installation partners", "Activity", "API keys", "Webhooks"]
    assert nav("bob") == ["Account", "Licenses", "Renewals", "Customers", "Locations", "Devices", "Shipments", "Shop",
                          "Orders", "Invoices", "Payments"]
    assert nav("carol") == ["Account", "Licenses", "Locations", "Devices", "Shipments"]
    assert "Reseller plan" not in nav("dave")  # an end customer's main chain is no reseller
    assert nav("erin") == ["Account", "Activations", "Locations", "Devices", "Shipments"]  # partner of Fabrikam


def test_open_redirects_after_sign_in_are_refused(client, demo):
    # a link to the sign-in page whose "next" leads away: the form carries it as its hidden field
    page = client.page("/login?next=https://evil.example.com/")
    assert ("next", "https://evil.example.com/") in page.find(button="Sign in")[0].successful()
    response = client.submit(page, {"email": "bob@northwind.example.com", "password": DEMO_PASSWORD})
    assert response.headers["Location"] == "/"


def test_a_reseller_with_many_customers_searches_and_pages_its_sub_chains(app, login, demo):
    with app.app_context():
        from tests.factories import make_org

        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for n in range(60):
            make_org(f"Customer {n:03d}", parent=northwind)
        db.session.commit()
    alice = login("alice")
    first = alice.get("/account/chains").get_data(as_text=True)
    assert "Customer 000" in first and "Customer 055" not in first and 'rel="next"' in first
    second = alice.get("/account/chains?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in second and "Customer 055" in second
    found = alice.get("/account/chains?q=customer 04").get_data(as_text=True)
    assert "Customer 042" in found and "Customer 000" not in found and "Contoso Retail" not in found
    assert "No sub-chain matches" in alice.get("/account/chains?q=%25").get_data(as_text=True)
