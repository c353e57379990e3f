"""SQL statements per API answer are deterministic and do not grow with the data: each list reads one page (and
its related rows in a fixed number of statements), whatever the size of the book."""

from __future__ import annotations

import pytest

from portal.accounts.models import Organization, User
from portal.diagnostics import count_statements
from portal.extensions import db
from tests.factories import make_invoice, make_license, make_order, make_org

# Statements per answer: the key with its organization, its creator and the creator's memberships (1), then
# the operation's own: a page (1), and for licenses their add-ons (1); the catalog's products, editions, prices
# and add-ons. The budgets hold from a handful of rows to many.
BUDGET = {
    "/api/v1/catalog/products": 5,
    "/api/v1/licenses?limit=100": 3,
    "/api/v1/licenses?status=assigned&limit=25": 3,
    "/api/v1/orders?limit=100": 2,
    "/api/v1/invoices?limit=100": 2,
    "/api/v1/customers?limit=100": 2,
    "/api/v1/subscriptions": 2,
    "/api/v1/webhook-endpoints": 2,
}


def _grow(app, demo, n: int) -> None:
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        for _ in range(n):
            customer = make_org(parent=northwind)
            make_license(northwind)
            make_license(northwind, customer=customer, addons=("antispam",))
            make_order(northwind, alice)
            make_invoice(northwind)
        db.session.commit()


def _statements(app, client, url: str) -> int:
    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(url)
    assert response.status_code == 200, (url, response.get_json())
    return counted.count


@pytest.mark.parametrize("url", BUDGET)
def test_an_api_list_costs_the_same_whatever_the_book(app, demo, api, url):
    client = api("alice")
    client.get(url)  # the key's first use is written once (then at most once a minute)
    assert _statements(app, client, url) == BUDGET[url], url
    _grow(app, demo, 30)
    assert _statements(app, client, url) == BUDGET[url], url


def test_one_license_costs_a_fixed_number_of_statements(app, demo, api):
    client = api("alice")
    with app.app_context():
        key = make_license(db.session.get(Organization, demo.orgs["Northwind IT"]), addons=("antispam",)).key
        db.session.commit()
    client.get(f"/api/v1/licenses/{key}")
    assert _statements(app, client, f"/api/v1/licenses/{key}") <= 5

