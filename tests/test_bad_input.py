"""No 500 from any input (issue 12 item 5), each found by fuzzing: a NUL character in a field (PostgreSQL refuses it
in text), a huge ?page= or ?customer=, deeply nested JSON, two assignments racing to create one new customer; and
the error page itself renders after a failed statement on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from flask import abort
from sqlalchemy import func, select, text

from portal import create_app
from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import services
from portal.licenses.models import License
from tests.conftest import PortalClient, test_config
from tests.factories import DEMO_EMAILS, make_license

HUGE = "99999999999999999999"
NUL_REFUSED = "NUL character"


def test_a_nul_character_in_the_sign_in_email_is_a_clear_400(client, demo):
    response = client.submit("/login", {"email": "alice@northwind.example.com\x00", "password": "portal-demo-2026"})
    assert response.status_code == 400
    assert NUL_REFUSED in response.get_data(as_text=True)


def test_a_nul_character_in_a_signed_in_form_is_refused_and_changes_nothing(login, demo):
    alice = login("alice")
    response = alice.submit("/account/users", {"kind": "contact", "full_name": "Nul\x00Person",
                                               "email": "nul@example.com", "phone": ""})
    assert response.status_code == 400 and NUL_REFUSED in response.get_data(as_text=True)
    assert "nul@example.com" not in alice.get("/account/users").get_data(as_text=True)


def test_a_nul_character_in_a_query_parameter_is_a_400(login, demo):
    response = login("alice").get("/customers", query_string={"q": "con\x00toso"})
    assert response.status_code == 400 and NUL_REFUSED in response.get_data(as_text=True)


LIST_PAGES = {
    "alice": ["/account/chains", "/account/audit", "/invoices", "/orders", "/licenses", "/licenses?section=customers",
              "/licenses?section=resold", "/licenses?section=personal", "/licenses?section=unassigned",
              "/licenses/modify?show=personal", "/customers", "/activations", "/payments", "/transfers", "/devices",
              "/locations"],
    "carol": ["/licenses"],  # an end customer's entitlements
    "ops": ["/admin/organizations", "/admin/invoices", "/admin/transfers", "/admin/audit"],
}


@pytest.mark.parametrize("name", sorted(LIST_PAGES))
def test_a_huge_page_number_shows_an_empty_page_on_every_list(login, demo, name):
    client = login(name)
    for path in LIST_PAGES[name]:
        joined = "&" if "?" in path else "?"
        response = client.get(f"{path}{joined}page={HUGE}")
        assert response.status_code == 200, f"{path} -> {response.status_code}"


def test_a_huge_page_number_on_an_organizations_sub_chains(login, demo):
    response = login("ops").get(f"/admin/organizations/{demo.orgs['Northwind IT']}?page={HUGE}")
    assert response.status_code == 200


@pytest.mark.parametrize("customer", [HUGE, "2147483648", "2147483647", "²", "-1", "x"])
def test_a_customer_id_no_organization_has_is_a_404(login, demo, customer):
    response = login("alice").get("/licenses/assign", query_string={"customer": customer})
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)


@pytest.mark.parametrize("product_id", [HUGE, "2147483648", "0", "-1", "x"])
def test_adding_a_product_no_id_column_holds_sends_back_to_the_shop(app, login, demo, product_id):
    """Found by the fuzz test on PostgreSQL: a product id beyond INTEGER overflowed the lookup into a 500."""
    client = login("alice")
    # the product page's hidden product_id, tampered with: forged, with the session's token
    response = client.post("/cart", data={"product_id": product_id, "quantity": "1", "csrf_token": client.csrf_token()},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "That product is not for sale" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CartItem)) == 0


@pytest.mark.parametrize("method,path", [("POST", "/api/v1/activations"), ("DELETE", "/api/v1/activations/1")])
def test_deeply_nested_json_is_a_400_in_json(client, method, path):
    response = client.open(path, method=method, data="[" * 100_000 + "]" * 100_000,
                           content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["error"]


def test_the_error_page_renders_after_a_failed_statement(database_url, smtp_server, tmp_path, demo):
    """A statement the database refuses (on PostgreSQL it aborts the transaction) still gets the friendly page,
    with the signed-in user's navigation (which reads the database again)."""
    app = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}", INSTANCE_PATH=str(tmp_path),
                                 PROPAGATE_EXCEPTIONS=False))
    app.test_client_class = PortalClient

    @app.route("/broken")
    def broken():
        db.session.execute(text("SELECT * FROM no_such_table"))
        abort(200)

    alice = app.test_client()
    alice.login(DEMO_EMAILS["alice"])
    response = alice.get("/broken")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page and "Nothing was changed" in page
    assert "Licenses" in page  # the navigation of a signed-in reseller


@pytest.mark.postgres_only
def test_two_assignments_creating_the_same_new_customer_give_one_account_and_one_clear_answer(app, demo,
                                                                                            monkeypatch):
    """Two assignments (of different licenses) to one address new to the portal at the same moment: one creates
    the account, the other is told to send the form again, and nothing of it is half-written."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        license_ids = [make_license(northwind).id, make_license(northwind).id]
        db.session.commit()
    alice = demo.users["alice"]
    both_found_no_account = threading.Barrier(2)
    create_account = services._new_customer_account

    def after_both_checked(*args):  # both have looked the address up and found no account
        both_found_no_account.wait(timeout=30)
        return create_account(*args)

    monkeypatch.setattr(services, "_new_customer_account", after_both_checked)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(license_id: int) -> None:
        with app.app_context():
            try:
                license_ = db.session.get(License, license_id)
                services.assign_licenses([license_], "newcomer@example.org", Actor(alice, "192.0.2.1"))
                db.session.commit()
                result = "assigned"
            except RuleError as error:
                db.session.rollback()
                result = error.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(license_id,)) for license_id in license_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["assigned", "newcomer@example.org got a portal account a moment ago, in another "
                                            "request. Send the form again to give them access."], outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)
                                 .where(User.email == "newcomer@example.org")) == 1
        assigned = db.session.scalars(select(License).where(License.id.in_(license_ids))).all()
        assert sorted(lic.customer_id is None for lic in assigned) == [False, True]
