"""Signing in, up and out at a storefront: only the reseller's customers sign in (the refusal never says whether the
account exists elsewhere); a sign-up makes a sub-chain under the reseller with its first user as its manager."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.accounts.models import Membership, Organization, Role, User
from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD
from tests.storefront_sales.test_pages import ALIAS, close_storefront, northwind_storefront  # noqa: F401 - fixture

LOGIN = f"/s/{ALIAS}/login"
SIGNUP = f"/s/{ALIAS}/signup"
REFUSED = "do not match a customer account of this storefront"


def _sign_up_form(**changes) -> dict:
    form = {"full_name": "Grace Green", "email": "grace@greenfield.example.com", "password": "a-long-password-1",
            "confirm": "a-long-password-1", "organization_name": "Greenfield Bakery",
            "address_line1": "12 Main Street", "address_line2": "", "city": "Spokane", "region": "WA",
            "postal_code": "99201", "country": "us", "phone": "+1 509 555 0100"}
    form.update(changes)
    return form


def test_carol_signs_in_as_a_customer_of_northwind(client, northwind):
    response = client.submit(LOGIN, {"email": "carol@contoso.example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == f"/s/{ALIAS}"
    page = client.get(f"/s/{ALIAS}/cart")
    assert page.status_code == 200 and "Contoso Retail" in page.get_data(as_text=True)


def test_sign_in_goes_back_to_a_storefront_page_only(client, northwind):
    # A forged "next" beside the page's own: the form carries the one of the URL it was opened at.
    page = client.page(f"{LOGIN}?next=/admin")
    form, _ = page.find(action=LOGIN)
    response = client.post(page.action_of(form), data={
        **dict(form.successful()), "email": "carol@contoso.example.com", "password": DEMO_PASSWORD,
        "next": "//evil.example/x"})
    assert response.headers["Location"] == f"/s/{ALIAS}"


def test_users_who_are_not_customers_are_refused_like_a_wrong_password(app, client, northwind):
    """alice (the reseller), dave (Fabrikam) and a wrong password all get the same answer, and nobody is signed in."""
    answers = set()
    for email, password in (("alice@northwind.example.com", DEMO_PASSWORD), ("dave@fabrikam.example.com",
                                                                             DEMO_PASSWORD),
                            ("carol@contoso.example.com", "wrong-password"), ("nobody@example.com", "whatever-1")):
        response = client.submit(LOGIN, {"email": email, "password": password})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert REFUSED in html
        # the CSRF token is signed with the second it was made: two answers a second apart differ there only,
        # wherever the page carries it (form fields in any attribute order, the meta tag, the body's hx-headers)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
        answers.add(html.replace(token, "CSRF").replace(email, "EMAIL"))
        assert client.get(f"/s/{ALIAS}/cart").status_code == 302  # still anonymous
    assert len(answers) == 1
    with app.app_context():
        assert not db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.login")).all()


def test_a_signed_in_non_customer_is_told_to_sign_out(login, northwind):
    alice = login("alice")
    html = alice.get(LOGIN).get_data(as_text=True)
    assert "not a customer account of Northwind IT" in html
    assert alice.get(f"/s/{ALIAS}").status_code == 200  # the catalog, as any visitor sees it
    assert alice.get(f"/s/{ALIAS}/cart").status_code == 404


def test_sign_up_creates_a_sub_chain_under_the_reseller(app, client, mailbox, northwind):
    page = client.get(SIGNUP)
    assert page.status_code == 200
    response = client.submit(SIGNUP, _sign_up_form())
    assert response.status_code == 302
    assert client.get(f"/s/{ALIAS}/cart").status_code == 200  # signed in as the new customer
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "grace@greenfield.example.com")).one()
        membership = db.session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
        chain = db.session.get(Organization, membership.organization_id)
        northwind_org = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        assert chain.parent_id == northwind_org.id and chain.name == "Greenfield Bakery"
        assert membership.role is Role.MANAGER
        assert (chain.address_line1, chain.city, chain.country, chain.invoice_email) == (
            "12 Main Street", "Spokane", "US", "grace@greenfield.example.com")
        actions = set(db.session.scalars(select(AuditEntry.action)))
        assert {"organization.sub_chain_created", "storefront.customer_signed_up"} <= actions
    welcome = mailbox.to("grace@greenfield.example.com")
    assert welcome and "Northwind IT" in welcome[0]["Subject"]
    assert f"/s/{ALIAS}" in welcome[0].get_content()


def test_sign_up_with_an_existing_email_is_refused_beside_the_field(app, client, northwind):
    with app.app_context():
        before = db.session.query(Organization).count()
    response = client.submit(SIGNUP, _sign_up_form(email="dave@fabrikam.example.com"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and "already exists" in html
    assert "Fabrikam" not in html
    with app.app_context():
        assert db.session.query(Organization).count() == before


def test_sign_up_refuses_bad_input_and_changes_nothing(app, client, northwind):
    with app.app_context():
        before = db.session.query(User).count()
    cases = [({"password": "short", "confirm": "short"}, "password"),
             ({"confirm": "something-else-1"}, "confirm"),
             ({"email": "not-an-email"}, "email"),
             ({"country": "12"}, "country"),
             ({"address_line1": "PO Box 12"}, "address_line1"),
             ({"organization_name": ""}, "organization_name"),
             ({"organization_name": "x" * 5000}, "organization_name")]
    for changes, field in cases:
        response = client.submit(SIGNUP, _sign_up_form(**changes))
        assert response.status_code == 422, changes
        assert f'id="{field}-error"' in response.get_data(as_text=True), changes
    # A NUL no keyboard types: a forged request, with the session's token.
    forged = {**_sign_up_form(full_name="Grace\x00"), "csrf_token": client.csrf_token()}
    assert client.post(SIGNUP, data=forged).status_code == 400
    with app.app_context():
        assert db.session.query(User).count() == before


def test_a_taken_organization_name_is_not_revealed(app, client, northwind):
    """Contoso Retail is already Northwind's customer: the sign-up succeeds under a distinct name."""
    response = client.submit(SIGNUP, _sign_up_form(organization_name="Contoso Retail"))
    assert response.status_code == 302
    with app.app_context():
        names = set(db.session.scalars(select(Organization.name)))
        assert "Contoso Retail (grace@greenfield.example.com)" in names


def test_nobody_signs_in_or_up_at_a_closed_storefront(app, client, northwind):
    sign_in, sign_up = client.page(LOGIN), client.page(SIGNUP)  # opened while the storefront was open
    close_storefront(app, northwind)
    assert client.submit(sign_in, {"email": "carol@contoso.example.com", "password": DEMO_PASSWORD}).status_code == 403
    assert client.submit(sign_up, _sign_up_form()).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(User).where(User.email == "grace@greenfield.example.com")).first() is None


def test_sign_out_ends_the_session(login, northwind):
    carol = login("carol")
    assert carol.get(f"/s/{ALIAS}/logout").status_code == 200
    response = carol.submit(f"/s/{ALIAS}", {}, action=f"/s/{ALIAS}/logout")  # the header's Sign out
    assert response.status_code == 302 and response.headers["Location"] == f"/s/{ALIAS}"
    assert carol.get(f"/s/{ALIAS}/cart").status_code == 302
