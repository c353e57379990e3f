"""Stacked tables on phones: each body cell names its column (data-label), taken from the header the table
renders, so that a phone showing one cell a line can say what each value is."""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup

from portal.templating.tables import column_labels

TEMPLATES = Path(__file__).resolve().parents[2] / "portal" / "templates"

LICENSES = """<table class="table"><caption>Resold licenses</caption>
<thead><tr><th scope="col">Key</th><th scope="col">M&amp;S <abbr title="until">until</abbr></th>
<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody><tr><th scope="row"><a href="/licenses/K-1">K-1</a></th><td>2027-01-31</td>
<td><form method="post" hx-vals='{"next": "a > b"}'><button>Modify</button></form></td></tr>
<tr><td colspan="3">No more licenses.</td></tr></tbody></table>"""


def labels(html: str) -> list[str | None]:
    """The data-label of each body cell, in order (None for a cell without one)."""
    cells = re.findall(r"<(?:td|th)\b([^>]*)>", html.split("<tbody>", 1)[1])
    return [(re.search(r'data-label="([^"]*)"', cell) or [None, None])[1] for cell in cells]


def test_each_body_cell_is_named_by_the_header_of_its_column():
    labelled = column_labels(Markup(LICENSES))  # noqa: S704 - a template's output, as the filter receives it
    assert isinstance(labelled, Markup)
    assert labels(labelled) == ["Key", "M&amp;S until", None, None]  # the header's text, escaped again


def test_a_column_whose_header_only_a_screen_reader_hears_gets_no_visible_name():
    assert 'data-label="Actions"' not in column_labels(LICENSES)


def test_a_cell_spanning_several_columns_is_not_named_and_the_next_one_keeps_counting():
    html = ("<table><thead><tr><th>Product</th><th>Quantity</th><th>Amount</th></tr></thead>"
            "<tbody><tr><td>WebStats</td><td>2</td><td>$20.00</td></tr></tbody>"
            '<tfoot><tr><th colspan="2">Total</th><td>$20.00</td></tr></tfoot></table>')
    labelled = column_labels(html)
    assert '<th colspan="2">Total</th><td data-label="Amount">$20.00</td>' in labelled
    assert labels(labelled) == ["Product", "Quantity", "Amount", None, "Amount"]


def test_a_label_the_template_wrote_and_a_table_without_header_are_left_alone():
    html = ('<table><thead><tr><th>Key</th></tr></thead><tbody><tr><td data-label="License">K</td></tr></tbody>'
            "</table><table><tbody><tr><th>Key</th><td>K-2</td></tr></tbody></table>")
    assert column_labels(html) == html


def test_a_table_inside_a_cell_has_its_own_columns():
    html = ("<table><thead><tr><th>Order</th><th>Lines</th></tr></thead><tbody><tr><td>O-1</td><td>"
            "<table><thead><tr><th>Product</th></tr></thead><tbody><tr><td>WebStats</td></tr></tbody></table>"
            "</td></tr></tbody></table>")
    labelled = column_labels(html)
    assert '<td data-label="Order">O-1</td><td data-label="Lines"><table>' in labelled
    assert '<td data-label="Product">WebStats</td>' in labelled


def test_every_list_table_of_the_portal_is_labelled():
    """A new table needs no label written by hand, only to sit in a `column_labels` filter block."""
    unwrapped = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        source = template.read_text()
        for table in re.finditer(r'<table class="table', source):
            before = source[:table.start()].rstrip()
            if not before.endswith("{% filter column_labels %}"):
                unwrapped.append(f"{template.relative_to(TEMPLATES)}:{source.count(chr(10), 0, table.start()) + 1}")
    assert unwrapped == []


def test_alices_licenses_page_names_each_cell_and_folds_the_navigation_behind_a_menu_button(demo, login):
    """Without JavaScript: the Menu button is the <summary> of the <details> that holds the main navigation."""
    page = login("alice").get("/licenses").get_data(as_text=True)
    assert re.search(r'<td data-label="Key"><a href="/licenses/[^"]+"><code>', page)
    assert 'data-label="Product"' in page
    nav = page[page.index('<nav class="main-nav" aria-label="Main">'):]
    nav = nav[:nav.index("</nav>")]
    assert re.match(r'<nav[^>]*>\s*<details class="nav-menu">\s*<summary class="nav-toggle">Menu</summary>\s*<ul>',
                    nav)
    assert '<a href="/licenses" aria-current="page">Licenses</a>' in nav
