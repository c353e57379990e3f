"""/renewals: alice (Northwind IT, Gold 20 %) sees what renews or lapses in the coming weeks — the M&S of the licenses
Northwind bought, assigned or not, and its plans — at Northwind's cost, filters it, downloads it, and puts the M&S of
many licenses into the cart at once, priced as Modify a License prices each. Another reseller's licenses never
appear, and a lapsed M&S is marked "Lapsed" wherever a license is listed."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.cart.models import CartItem
from portal.catalog.models import PurchaseKind
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.services import one_year_after
from tests.factories import make_license, make_org


def TODAY() -> date:  # noqa: N802 - read as the constant it stood for
    """Today in UTC, read when called: the portal's clock (`utcnow().date` bound at import stayed on the day the
    suite started, so a run that crossed midnight priced the reinstatement a day later than the test expected)."""
    return utcnow().date()


@pytest.fixture
def renewals(app, demo):
    """Northwind's licenses around the window: M&S ending in 10 days (Contoso's), in 40 days (not assigned yet),
    in 100 days (beyond any window), lapsed 5 days ago (a customer outside its tree) and 45 days ago (no longer
    listed); and a Litware license ending in 10 days, which alice must never see. Returns their keys by name."""
    today = TODAY()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        acme = make_org("Acme Dental")
        keys = {
            "contoso": make_license(northwind, contoso, ms_expires_on=today + timedelta(days=10)).key,
            "unassigned": make_license(northwind, slug="webstats", edition="Standard", quantity=5,
                                       ms_expires_on=today + timedelta(days=40)).key,
            "later": make_license(northwind, contoso, ms_expires_on=today + timedelta(days=100)).key,
            "lapsed": make_license(northwind, acme, addons=("antispam",),
                                   ms_expires_on=today - timedelta(days=5)).key,
            "long_lapsed": make_license(northwind, acme, ms_expires_on=today - timedelta(days=45)).key,
            "litware": make_license(litware, make_org(), ms_expires_on=today + timedelta(days=10)).key,
        }
        db.session.commit()
        return keys


def _page(client, **query) -> str:
    response = client.get("/renewals", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _row(page: str, key: str) -> str:
    match = re.search(rf'<tr[^>]*>\s*<td><input type="checkbox" name="licenses" value="{key}".*?</tr>', page, re.S)
    assert match, f"no row for {key}"
    return match.group(0)


def _modify_price(client, key: str) -> tuple[str, int]:
    """What the Modify page offers for the license's M&S: the purchase and the list price it quotes."""
    page = client.get(f"/licenses/{key}/modify").get_data(as_text=True)
    section = page.split('id="maintenance"')[1]
    purchase = re.search(r'name="purchase" value="([a-z]+)"', section).group(1)
    return purchase, int(re.search(r'name="quoted" value="(\d+)"', section).group(1))


def _add(client, licenses: list[str]):
    """Tick these licenses on /renewals and click "Add renewals to cart"."""
    return client.submit("/renewals", {"licenses": licenses}, button="Add renewals to cart")


def _forged(client, licenses: list[str]):
    """The /renewals form posted with licenses it does not list (another reseller's, a typo)."""
    page = client.page("/renewals")
    form, clicked = page.find(button="Add renewals to cart")
    return client.post(page.action_of(form, clicked), data={**dict(form.successful()), "licenses": licenses})


def test_the_window_lists_northwinds_expiring_and_lapsed_maintenance_with_customer_and_cost(login, renewals):
    page = _page(login("alice"))

    for name in ("contoso", "unassigned", "lapsed"):
        assert renewals[name] in page
    for name in ("later", "long_lapsed", "litware"):
        assert renewals[name] not in page
    contoso = _row(page, renewals["contoso"])
    assert "Contoso Retail" in contoso and "MailSuite" in contoso
    assert "$16.00" in contoso  # M&S of $100.00 at list: 20 % is $20.00, less the 20 % Gold discount
    assert "Not assigned" in _row(page, renewals["unassigned"])
    lapsed = _row(page, renewals["lapsed"])
    assert "Lapsed" in lapsed and "Acme Dental" in lapsed and "reinstatement" in lapsed
    assert "Lapsed" not in contoso
    # lapsed first, then by date
    assert page.index(renewals["lapsed"]) < page.index(renewals["contoso"]) < page.index(renewals["unassigned"])


def test_plans_whose_next_payment_falls_in_the_window_are_listed_without_a_checkbox(app, login, demo, renewals):
    from tests.factories import make_subscription

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        make_subscription(northwind, slug="device-protection", quantity=8,
                          next_payment_on=TODAY() + timedelta(days=20))
        db.session.commit()
    page = _page(login("alice"))
    assert "Next payment: 8 devices of Device Protection" in page
    plan_row = page[page.index("Next payment: 8 devices"):].split("</tr>")[0]
    row_start = page[:page.index("Next payment: 8 devices")].rsplit("<tr", 1)[1]
    assert "checkbox" not in row_start + plan_row and "Renews automatically" in row_start


def test_the_window_customer_and_product_filters(login, renewals):
    alice = login("alice")

    thirty = _page(alice, window=30)
    assert renewals["contoso"] in thirty and renewals["lapsed"] in thirty and renewals["unassigned"] not in thirty

    by_name = _page(alice, customer="acme")
    assert renewals["lapsed"] in by_name and renewals["contoso"] not in by_name
    assert "(your plan)" not in by_name  # Northwind's own plans are not Acme's

    by_product = _page(alice, product=_product_id(alice, "WebStats Analytics"))
    assert renewals["unassigned"] in by_product and renewals["contoso"] not in by_product


def test_a_customer_is_found_by_its_account_id(login, demo, renewals):
    page = _page(login("alice"), customer=str(demo.orgs["Contoso Retail"]))
    assert renewals["contoso"] in page and renewals["lapsed"] not in page and renewals["unassigned"] not in page


def _product_id(client, name: str) -> str:
    page = client.get("/renewals").get_data(as_text=True)
    return re.search(rf'<option value="(\d+)">{name}</option>', page).group(1)


def test_filters_that_cannot_be_used_are_explained_beside_their_field_and_change_nothing(login, renewals):
    alice = login("alice")
    for query, field, message in (({"window": "7"}, "window", "Choose a window of 30, 60 or 90 days."),
                                  ({"window": "x"}, "window", "Choose a window of 30, 60 or 90 days."),
                                  ({"product": "abc"}, "product", "Choose one of the products listed."),
                                  ({"product": "999999"}, "product", "Choose one of the products listed."),
                                  ({"customer": "x" * 300}, "customer", "at most 200 characters")):
        response = alice.get("/renewals", query_string=query)
        text = response.get_data(as_text=True)
        assert response.status_code == 422, query
        assert f'id="{field}-error"' in text and message in text, query
        assert renewals["contoso"] in text  # the default window is shown meanwhile
    assert alice.get("/renewals", query_string={"after": "not-a-cursor"}).status_code == 200


def test_totals_count_the_whole_window_per_currency_whatever_the_page(app, login, demo, renewals):
    from portal.accounts.models import User
    from portal.renewals.listing import RenewalFilters, parse_cursor, renewals_page

    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        alice = db.session.get(User, demo.users["alice"])
        for i in range(7):
            make_license(northwind, quantity=25 + i, ms_expires_on=TODAY() + timedelta(days=50 + i))
        db.session.commit()
        first = renewals_page(alice, northwind, RenewalFilters(), TODAY(), per_page=4)
        rows, after = list(first.rows), parse_cursor(first.next_cursor)
        while after is not None:
            page = renewals_page(alice, northwind, RenewalFilters(), TODAY(), after, per_page=4)
            assert page.totals == first.totals
            rows += page.rows
            after = parse_cursor(page.next_cursor)
        assert len(rows) == first.totals.count == len({(r.kind, r.item_id) for r in rows})
        sums: dict[str, int] = {}
        for row in rows:
            sums[row.currency] = sums.get(row.currency, 0) + row.cost_minor
        assert first.totals.by_currency == sums
        assert [r.due_on for r in rows] == sorted(r.due_on for r in rows)

    page = _page(login("alice"))
    assert f"<strong>{first.totals.count} renewals</strong>" in page


def test_add_renewals_to_cart_prices_each_as_the_modify_page_does(login, renewals):
    alice = login("alice")
    expected = {key: _modify_price(alice, key) for key in (renewals["contoso"], renewals["lapsed"],
                                                           renewals["unassigned"])}
    assert expected[renewals["lapsed"]][0] == "reinstatement" and expected[renewals["contoso"]][0] == "renewal"
    response = _add(alice, list(expected))

    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    cart = alice.get("/cart").get_data(as_text=True)
    today = TODAY()
    assert f"M&amp;S renewal of license {renewals['contoso']} until " \
           f"{one_year_after(today + timedelta(days=10)).isoformat()}" in cart
    assert f"M&amp;S reinstatement of license {renewals['lapsed']} until {one_year_after(today).isoformat()}" in cart
    with alice.application.app_context():
        items = {item.license_id: item for item in db.session.scalars(select(CartItem))}
        from portal.licenses.models import License
        by_key = {lic.key: lic.id for lic in db.session.scalars(select(License).where(License.key.in_(expected)))}
        for key, (purchase, quoted) in expected.items():
            item = items[by_key[key]]
            assert item.purchase is PurchaseKind(purchase) and item.quoted_list_minor == quoted


def test_adding_again_replaces_the_maintenance_item_rather_than_doubling_it(login, renewals):
    alice = login("alice")
    for _ in range(2):
        assert _add(alice, [renewals["contoso"]]).status_code == 303
    with alice.application.app_context():
        assert len(list(db.session.scalars(select(CartItem)))) == 1


def test_a_license_that_is_not_northwinds_refuses_the_whole_selection(login, renewals):
    alice = login("alice")
    response = _forged(alice, [renewals["contoso"], renewals["litware"]])

    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert f"License {renewals['litware']} is not one of Northwind IT's licenses. Nothing was added." in text
    assert 'checked' in _row(text, renewals["contoso"])  # the selection is kept
    with alice.application.app_context():
        assert list(db.session.scalars(select(CartItem))) == []
    empty = _add(alice, [])
    assert empty.status_code == 422 and "Select the licenses" in empty.get_data(as_text=True)
    typo = _forged(alice, ["not a key"])
    assert typo.status_code == 422 and "Nothing was added" in typo.get_data(as_text=True)


def test_the_form_without_its_token_is_refused(login, renewals):
    response = login("alice").post("/renewals", data={"licenses": [renewals["contoso"]]})
    assert response.status_code == 400


def test_the_csv_has_every_row_of_the_window_with_status_and_cost(login, renewals):
    response = login("alice").get("/renewals.csv", query_string={"window": 60})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_key = {row["License key"]: row for row in rows if row["License key"]}
    assert set(by_key) == {renewals["contoso"], renewals["unassigned"], renewals["lapsed"]}
    assert by_key[renewals["contoso"]]["Your cost"] == "16.00" and by_key[renewals["contoso"]]["List price"] == "20.00"
    assert by_key[renewals["contoso"]]["Customer"] == "Contoso Retail"
    assert by_key[renewals["lapsed"]]["Status"] == "Lapsed"
    assert by_key[renewals["unassigned"]]["Customer"] == "Not assigned"
    bad = login("alice").get("/renewals.csv", query_string={"window": "5"})
    assert bad.status_code == 422 and 'id="window-error"' in bad.get_data(as_text=True)


def test_another_reseller_never_sees_northwinds_renewals(login, renewals):
    frank = login("frank")
    page = _page(frank)
    assert renewals["litware"] in page
    for name in ("contoso", "unassigned", "lapsed"):
        assert renewals[name] not in page
    csv_text = frank.get("/renewals.csv").get_data(as_text=True)
    assert renewals["contoso"] not in csv_text and renewals["litware"] in csv_text
    refused = _forged(frank, [renewals["contoso"]])
    assert refused.status_code == 422 and "Nothing was added" in refused.get_data(as_text=True)


def test_htmx_gets_the_list_alone_and_a_history_restore_the_whole_page(login, renewals):
    alice = login("alice")
    fragment = alice.get("/renewals", query_string={"window": 30}, headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and text.lstrip().startswith("<div id=\"renewals\">")
    assert "HX-Request" in fragment.headers["Vary"]
    restored = alice.get("/renewals", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.get_data(as_text=True)


def test_the_navigation_offers_renewals_to_those_who_buy(login, demo):
    def nav(name):
        html = login(name).get("/account").get_data(as_text=True)
        return html.split('aria-label="Main"')[1].split("</nav>")[0]

    assert 'href="/renewals"' in nav("alice") and 'href="/renewals"' in nav("bob")
    assert 'href="/renewals"' not in nav("carol")
    assert login("carol").get("/renewals").status_code == 403


def test_lapsed_maintenance_is_marked_on_the_licenses_list_and_the_license_page(login, renewals):
    alice = login("alice")
    listing = alice.get("/licenses").get_data(as_text=True)
    row = listing[listing.index(renewals["lapsed"]):].split("</tr>")[0]
    assert "Lapsed" in row
    running = listing[listing.index(renewals["contoso"]):].split("</tr>")[0]
    assert "Lapsed" not in running
    detail = alice.get(f"/licenses/{renewals['lapsed']}").get_data(as_text=True)
    assert "<strong class=\"attention\">Lapsed</strong> on" in detail


def test_maintenance_of_a_license_whose_upgrade_waits_in_the_cart_is_priced_on_the_upgrade(app, login, demo,
                                                                                          renewals):
    from portal.accounts.models import User
    from portal.audit.services import Actor
    from portal.cart.services import add_modification
    from portal.catalog.services import product_by_slug
    from portal.licenses import modify
    from portal.licenses.models import License

    alice = login("alice")
    before = _modify_price(alice, renewals["contoso"])
    with app.app_context():
        user = db.session.get(User, demo.users["alice"])
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        license_ = db.session.scalars(select(License).where(License.key == renewals["contoso"])
                                      .options(*modify.license_options())).one()
        product = product_by_slug("mailsuite")
        enterprise = next(e.id for e in product.editions if e.name == "Enterprise")
        upgrade = modify.quote_upgrade(license_, product, enterprise, 50, [])
        add_modification(user, northwind, upgrade, upgrade.list_minor, Actor(user_id=user.id))
        db.session.commit()
    expected = _modify_price(alice, renewals["contoso"])  # what the Modify page offers now
    assert expected[1] > before[1]

    assert _add(alice, [renewals["contoso"]]).status_code == 303

    with app.app_context():
        [item] = db.session.scalars(select(CartItem).where(CartItem.purchase == PurchaseKind.RENEWAL))
        assert item.quoted_list_minor == expected[1] and item.quantity == 50
    cart = alice.get("/cart").get_data(as_text=True)
    assert "(Enterprise, 50 mailboxes after the upgrade)" in cart


@pytest.mark.parametrize("customer", ["²", "99999999999999999999", "%", "_", "2147483648", "-1"])
def test_a_customer_filter_no_account_id_holds_is_read_as_a_name(login, renewals, customer):
    response = login("alice").get("/renewals", query_string={"customer": customer})
    assert response.status_code == 200 and renewals["contoso"] not in response.get_data(as_text=True)


@pytest.mark.parametrize("after", ["9999-12-31.0.1", "0001-01-01.1.1", "2026-01-01.2.1", "2026-01-01.0.99999999999",
                                   "2026-01-01.².1", "x.y.z", ""])
def test_a_cursor_from_elsewhere_shows_a_page_not_an_error(login, renewals, after):
    assert login("alice").get("/renewals", query_string={"after": after}).status_code == 200
