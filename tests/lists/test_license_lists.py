"""The license lists at scale (issue 17, item 4): each section of the reselling page, the customers list and an end
customer's entitlements are filtered by what their rows show, sorted by their columns, counted, paged at the size
asked for, downloaded as CSV with the same filters; one section's search survives another section's paging."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from portal.db_types import utcnow
from portal.extensions import db
from tests.factories import demo_org, make_activation, make_license, make_member, make_org, make_user

HX = {"HX-Request": "true"}


def _section(html: str, name: str) -> str:
    start = html.index(f'<div id="{name}">')
    return html[start:html.index("</table>", start)]


def _rows(html: str, name: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", _section(html, name).split("<tbody>", 1)[1], re.S)


def _keys_in(html: str, name: str) -> list[str]:
    return re.findall(r'<code>([0-9A-Z-]{29})</code>', _section(html, name))


@pytest.fixture
def book(app, demo):
    """Northwind's licenses for two new customers: different editions, quantities, M&S and activation."""
    with app.app_context():
        northwind = demo_org("Northwind IT")
        today = utcnow().date()
        acme = make_org("Acme Dental", parent=northwind)
        zenith = make_org("Zenith Law", parent=northwind)
        make_member(acme, user=make_user("office@acme-dental.example"))
        keys = {
            "acme_small": make_license(northwind, acme, quantity=5).key,
            "acme_big": make_license(northwind, acme, edition="Enterprise", quantity=200,
                                     ms_expires_on=today - timedelta(days=3)).key,
            "zenith": make_license(northwind, zenith, slug="livedesk", edition="Enterprise", quantity=40).key,
            "stock": make_license(northwind, quantity=7).key,
        }
        make_activation(_by_key(keys["zenith"]))
        db.session.commit()
        return keys


def _by_key(key: str):
    from sqlalchemy import select

    from portal.licenses.models import License

    return db.session.scalars(select(License).where(License.key == key)).one()


def test_the_resold_section_is_filtered_by_what_its_rows_show(login, book):
    alice = login("alice")
    page = alice.page("/licenses")
    by_quantity = alice.submit(page, {"resold-quantity_from": "40", "resold-quantity_to": "200"})
    html = by_quantity.get_data(as_text=True)
    keys = _keys_in(html, "resold")
    assert book["acme_big"] in keys and book["zenith"] in keys and book["acme_small"] not in keys
    by_email = _keys_in(alice.submit(page, {"resold-email": "acme-dental"}).get_data(as_text=True), "resold")
    assert sorted(by_email) == sorted([book["acme_small"], book["acme_big"]])
    lapsed = _keys_in(alice.submit(page, {"resold-ms_state": "lapsed"}).get_data(as_text=True), "resold")
    assert book["acme_big"] in lapsed and book["acme_small"] not in lapsed
    active = _keys_in(alice.submit(page, {"resold-activation": "yes"}).get_data(as_text=True), "resold")
    assert book["zenith"] in active and book["acme_small"] not in active and book["acme_big"] not in active
    inactive = _keys_in(alice.submit(page, {"resold-activation": "no"}).get_data(as_text=True), "resold")
    assert book["zenith"] not in inactive and book["acme_small"] in inactive
    by_edition = alice.submit(page, {"resold-product": "livedesk", "resold-edition": "enterprise"}).get_data(
        as_text=True)
    keys = _keys_in(by_edition, "resold")
    assert book["zenith"] in keys and book["acme_small"] not in keys and book["acme_big"] not in keys
    assert "LiveDesk Help Desk" in _section(by_edition, "resold") and "MailSuite" not in _section(by_edition, "resold")
    counted = "1 resold license matches" if len(keys) == 1 else f"{len(keys)} resold licenses match"
    assert f"{counted} the search and filters" in by_edition


def test_a_filter_that_cannot_be_one_is_explained_beside_its_field_and_left_out(login, book):
    alice = login("alice")
    response = alice.submit("/licenses", {"resold-quantity_from": "lots", "resold-ms_from": "2026-02-31",
                                          "resold-ms_state": "someday"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="resold-quantity_from-error">Quantity from: enter a whole number.' in html
    assert 'id="resold-ms_from-error">M&amp;S until from: enter a date as YYYY-MM-DD.' in html
    assert "M&amp;S: choose one from the list." in html
    assert book["acme_small"] in _keys_in(html, "resold")  # the rest still lists
    assert 'aria-invalid="true" aria-describedby="resold-quantity_from-error"' in html


def test_columns_sort_both_ways_and_say_so(login, book):
    alice = login("alice")
    html = alice.get("/licenses?resold-sort=customer").get_data(as_text=True)
    keys = _keys_in(html, "resold")
    assert keys.index(book["acme_small"]) < keys.index(book["zenith"])
    assert '<th scope="col" aria-sort="ascending"><a class="sort" href="/licenses?resold-sort=-customer' in html
    reverse = _keys_in(alice.get("/licenses?resold-sort=-customer").get_data(as_text=True), "resold")
    assert reverse.index(book["zenith"]) < reverse.index(book["acme_small"])
    by_quantity = _keys_in(alice.get("/licenses?resold-sort=-quantity").get_data(as_text=True), "resold")
    assert by_quantity[0] == book["acme_big"]
    # a sort that is not one falls back to the default, never an error
    assert alice.get("/licenses?resold-sort=password").status_code == 200


def test_a_count_and_a_page_size(app, login, book):
    from sqlalchemy import func, select

    from portal.licenses.models import License

    with app.app_context():
        northwind = demo_org("Northwind IT")
        for _ in range(60):
            make_license(northwind)
        db.session.commit()
        stock = db.session.scalar(select(func.count()).where(License.owner_id == northwind.id,
                                                             License.customer_id.is_(None)))
    alice = login("alice")
    html = alice.get("/licenses").get_data(as_text=True)
    assert stock > 60 and f"{stock} unassigned licenses" in html and len(_rows(html, "unassigned")) == 25
    bigger = alice.submit(alice.page("/licenses"), {"unassigned-per": "50"}).get_data(as_text=True)
    assert len(_rows(bigger, "unassigned")) == 50
    assert len(_rows(alice.get("/licenses?unassigned-per=7").get_data(as_text=True), "unassigned")) == 25
    past = alice.get("/licenses?unassigned-page=9").get_data(as_text=True)
    assert "This page is past the end of the list." in past


def test_one_sections_search_is_kept_when_another_section_pages(app, login, book):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        customer = make_org("Paging Customer", parent=northwind)
        for _ in range(30):
            make_license(northwind, customer)
        db.session.commit()
    alice = login("alice")
    searched = alice.submit("/licenses", {"unassigned-q": "mail"})
    html = searched.get_data(as_text=True)
    next_resold = re.search(r'<nav class="pagination" aria-label="Pages of resold licenses">.*?href="([^"]+)"[^>]*'
                            r'rel="next"', html, re.S).group(1).replace("&amp;", "&")
    assert "unassigned-q=mail" in next_resold and "resold-page=2" in next_resold
    paged = alice.get(next_resold).get_data(as_text=True)
    assert 'name="unassigned-q" type="search" value="mail"' in paged
    # with htmx the other sections' state comes from the page's current URL
    fragment = alice.get("/licenses?section=resold&resold-page=2",
                         headers={**HX, "HX-Current-URL": "http://localhost/licenses?unassigned-q=mail"})
    text = fragment.get_data(as_text=True)
    assert text.strip().startswith('<div id="resold">') and "unassigned-q=mail" in text
    # the address bar then names both lists' state, whatever the clicked link carried
    assert fragment.headers["HX-Replace-Url"] == "/licenses?unassigned-q=mail&resold-page=2"


def test_older_links_with_section_q_and_page_still_work(login, book):
    html = login("alice").get("/licenses?section=resold&q=zenith").get_data(as_text=True)
    assert _keys_in(html, "resold") == [book["zenith"]]


def test_each_section_downloads_as_csv_with_its_filters(login, book):
    alice = login("alice")
    html = alice.submit("/licenses", {"resold-q": "acme"}).get_data(as_text=True)
    href = re.search(r'<div id="resold">.*?<a href="([^"]+)" download>Download CSV', html, re.S).group(1)
    response = alice.get(href.replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["License key", "Product", "Edition"]
    assert sorted(r[0] for r in rows[1:]) == sorted([book["acme_small"], book["acme_big"]])
    assert {r[8] for r in rows[1:]} == {"Acme Dental"}
    unassigned = list(csv.reader(io.StringIO(alice.get("/licenses.csv?section=unassigned").get_data(as_text=True))))
    assert book["stock"] in [r[0] for r in unassigned] and book["zenith"] not in [r[0] for r in unassigned]
    assert alice.get("/licenses.csv?section=nothing").status_code == 404


def test_an_end_customers_csv_holds_its_own_licenses_only(login, book):
    carol = login("carol")
    rows = list(csv.reader(io.StringIO(carol.get("/licenses.csv").get_data(as_text=True))))
    keys = [r[0] for r in rows[1:]]
    assert keys and not set(keys) & set(book.values())
    # the section parameter gives a customer nothing more
    assert carol.get("/licenses.csv?section=unassigned").get_data(as_text=True).splitlines()[1:] == rows_text(rows)


def rows_text(rows: list[list[str]]) -> list[str]:
    out = io.StringIO()
    csv.writer(out).writerows(rows[1:])
    return out.getvalue().splitlines()


def test_the_customers_list_sorts_by_licenses_and_finds_by_a_users_email(login, book):
    alice = login("alice")
    by_count = alice.get("/customers?sort=-licenses").get_data(as_text=True)
    names = re.findall(r'<a href="/customers/\d+">([^<]+)</a>', by_count)
    counts = [int(n) for n in re.findall(r'data-label="Licenses from you">(\d+)</td>', by_count)]
    assert counts == sorted(counts, reverse=True) and names
    found = alice.submit("/customers", {"email": "acme-dental"}).get_data(as_text=True)
    assert re.findall(r'<a href="/customers/\d+">([^<]+)</a>', found) == ["Acme Dental"]
    assert "1 customer matches the search and filters" in found


def test_a_list_longer_than_it_counts_says_more_than(app, login, book, monkeypatch):
    """A list counts its rows up to ListState.count_limit (1,000) and says "more than" beyond, so no page counts a
    whole book; the limit is lowered here instead of making a thousand licenses."""
    from portal.list_options import ListState

    monkeypatch.setattr(ListState, "count_limit", 2)
    alice = login("alice")
    html = alice.get("/licenses").get_data(as_text=True)
    assert "More than 2 unassigned licenses" in _section(html, "unassigned")
    assert "More than 2 customers" in _section(html, "customers")
    exact = alice.submit(alice.page("/licenses"), {"resold-q": "Zenith"}).get_data(as_text=True)
    assert "1 resold license matches the search and filters" in exact
    filtered = alice.get("/licenses?resold-q=Enterprise").get_data(as_text=True)
    assert "resold licenses match the search and filters" in filtered


def test_the_stock_to_assign_and_personal_licenses_come_by_m_and_s_end_resold_by_assignment(app, login, book):
    """The default orders are those an index reads (tests/test_query_plans.py): M&S end first, and the most recent
    assignment first; Product still sorts on request."""
    from sqlalchemy import select

    from portal.licenses.models import License

    with app.app_context():
        northwind = demo_org("Northwind IT")
        today = utcnow().date()
        for days in (300, 20, 150):
            make_license(northwind, ms_expires_on=today + timedelta(days=days))
            make_license(northwind, northwind, ms_expires_on=today + timedelta(days=days))
        db.session.commit()

        def expected(*conditions, order):
            return list(db.session.scalars(select(License.key).where(License.owner_id == northwind.id, *conditions)
                                           .order_by(*order).limit(25)))

        stock = expected(License.customer_id.is_(None), order=(License.ms_expires_on, License.id))
        resold = expected(License.customer_id.is_not(None), License.customer_id != northwind.id,
                          order=(License.assigned_at.desc(), License.id.desc()))
        mine = list(db.session.scalars(select(License.key).where(License.customer_id == northwind.id)
                                       .order_by(License.ms_expires_on, License.id).limit(25)))
    html = login("alice").get("/licenses").get_data(as_text=True)
    assert _keys_in(html, "unassigned") == stock
    assert _keys_in(html, "resold") == resold
    assert _keys_in(html, "personal") == mine
    assert 'aria-sort="ascending"' in _section(html, "unassigned").split("M&amp;S until")[0].rsplit("<th", 1)[1]


def test_an_organization_resold_to_outside_the_chain_is_a_customer_with_its_count(app, login, book):
    """Scenario 2: a license assigned to another main chain makes it a customer (found through its licenses, not
    through the chain), counted with what it holds from this reseller only."""
    with app.app_context():
        northwind = demo_org("Northwind IT")
        outsider = make_org("Aardvark Holdings")  # a main chain of its own, first by name
        litware = demo_org("Litware Solutions")
        make_license(northwind, outsider)
        make_license(northwind, outsider)
        make_license(litware, outsider)  # another reseller's: not counted for Northwind
        db.session.commit()
    alice = login("alice")
    html = alice.get("/customers").get_data(as_text=True)
    names = re.findall(r'<a href="/customers/\d+">([^<]+)</a>', html)
    counts = re.findall(r'data-label="Licenses from you">(\d+)</td>', html)
    assert names[0] == "Aardvark Holdings" and counts[0] == "2"
    assert "Litware Solutions" not in names and "Northwind IT" not in names
    frank_html = login("frank").get("/customers").get_data(as_text=True)
    assert "Aardvark Holdings" in frank_html and "Acme Dental" not in frank_html
