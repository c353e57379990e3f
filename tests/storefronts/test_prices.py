"""A storefront's prices: the rules a Standard reseller sets and the price book that resolves them (the most
specific rule wins), read in one statement whatever their number."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, PartnerTier
from portal.audit.models import AuditEntry
from portal.catalog.models import Product
from portal.catalog.services import Configuration, configure
from portal.diagnostics import count_statements
from portal.errors import RuleError
from portal.extensions import db
from portal.storefronts import prices
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.storefronts.prices import RuleSource
from tests.factories import actor, demo_product, make_org, make_subscription


def make_storefront(org: Organization | None = None, plan: str = "reseller-standard", alias: str | None = None,
                    **fields) -> Storefront:
    """A reseller main chain on `plan` (Standard by default; None: Basic) with its open storefront."""
    org = org or make_org(partner_tier=PartnerTier.GOLD)
    if plan:
        make_subscription(org, slug=plan, quantity=1)
    storefront = Storefront(organization_id=org.id, alias=alias or f"shop-{org.id}", display_name=org.name,
                            opened_on=date(2026, 1, 1), notify_emails=[], **fields)
    db.session.add(storefront)
    db.session.flush()
    return storefront


def mailsuite(edition: str = "Professional", quantity: int = 10, addons: tuple[str, ...] = ()) -> Configuration:
    product = demo_product("mailsuite")
    edition_id = next(e.id for e in product.editions if e.name == edition)
    return configure(product, edition_id, quantity, [a.id for a in product.addons if a.slug in addons])


def edition(product: Product, name: str):
    return next(e for e in product.editions if e.name == name)


def rule_count(storefront: Storefront) -> int:
    return db.session.scalar(select(func.count()).select_from(StorefrontPrice)
                             .where(StorefrontPrice.storefront_id == storefront.id))


@pytest.fixture
def shop(app, demo, ctx):
    return make_storefront()


def test_without_rules_the_storefront_sells_at_the_rrp_else_at_list_price(shop):
    """The demo recommends $4.90 a mailbox for MailSuite Professional and nothing for its Free edition."""
    book = prices.price_book(shop, None, [demo_product("mailsuite").id])
    assert mailsuite().list_minor == 4000 and book.price(mailsuite()) == 4900
    assert book.resolve(demo_product("mailsuite").id, mailsuite().edition.id, 490).source is RuleSource.RRP
    assert book.price(mailsuite("Free")) == mailsuite("Free").list_minor == 0
    assert book.resolve(demo_product("mailsuite").id, mailsuite("Free").edition.id).source is RuleSource.LIST


def test_default_markup_applies_to_the_whole_configuration(shop):
    prices.set_default_markup(shop, 2500, actor())
    book = prices.price_book(shop, None, [demo_product("mailsuite").id])
    config = mailsuite(addons=("antispam",))
    assert book.price(config) == (4000 + 15000) * 125 // 100
    assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == \
        "storefront.default_markup_set"


def test_the_most_specific_rule_wins(shop):
    product = demo_product("mailsuite")
    pro = edition(product, "Professional")
    customer = make_org(parent=shop.organization)
    prices.set_default_markup(shop, 2500, actor())
    prices.set_rule(shop, product, None, actor(), markup_bp=1000)
    prices.set_rule(shop, product, pro, actor(), special_minor=350)
    prices.set_customer_price(shop, customer, product, None, 300, actor())
    prices.set_customer_price(shop, customer, product, pro, 250, actor())

    everyone = prices.price_book(shop, None, [product.id])
    assert everyone.price(mailsuite()) == 350 * 10  # the edition's special price per unit
    assert everyone.resolve(product.id, pro.id).source is RuleSource.EDITION
    assert everyone.price(mailsuite("Enterprise")) == 7000 * 110 // 100  # the product's markup
    assert everyone.resolve(product.id, edition(product, "Enterprise").id).source is RuleSource.PRODUCT

    theirs = prices.price_book(shop, customer.id, [product.id])
    assert theirs.price(mailsuite()) == 250 * 10
    assert theirs.resolve(product.id, pro.id).source is RuleSource.CUSTOMER_EDITION
    assert theirs.price(mailsuite("Enterprise")) == 300 * 10
    assert theirs.resolve(product.id, edition(product, "Enterprise").id).source is RuleSource.CUSTOMER_PRODUCT
    # a special price replaces the edition's price; its add-ons follow the default markup
    assert theirs.price(mailsuite(addons=("antispam",))) == 2500 + 15000 * 125 // 100

    other = prices.price_book(shop, make_org(parent=shop.organization).id, [product.id])
    assert other.price(mailsuite()) == 3500  # another customer gets everyone's price


def test_setting_a_rule_again_changes_it(shop):
    product = demo_product("mailsuite")
    first = prices.set_rule(shop, product, None, actor(), markup_bp=1000)
    again = prices.set_rule(shop, product, None, actor(), special_minor=100)
    assert first.id == again.id and (again.markup_bp, again.special_minor) == (None, 100)
    assert rule_count(shop) == 1


def test_removing_a_rule_falls_back_to_the_next(shop):
    product = demo_product("mailsuite")
    prices.set_default_markup(shop, 2500, actor())
    rule = prices.set_rule(shop, product, None, actor(), markup_bp=1000)
    prices.remove_rule(rule, actor())
    book = prices.price_book(shop, None, [product.id])
    assert book.price(mailsuite()) == 5000
    assert book.resolve(product.id, mailsuite().edition.id).source is RuleSource.DEFAULT


def test_free_sells_at_the_rrp_or_list_price_and_refuses_rules(app, demo, ctx):
    shop = make_storefront(plan="reseller-free")
    shop.default_markup_bp = 2500  # kept from an earlier Standard
    product = demo_product("mailsuite")
    db.session.add(StorefrontPrice(storefront_id=shop.id, product_id=product.id, markup_bp=5000))
    book = prices.price_book(shop, None, [product.id])
    assert book.price(mailsuite()) == 4900  # the RRP, $4.90 a mailbox: neither the markups nor the list price
    assert book.price(mailsuite("Free")) == 0  # no RRP: the list price
    with pytest.raises(RuleError) as refused:
        prices.set_default_markup(shop, 1000, actor())
    assert refused.value.field == "markup"
    with pytest.raises(RuleError):
        prices.set_rule(shop, product, None, actor(), special_minor=100)


def test_a_customer_of_another_reseller_is_refused(shop):
    elsewhere = make_storefront()
    stranger = make_org(parent=elsewhere.organization)
    with pytest.raises(RuleError) as refused:
        prices.set_customer_price(shop, stranger, demo_product("mailsuite"), None, 100, actor())
    assert refused.value.field == "customer"
    assert prices.customer_of(shop, stranger.id) is None
    assert rule_count(shop) == 0


@pytest.mark.parametrize(("markup", "special", "field"), [
    (-10_001, None, "markup"), (100_001, None, "markup"), (None, -1, "special"),
    (None, prices.MAX_SPECIAL_MINOR + 1, "special"), (None, None, "markup"), (100, 100, "markup"),
])
def test_out_of_range_rules_are_refused(shop, markup, special, field):
    with pytest.raises(RuleError) as refused:
        prices.set_rule(shop, demo_product("mailsuite"), None, actor(), markup_bp=markup, special_minor=special)
    assert refused.value.field == field
    assert rule_count(shop) == 0


def test_subscriptions_and_inactive_products_are_not_priced(shop):
    with pytest.raises(RuleError) as refused:
        prices.set_rule(shop, demo_product("device-protection"), None, actor(), markup_bp=100)
    assert refused.value.field == "product"
    webstats = demo_product("webstats")
    with pytest.raises(RuleError) as refused:
        prices.set_rule(shop, demo_product("mailsuite"), webstats.editions[0], actor(), markup_bp=100)
    assert refused.value.field == "edition"
    webstats.active = False
    with pytest.raises(RuleError):
        prices.set_rule(shop, webstats, None, actor(), markup_bp=100)


@pytest.mark.parametrize(("text", "bp"), [("25", 2500), ("12.5", 1250), ("-10 %", -1000), ("+7.25%", 725),
                                          ("0", 0), ("-100", -10_000), ("1000", 100_000), (".5", 50)])
def test_markups_are_typed_as_percentages(text, bp):
    assert prices.parse_markup_bp(text) == bp
    assert prices.parse_markup_bp(prices.format_markup_bp(bp)) == bp


@pytest.mark.parametrize("text", ["", "abc", "12.345", "-100.01", "1000.01", "1e3", "25\x00", "9" * 40, "--5"])
def test_bad_markups_are_refused(text):
    with pytest.raises(RuleError):
        prices.parse_markup_bp(text, field="markup")


def test_the_price_book_reads_every_rule_in_one_statement(shop):
    products = list(db.session.scalars(select(Product).where(Product.kind == "license")
                                       .options(selectinload(Product.editions))))
    customers = [make_org(parent=shop.organization) for _ in range(3)]
    for product in products:
        prices.set_rule(shop, product, None, actor(), markup_bp=500)
        for e in product.editions:
            prices.set_rule(shop, product, e, actor(), special_minor=100)
            for customer in customers:
                prices.set_customer_price(shop, customer, product, e, 50, actor())
    db.session.flush()
    with count_statements(db.engine) as counted:
        book = prices.price_book(shop, customers[0].id, [p.id for p in products])
    assert counted.count <= 2  # the plan, the rules
    assert len(book.rules) == sum(1 + 2 * len(p.editions) for p in products)


@pytest.mark.postgres_only
def test_rules_set_at_once_for_one_product_make_one_rule(app, demo):
    """Six requests price one product at once: the unique index lets one insert win, the others change that rule
    (never a duplicate, never an error)."""
    import threading

    with app.app_context():
        shop_id = make_storefront().id
        db.session.commit()
    barrier, errors = threading.Barrier(6), []

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        with app.app_context():
            try:
                prices.set_rule(db.session.get(Storefront, shop_id), demo_product("mailsuite"), None, actor(),
                                markup_bp=100 * (i + 1))
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - any failure is the test's
                errors.append(error)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        assert rule_count(db.session.get(Storefront, shop_id)) == 1
