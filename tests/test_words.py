"""Plurals through one helper (issue 17 item 9): "1 site", "2 sites", "1 mailbox" (never "mailboxe" nor
"1 mailboxes"), in code, pages and emails alike; the French issue swaps the helper for ngettext."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.words import plural, units
from tests.factories import demo_org, make_license


@pytest.mark.parametrize(("n", "expected"), [(0, "0 sites"), (1, "1 site"), (2, "2 sites")])
def test_plural_chooses_by_the_number_and_formats_it(n, expected):
    assert plural(n, "%(num)d site", "%(num)d sites") == expected


def test_plural_formats_named_values_too():
    assert plural(3, "%(num)d invoice for %(period)s", "%(num)d invoices for %(period)s",
                  period="2026-11") == "3 invoices for 2026-11"


@pytest.mark.parametrize(("n", "label", "expected"), [
    (1, "mailboxes", "1 mailbox"), (25, "mailboxes", "25 mailboxes"), (1, "sites", "1 site"),
    (1, "agents", "1 agent"), (0, "devices", "0 devices"), (1, "boxes", "1 box"),
])
def test_units_speak_of_one_unit_in_the_singular(n, label, expected):
    assert units(n, label) == expected


def test_a_license_of_one_mailbox_reads_1_mailbox_on_its_page(app, login, demo):
    with app.app_context():
        license_ = make_license(demo_org("Northwind IT"), quantity=1)
        db.session.commit()
        key = license_.key
    page = login("alice").get(f"/licenses/{key}").get_data(as_text=True)
    assert "<dd>1 mailbox</dd>" in page and "1 mailboxes" not in page


def test_the_shop_prices_per_mailbox(client, demo):
    page = client.get("/shop").get_data(as_text=True)
    assert "Perpetual license per mailbox with" in page and "per mailboxes" not in page
