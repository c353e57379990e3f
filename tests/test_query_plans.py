"""Every list page reads its tables through indexes (issue 18 item 1): on PostgreSQL, each SELECT a page sends is
explained with sequential scans priced out (`enable_seqscan = off`); a sequential scan left in the plan means no
index can serve that read, which costs the whole table on a large book."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from portal.extensions import db

pytestmark = pytest.mark.postgres_only

# The tables that grow with a reseller's book; small reference tables (catalog, tiers) may be scanned.
GROWING = {"license", "activation", "invoice", "invoice_line", "purchase_order", "order_line", "device", "location",
           "organization", "membership", "user_account", "subscription", "shipment", "shipment_unit", "audit_entry",
           "cart_item", "renewal", "transfer_request", "return_request"}

PAGES = (("alice", "/licenses"), ("alice", "/licenses?resold-sort=customer&resold-q=mail"),
         ("alice", "/licenses?resold-email=contoso&customers-email=contoso"),
         ("alice", "/customers"), ("alice", "/customers?email=contoso"), ("alice", "/invoices"),
         ("alice", "/orders"), ("alice", "/"),
         ("alice", "/renewals"), ("alice", "/account/audit"), ("alice", "/payments"),
         ("carol", "/licenses"), ("dave", "/devices"), ("dave", "/locations"), ("dave", "/shipments"),
         ("dave", "/orders"), ("dave", "/subscriptions"), ("ops", "/admin/shipments"))


def _selects(app, client, url: str) -> list[tuple[str, object]]:
    sent: list[tuple[str, object]] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            response = client.get(url)
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
    assert response.status_code == 200, url
    return sent


def _plans(app, statements: list[tuple[str, object]], *settings: str) -> list[tuple[str, dict]]:
    """Each statement with its PostgreSQL plan (EXPLAIN, FORMAT JSON), under the given `SET`s."""
    plans = []
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for setting in settings:
                cursor.execute(f"SET {setting}")
            for statement, parameters in statements:
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                plans.append((" ".join(statement.split()), plan[0]["Plan"]))
            raw.rollback()
        finally:
            raw.close()
    return plans


def _nodes(plan: dict, node_type: str) -> list[dict]:
    """The nodes of a plan of one type, at any depth."""
    found = [plan] if plan.get("Node Type") == node_type else []
    for child in plan.get("Plans", ()):
        found += _nodes(child, node_type)
    return found


@pytest.mark.parametrize(("who", "url"), PAGES)
def test_a_list_pages_reads_are_served_by_indexes(app, login, demo, who, url):
    client = login(who)
    client.get(url)  # the session's first request warms what it caches
    selects = _selects(app, client, url)
    assert selects
    scans = [f"{node['Relation Name']}: {statement[:300]}"
             for statement, plan in _plans(app, selects, "enable_seqscan = off")
             for node in _nodes(plan, "Seq Scan") if node["Relation Name"] in GROWING]
    assert not scans, f"{url} ({who}) reads tables without an index:\n" + "\n".join(scans)


# The reselling page's lists and the customers, orders and invoices pages, in their default order: read in that
# order from an index, so a page of 25 costs the same in a book of 100,000 licenses (issue 18 item 1). With sorts
# priced out (`enable_sort = off`), a Sort left in a list's plan means no index gives its order: the list is sorted
# whole.
SORTED_BY_INDEX = (("alice", "/licenses"), ("alice", "/customers"), ("alice", "/orders"), ("alice", "/invoices"),
                   ("frank", "/orders"), ("frank", "/invoices"))


@pytest.mark.parametrize(("who", "url"), SORTED_BY_INDEX)
def test_a_list_in_its_default_order_is_read_from_an_index(app, login, demo, who, url):
    client = login(who)
    client.get(url)
    lists = [(s, p) for s, p in _selects(app, client, url) if "list_total" in s]
    assert lists, f"{url} sends no list query"
    sorted_whole = [f"{', '.join(node.get('Sort Key', ()))}: {statement[-200:]}"
                    for statement, plan in _plans(app, lists, "enable_seqscan = off", "enable_sort = off")
                    for node in _nodes(plan, "Sort")]
    assert not sorted_whole, f"{url} ({who}) sorts a whole list:\n" + "\n".join(sorted_whole)
