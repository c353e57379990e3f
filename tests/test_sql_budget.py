"""SQL statements per page are deterministic: they must not grow with the data (no N+1 queries)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from portal.accounts.models import Organization, Role, User
from portal.audit.models import AuditEntry
from portal.diagnostics import count_statements
from portal.extensions import db
from tests.factories import (
    make_activation,
    make_cart_item,
    make_contact,
    make_license,
    make_member,
    make_order,
    make_org,
)


def _grow_northwind(app, demo, n: int) -> None:
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        for i in range(n):
            make_order(northwind, alice)
            if i % 5 == 0:  # a cart holds at most a few items; the orders grow with every step
                make_cart_item(northwind, alice, slug=["mailsuite", "webstats", "livedesk", "device-protection"][i % 4])
            make_member(northwind, Role.MEMBER)
            make_contact(northwind)
            sub = make_org(parent=northwind)
            make_member(sub, Role.VIEWER)
            make_member(northwind, Role.INSTALLER)
            db.session.add(AuditEntry(action="x", object_type="X", object_id="1", organization_id=northwind.id))
            # licenses: one unassigned, one resold to the new sub-chain (active, with an add-on), one personal
            make_license(northwind)
            make_activation(make_license(northwind, customer=sub, addons=("antispam",)))
            make_license(northwind, customer=northwind)
        db.session.commit()


def _statements(app, client, url: str) -> int:
    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(url)
    assert response.status_code == 200, url
    return counted.count


# Statements per page for a signed-in manager: the session's user and memberships (2), the cart count in the
# header (1), then the page's own.
BUDGET = {"/account": 3, "/account/users": 6, "/account/chains": 4, "/account/partners": 5, "/account/audit": 5,
          "/shop": 6, "/shop/mailsuite": 6, "/cart": 7, "/checkout": 9, "/orders": 4,
          # four sections (personal licenses with their add-ons: 2) and the activations of those shown
          "/licenses": 9, "/licenses?section=resold&q=mail": 9,
          "/customers": 5}


@pytest.mark.parametrize("url", BUDGET)
def test_statements_per_page_do_not_grow_with_data(app, login, demo, url):
    alice = login("alice")
    _grow_northwind(app, demo, 2)
    small = _statements(app, alice, url)
    _grow_northwind(app, demo, 25)
    large = _statements(app, alice, url)
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == BUDGET[url], f"{url} takes {small} statements; its budget is {BUDGET[url]}"


def test_lazy_loads_are_forbidden_in_tests(ctx):
    org = make_org()
    make_member(org, Role.MEMBER)
    db.session.commit()
    db.session.expunge_all()
    user = db.session.scalars(select(User)).first()
    with pytest.raises(InvalidRequestError, match="raise_on_sql"):
        _ = user.memberships


# ---------------------------------------------------------------- invoices (issue 5)


def _grow_invoices(app, demo, n: int) -> str:
    """More Northwind invoices of every kind: paid, unpaid, waiting, summarized into a growing summary."""
    from datetime import date

    from portal.billing.models import InvoiceStatus
    from portal.billing.services import Period, summarize_month
    from tests.factories import make_invoice

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for i in range(n):
            make_invoice(northwind, status=InvoiceStatus.PAID)
            make_invoice(northwind)
            make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, issued_on=date(2026, 9, 1 + i % 28))
        summary = summarize_month(northwind, Period(2026, 9), date(2026, 10, 1))
        db.session.commit()
        return summary.number


# The session's user and memberships (2) and the header's cart count (1), then the page's own: the unpaid
# invoices (1) and a window of all invoices with their summaries (1); an invoice's page loads it with its
# organization, summary and order (1), then its lines, payment and parts (3).
INVOICE_BUDGET = {"/invoices": 5, "/invoices?status=summarized&period=2026-09": 5, "/invoices/{summary}": 7}


@pytest.mark.parametrize("url", INVOICE_BUDGET)
def test_invoice_pages_take_the_same_statements_however_many_invoices(app, login, demo, url):
    alice = login("alice")
    summary = _grow_invoices(app, demo, 2)
    small = _statements(app, alice, url.format(summary=summary))
    summary = _grow_invoices(app, demo, 25)
    large = _statements(app, alice, url.format(summary=summary))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == INVOICE_BUDGET[url], f"{url} takes {small} statements; its budget is {INVOICE_BUDGET[url]}"


# ---------------------------------------------------------------- licenses and customers (issue 4)


def _grow_licenses(app, demo, n: int) -> str:
    """More of everything on the reselling page at once, so that both the licenses and the customers grow: per
    step a new sub-chain (with a viewer) holding two licenses, a license resold to a customer of another
    reseller's tree, one unassigned and one personal license of Northwind, and one license more for Contoso
    (carol's entitlements: one active, one with add-ons, one for a Contoso sub-chain). Returns a resold key."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        contoso_sub = make_org(parent=contoso)
        key = None
        for i in range(n):
            sub = make_org(parent=northwind)
            make_member(sub, Role.VIEWER)
            resold = make_license(northwind, customer=sub, addons=("antispam", "activesync"))
            make_activation(resold)
            make_license(northwind, customer=sub, slug="webstats", edition="Enterprise", addons=("data-export",))
            make_license(northwind, customer=litware)  # a customer that is not a sub-chain
            make_license(northwind)
            make_license(northwind, customer=northwind, addons=("antispam",))
            make_license(northwind, customer=contoso_sub if i % 3 == 0 else contoso,
                         addons=("antispam",) if i % 2 else ())
            key = key or resold.key
        db.session.commit()
        return key


def _download_statements(app, client, url: str) -> tuple[int, str]:
    """Statements of a streamed download, with its whole body read inside the count."""
    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(url)
        body = response.get_data(as_text=True)
    assert response.status_code == 200, url
    return counted.count, body


# The session's user and memberships (2) and, on an HTML page, the cart count in the header (1), then the
# page's own. /licenses: unassigned, customers, resold, personal with their add-ons (2), the activations of
# those shown; its htmx search: one section and its activations; a license: itself with owner, customer, product
# and edition, its add-ons and its activation; /customers: a window of customers with counts and their users;
# /customers.csv: every customer with its licenses (one streamed query) and all their add-ons (one query).
# (Without htmx, a section's search or page is the whole page again: the same 9.)
LICENSE_BUDGET = {("alice", "/licenses"): 9, ("alice", "/licenses?section=resold&q=mail"): 9,
                  ("alice", "/licenses?section=customers&q=Org&page=2"): 9,
                  ("alice", "/licenses/{key}"): 6, ("alice", "/customers"): 5, ("alice", "/customers?page=2"): 5,
                  ("carol", "/licenses"): 5, ("carol", "/licenses?q=mail"): 5}


@pytest.mark.parametrize(("who", "url"), LICENSE_BUDGET)
def test_license_pages_take_the_same_statements_however_many_licenses_and_customers(app, login, demo, who, url):
    client = login(who)
    key = _grow_licenses(app, demo, 2)
    small = _statements(app, client, url.format(key=key))
    _grow_licenses(app, demo, 30)  # past a page of 25 in every section and of customers
    large = _statements(app, client, url.format(key=key))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    budget = LICENSE_BUDGET[who, url]
    assert small == budget, f"{url} takes {small} statements; its budget is {budget}"


def test_the_customers_csv_takes_the_same_statements_however_many_licenses(app, login, demo):
    """Streamed in batches, the export still loads add-ons once, not once per batch of rows."""
    from portal.licenses import views

    alice = login("alice")
    _grow_licenses(app, demo, 2)
    small, _ = _download_statements(app, alice, "/customers.csv")
    _grow_licenses(app, demo, 30)
    large, body = _download_statements(app, alice, "/customers.csv")
    assert large == small == 4, f"/customers.csv: {small} statements with little data, {large} with more"
    rows = body.splitlines()
    assert len(rows) > 4 * 30 and any("Advanced Anti-Spam; ActiveSync Mobile Sync" in r for r in rows)
    assert views.CSV_HEADER[6] == "Add-ons"
