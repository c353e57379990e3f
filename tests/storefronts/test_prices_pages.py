"""The reseller's prices page (/account/storefront/prices): every license edition with list price, cost, storefront
price, margin and the rule in force, and the forms that set the rules, without JavaScript."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.catalog.models import Product
from portal.diagnostics import count_statements
from portal.extensions import db
from portal.storefronts.models import Storefront, StorefrontPrice
from tests.factories import demo_product, make_org

PAGE = "/account/storefront/prices"


def forged(client, url: str, data: dict | None = None):
    """A request no form of the page makes (a value it does not offer, a rule it does not list), with the
    session's token."""
    return client.post(url, data={**(data or {}), "csrf_token": client.csrf_token()})


def northwind_shop() -> Storefront:
    return db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()


def rules(app) -> list[tuple]:
    with app.app_context():
        shop = northwind_shop()
        return sorted(db.session.execute(select(
            StorefrontPrice.product_id, StorefrontPrice.edition_id, StorefrontPrice.customer_id,
            StorefrontPrice.markup_bp, StorefrontPrice.special_minor)
            .where(StorefrontPrice.storefront_id == shop.id)).all(), key=repr)


def option_value(page: str, label: str) -> str:
    return re.search(rf'<option value="([^"]+)">{re.escape(label)}</option>', page).group(1)


def test_the_page_shows_list_price_cost_price_margin_and_rule(app, demo, login):
    page = login("alice").get(PAGE).get_data(as_text=True)
    assert "Storefront prices" in page
    # MailSuite Professional, 10 mailboxes: list $40.00; Gold's discount; the demo's default markup of 25 %
    assert "MailSuite Mail Server" in page and "$40.00" in page and "$50.00" in page
    assert "the default markup" in page
    assert "Customers&#39; special prices" in page or "Customers' special prices" in page
    assert "Contoso Retail" in page


def test_a_price_below_cost_is_a_loss_in_words(app, demo, login):
    alice = login("alice")
    page = alice.get(PAGE).get_data(as_text=True)
    target = option_value(page, "MailSuite Mail Server Professional")
    response = alice.submit(PAGE, {"target": target, "markup": "-90", "special": ""}, button="Save price")
    assert response.status_code == 302
    page = alice.get(PAGE).get_data(as_text=True)
    assert "Loss of" in page and "below your cost" in page


def test_setting_the_default_markup(app, demo, login):
    alice = login("alice")
    response = alice.submit(PAGE, {"markup": "12.5"}, button="Save default markup")
    assert response.status_code == 302
    with app.app_context():
        assert northwind_shop().default_markup_bp == 1250


@pytest.mark.parametrize("markup", ["abc", "1000.01", "-101", "12.345", "99999999999999999999999"])
def test_a_bad_markup_is_refused_beside_the_field(app, demo, login, markup):
    alice = login("alice")
    before = rules(app)
    response = alice.submit(PAGE, {"markup": markup}, button="Save default markup")
    assert response.status_code == 422
    assert 'id="markup-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert northwind_shop().default_markup_bp == 2500
    assert rules(app) == before


def test_setting_a_special_price_for_an_edition(app, demo, login):
    alice = login("alice")
    page = alice.get(PAGE).get_data(as_text=True)
    target = option_value(page, "WebStats Analytics Enterprise")
    response = alice.submit(PAGE, {"target": target, "markup": "", "special": "120.50"}, button="Save price")
    assert response.status_code == 302
    with app.app_context():
        edition_id = int(target[1:])
        assert (demo_product("webstats").id, edition_id, None, None, 12050) in rules(app)
    assert "$120.50 per site" in alice.get(PAGE).get_data(as_text=True)


@pytest.mark.parametrize(("fields", "field"), [
    ({"markup": "10", "special": "5"}, "markup"), ({"markup": "", "special": ""}, "markup"),
    ({"markup": "", "special": "-5"}, "special"), ({"markup": "", "special": "99999999999"}, "special"),
    ({"markup": "", "special": "1.234"}, "special"),
])
def test_a_bad_rule_is_refused_and_nothing_changes(app, demo, login, fields, field):
    alice = login("alice")
    page = alice.get(PAGE).get_data(as_text=True)
    before = rules(app)
    response = alice.submit(PAGE, {"target": option_value(page, "MailSuite Mail Server (every edition)"), **fields},
                            button="Save price")
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert rules(app) == before


@pytest.mark.parametrize("target", ["p999999", "e99999999999999999999999", "x", "", "p\u00e9"])
def test_an_unknown_product_is_refused(app, demo, login, target):
    alice = login("alice")
    before = rules(app)
    response = forged(alice, "/account/storefront/prices/rules", {"target": target, "markup": "10"})
    assert response.status_code == 422
    assert rules(app) == before


def test_a_subscription_product_cannot_be_priced(app, demo, login):
    alice = login("alice")
    with app.app_context():
        device = demo_product("device-protection").id
    response = forged(alice, "/account/storefront/prices/rules", {"target": f"p{device}", "markup": "10"})
    assert response.status_code == 422


def test_setting_a_customers_special_price(app, demo, login):
    alice = login("alice")
    page = alice.get(PAGE).get_data(as_text=True)
    customer = option_value(page, "Contoso Retail")
    target = option_value(page, "MailSuite Mail Server Enterprise")
    response = alice.submit(PAGE, {"customer": customer, "target": target, "special": "5.25"})
    assert response.status_code == 302
    assert (demo_product_id(app, "mailsuite"), int(target[1:]), int(customer), None, 525) in rules(app)


def demo_product_id(app, slug: str) -> int:
    with app.app_context():
        return demo_product(slug).id


def test_another_resellers_customer_is_refused(app, demo, login):
    alice = login("alice")
    with app.app_context():
        stranger = make_org(parent=db.session.get(Organization, demo.orgs["Litware Solutions"])).id
        db.session.commit()
    page = alice.get(PAGE).get_data(as_text=True)
    before = rules(app)
    for customer in (str(stranger), str(demo.orgs["Fabrikam Stores"]), str(demo.orgs["Northwind IT"]), "9" * 30):
        response = forged(alice, "/account/storefront/prices/customers", {
            "customer": customer, "target": option_value(page, "MailSuite Mail Server (every edition)"),
            "special": "1"})
        assert response.status_code == 422
        assert 'id="customer-error"' in response.get_data(as_text=True)
    assert rules(app) == before


def test_removing_a_rule(app, demo, login):
    alice = login("alice")
    with app.app_context():
        rule_id = db.session.scalar(select(StorefrontPrice.id).where(StorefrontPrice.customer_id.is_not(None)))
    page = alice.get(PAGE).get_data(as_text=True)
    assert f"/account/storefront/prices/rules/{rule_id}/remove" in page
    response = alice.submit(f"/account/storefront/prices/rules/{rule_id}/remove", {})  # the confirmation page
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(StorefrontPrice, rule_id) is None


def test_another_storefronts_rule_is_not_found(app, demo, login):
    with app.app_context():
        from tests.storefronts.test_prices import make_storefront

        other = make_storefront()
        rule = StorefrontPrice(storefront_id=other.id, product_id=demo_product("mailsuite").id, markup_bp=100)
        db.session.add(rule)
        db.session.commit()
        rule_id = rule.id
    alice = login("alice")
    response = forged(alice, f"/account/storefront/prices/rules/{rule_id}/remove")
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(StorefrontPrice, rule_id) is not None


def test_a_chain_without_a_storefront_has_no_prices_page(app, demo, login):
    response = login("frank").get(PAGE)  # Litware is on Basic
    assert response.status_code == 404 and "/account/plan" in response.get_data(as_text=True)
    assert login("bob").get(PAGE).status_code == 403  # a Master user of Northwind


def _statements(app, client) -> int:
    with app.app_context(), count_statements(db.engine) as counted:
        response = client.get(PAGE)
    assert response.status_code == 200
    return counted.count


def test_the_page_reads_a_constant_number_of_statements(app, demo, login):
    alice = login("alice")
    _statements(app, alice)  # warm: the session's first request
    small = _statements(app, alice)
    with app.app_context():
        shop = northwind_shop()
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for i in range(20):
            product = Product(slug=f"extra-{i}", name=f"Extra {i}", kind="license", unit_label="seats",
                              quantities=[1, 5])
            db.session.add(product)
            db.session.flush()
            from portal.catalog.models import Edition

            edition = Edition(product_id=product.id, name="Standard", base_price_minor=1000, unit_price_minor=100)
            db.session.add(edition)
            db.session.flush()
            customer = make_org(parent=northwind)
            db.session.add_all([
                StorefrontPrice(storefront_id=shop.id, product_id=product.id, markup_bp=500),
                StorefrontPrice(storefront_id=shop.id, product_id=product.id, edition_id=edition.id, special_minor=90),
                StorefrontPrice(storefront_id=shop.id, product_id=product.id, customer_id=customer.id,
                                special_minor=80)])
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(StorefrontPrice)) > 60
    assert _statements(app, alice) == small


def test_on_free_the_page_shows_list_prices_and_refuses_rules(app, demo, client):
    from portal.accounts.models import PartnerTier, Role
    from tests.factories import make_member
    from tests.storefronts.test_prices import make_storefront

    with app.app_context():
        reseller = make_org("Free Reseller", partner_tier=PartnerTier.SILVER)
        email = make_member(reseller, Role.MANAGER).user.email
        make_storefront(reseller, plan="reseller-free", alias="free-shop", default_markup_bp=2500)
        db.session.commit()
    client.login(email, "a-long-password")
    page = client.get(PAGE).get_data(as_text=True)
    assert "or its list prices where" in page  # the demo's editions have no RRP: their list prices
    assert "$40.00" in page and "$50.00" not in page  # MailSuite Professional at list price, not marked up
    assert 'action="/account/storefront/prices/default"' not in page
    response = forged(client, "/account/storefront/prices/default", {"markup": "10"})
    assert response.status_code == 422 and "Standard plan" in response.get_data(as_text=True)


@pytest.mark.parametrize("rule_id", ["99999999999999999999", "0"])
def test_an_absurd_rule_id_is_a_404(app, demo, login, rule_id):
    alice = login("alice")
    response = forged(alice, f"/account/storefront/prices/rules/{rule_id}/remove")
    assert response.status_code == 404


def test_a_nul_character_changes_nothing(app, demo, login):
    alice = login("alice")
    response = forged(alice, "/account/storefront/prices/default", {"markup": "1\x000"})
    assert response.status_code in (400, 422)
    with app.app_context():
        assert northwind_shop().default_markup_bp == 2500
