"""The storefront's pages as a visitor and a customer sees them (no JavaScript): the catalog and product pages at the
storefront's prices, never the vendor's; an unknown alias or a reseller without a storefront; a closed storefront."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.cart.models import CartItem
from portal.catalog.models import Edition, Product
from portal.extensions import db
from portal.storefronts.models import Storefront

ALIAS = "northwind"


@pytest.fixture(name="northwind")
def northwind_storefront(app, demo):
    """The demo with Northwind's storefront (the demo seeds it: Standard, 25 % default markup, a special price on
    LiveDesk Professional and one for Contoso on MailSuite Professional); its id."""
    with app.app_context():
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == ALIAS)).first()
        assert storefront is not None, "the demo seeds Northwind's storefront"
        return storefront.id


def edition_of(slug: str, name: str) -> Edition:
    return db.session.scalars(select(Edition).join(Product).where(Product.slug == slug, Edition.name == name)).one()


def close_storefront(app, storefront_id: int) -> None:
    with app.app_context():
        db.session.get(Storefront, storefront_id).closed_on = date(2026, 1, 1)
        db.session.commit()


def test_catalog_shows_license_products_from_the_storefronts_prices(client, northwind):
    page = client.get(f"/s/{ALIAS}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Northwind IT" in html
    assert "from <strong>" in html
    assert "MailSuite" in html
    assert "Device Protection" not in html and "Location Plan" not in html  # subscriptions are not sold here
    assert "List price" not in html and "list price" not in html


def test_catalog_prices_are_marked_up_not_the_vendors(client, northwind):
    """WebStats from its Standard edition for 1 site: 149.00 at list, 186.25 at Northwind's 25 % markup."""
    html = client.get(f"/s/{ALIAS}").get_data(as_text=True)
    assert "from <strong>$186.25</strong>" in html
    assert "$149.00" not in html


def test_product_page_prices_the_configuration_live(app, client, northwind):
    with app.app_context():
        edition = edition_of("livedesk", "Professional")
        product = db.session.get(Product, edition.product_id)
        quantity = sorted(product.quantities)[0]
        edition_id = edition.id
    page = client.get(f"/s/{ALIAS}/products/livedesk?edition={edition_id}&quantity={quantity}&copies=1")
    assert page.status_code == 200
    # the special price of LiveDesk Professional: 169.00 per agent
    assert f"{169 * quantity:,}.00" in page.get_data(as_text=True)
    fragment = client.get(f"/s/{ALIAS}/products/livedesk?edition={edition_id}&quantity={quantity}",
                          headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="price"')
    assert "HX-Request" in fragment.headers["Vary"]


def test_product_page_refuses_a_bad_configuration_beside_the_field(client, northwind):
    page = client.get(f"/s/{ALIAS}/products/mailsuite?edition=999999&quantity=99999999999999999999")
    assert page.status_code == 422
    assert "Choose" in page.get_data(as_text=True)


def test_anonymous_visitor_is_asked_to_sign_in_to_buy(client, northwind):
    html = client.get(f"/s/{ALIAS}/products/mailsuite").get_data(as_text=True)
    assert "Sign in to buy" in html and "Add to cart" not in html


def test_customer_sees_its_own_special_price(app, login, northwind):
    """carol (Contoso) sees Contoso's special price on MailSuite Professional: 4.50 per mailbox."""
    with app.app_context():
        edition = edition_of("mailsuite", "Professional")
        quantity = sorted(db.session.get(Product, edition.product_id).quantities)[0]
        edition_id = edition.id
    carol = login("carol")
    html = carol.get(f"/s/{ALIAS}/products/mailsuite?edition={edition_id}&quantity={quantity}").get_data(as_text=True)
    assert f"{450 * quantity / 100:,.2f}" in html
    assert "Add to cart" in html


def test_update_price_without_javascript_keeps_the_token_out_of_the_address(app, login, client, northwind):
    """carol's product page carries her CSRF token (for Add to cart): "Update price" posts the choices to the page,
    which shows their price and adds nothing; htmx's price GET leaves the token out. A visitor without a token
    updates the price the same way."""
    with app.app_context():
        edition = edition_of("mailsuite", "Professional")
        quantity = sorted(db.session.get(Product, edition.product_id).quantities)[1]
        edition_id = edition.id
    url = f"/s/{ALIAS}/products/mailsuite"
    carol = login("carol")
    page = carol.page(url)
    shown = carol.submit(page, {"edition": edition_id, "quantity": quantity}, button="Update price")
    assert shown.status_code == 200 and shown.request.method == "POST"
    assert "csrf_token" not in shown.request.url
    assert f"{450 * quantity / 100:,.2f}" in shown.get_data(as_text=True)  # Contoso's price for that quantity
    with app.app_context():
        assert db.session.query(CartItem).count() == 0
    form, _ = page.find(button="Update price")
    assert form.attrs["hx-get"] == url and form.attrs["hx-params"] == "not csrf_token"
    assert next(b for b in form.buttons if b.text == "Add to cart").attrs["hx-params"] == "*"  # it posts the token

    visitor = client.page(url)
    assert "csrf_token" not in visitor.find(button="Update price")[0].names
    updated = client.submit(visitor, {"edition": edition_id, "quantity": quantity}, button="Update price")
    assert updated.status_code == 200 and updated.request.method == "POST"


def test_subscription_products_and_unknown_products_are_not_found(client, northwind):
    assert client.get(f"/s/{ALIAS}/products/device-protection").status_code == 404
    assert client.get(f"/s/{ALIAS}/products/no-such-product").status_code == 404
    assert client.get(f"/s/{ALIAS}/products/" + "x" * 500).status_code == 404
    assert client.get(f"/s/{ALIAS}/products/mail%00suite").status_code == 404


@pytest.mark.parametrize("alias", ["litware", "nobody-here", "NORTHWIND-X", "x" * 300, "%00"])
def test_no_storefront_at_an_unknown_alias(client, northwind, alias):
    response = client.get(f"/s/{alias}")
    assert response.status_code in (404, 400)
    if response.status_code == 404:
        assert "no storefront at this address" in response.get_data(as_text=True)


def test_a_closed_storefront_shows_its_sign_in_page_saying_so(app, client, login, northwind):
    sign_in = client.page(f"/s/{ALIAS}/login")  # opened while the storefront was open
    close_storefront(app, northwind)
    for path in ("", "/products/mailsuite", "/login", "/signup"):
        page = client.get(f"/s/{ALIAS}{path}")
        assert page.status_code == 200
        assert "This storefront is closed" in page.get_data(as_text=True)
    refused = client.submit(sign_in, {"email": "carol@contoso.example.com", "password": "portal-demo-2026"})
    assert refused.status_code == 403
    carol = login("carol")
    assert "This storefront is closed" in carol.get(f"/s/{ALIAS}/cart").get_data(as_text=True)


def test_pages_link_the_storefronts_theme_and_no_inline_style(client, northwind):
    html = client.get(f"/s/{ALIAS}").get_data(as_text=True)
    assert "style=" not in html and "<style" not in html
    assert f'<link rel="stylesheet" href="/s/{ALIAS}/theme.css">' in html
    assert re.search(r"<title>Products · Northwind IT</title>", html)


def test_another_resellers_customer_gets_404(app, client, northwind):
    """A user of a Litware sub-chain is Litware's customer: Northwind's storefront does not exist for them."""
    from tests.factories import make_member, make_org

    with app.app_context():
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        member = make_member(make_org("Litware Customer", litware))
        email = member.user.email
        db.session.commit()
    client.login(email, "a-long-password")
    assert client.get(f"/s/{ALIAS}").status_code == 404
    assert client.get(f"/s/{ALIAS}/products/mailsuite").status_code == 404
    assert client.get(f"/s/{ALIAS}/cart").status_code == 404


def _statements(app, client, url: str) -> int:
    from portal.diagnostics import count_statements

    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(url)
    assert response.status_code == 200, url
    return counted.count


def test_pages_read_the_same_statements_whatever_the_number_of_rules_and_customers(app, login, northwind):
    """The catalog, a product page and the cart read a constant number of statements: 200 more customers with a
    special price each, and rules on every product and edition, add none."""
    from portal.storefronts.models import StorefrontPrice
    from tests.factories import make_org

    carol = login("carol")
    with app.app_context():
        edition = edition_of("webstats", "Standard")
        line = {"edition": edition.id, "quantity": 5, "copies": 2}
    added = carol.submit(f"/s/{ALIAS}/products/webstats", line, button="Add to cart")
    assert added.status_code == 302  # a line for the cart to price
    urls = [f"/s/{ALIAS}", f"/s/{ALIAS}/products/webstats", f"/s/{ALIAS}/cart"]
    before = [_statements(app, carol, url) for url in urls]
    with app.app_context():
        northwind_org = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        editions = db.session.scalars(select(Edition)).all()
        product_ids = {e.product_id for e in editions}
        taken = {tuple(row) for row in db.session.execute(
            select(StorefrontPrice.product_id, StorefrontPrice.edition_id)
            .where(StorefrontPrice.customer_id.is_(None)))}
        for product_id in product_ids - {p for p, e in taken if e is None}:
            db.session.add(StorefrontPrice(storefront_id=northwind, product_id=product_id, markup_bp=1000))
        for edition in editions:
            if (edition.product_id, edition.id) in taken:
                continue
            db.session.add(StorefrontPrice(storefront_id=northwind, product_id=edition.product_id,
                                           edition_id=edition.id, markup_bp=1500))
        for i in range(200):
            customer = make_org(f"Customer {i}", northwind_org)
            db.session.add(StorefrontPrice(storefront_id=northwind, product_id=editions[0].product_id,
                                           edition_id=editions[0].id, customer_id=customer.id, special_minor=100))
        db.session.commit()
    assert [_statements(app, carol, url) for url in urls] == before


def test_catalog_pages_through_every_product_once_by_keyset(app, client, northwind):
    """30 more license products (some sharing a position and a name): the catalog shows a page at a time, in
    catalog order, each product exactly once, and "More products" stops on the last page."""
    from portal.catalog.models import ProductKind
    from portal.storefront_sales.views import PRODUCTS_PER_PAGE

    with app.app_context():
        for k in range(30):
            db.session.add(Product(slug=f"paged-{k:02d}", name=f"Paged {k // 3:02d}", kind=ProductKind.LICENSE,
                                   unit_label="seats", quantities=[1], position=50 + k // 4,
                                   editions=[Edition(name="Standard", base_price_minor=1_000, unit_price_minor=100)]))
        db.session.commit()
        expected = [p.slug for p in db.session.scalars(
            select(Product).where(Product.active.is_(True), Product.kind == ProductKind.LICENSE)
            .order_by(Product.position, Product.name, Product.id))]
    seen, path, pages = [], f"/s/{ALIAS}", 0
    while path:
        html = client.get(path).get_data(as_text=True)
        pages += 1
        shown = re.findall(rf'href="/s/{ALIAS}/products/([a-z0-9-]+)"', html)
        assert 0 < len(shown) <= PRODUCTS_PER_PAGE
        seen += shown
        following = re.search(r'href="([^"]+)" rel="next"', html)
        path = following.group(1).replace("&amp;", "&") if following else None
        assert pages == 1 or "First page" in html
    assert seen == expected
    assert pages == -(-len(expected) // PRODUCTS_PER_PAGE)
    assert "No more products" in client.get(f"/s/{ALIAS}?after=999999").get_data(as_text=True)
    first = client.get(f"/s/{ALIAS}?after=-1").get_data(as_text=True)  # a bad cursor is the first page
    assert re.findall(rf'href="/s/{ALIAS}/products/([a-z0-9-]+)"', first) == expected[:PRODUCTS_PER_PAGE]


def test_the_storefront_query_knows_whether_its_own_prices_apply(app, northwind):
    """storefront_for_page reads sells_own_prices in its statement: Standard yes, Free or no plan no."""
    from portal.catalog.models import SubscriptionBasis
    from portal.reseller_plans.plans import FREE, running_plan
    from portal.storefront_sales.customers import storefront_for_page
    from portal.storefronts.prices import sells_own_prices

    with app.app_context():
        storefront, own = storefront_for_page(ALIAS)
        assert own is True and sells_own_prices(storefront) is True
        plan = running_plan(storefront.organization_id)
        plan.product_id = db.session.scalars(select(Product.id).where(
            Product.slug == FREE, Product.basis == SubscriptionBasis.RESELLER)).one()
        db.session.flush()
        db.session.expire_all()
        storefront, own = storefront_for_page(ALIAS)
        assert own is False and sells_own_prices(storefront) is False
        running_plan(storefront.organization_id).ended_on = date(2026, 1, 1)
        db.session.flush()
        storefront, own = storefront_for_page(ALIAS)
        assert own is False and sells_own_prices(storefront) is False
        db.session.rollback()
