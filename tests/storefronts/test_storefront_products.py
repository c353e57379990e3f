"""A reseller's own product on its storefront (/account/storefront/products/<slug>): its name and description for a
vendor's license product, or the product hidden; the storefront's catalog, product page and cart follow it. The
vendor's RRP and fee show there read-only. Another reseller's storefront never changes."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, PartnerTier, Role
from portal.audit.models import AuditEntry
from portal.cart.models import CartItem
from portal.extensions import db
from portal.reseller_plans.plans import close_storefront, purge_storefronts
from portal.sandbox_processor.models import SandboxIntent
from portal.storefronts.models import Storefront, StorefrontProduct
from tests.factories import demo_product, make_member, make_org
from tests.storefronts.test_prices import edition, make_storefront

PAGE = "/account/storefront/products/mailsuite"


def save(client, url: str = PAGE, **fields):
    """Submit the page's form with these changes (hidden=True/False ticks or unticks the box)."""
    return client.submit(url, fields, action=url)


def forged(client, url: str, data: dict):
    """A request no page of this user offers (authorization, a product without a page), with the session's
    token."""
    return client.post(url, data={**data, "csrf_token": client.csrf_token()})


def shown_rows(app) -> list[tuple]:
    with app.app_context():
        return sorted(db.session.execute(select(StorefrontProduct.storefront_id, StorefrontProduct.product_id,
                                                StorefrontProduct.name, StorefrontProduct.summary,
                                                StorefrontProduct.hidden)).all())


def test_the_page_shows_the_vendors_product_its_prices_rrp_and_fee_read_only(app, demo, login):
    page = login("alice").get(PAGE).get_data(as_text=True)
    assert "MailSuite Mail Server on your storefront" in page
    assert "Secure business email" in page  # the vendor's description
    assert 'name="name"' in page and 'name="summary"' in page and 'name="hidden"' in page
    assert "$49.00" in page and "$50.00" in page  # Professional's RRP and Northwind's price, 10 mailboxes
    assert "$2.00 <span class=\"help\">per customer account per month, set by the vendor" in page
    assert not re.search(r'name="[^"]*(fee|rrp)[^"]*"', page, re.IGNORECASE)
    assert 'href="/account/storefront/prices"' in page


def test_a_reseller_names_and_describes_a_product_on_its_storefront(app, demo, login, client):
    alice = login("alice")
    response = save(alice, name="  Northwind   Mail ", summary="Email we host and support for you.")
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    with app.app_context():
        shop_id = db.session.scalars(select(Storefront.id).where(Storefront.alias == "northwind")).one()
        product_id = demo_product("mailsuite").id
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "storefront.product_shown")).one()
        assert entry.organization_id == demo.orgs["Northwind IT"]
        assert entry.details["name"] == "Northwind Mail" and entry.details["hidden"] is False
    assert shown_rows(app) == [(shop_id, product_id, "Northwind Mail", "Email we host and support for you.", False)]

    catalog = client.get("/s/northwind").get_data(as_text=True)
    assert "Northwind Mail</a>" in catalog and "Email we host and support for you." in catalog
    assert "MailSuite Mail Server" not in catalog and "Secure business email" not in catalog
    product = client.get("/s/northwind/products/mailsuite").get_data(as_text=True)
    assert "<h1>Northwind Mail</h1>" in product and "Email we host and support for you." in product
    assert "Northwind Mail, Free, 10 mailboxes" in product and "MailSuite" not in product
    # the reseller's own pages keep the vendor's name beside its own
    assert "Shown as Northwind Mail" in alice.get("/account/storefront/prices").get_data(as_text=True)

    assert save(alice, name="", summary="").status_code == 302  # blank: the vendor's again
    assert "MailSuite Mail Server</a>" in client.get("/s/northwind").get_data(as_text=True)


def test_the_customers_cart_shows_the_resellers_name(app, demo, login):
    alice, carol = login("alice"), login("carol")
    save(alice, name="Northwind Mail")
    with app.app_context():
        product = demo_product("mailsuite")
        line = {"edition": edition(product, "Professional").id, "quantity": 10, "copies": 1}
    assert carol.submit("/s/northwind/products/mailsuite", line, button="Add to cart").status_code == 302
    cart = carol.get("/s/northwind/cart").get_data(as_text=True)
    assert "<strong>Northwind Mail</strong>" in cart
    assert "Added to your cart: Northwind Mail, Professional, 10 mailboxes." in cart
    assert "Northwind Mail, Professional, 10 mailboxes" in carol.get("/s/northwind/checkout").get_data(as_text=True)


def test_a_hidden_product_leaves_the_storefront(app, demo, login, client):
    alice, carol = login("alice"), login("carol")
    with app.app_context():
        product = demo_product("mailsuite")
        line = {"edition": edition(product, "Professional").id, "quantity": 10, "copies": 1}
    product_page = carol.page("/s/northwind/products/mailsuite")  # still open in carol's tab once hidden
    assert carol.submit(product_page, line, button="Add to cart").status_code == 302  # in the cart before
    assert "MailSuite Mail Server" in carol.get("/s/northwind/cart").get_data(as_text=True)
    checkout_page = carol.page("/s/northwind/checkout")  # opened before the product is hidden
    assert save(alice, hidden=True).status_code == 302
    assert "Hidden from your storefront" in alice.get("/account/storefront/prices").get_data(as_text=True)
    assert "Hidden: your customers do not see this product" in alice.get(PAGE).get_data(as_text=True)

    for visitor in (client, carol):
        catalog = visitor.get("/s/northwind").get_data(as_text=True)
        assert "MailSuite" not in catalog and "WebStats Analytics" in catalog
        assert visitor.get("/s/northwind/products/mailsuite").status_code == 404
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(CartItem))
    response = carol.submit(product_page, line, button="Add to cart")
    assert response.status_code == 302 and response.headers["Location"].endswith("/s/northwind")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CartItem)) == before
    assert "This product is no longer sold here" in carol.get("/s/northwind/cart").get_data(as_text=True)
    assert "disabled>Place order" in carol.get("/s/northwind/checkout").get_data(as_text=True)
    checkout = carol.submit(checkout_page, {
        "legal_name": "Contoso Retail LLC", "address_line1": "1 Pine Street", "city": "Seattle",
        "postal_code": "98101", "country": "US", "invoice_email": "ap@contoso.example.com",
        "phone": "+1 206 555 0199", "saved_card": "0"})  # a new card: refused before the processor's page
    assert checkout.status_code == 422 and "can no longer be bought" in checkout.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CartItem)) == before  # nothing bought
        assert db.session.scalar(select(func.count()).select_from(SandboxIntent)) == 0  # nor any payment begun

    assert save(alice, hidden=False).status_code == 302  # shown again
    assert client.get("/s/northwind/products/mailsuite").status_code == 200


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": "x" * 121}, "name"),
    ({"summary": "y" * 2001}, "summary"),
    ({"name": "Bell\x07Mail"}, "name"),
])
def test_bad_input_is_refused_beside_the_field_and_changes_nothing(app, demo, login, fields, field):
    alice = login("alice")
    response = save(alice, **fields)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert shown_rows(app) == []


def test_a_nul_byte_is_refused_and_changes_nothing(app, demo, login):
    response = save(login("alice"), summary="Null\x00Mail")
    assert response.status_code == 400
    assert shown_rows(app) == []


@pytest.mark.parametrize("slug", ["device-protection", "no-such-product", "x" * 200, "mail%00suite"])
def test_only_a_license_product_the_vendor_sells_has_a_page(app, demo, login, slug):
    alice = login("alice")
    assert alice.get(f"/account/storefront/products/{slug}").status_code == 404
    assert forged(alice, f"/account/storefront/products/{slug}", {"name": "Mine"}).status_code == 404
    assert shown_rows(app) == []


def test_not_your_storefront(app, demo, login, client):
    """Litware has no storefront: a 404 pointing to the plans. Another reseller with a storefront renames and hides
    MailSuite on its own only; a Master user or a customer of Northwind may not use the page."""
    assert login("frank").get(PAGE).status_code == 404
    assert forged(login("frank"), PAGE, {"name": "Litware Mail", "hidden": "y"}).status_code == 404
    assert forged(login("bob"), PAGE, {"name": "Bob Mail"}).status_code == 403
    assert forged(login("carol"), PAGE, {"name": "Carol Mail"}).status_code == 403
    assert shown_rows(app) == []
    with app.app_context():
        other = make_org("Other Reseller", partner_tier=PartnerTier.SILVER)
        email = make_member(other, Role.MANAGER).user.email
        make_storefront(other, alias="other-shop")
        db.session.commit()
    client.login(email, "a-long-password")
    assert save(client, name="Other Mail", hidden=True).status_code == 302
    assert client.get("/s/other-shop/products/mailsuite").status_code == 404
    page = login("alice").get(PAGE).get_data(as_text=True)
    assert "Other Mail" not in page and "Hidden" not in page
    assert "MailSuite Mail Server</a>" in login("alice").get("/s/northwind").get_data(as_text=True)


def test_the_purge_deletes_how_the_storefront_showed_its_products(app, demo, login):
    save(login("alice"), name="Northwind Mail", hidden="y")
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        purge_on = close_storefront(northwind, date(2026, 1, 31)).purge_on
        assert [s.alias for s in purge_storefronts(purge_on)] == ["northwind"]
        db.session.commit()
    assert shown_rows(app) == []
