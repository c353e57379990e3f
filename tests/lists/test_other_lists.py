"""Invoices, orders and devices as lists at scale (issue 17, item 4): searched and filtered by what their rows show,
sorted by their columns, counted, paged at the size asked for; orders download as CSV with the same filters."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from portal.billing.models import InvoiceStatus
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.models import Order, OrderLine, PaymentKind
from tests.factories import demo_org, demo_product, demo_user, make_device, make_invoice, make_location, make_order


def _numbers(html: str, prefix: str) -> list[str]:
    return re.findall(rf">({prefix}-[0-9A-Z]+)</a>", html)


@pytest.fixture
def invoices(app, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        today = utcnow().date()
        overdue = make_invoice(northwind, total_minor=99_900, issued_on=today - timedelta(days=60),
                               due_on=today - timedelta(days=30)).number
        paid = make_invoice(northwind, status=InvoiceStatus.PAID, total_minor=500,
                            issued_on=today - timedelta(days=5)).number
        db.session.commit()
        return {"overdue": overdue, "paid": paid}


def test_invoices_filter_by_state_and_dates_and_sort_by_total(login, invoices):
    alice = login("alice")
    overdue = alice.submit("/invoices", {"status": "overdue"}).get_data(as_text=True)
    shown = _numbers(overdue.split('<div id="invoices">', 1)[1], "INV")
    assert invoices["overdue"] in shown and invoices["paid"] not in shown
    assert re.search(r"\d+ invoices? match(es)? the search and filters", overdue)
    today = utcnow().date()
    recent = alice.submit("/invoices", {"issued_from": (today - timedelta(days=10)).isoformat()}).get_data(
        as_text=True)
    recent_shown = _numbers(recent.split('<div id="invoices">', 1)[1], "INV")
    assert invoices["paid"] in recent_shown and invoices["overdue"] not in recent_shown
    by_total = alice.get("/invoices?sort=-total").get_data(as_text=True).split('<div id="invoices">', 1)[1]
    assert _numbers(by_total, "INV")[0] == invoices["overdue"]
    found = alice.submit("/invoices", {"q": invoices["paid"][-4:]}).get_data(as_text=True)
    assert invoices["paid"] in found.split('<div id="invoices">', 1)[1]


def test_the_invoice_csv_follows_the_lists_filters(login, invoices):
    alice = login("alice")
    html = alice.submit("/invoices", {"status": "overdue"}).get_data(as_text=True)
    href = re.search(r'<a href="(/invoices\.csv[^"]*)" download>', html).group(1).replace("&amp;", "&")
    rows = list(csv.reader(io.StringIO(alice.get(href).get_data(as_text=True))))
    numbers = [row[0] for row in rows[1:]]
    assert invoices["overdue"] in numbers and invoices["paid"] not in numbers


def test_a_month_that_is_not_one_is_explained(login, invoices):
    html = login("alice").get("/invoices?period=2026-13").get_data(as_text=True)
    assert "Issued in: give the month as YYYY-MM, such as 2026-10." in html
    assert invoices["paid"] in html  # the filter is left out, the list still shows


@pytest.fixture
def orders(app, demo):
    with app.app_context():
        northwind, alice, bob = demo_org("Northwind IT"), demo_user("alice"), demo_user("bob")
        livedesk = demo_product("livedesk")
        big = Order(number="ORD-TBIG0001", organization_id=northwind.id, placed_by_id=bob.id, idempotency_key="big",
                    payment_kind=PaymentKind.WIRE, currency="USD", discount_bp=0, subtotal_minor=8_800_000,
                    discount_minor=0, tax_minor=0, total_minor=8_800_000, purchase_order_number="PO-ACME-7",
                    billing={"legal_name": northwind.legal_name})
        db.session.add(big)
        db.session.flush()
        db.session.add(OrderLine(order_id=big.id, position=1, kind=livedesk.kind, product_id=livedesk.id,
                                 edition_id=livedesk.editions[0].id, product_name=livedesk.name,
                                 edition_name=livedesk.editions[0].name, unit_label=livedesk.unit_label, quantity=5,
                                 copies=1, unit_list_minor=0, list_minor=0, discount_minor=0, tax_minor=0,
                                 total_minor=0, addons=[]))
        small = make_order(northwind, alice)
        other = make_order(demo_org("Fabrikam Stores"), demo_user("dave"))
        db.session.commit()
        return {"big": big.number, "small": small.number, "other": other.number}


def test_orders_are_searched_filtered_sorted_and_counted(login, orders):
    alice = login("alice")
    page = alice.page("/orders")
    by_po = alice.submit(page, {"q": "acme-7"}).get_data(as_text=True)
    assert _numbers(by_po, "ORD") == [orders["big"]] and "1 order matches the search and filters" in by_po
    by_buyer = _numbers(alice.submit(page, {"placed_by": "bob@"}).get_data(as_text=True), "ORD")
    assert orders["big"] in by_buyer and orders["small"] not in by_buyer
    wire = _numbers(alice.submit(page, {"payment": "wire"}).get_data(as_text=True), "ORD")
    assert orders["big"] in wire and orders["small"] not in wire
    by_product = _numbers(alice.submit(page, {"product": "livedesk"}).get_data(as_text=True), "ORD")
    assert orders["big"] in by_product and orders["small"] not in by_product
    assert _numbers(alice.get("/orders?sort=-total").get_data(as_text=True), "ORD")[0] == orders["big"]
    assert orders["other"] not in alice.get("/orders?per=100").get_data(as_text=True)


def test_orders_download_as_csv_with_their_filters_and_only_the_chains_own(login, orders):
    alice = login("alice")
    html = alice.submit("/orders", {"payment": "wire"}).get_data(as_text=True)
    href = re.search(r'<a href="(/orders\.csv[^"]*)" download>', html).group(1).replace("&amp;", "&")
    response = alice.get(href)
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "Order" and rows[0][-1] == "Products"
    big = next(row for row in rows[1:] if row[0] == orders["big"])
    assert big[2] == "bob@northwind.example.com" and big[3] == "PO-ACME-7" and big[4] == "Wire transfer"
    assert big[10] == "88000.00" and big[11] == "LiveDesk Help Desk"
    assert orders["small"] not in [row[0] for row in rows]
    everything = alice.get("/orders.csv").get_data(as_text=True)
    assert orders["small"] in everything and orders["other"] not in everything


def test_devices_filter_by_what_they_show_and_sort(app, login, demo):
    with app.app_context():
        fabrikam, dave = demo_org("Fabrikam Stores"), demo_user("dave")
        place = make_location(fabrikam, "Zz Warehouse")
        make_device(place, "Aardvark scanner", counts=False, added_by=dave)
        make_device(place, "Zebra printer", counts=True)
        db.session.commit()
    dave = login("dave")
    spare = dave.submit("/devices", {"counts": "no"}, button="Apply").get_data(as_text=True)
    assert "Aardvark scanner" in spare and "Zebra printer" not in spare
    by_adder = dave.submit("/devices", {"added_by": "dave@"}, button="Apply").get_data(as_text=True)
    assert "Aardvark scanner" in by_adder and "Zebra printer" not in by_adder
    by_name = dave.get("/devices?sort=-name&per=100").get_data(as_text=True)
    names = re.findall(r'<a href="/devices/\d+">([^<]+)</a>', by_name)
    assert names == sorted(names, reverse=True) and "Zebra printer" in names
    assert re.search(r"\d+ devices", by_name)
