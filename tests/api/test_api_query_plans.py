"""The API's lists are index ranges (issues 16 and 18): on PostgreSQL, each SELECT a list sends is explained with
sequential scans and sorts priced out. A sequential scan of a growing table means no index serves that read; a Sort
in a page's statement (the one with a LIMIT) means no index gives the list's order, so the whole book would be
sorted for a page. (A page's add-ons are sorted by position: a page's worth, whatever the book.)"""

from __future__ import annotations

import pytest

from tests.test_query_plans import GROWING, _nodes, _plans, _selects

pytestmark = pytest.mark.postgres_only

LISTS = ("/api/v1/licenses?limit=100", "/api/v1/licenses?status=unassigned", "/api/v1/orders", "/api/v1/invoices",
         "/api/v1/customers")


@pytest.mark.parametrize("url", LISTS)
def test_an_api_list_is_read_in_its_order_from_an_index(app, api, url):
    client = api("alice")
    client.get(url)
    selects = _selects(app, client, url)
    assert selects
    problems = [f"{node['Node Type']} {node.get('Relation Name') or ', '.join(node.get('Sort Key', ()))}: "
                f"{statement[:300]}"
                for statement, plan in _plans(app, selects, "enable_seqscan = off", "enable_sort = off")
                for node in _nodes(plan, "Seq Scan") + _nodes(plan, "Sort") + _nodes(plan, "Incremental Sort")
                if (node["Relation Name"] in GROWING if node["Node Type"] == "Seq Scan" else " LIMIT " in statement)]
    assert not problems, f"{url} is not read from an index in its order:\n" + "\n".join(problems)
