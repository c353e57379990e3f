"""The vendor's recommended retail price (RRP) as a storefront's price when the reseller set none, and what a
reseller sees beside its prices: its cost, the RRP, its price, its margin, how far its price is from the RRP and the
vendor's fee per customer account, on its prices page and in its price list (CSV). The demo recommends $4.90 a
mailbox for MailSuite Professional and $8.50 for Enterprise (none for its Free edition nor for WebStats), and
charges resellers $2.00 a month for every customer account holding MailSuite. Northwind (Gold: 20 % off list) runs
Standard with a 25 % default markup."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization, PartnerTier, Role
from portal.catalog.admin import MAX_PRICE_MINOR
from portal.extensions import db
from portal.pricing import MAX_UNITS
from portal.reseller_fees.models import ResellerFeeOverride
from portal.storefronts import prices
from portal.storefronts.models import Storefront
from portal.storefronts.prices import RuleSource
from tests.factories import actor, demo_product, make_member, make_org
from tests.storefronts.test_prices import edition, mailsuite, make_storefront

PAGE = "/account/storefront/prices"
CSV = "/account/storefront/prices.csv"


def northwind_shop() -> Storefront:
    return db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()


def row_of(page: str, product: str, edition_name: str) -> str:
    """The prices table's row of one edition, its tags stripped and its spaces squeezed."""
    for row in page.split("<tr")[1:]:
        if product in row and re.search(rf"<td[^>]*>{re.escape(edition_name)}</td>", row):
            return " ".join(re.sub(r"<[^>]+>", " ", row.split("</tr>")[0].split(">", 1)[1]).split())
    raise AssertionError(f"no row for {product} {edition_name}")


def post_form(client, page_url: str, action: str, fields: dict, forged: dict | None = None):
    """Submit the form of `page_url` whose action is `action`, with these fields filled in; `forged`: fields the
    form does not have, added to what it sends."""
    if not forged:
        return client.submit(page_url, fields, action=action)
    form, _ = client.page(page_url).find(action=action, fields=fields)
    return client.post(action, data={**dict(form.successful()), **fields, **forged})


# ---------------------------------------------------------------- the arithmetic (portal/pricing.py)


@given(st.integers(min_value=0, max_value=MAX_PRICE_MINOR), st.integers(min_value=1, max_value=MAX_UNITS),
       st.integers(min_value=0, max_value=10**9))
def test_without_a_rule_the_rrp_is_per_unit_and_add_ons_stay_at_list(rrp, units, addons):
    price = pricing.storefront_price(123, addons, units, None, None, rrp)
    assert price == pricing.recommended_retail(rrp, units) + addons == rrp * units + addons
    assert pricing.storefront_price(123, addons, units, None, 0, rrp) == 123 + addons  # a default markup wins


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10**12))
def test_the_price_against_the_rrp_has_the_sign_of_the_difference(price, rrp):
    bp = pricing.versus_bp(price, rrp)
    assert (bp >= 0) if price >= rrp else (bp <= 0)  # above the RRP: positive; below: negative
    assert 2 * abs(bp * rrp - (price - rrp) * pricing.BP) <= rrp  # the nearest basis point of the RRP
    assert pricing.versus_bp(rrp, rrp) == 0 and pricing.versus_bp(price, 0) is None


def test_the_price_against_the_rrp_in_examples():
    assert pricing.versus_bp(5000, 4900) == 204  # 2.04 % above
    assert pricing.versus_bp(3600, 4900) == -2653  # 26.53 % below, rounded half away from zero
    assert pricing.versus_bp(0, 4900) == -10_000
    with pytest.raises(ValueError):
        pricing.recommended_retail(-1, 1)
    with pytest.raises(ValueError):
        pricing.recommended_retail(100, 0)


# ---------------------------------------------------------------- the price a storefront sells at


def test_a_free_storefront_sells_at_the_rrp_where_there_is_one_else_at_list_price(app, demo, client):
    with app.app_context():
        make_storefront(make_org("Free Reseller", partner_tier=PartnerTier.SILVER), plan="reseller-free",
                        alias="free-rrp", default_markup_bp=2500)  # a markup kept from Standard: not applied
        pro = edition(demo_product("mailsuite"), "Professional").id
        db.session.commit()
    page = client.get(f"/s/free-rrp/products/mailsuite?edition={pro}&quantity=10").get_data(as_text=True)
    assert "<strong>$49.00</strong>" in page  # 10 mailboxes at the RRP of $4.90, not the list price of $40.00
    page = client.get("/s/free-rrp/products/webstats").get_data(as_text=True)
    assert "<strong>$149.00</strong>" in page  # WebStats Standard, 1 site: no RRP, its list price
    catalog = client.get("/s/free-rrp").get_data(as_text=True)
    assert "from <strong>$149.00</strong>" in catalog


def test_on_standard_the_rrp_applies_only_where_the_reseller_set_nothing(app, demo, ctx):
    shop = make_storefront()
    product = demo_product("mailsuite")
    pro, enterprise = edition(product, "Professional"), edition(product, "Enterprise")
    customer = make_org(parent=shop.organization)

    def priced(config, customer_id=None):
        book = prices.price_book(shop, customer_id, [product.id])
        resolved = book.resolve(product.id, config.edition.id, config.edition.rrp_unit_minor)
        return book.price(config), resolved.source

    assert priced(mailsuite()) == (4900, RuleSource.RRP)
    # the RRP is per unit; add-ons stay at list price
    assert priced(mailsuite(addons=("antispam",))) == (4900 + 15000, RuleSource.RRP)
    assert priced(mailsuite("Free")) == (0, RuleSource.LIST)
    prices.set_default_markup(shop, 2500, actor())  # a default markup is the reseller's own price: it wins
    assert priced(mailsuite()) == (5000, RuleSource.DEFAULT)
    prices.set_default_markup(shop, None, actor())
    prices.set_rule(shop, product, None, actor(), markup_bp=1000)
    assert priced(mailsuite()) == (4400, RuleSource.PRODUCT)
    assert priced(mailsuite("Enterprise")) == (7700, RuleSource.PRODUCT)
    prices.set_rule(shop, product, pro, actor(), special_minor=300)
    assert priced(mailsuite()) == (3000, RuleSource.EDITION)
    prices.set_customer_price(shop, customer, product, enterprise, 600, actor())
    assert priced(mailsuite("Enterprise"), customer.id) == (6000, RuleSource.CUSTOMER_EDITION)


# ---------------------------------------------------------------- the reseller's prices page


def test_the_prices_page_shows_cost_rrp_price_margin_and_the_vendors_fee(app, demo, login):
    page = login("alice").get(PAGE).get_data(as_text=True)
    row = row_of(page, "MailSuite Mail Server", "Professional")
    # list $40.00, cost $32.00 (Gold), RRP $49.00, price $50.00 (25 %), margin $18.00 (36 % of the price),
    # $1.00 above the RRP (2.04 % of it), the fee $2.00, the default markup
    assert row.startswith("MailSuite Mail Server Professional 10 mailboxes $40.00 $32.00 $49.00 $50.00 $18.00 (36 %)")
    assert "$1.00 (2.04 %) above the RRP" in row
    assert "$2.00 per customer account per month, set by the vendor" in row
    assert "Markup 25 % (the default markup)" in row
    webstats = row_of(page, "WebStats Analytics", "Standard")
    assert "$149.00 $119.20 — $186.25" in webstats and "None" in webstats  # no RRP, no fee
    assert 'href="/account/storefront/prices.csv"' in page


def test_without_its_own_price_a_standard_edition_sells_at_the_rrp_and_a_rule_below_it_says_so(app, demo, login):
    alice = login("alice")
    assert post_form(alice, PAGE, "/account/storefront/prices/default", {"markup": ""}).status_code == 302
    page = alice.get(PAGE).get_data(as_text=True)
    row = row_of(page, "MailSuite Mail Server", "Professional")
    assert "$49.00 $49.00 $17.00" in row and "At the RRP" in row
    assert "The vendor's recommended retail price" in row.replace("&#39;", "'")
    assert "The vendor's list price" in row_of(page, "WebStats Analytics", "Standard").replace("&#39;", "'")

    target = re.search(r'<option value="([^"]+)">MailSuite Mail Server Professional</option>', page).group(1)
    response = post_form(alice, PAGE, "/account/storefront/prices/rules",
                         {"target": target, "markup": "-10", "special": ""})
    assert response.status_code == 302
    row = row_of(alice.get(PAGE).get_data(as_text=True), "MailSuite Mail Server", "Professional")
    assert "$49.00 $36.00 $4.00 (11.11 %)" in row  # list less 10 %: still above the cost of $32.00
    assert "$13.00 (26.53 %) below the RRP" in row


@pytest.mark.parametrize(("fee_minor", "shown"), [(None, "None"), (350, "$3.50 per customer account")])
def test_staffs_fee_for_this_reseller_replaces_the_products(app, demo, login, fee_minor, shown):
    with app.app_context():
        db.session.add(ResellerFeeOverride(product_id=demo_product("mailsuite").id,
                                           reseller_id=demo.orgs["Northwind IT"], fee_minor=fee_minor))
        db.session.commit()
    row = row_of(login("alice").get(PAGE).get_data(as_text=True), "MailSuite Mail Server", "Enterprise")
    assert shown in row and "$2.00" not in row


def test_the_fee_and_the_rrp_are_read_only_to_the_reseller(app, demo, login):
    """No form of the prices page sets a fee or an RRP, and the rule form refuses to take one."""
    alice = login("alice")
    page = alice.get(PAGE).get_data(as_text=True)
    assert not re.search(r'name="[^"]*(fee|rrp)[^"]*"', page, re.IGNORECASE)
    with app.app_context():
        product_id = demo_product("mailsuite").id
        before = (demo_product("mailsuite").reseller_fee_minor,
                  [e.rrp_unit_minor for e in demo_product("mailsuite").editions])
    response = post_form(alice, PAGE, "/account/storefront/prices/rules",
                         {"target": f"p{product_id}", "markup": "10"},
                         forged={"reseller_fee_minor": "0", "rrp_unit_minor": "0", "fee_minor": "0"})
    assert response.status_code == 302  # the markup is saved; the rest is not the reseller's to send
    with app.app_context():
        db.session.expire_all()
        assert (demo_product("mailsuite").reseller_fee_minor,
                [e.rrp_unit_minor for e in demo_product("mailsuite").editions]) == before


# ---------------------------------------------------------------- the price list (CSV)


def _price_list(client) -> list[list[str]]:
    response = client.get(CSV)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="price-list-northwind.csv"'
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_price_list_has_every_edition_with_cost_rrp_price_margin_and_fee(app, demo, login):
    rows = _price_list(login("alice"))
    assert rows[0] == ["Product", "Edition", "Unit", "Smallest quantity", "List price", "Your cost", "RRP",
                       "Your price", "Margin", "Margin %", "vs RRP", "vs RRP %", "Vendor fee per account per month",
                       "Rule in force"]
    by_edition = {(r[0], r[1]): r for r in rows[1:]}
    assert by_edition["MailSuite Mail Server", "Professional"] == [
        "MailSuite Mail Server", "Professional", "mailboxes", "10", "40.00", "32.00", "49.00", "50.00", "18.00",
        "36", "1.00", "2.04", "2.00", "Markup 25 % (the default markup)"]
    # no RRP and no fee: blank cells, never a zero that a spreadsheet would sum
    assert by_edition["WebStats Analytics", "Standard"] == [
        "WebStats Analytics", "Standard", "sites", "1", "149.00", "119.20", "", "186.25", "67.05", "36", "", "",
        "", "Markup 25 % (the default markup)"]
    livedesk = by_edition["LiveDesk Help Desk", "Professional"]  # the demo's special price for everyone
    assert livedesk[-1].startswith("Special price $") and livedesk[-1].endswith("per agent (the edition's rule)")
    with app.app_context():
        editions = sum(1 for p in prices.license_products() for e in p.editions if e.active)
    assert len(rows) == 1 + editions


def test_the_price_list_says_where_the_price_is_below_the_rrp(app, demo, login):
    with app.app_context():
        shop = northwind_shop()
        shop.default_markup_bp = None
        product = demo_product("mailsuite")
        prices.set_rule(shop, product, edition(product, "Enterprise"), actor(), special_minor=500)
        db.session.commit()
    rows = {(r[0], r[1]): r for r in _price_list(login("alice"))[1:]}
    enterprise = rows["MailSuite Mail Server", "Enterprise"]
    # 10 mailboxes at $5.00: $85.00 RRP, list $70.00, cost $56.00; a cell starting with "-" is quoted so that a
    # spreadsheet never runs it (portal.csv_export.csv_safe)
    assert enterprise[4:12] == ["70.00", "56.00", "85.00", "50.00", "'-6.00", "'-12", "'-35.00", "'-41.18"]
    assert rows["MailSuite Mail Server", "Professional"][-1] == "The vendor's recommended retail price"


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("carol", 403), ("dave", 403), ("frank", 404)])
def test_only_the_resellers_storefront_managers_download_the_price_list(app, demo, login, who, status):
    assert login(who).get(CSV).status_code == status


def test_a_reseller_on_free_downloads_its_price_list_at_the_rrp(app, demo, client):
    with app.app_context():
        reseller = make_org("Free Lister", partner_tier=PartnerTier.SILVER)
        email = make_member(reseller, Role.MANAGER).user.email
        make_storefront(reseller, plan="reseller-free", alias="free-list")
        db.session.commit()
    client.login(email, "a-long-password")
    body = client.get(CSV).get_data(as_text=True)
    rows = {(r[0], r[1]): r for r in csv.reader(io.StringIO(body))}
    # Silver: 10 % off list; sold at the RRP
    assert rows["MailSuite Mail Server", "Professional"][4:12] == ["40.00", "36.00", "49.00", "49.00", "13.00",
                                                                   "26.53", "0.00", "0"]


# ---------------------------------------------------------------- end customers never see them


def test_end_customers_never_see_the_fee_the_cost_the_rrp_or_the_margin(app, demo, login, client):
    carol = login("carol")  # a customer of Northwind's storefront
    with app.app_context():
        product = demo_product("mailsuite")
        pro = edition(product, "Professional").id
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        assert contoso.parent_id == demo.orgs["Northwind IT"]
    line = {"edition": pro, "quantity": 10, "copies": 1}
    assert carol.submit("/s/northwind/products/mailsuite", line, button="Add to cart").status_code == 302
    pages = {f"{who} {url}": viewer.get(url).get_data(as_text=True)
             for who, viewer in (("carol", carol), ("anonymous", client))
             for url in ("/s/northwind", "/s/northwind/products/mailsuite",
                         f"/s/northwind/products/mailsuite?edition={pro}&quantity=10")}
    pages["carol cart"] = carol.get("/s/northwind/cart").get_data(as_text=True)
    pages["carol checkout"] = carol.get("/s/northwind/checkout").get_data(as_text=True)
    pages["carol licenses"] = carol.get("/licenses").get_data(as_text=True)
    for name, html in pages.items():
        text = re.sub(r"<[^>]+>", " ", html)
        for word in (r"\bfees?\b", r"\bcost\b", r"\bmargins?\b", r"\bRRP\b", "recommended retail", r"\$2\.00",
                     r"\$32\.00", r"\$49\.00"):
            assert not re.search(word, text, re.IGNORECASE), f"{name} shows {word}"
