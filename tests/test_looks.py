"""Looks like a product (issue 17 item 9): statuses read as badges whose words are written out, amounts sit in
right-aligned cells of tabular figures, and every kind of input the forms use is styled."""

from __future__ import annotations

import re

from portal.billing.models import InvoiceStatus
from portal.extensions import db
from tests.factories import demo_org, make_activation, make_invoice, make_license


def test_the_invoices_list_shows_each_status_as_a_badge_and_totals_right_aligned(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        paid = make_invoice(northwind, status=InvoiceStatus.PAID, total_minor=98_765)
        make_invoice(northwind)  # unpaid
        db.session.commit()
        number = paid.number
    page = login("alice").get("/invoices").get_data(as_text=True)
    row = page[page.index(f">{number}</a>"):].split("</tr>")[0]
    assert re.search(r'<span class="status-badge status-ok" data-status="paid">Paid</span>', row)
    assert re.search(r'<td[^>]*class="amount"[^>]*>\$987\.65</td>', row)
    assert '<span class="status-badge status-warn" data-status="unpaid">Unpaid</span>' in page


def test_license_states_are_badges_on_the_licenses_list(app, login, demo):
    with app.app_context():
        northwind, contoso = demo_org("Northwind IT"), demo_org("Contoso Retail")
        running = make_license(northwind, contoso)
        make_activation(running, "front-desk-7")
        running.reactivation_required = True
        db.session.commit()
        key = running.key
    page = login("alice").get("/licenses").get_data(as_text=True)
    row = page[page.index(key):].split("</tr>")[0]
    assert '<span class="status-badge status-ok">Active on front-desk-7</span>' in row
    assert '<span class="status-badge status-warn">Reactivation required</span>' in row
    assert '<span class="status-badge status-neutral">Not activated</span>' in page


def test_the_stylesheet_styles_every_input_type_amounts_and_badges(client):
    css = client.get("/static/css/portal.css").get_data(as_text=True)
    block = css[css.index("/* ---- looks like a product"):css.index("/* ---- end of looks like a product")]
    for selector in ("input[type=number]", "input[type=month]", "input[type=date]", "input[type=file]", "textarea",
                     "input[type=checkbox]", ".status-badge", ".status-ok", ".status-danger"):
        assert selector in block, selector
    assert re.search(r"\.amount[^{]*\{[^}]*text-align: right;[^}]*font-variant-numeric: tabular-nums", block)
    assert "input[type=search]" in css
