"""SQL statements per page are deterministic: they must not grow with the data (no N+1 queries)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from portal.accounts.models import Organization, Role, User
from portal.audit.models import AuditEntry
from portal.diagnostics import count_statements
from portal.extensions import db
from portal.partners.models import GrantState
from tests.factories import (
    make_activation,
    make_cart_item,
    make_contact,
    make_license,
    make_member,
    make_order,
    make_org,
    make_partner_grant,
    make_transfer,
)


def _grow_northwind(app, demo, n: int) -> None:
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        for i in range(n):
            make_order(northwind, alice)
            if i % 5 == 0:  # a cart holds at most a few items; the orders grow with every step
                # a plan line first, so that the cart always looks up the running plans it would prorate (1)
                make_cart_item(northwind, alice, slug=["device-protection", "mailsuite", "webstats", "livedesk"][i % 4])
            make_member(northwind, Role.MEMBER)
            make_contact(northwind)
            sub = make_org(parent=northwind)
            make_member(sub, Role.VIEWER)
            make_transfer(northwind, sub, requested_by=alice)  # a transfer request per sub-chain
            make_member(northwind, Role.INSTALLER)
            # partner grants Northwind gave and holds, one of its users assigned to each it holds
            make_partner_grant(northwind, make_org(), state=GrantState.ACTIVE)
            make_partner_grant(make_org(), northwind, assign=[make_member(northwind, Role.MEMBER).user])
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
BUDGET = {"/account": 3, "/account/users": 6, "/account/chains": 4, "/account/partners": 6, "/account/audit": 5,
          "/shop": 6, "/shop/mailsuite": 6, "/cart": 8, "/checkout": 10,
          "/orders": 4, "/orders?product=mail&sort=-total&placed_by=a&per=50": 4,
          # and the units delivered, not installed, at its locations (1)
          "/devices": 6, "/devices?counts=yes&sort=-added&added_by=a": 6,
          # four sections (personal licenses with their add-ons: 2) and the activations of those shown
          # each list's total, and where each license is active, come with its rows (no statement of their own)
          "/licenses": 8, "/licenses?section=resold&q=mail": 8,
          "/customers": 8,  # and for a reseller's billing roles its fees: whether any apply, total, per account (3)
          # the requests with their sub-chains, and the sub-chains that can still be asked for
          "/transfers": 5}


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
# organization, summary and order (1), then its lines and payment (2), its parts and their lines, the products
# listed under each (2), the licenses behind an order invoice's lines (none on a summary), and the first accounts
# of each reseller fee line with their number (1, with or without fee lines).
INVOICE_BUDGET = {"/invoices": 5, "/invoices?status=summarized&period=2026-09": 5, "/invoices/{summary}": 9}


@pytest.mark.parametrize("url", INVOICE_BUDGET)
def test_invoice_pages_take_the_same_statements_however_many_invoices(app, login, demo, url):
    alice = login("alice")
    summary = _grow_invoices(app, demo, 2)
    small = _statements(app, alice, url.format(summary=summary))
    summary = _grow_invoices(app, demo, 25)
    large = _statements(app, alice, url.format(summary=summary))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == INVOICE_BUDGET[url], f"{url} takes {small} statements; its budget is {INVOICE_BUDGET[url]}"


# ---------------------------------------------------------------- payments and receipts (issue 11)


def _grow_receipts(app, demo, n: int) -> str:
    """More Northwind receipts, half of them in October 2026 (the month the filter asks for). Returns one."""
    from datetime import UTC, datetime

    from tests.factories import make_receipt

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for i in range(n):
            make_receipt(northwind, received_at=datetime(2026, 10, 1 + i % 28, 12, tzinfo=UTC))
            number = make_receipt(northwind, method="wire", reference=f"FED-{i}").number
        db.session.commit()
        return number


# The session's user and memberships (2) and, on an HTML page, the header's cart count (1), then the page's own:
# a window of receipts (1) and the invoices they paid (1); a receipt's page: the receipt (1) and its invoices (1);
# the CSV: every receipt of the month with its invoices, one streamed query.
PAYMENTS_BUDGET = {"/payments": 5, "/payments?period=2026-10": 5, "/payments?page=2": 5,
                   "/payments/{receipt}": 5, "/payments.csv?period=2026-10": 3}


@pytest.mark.parametrize("url", PAYMENTS_BUDGET)
def test_payments_pages_take_the_same_statements_however_many_receipts(app, login, demo, url):
    alice = login("alice")
    receipt = _grow_receipts(app, demo, 15)  # page 2 has receipts too
    small, _ = _download_statements(app, alice, url.format(receipt=receipt))
    receipt = _grow_receipts(app, demo, 30)
    large, body = _download_statements(app, alice, url.format(receipt=receipt))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == PAYMENTS_BUDGET[url], f"{url} takes {small} statements; its budget is {PAYMENTS_BUDGET[url]}"
    assert "RCP-" in body


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
# and edition, its add-ons and its activation, and for its buyers what its next M&S year bills (the product with
# its editions and add-ons: 3, the tier's discount: 1; tax and saved card when the account has them);
# /customers: a window of customers with counts and their users, and the vendor's fees (whether any apply, the
# total, the page's accounts: 3);
# /customers.csv: every customer with its licenses (one streamed query) and all their add-ons (one query).
# (Without htmx, a section's search or page is the whole page again: the same 9.)
LICENSE_BUDGET = {("alice", "/licenses"): 8, ("alice", "/licenses?section=resold&q=mail"): 8,
                  ("alice", "/licenses?section=customers&q=Org&page=2"): 8,
                  ("alice", "/licenses?resold-sort=customer&resold-quantity_from=2&resold-email=a&resold-per=100"): 8,
                  ("alice", "/licenses/{key}"): 10, ("alice", "/customers"): 8, ("alice", "/customers?page=2"): 8,
                  ("carol", "/licenses"): 4, ("carol", "/licenses?q=mail&sort=-ms&activation=no"): 4}


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


# ---------------------------------------------------------------- a customer's page and the picker (issue 17)


def _grow_customer(app, demo, n: int) -> None:
    """More of everything Contoso's page shows, and more stock for the picker: per step two licenses of
    Northwind for Contoso (one active with add-ons, one whose M&S ends within 90 days), their assignment in the
    audit log, a user and a contact of Contoso, Northwind's storefront invoice to it, and two unassigned licenses
    of Northwind (one with an add-on)."""
    from datetime import timedelta

    from portal.audit.services import Actor, record
    from portal.db_types import utcnow
    from portal.storefronts.models import Storefront
    from tests.factories import make_storefront_invoice

    today = utcnow().date()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        for i in range(n):
            held = make_license(northwind, customer=contoso, addons=("antispam", "activesync"))
            make_activation(held)
            renewing = make_license(northwind, customer=contoso, slug="webstats", edition="Enterprise",
                                    ms_expires_on=today + timedelta(days=i % 90))
            for lic in (held, renewing):
                record(Actor.system(), "license.assigned", lic, northwind.id, key=lic.key, customer_id=contoso.id)
            make_member(contoso, Role.VIEWER)
            make_contact(contoso)
            make_storefront_invoice(shop, contoso)
            make_license(northwind)
            make_license(northwind, addons=("antispam",))
        db.session.commit()


# The session's user and memberships (2) and the cart count in the header (1), then the page's own. A customer's
# page: the customer among the reseller's customers (1), a page of its licenses with their add-ons (2) and their
# activations (1), its users with their accounts and its contacts (3), renewals, invoices and activity (3); the
# pager's htmx request: the customer and the licenses alone (4). The picker: a page of the unassigned licenses
# found with their add-ons (2), the catalog's license products with editions and add-ons (3); from a customer's
# row, that customer (1) and its users to suggest (1); the licenses already chosen, when there are some (1).
CUSTOMER_BUDGET = {"/customers/{contoso}": 13, "/customers/{contoso}?after=0": 13,
                   "/licenses/assign": 8, "/licenses/assign?product=1&quantity=25&addon=1&after=1": 8,
                   "/licenses/assign?customer={contoso}&key=0": 10}


@pytest.mark.parametrize("url", CUSTOMER_BUDGET)
def test_a_customers_page_and_the_picker_take_the_same_statements_however_much_data(app, login, demo, url):
    alice = login("alice")
    page = url.format(contoso=demo.orgs["Contoso Retail"])
    _grow_customer(app, demo, 2)
    small = _statements(app, alice, page)
    _grow_customer(app, demo, 30)  # past a page of 25 licenses, of renewals, invoices and activity shown
    large = _statements(app, alice, page)
    assert large == small, f"{page}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == CUSTOMER_BUDGET[url], f"{page} takes {small} statements; its budget is {CUSTOMER_BUDGET[url]}"


def test_the_customer_pages_htmx_pager_takes_the_licenses_alone(app, login, demo):
    alice = login("alice")
    url = f"/customers/{demo.orgs['Contoso Retail']}?after=0"
    counts = []
    for n in (2, 30):
        _grow_customer(app, demo, n)
        with app.app_context(), count_statements(db.engine) as counted:
            response = alice.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert response.get_data(as_text=True).strip().startswith('<div id="customer-licenses">')
        counts.append(counted.count)
    assert counts == [7, 7], counts  # session (2), cart count (1), the customer, its licenses (2), activations


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


# ---------------------------------------------------------------- renewals (issue 17 item 3)


def _grow_renewals(app, demo, n: int) -> None:
    """Per step, Northwind licenses whose M&S ends within the window or lapsed lately: resold to a new sub-chain
    (with add-ons), not assigned, its own, and one lapsed; and a Litware license in the window that is never
    Northwind's."""
    from datetime import timedelta

    from portal.db_types import utcnow

    today = utcnow().date()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        for i in range(n):
            sub = make_org(parent=northwind)
            make_license(northwind, customer=sub, addons=("antispam",) if i % 2 else (),
                         ms_expires_on=today + timedelta(days=i % 90))
            make_license(northwind, slug="webstats", edition="Enterprise", addons=("data-export",),
                         ms_expires_on=today + timedelta(days=(3 * i) % 90))
            make_license(northwind, customer=northwind, ms_expires_on=today + timedelta(days=(7 * i) % 30))
            make_license(northwind, customer=sub, ms_expires_on=today - timedelta(days=1 + i % 30))
            make_license(litware, ms_expires_on=today + timedelta(days=i % 90))
        db.session.commit()


# The session's user and memberships (2), the header's cart count (1), the filter's products (1), then the list:
# the page's keys (one statement over licenses and plans), the window's licenses counted by priced configuration
# for the totals (1: grouped by the database), their products with editions and add-ons (3), the tier's discount
# (1), the window's plans (1) priced as the renewal run bills them (their products: 3, the discount: 1; the demo's
# Northwind has a plan renewing within weeks, which a customer's name or a license product filters out), the page's
# licenses with their add-ons (2). The next page is the same list after a cursor; the CSV all of it in batches of
# 500 rows.
RENEWALS_BUDGET = {"/renewals": 17, "/renewals?window=30&customer=org": 13, "/renewals?product=1": 13,
                   "next page": 17}


@pytest.mark.parametrize("url", RENEWALS_BUDGET)
def test_the_renewals_page_takes_the_same_statements_however_many_renewals(app, login, demo, url):
    import re

    alice = login("alice")

    def count() -> int:
        target = url
        if url == "next page":
            page = alice.get("/renewals").get_data(as_text=True)
            target = re.search(r'href="(/renewals\?after=[^"]+)"', page).group(1).replace("&amp;", "&")
        return _statements(app, alice, target)

    _grow_renewals(app, demo, 15)
    small = count()
    _grow_renewals(app, demo, 60)
    large = count()
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == RENEWALS_BUDGET[url], f"{url} takes {small} statements; its budget is {RENEWALS_BUDGET[url]}"


def test_the_renewals_csv_takes_the_same_statements_however_many_renewals(app, login, demo):
    alice = login("alice")
    _grow_renewals(app, demo, 5)
    small, _ = _download_statements(app, alice, "/renewals.csv")
    _grow_renewals(app, demo, 60)
    large, body = _download_statements(app, alice, "/renewals.csv")
    assert large == small, f"/renewals.csv: {small} statements with little data, {large} with more"
    assert len(body.splitlines()) > 4 * 65


# ---------------------------------------------------------------- Manage Subscriptions and activations (issue 6)


def _grow_fabrikam(app, demo, n: int) -> None:
    """Per step, for Fabrikam (a main chain with a device and a location plan) and a new sub-chain of it: a
    location with up to 6 devices (one a spare), and a license of each active on an installation."""
    from portal.subscriptions.models import Subscription
    from tests.factories import demo_product, make_device, make_location, make_subscription

    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        planned = set(db.session.scalars(select(Subscription.product_id)
                                         .where(Subscription.organization_id == fabrikam.id)))
        for slug, quantity in (("device-protection", 10), ("location-plan", 3)):
            if demo_product(slug).id not in planned:
                make_subscription(fabrikam, slug, quantity)
        for i in range(n):
            branch = make_org(parent=fabrikam)
            for org in (fabrikam, branch):
                location = make_location(org)
                for d in range(i % 7):
                    make_device(location, counts=d > 0)
                make_activation(make_license(org, customer=org))
        db.session.commit()


# The session's user and memberships (2), the cart count in the header for a buyer (1), then the page's own:
# /subscriptions the plans with their products (1), the plan usage (2: devices, location subscriptions) and the
# renewal invoices past due (1), the units delivered and not installed (1: none here; see the hardware budget);
# /activations a window of activations with their licenses, products, editions and customers (1).
SUBSCRIPTION_BUDGET = {("dave", "/subscriptions"): 8, ("dave", "/activations"): 4, ("erin", "/activations"): 3,
                       ("erin", "/activations?page=2"): 3}


@pytest.mark.parametrize(("who", "url"), SUBSCRIPTION_BUDGET)
def test_subscription_and_activation_pages_take_the_same_statements_however_many_devices(app, login, demo, who,
                                                                                        url):
    client = login(who)
    _grow_fabrikam(app, demo, 2)
    small = _statements(app, client, url)
    _grow_fabrikam(app, demo, 30)  # past a page of 25 activations
    large = _statements(app, client, url)
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    budget = SUBSCRIPTION_BUDGET[who, url]
    assert small == budget, f"{url} takes {small} statements; its budget is {budget}"


# ---------------------------------------------------------------- locations and devices (issue 6)


def _grow_devices(app, demo, n: int) -> dict[str, int]:
    """Per step, bulk-inserted: a Fabrikam location with 6 devices (one a spare) and a location of a new
    Fabrikam sub-chain with 2, 4 devices more at Downtown Denver, and a Contoso location with 3 (carol's).
    Returns the ids of Downtown Denver and of one of its devices."""
    from sqlalchemy import func, insert

    from portal.devices.models import Device, Location

    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        dave = db.session.get(User, demo.users["dave"])
        denver = db.session.scalars(select(Location).where(Location.name == "Downtown Denver")).one()
        start = db.session.scalar(select(func.count()).select_from(Location))
        branches = [make_org(parent=fabrikam) for _ in range(n)]
        places = [(fabrikam.id, 6), (demo.orgs["Contoso Retail"], 3)]
        rows = [{"organization_id": org_id, "name": f"Grown {start + i}-{k}", "address": "1 Grown Street"}
                for i in range(n) for k, (org_id, _) in enumerate([*places, (branches[i].id, 2)])]
        ids = db.session.scalars(insert(Location).returning(Location.id, sort_by_parameter_order=True), rows).all()
        sizes = [size for i in range(n) for size in (6, 3, 2)]
        devices = [{"organization_id": row["organization_id"], "location_id": location_id, "counts": d > 0,
                    "name": f"{row['name']} device {d}", "serial_number": f"SN-{location_id}-{d}",
                    "added_by_id": dave.id}
                   for row, location_id, size in zip(rows, ids, sizes, strict=True) for d in range(size)]
        devices += [{"organization_id": fabrikam.id, "location_id": denver.id, "name": f"Denver {start}-{d}",
                     "added_by_id": dave.id} for d in range(4 * n)]
        db.session.execute(insert(Device), devices)
        db.session.commit()
        till = db.session.scalars(select(Device.id).where(Device.name == "Denver till 1")).one()
        return {"denver": denver.id, "till": till}


# The session's user and memberships (2) and, for a buyer, the cart count in the header (1), then the page's own.
# /locations: a window of locations with their device counts (1), the counting devices per location for the
# subscriptions needed (1) and, for who may add one, the organizations to add it to (1); /devices: the locations
# to filter by and add to (1) and a window of devices with location, organization and who added them (1); a
# location: its device counts (1) and a window of its devices (1) after loading it (1); a device: it (1) and, for
# who may change it, the locations to move it to (1) and its return request waiting for the vendor (1, issue 20).
# /devices and a location: the units delivered there and not installed (1, issue 20).
DEVICE_BUDGET = {("dave", "/locations"): 6, ("dave", "/locations?page=2&q=grown"): 6, ("dave", "/devices"): 6,
                 ("dave", "/devices?q=device&page=2"): 6, ("dave", "/locations/{denver}"): 7,
                 ("dave", "/locations/{denver}?page=2"): 7, ("dave", "/devices/{till}"): 6,
                 ("erin", "/devices"): 5, ("erin", "/locations"): 5, ("carol", "/devices"): 5,
                 ("carol", "/locations"): 4}


@pytest.mark.parametrize(("who", "url"), DEVICE_BUDGET)
def test_location_and_device_pages_take_the_same_statements_however_many_devices(app, login, demo, who, url):
    client = login(who)
    ids = _grow_devices(app, demo, 2)
    small = _statements(app, client, url.format(**ids))
    ids = _grow_devices(app, demo, 30)  # past a page of 50 locations and of 50 devices, at a location too
    large = _statements(app, client, url.format(**ids))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    budget = DEVICE_BUDGET[who, url]
    assert small == budget, f"{url} takes {small} statements; its budget is {budget}"


def _deliver_to_fabrikam(app, demo, n: int) -> dict[str, int]:
    """Per step, a delivered shipment of 4 units at Airport Kiosk (one of them an RMA replacement of a kiosk
    device) and one of 2 units at a new Fabrikam location (past a page of 100 units at 30 steps)."""
    from portal.audit.services import Actor
    from portal.devices.models import Device, Location
    from portal.hardware.shipping import mark_delivered, mark_shipped
    from tests.factories import make_hardware_product, make_location, make_shipment

    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        dave = db.session.get(User, demo.users["dave"])
        airport = db.session.scalars(select(Location).where(Location.name == "Airport Kiosk")).one()
        kiosk = db.session.scalars(select(Device.id).where(Device.location_id == airport.id)).first()
        product = make_hardware_product()
        for _ in range(n):
            for location, units in ((airport, 4), (make_location(fabrikam), 2)):
                shipment = make_shipment(location, dave, quantity=units, product=product)
                mark_shipped(shipment, "UPS", "1Z999", Actor.system())
                mark_delivered(shipment, Actor.system())
            shipment.units[0].replaces_device_id = kiosk
        db.session.commit()
        return {"airport": airport.id}


# The pages that show delivered units (issue 20), for dave: the units at the chain's locations with their
# shipments, locations and products (1) on /devices and a location's page; on /subscriptions, what installing them
# needs: the units waiting per location (1) and the counting devices of those locations (1).
HARDWARE_BUDGET = {"/subscriptions": 9, "/devices": 6, "/locations/{airport}": 7}


@pytest.mark.parametrize("url", HARDWARE_BUDGET)
def test_pages_with_delivered_units_take_the_same_statements_however_many_units(app, login, demo, url):
    client = login("dave")
    ids = _deliver_to_fabrikam(app, demo, 2)
    small = _statements(app, client, url.format(**ids))
    ids = _deliver_to_fabrikam(app, demo, 30)
    large = _statements(app, client, url.format(**ids))
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    assert small == HARDWARE_BUDGET[url], f"{url} takes {small} statements; its budget is {HARDWARE_BUDGET[url]}"


def test_staff_transfer_review_list_takes_the_same_statements_however_many_requests(app, login, demo):
    """/admin/transfers: every request with its requester and sub-chain in one query, whatever their number."""
    ops = login("ops")
    _grow_northwind(app, demo, 2)
    small = _statements(app, ops, "/admin/transfers")
    _grow_northwind(app, demo, 25)
    assert _statements(app, ops, "/admin/transfers") == small == 3  # the session (2) and the page (1)


# ---------------------------------------------------------------- the storefront (issue 14)


def _grow_storefront(app, products: int, start: int) -> None:
    """Northwind's storefront (the demo's) gets `products` more license products, each with two editions and an
    add-on, a markup rule on the product, a special price on an edition for everyone and one for Contoso."""
    from portal.catalog.models import AddOn, Edition, Product, ProductKind
    from portal.storefronts.models import Storefront, StorefrontPrice

    with app.app_context():
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        contoso = db.session.scalars(select(Organization).where(Organization.name == "Contoso Retail")).one()
        for k in range(start, start + products):
            product = Product(slug=f"budget-license-{k:04d}", name=f"Budget License {k:04d}", kind=ProductKind.LICENSE,
                              unit_label="seats", quantities=[1, 5], position=100 + k,
                              editions=[Edition(name="Standard", base_price_minor=4_900, unit_price_minor=900),
                                        Edition(name="Professional", base_price_minor=9_900, unit_price_minor=1_900,
                                                position=1)],
                              addons=[AddOn(slug="priority", name="Priority support", price_minor=1_500)])
            db.session.add(product)
            db.session.flush()
            standard, professional = product.editions
            db.session.add_all([
                StorefrontPrice(storefront_id=storefront.id, product_id=product.id, markup_bp=1_500),
                StorefrontPrice(storefront_id=storefront.id, product_id=product.id, edition_id=professional.id,
                                special_minor=1_700),
                StorefrontPrice(storefront_id=storefront.id, product_id=product.id, edition_id=standard.id,
                                customer_id=contoso.id, special_minor=800),
            ])
        db.session.commit()


# Statements of the storefront's catalog and product page: the storefront with whether its own prices apply (1),
# the products with their editions (and add-ons) (1), the price rules (1); a signed-in customer adds the session's
# user and memberships (2) and the cart count (1).
STOREFRONT_BUDGET = {("/s/northwind", False): 3, ("/s/northwind", True): 6,
                     ("/s/northwind/products/budget-license-0000", False): 3,
                     ("/s/northwind/products/budget-license-0000", True): 6}


@pytest.mark.parametrize(("url", "signed_in"), STOREFRONT_BUDGET)
def test_storefront_statements_do_not_grow_with_products_or_rules(app, client, login, demo, url, signed_in):
    """5 products with 15 rules, then 500 with 1,500: the catalog shows a page of products, whatever their number."""
    visitor = login("carol") if signed_in else client
    _grow_storefront(app, 5, 0)
    small = _statements(app, visitor, url)
    _grow_storefront(app, 495, 5)
    large = _statements(app, visitor, url)
    assert large == small, f"{url}: {small} statements with 5 products, {large} with 500"
    assert small == STOREFRONT_BUDGET[(url, signed_in)], f"{url} takes {small} statements"


# ---------------------------------------------------------------- the home page (issue 17 item 1)


def _grow_dashboard(app, demo, n: int) -> None:
    """More of everything each role's home page counts: Northwind's invoices (unpaid, overdue, paid), unassigned
    and expiring licenses, transfers; Contoso's licenses and devices; Fabrikam's devices and invoices; customers
    whose Installation Partner erin is; emails staff must look at."""
    from datetime import timedelta

    from portal.billing.models import InvoiceStatus
    from portal.db_types import utcnow
    from portal.outbox.models import OutboxMessage, OutboxStatus
    from tests.factories import make_device, make_invoice, make_location

    today = utcnow().date()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        erin = db.session.get(User, demo.users["erin"])
        for i in range(n):
            make_invoice(northwind)
            make_invoice(northwind, issued_on=today - timedelta(days=40), due_on=today - timedelta(days=10))
            make_invoice(northwind, status=InvoiceStatus.PAID)
            make_invoice(fabrikam, status=InvoiceStatus.PAYMENT_PENDING)
            make_license(northwind, slug=["mailsuite", "livedesk"][i % 2])
            make_license(northwind, customer=contoso, ms_expires_on=today + timedelta(days=i % 100))
            make_transfer(northwind, make_org(parent=northwind))
            location = make_location(contoso)
            make_device(location)
            make_device(make_location(fabrikam), counts=bool(i % 2))
            customer = make_org()
            make_device(make_location(customer))
            make_partner_grant(customer, northwind, state=GrantState.ACTIVE, assign=[erin])
            db.session.add(OutboxMessage(to_addrs=["x@example.com"], subject="s", body_text="b", kind="test",
                                         status=OutboxStatus.FAILED, attempts=8))
        db.session.commit()


# The session's user and memberships (2), the header's cart count for those who buy (1), then one statement per
# panel: a reseller manager's unpaid invoices, unassigned licenses, renewals, plan overrun and transfers (5); a
# Master user's first three (3); a viewer's licenses, renewals and devices (3); an end customer's manager's
# invoices, stock, licenses, renewals, plan overrun, devices and transfers (7); an installation partner's
# customers (1: its grants come with the session's user); staff's queue (1).
DASHBOARD_BUDGET = {"alice": 8, "bob": 6, "carol": 5, "dave": 10, "erin": 3, "ops": 3}


@pytest.mark.parametrize("name", DASHBOARD_BUDGET)
def test_the_home_page_takes_the_same_statements_whatever_the_data(app, login, demo, name):
    user = login(name)
    _grow_dashboard(app, demo, 2)
    small = _statements(app, user, "/")
    _grow_dashboard(app, demo, 25)
    large = _statements(app, user, "/")
    assert large == small, f"{name}'s home page: {small} statements with little data, {large} with more"
    assert small == DASHBOARD_BUDGET[name], f"{name}'s home page takes {small} statements"


# ---------------------------------------------------------------- shipments and returns (issue 20)


def _ship_everywhere(app, demo, n: int) -> None:
    """Per step: a shipment to a new Fabrikam location (awaiting shipment), one shipped, one to Northwind's sub-chain
    Contoso ordered by Northwind, an RMA replacement, and a return request of a Fabrikam device."""
    from portal.audit.services import Actor
    from portal.hardware import returns
    from portal.hardware.shipping import mark_shipped
    from tests.factories import make_device, make_hardware_product, make_shipment, make_shippable_location

    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        dave, alice = db.session.get(User, demo.users["dave"]), db.session.get(User, demo.users["alice"])
        product = make_hardware_product()
        for _ in range(n):
            make_shipment(make_shippable_location(fabrikam), dave, quantity=2, product=product)
            shipped = make_shipment(make_shippable_location(fabrikam), dave, quantity=1, product=product)
            mark_shipped(shipped, "UPS", "1Z999", Actor.system())
            make_shipment(make_shippable_location(contoso), alice, quantity=1, product=product)
            device = make_device(make_shippable_location(fabrikam))
            request = returns.request_return(device, "Broken", Actor(dave.id))
            returns.approve(request, product, Actor.system())
            returns.request_return(make_device(device.location), "Cracked", Actor(dave.id))
        db.session.commit()


# The session's user and memberships (2), then the page's own: /shipments the cart count for a buyer (1) and the
# shipments with their organizations, order numbers and units (1) and the organizations whose orders the user sees
# (none: the order's organization comes with the row); /admin/shipments the shipments with theirs (1), the return
# requests with their devices, locations, organizations and requesters (1), the products the returned devices
# shipped as (1) and the hardware products to choose from (1).
SHIPMENT_BUDGET = {("dave", "/shipments"): 4, ("dave", "/shipments?state=shipped"): 4, ("alice", "/shipments"): 4,
                   ("carol", "/shipments"): 3, ("ops", "/admin/shipments"): 6, ("ops", "/admin/shipments?state=all"): 6}


@pytest.mark.parametrize(("who", "url"), SHIPMENT_BUDGET)
def test_shipment_pages_take_the_same_statements_however_many_shipments(app, login, demo, who, url):
    client = login(who)
    _ship_everywhere(app, demo, 2)
    small = _statements(app, client, url)
    _ship_everywhere(app, demo, 30)
    large = _statements(app, client, url)
    assert large == small, f"{url}: {small} statements with little data, {large} with more (an N+1 query?)"
    budget = SHIPMENT_BUDGET[who, url]
    assert small == budget, f"{who} {url} takes {small} statements; its budget is {budget}"
