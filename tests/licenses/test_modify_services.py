"""Modifying a license (DOMAIN §4), told with the demo: Northwind IT (Gold, 20 %, invoiced monthly) resold a
MailSuite license to Contoso Retail, its sub-chain. An upgrade costs the difference between the new and the current
configuration at today's list prices, never less than nothing; a downgrade is for the vendor; M&S is renewed
for one more year from its expiry, or reinstated once lapsed for a year from today plus the reinstatement
charge. The change goes through the cart and checkout (the discount applies there); the order applies it to the
license, marks it "reactivation required" after an upgrade, and emails the customer.

Demo prices (portal/catalog/demo.py): MailSuite Professional $4.00 and Enterprise $7.00 per mailbox,
Advanced Anti-Spam $150.00, ActiveSync $200.00; M&S 20 % of the list price a year; reinstatement charge $50.00."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, User
from portal.audit.models import AuditEntry
from portal.cart.models import CartItem
from portal.cart.services import add_modification, cart_items, cart_lines, update_item
from portal.cart.services import add_to_cart as add_new_to_cart
from portal.catalog.models import AddOn, Edition, Product, ProductKind, PurchaseKind
from portal.catalog.services import configure, product_by_slug
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.models import License
from portal.licenses.services import one_year_after
from portal.orders.checkout import place_order
from portal.orders.models import OrderLine, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary, record_order, take_payment
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import gateway
from tests.factories import actor, make_activation, make_license, make_member

INVOICE_ME = PaymentChoice(PaymentKind.INVOICE)


@pytest.fixture
def northwind(app, demo):
    """Northwind IT and alice, in an application context to call the services in."""
    with app.app_context():
        yield db.session.get(Organization, demo.orgs["Northwind IT"]), db.session.get(User, demo.users["alice"])
        db.session.rollback()


@pytest.fixture
def contoso(northwind, demo):
    return db.session.get(Organization, demo.orgs["Contoso Retail"])


def _today() -> date:
    return utcnow().date()  # the services' clock


def _fresh(license_: License) -> License:
    db.session.expire_all()
    return db.session.scalars(select(License).where(License.id == license_.id)
                              .options(selectinload(License.addons))).one()


def _product(license_: License) -> Product:
    return product_by_slug("mailsuite") if license_ is None else db.session.scalars(
        select(Product).where(Product.id == license_.product_id)
        .options(selectinload(Product.editions), selectinload(Product.addons))).one()


def _ids(product: Product, edition: str, addons: tuple[str, ...] = ()) -> tuple[int, list[int]]:
    return (next(e.id for e in product.editions if e.name == edition),
            [a.id for a in product.addons if a.slug in addons])


def _upgrade(license_: License, edition: str, quantity: int, addons: tuple[str, ...] = ()) -> modify.Modification:
    product = _product(license_)
    edition_id, addon_ids = _ids(product, edition, addons)
    return modify.quote_upgrade(_fresh(license_), product, edition_id, quantity, addon_ids)


def _maintenance(license_: License, purchase: PurchaseKind, today: date | None = None) -> modify.Modification:
    return modify.quote_maintenance(_fresh(license_), _product(license_), purchase, today or _today())


def _into_cart(org: Organization, user: User, change: modify.Modification) -> CartItem:
    item = add_modification(user, org, change, change.list_minor, actor(user))
    db.session.commit()
    return item


def _check_out(org: Organization, user: User):
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    order = place_order(org, user, items, summary.signature, summary.quote.total_minor, INVOICE_ME,
                        BillingDetails.of(org), actor(user), gateway())
    db.session.commit()
    return order


# ---------------------------------------------------------------- the price of each change


def test_an_edition_upgrade_costs_the_difference_at_list_price(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)  # 25 x $4 = $100

    change = _upgrade(license_, "Enterprise", 25)  # 25 x $7 = $175

    assert (change.purchase, change.current.list_minor, change.target.list_minor, change.list_minor) == (
        PurchaseKind.UPGRADE, 10_000, 17_500, 7_500)
    assert change.description == f"Upgrade of license {license_.key}: Professional to Enterprise"


def test_a_quantity_upgrade_costs_the_added_units(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)

    change = _upgrade(license_, "Professional", 50)

    assert change.list_minor == 50 * 400 - 25 * 400
    assert change.description.endswith("25 to 50 mailboxes")


def test_adding_add_ons_costs_the_add_ons_and_keeps_those_the_license_has(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, quantity=25, addons=("antispam",))

    change = _upgrade(license_, "Professional", 25, addons=("activesync",))

    assert change.list_minor == 20_000
    assert [a.slug for a in change.target.addons] == ["antispam", "activesync"]
    assert change.description.endswith("add ActiveSync Mobile Sync")


def test_an_upgrade_is_priced_at_todays_list_prices(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    product = _product(license_)
    next(e for e in product.editions if e.name == "Enterprise").unit_price_minor = 800
    next(e for e in product.editions if e.name == "Professional").unit_price_minor = 500
    db.session.flush()

    assert _upgrade(license_, "Enterprise", 25).list_minor == 25 * 800 - 25 * 500


def test_renewing_maintenance_costs_the_yearly_rate_and_adds_a_year_to_the_expiry(northwind, contoso):
    org, _ = northwind
    expiry = _today() + timedelta(days=30)
    license_ = make_license(org, contoso, quantity=25, addons=("antispam",), ms_expires_on=expiry)

    change = _maintenance(license_, PurchaseKind.RENEWAL)

    assert change.list_minor == (10_000 + 15_000) * 20 // 100  # 20 % of $250
    assert change.ms_expires_on == one_year_after(expiry)
    assert change.description == f"M&S renewal of license {license_.key} until {one_year_after(expiry)}"


def test_reinstating_lapsed_maintenance_costs_a_renewal_plus_the_charge_and_runs_a_year_from_today(northwind,
                                                                                                   contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, quantity=25, ms_expires_on=_today() - timedelta(days=90))

    change = _maintenance(license_, PurchaseKind.REINSTATEMENT)

    assert (change.renewal_minor, change.reinstatement_fee_minor, change.list_minor) == (2_000, 5_000, 7_000)
    assert change.ms_expires_on == one_year_after(_today())


def test_maintenance_runs_through_its_expiry_day_and_lapses_the_day_after(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, ms_expires_on=date(2027, 3, 31))

    assert not modify.is_lapsed(license_, date(2027, 3, 31))
    assert modify.is_lapsed(license_, date(2027, 4, 1))
    assert modify.maintenance_offer(license_, _product(license_), date(2027, 3, 31)).purchase is PurchaseKind.RENEWAL
    assert modify.maintenance_offer(license_, _product(license_),
                                    date(2027, 4, 1)).purchase is PurchaseKind.REINSTATEMENT


def test_running_maintenance_is_renewed_not_reinstated_and_lapsed_maintenance_the_other_way(northwind, contoso):
    org, _ = northwind
    running = make_license(org, contoso, ms_expires_on=_today() + timedelta(days=1))
    lapsed = make_license(org, contoso, ms_expires_on=_today() - timedelta(days=1))

    with pytest.raises(RuleError, match="renew it instead"):
        _maintenance(running, PurchaseKind.REINSTATEMENT)
    with pytest.raises(RuleError, match="reinstate it instead"):
        _maintenance(lapsed, PurchaseKind.RENEWAL)


@pytest.mark.parametrize(("expiry", "today", "purchase", "new_expiry"), [
    (date(2027, 6, 30), date(2027, 6, 1), PurchaseKind.RENEWAL, date(2028, 6, 30)),
    (date(2028, 2, 29), date(2028, 2, 1), PurchaseKind.RENEWAL, date(2029, 2, 28)),  # from a leap day
    (date(2027, 2, 28), date(2027, 2, 1), PurchaseKind.RENEWAL, date(2028, 2, 28)),  # into a leap year
    (date(2028, 2, 29), date(2028, 2, 29), PurchaseKind.RENEWAL, date(2029, 2, 28)),  # on its last day
    (date(2027, 6, 30), date(2028, 2, 29), PurchaseKind.REINSTATEMENT, date(2029, 2, 28)),  # lapsed, on a leap day
    (date(2026, 1, 15), date(2027, 9, 1), PurchaseKind.REINSTATEMENT, date(2028, 9, 1)),  # long lapsed: from today
])
def test_maintenance_dates(northwind, contoso, expiry, today, purchase, new_expiry):
    org, _ = northwind
    license_ = make_license(org, contoso, ms_expires_on=expiry)

    assert _maintenance(license_, purchase, today).ms_expires_on == new_expiry


# ---------------------------------------------------------------- an upgrade never goes down


def test_a_lower_edition_is_refused_with_a_message_to_contact_the_vendor(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Enterprise", quantity=25)

    with pytest.raises(RuleError, match="contact the vendor") as refused:
        _upgrade(license_, "Professional", 100)  # more units, but a lower edition
    assert refused.value.field == "edition"


def test_fewer_units_are_refused_with_a_message_to_contact_the_vendor(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=50)

    with pytest.raises(RuleError, match="contact the vendor") as refused:
        _upgrade(license_, "Enterprise", 25)  # a higher edition, but fewer units
    assert refused.value.field == "quantity"


def test_an_upgrade_that_changes_nothing_is_refused(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, quantity=25, addons=("antispam",))

    with pytest.raises(RuleError, match="Choose a higher edition"):
        _upgrade(license_, "Professional", 25, addons=("antispam",))  # the add-on it has already


def test_an_upgrade_offers_only_what_the_catalog_offers(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, quantity=25)
    product = _product(license_)
    edition_id, _ = _ids(product, "Enterprise")
    livedesk_addon = product_by_slug("livedesk").addons[0].id

    with pytest.raises(RuleError) as quantity:
        modify.quote_upgrade(_fresh(license_), product, edition_id, 30, [])
    with pytest.raises(RuleError) as addon:
        modify.quote_upgrade(_fresh(license_), product, edition_id, 25, [livedesk_addon])
    with pytest.raises(RuleError) as edition:
        modify.quote_upgrade(_fresh(license_), product, 999_999, 25, [])
    assert (quantity.value.field, addon.value.field, edition.value.field) == ("quantity", "addons", "edition")


def test_a_license_keeps_its_retired_edition_when_only_its_quantity_grows(northwind, contoso):
    org, _ = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    product = _product(license_)
    next(e for e in product.editions if e.name == "Professional").active = False
    db.session.flush()

    assert _upgrade(license_, "Professional", 50).list_minor == 10_000


def _transient_product(prices: list[tuple[int, int]], addon_prices: list[int]) -> Product:
    product = Product(id=1, slug="p", name="P", kind=ProductKind.LICENSE, unit_label="units", active=True,
                      quantities=[1, 5, 10, 50], ms_rate_bp=2000, reinstatement_fee_minor=0)
    product.editions = [Edition(id=i + 1, product_id=1, name=f"E{i}", position=i, base_price_minor=base,
                                unit_price_minor=unit, active=True) for i, (base, unit) in enumerate(prices)]
    product.addons = [AddOn(id=i + 1, product_id=1, slug=f"a{i}", name=f"A{i}", price_minor=price, position=i,
                            active=True) for i, price in enumerate(addon_prices)]
    return product


PRICES = st.integers(min_value=0, max_value=10_000_000)


@given(editions=st.lists(st.tuples(PRICES, PRICES), min_size=1, max_size=4),
       addons=st.lists(PRICES, max_size=4), data=st.data())
def test_an_upgrade_is_never_negative_whatever_the_catalog(editions, addons, data):
    """Even in a catalog where a higher edition is cheaper, or where the current add-ons cost more than a bigger
    configuration, an upgrade is priced at zero or more, and never lets a license go down."""
    product = _transient_product(editions, addons)
    quantities = sorted(product.quantities)
    current_edition = data.draw(st.integers(0, len(editions) - 1))
    current_quantity = data.draw(st.sampled_from(quantities))
    owned = data.draw(st.sets(st.integers(0, len(addons) - 1))) if addons else set()
    license_ = License(id=1, key="K", owner_id=1, product_id=1, edition_id=current_edition + 1,
                       quantity=current_quantity, ms_expires_on=date(2030, 1, 1),
                       addons=[product.addons[i] for i in owned])
    edition = data.draw(st.integers(0, len(editions) - 1))
    quantity = data.draw(st.sampled_from(quantities))
    wanted = data.draw(st.sets(st.integers(0, len(addons) - 1))) if addons else set()
    try:
        change = modify.quote_upgrade(license_, product, edition + 1, quantity, [i + 1 for i in wanted])
    except RuleError:
        assert (edition < current_edition or quantity < current_quantity
                or (edition, quantity, wanted - owned) == (current_edition, current_quantity, set()))
        return
    assert change.list_minor >= 0
    assert change.list_minor == max(change.target.list_minor - change.current.list_minor, 0)
    assert edition >= current_edition and quantity >= current_quantity
    assert {a.id for a in change.target.addons} >= {a.id for a in change.current.addons}


# ---------------------------------------------------------------- who may modify, and finding a license by key


def test_a_license_is_found_by_its_key_as_typed_but_only_among_the_resellers_own(northwind, contoso, demo):
    org, alice = northwind
    license_ = make_license(org, contoso)
    litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
    frank = db.session.get(User, demo.users["frank"])
    theirs = make_license(litware)

    typed = license_.key.lower().replace("-", " ")
    assert modify.license_by_key(alice, org, typed).id == license_.id
    with pytest.raises(RuleError, match="None of your licenses has that key"):
        modify.license_by_key(alice, org, theirs.key)  # another reseller's: not found, never "not yours"
    with pytest.raises(RuleError, match="None of your licenses has that key"):
        modify.license_by_key(frank, litware, license_.key)
    with pytest.raises(RuleError, match="typing mistake") as typo:
        modify.license_by_key(alice, org, license_.key[:-1] + ("0" if license_.key[-1] != "0" else "1"))
    assert typo.value.field == "key"


def test_personal_licenses_are_those_the_reseller_keeps(northwind, contoso, demo):
    org, alice = northwind
    kept = make_license(org, org)
    in_stock = make_license(org)
    resold = make_license(org, contoso)

    personal = set(db.session.scalars(modify.personal_licenses(alice, org).with_only_columns(License.id)))

    assert {kept.id, in_stock.id} <= personal and resold.id not in personal
    frank = db.session.get(User, demo.users["frank"])
    assert not db.session.scalars(modify.personal_licenses(frank, org)).first()  # only for those who buy there
    assert not modify.is_resold(kept) and modify.is_resold(resold)


def test_only_users_who_may_buy_for_the_owner_find_its_licenses(northwind, contoso, demo):
    org, _ = northwind
    license_ = make_license(org, contoso)
    db.session.commit()

    def finds(name: str) -> bool:
        user = db.session.get(User, demo.users[name])
        return db.session.scalars(modify.modifiable_licenses(user).where(License.id == license_.id)).first() \
            is not None

    assert {name: finds(name) for name in ("alice", "bob", "erin", "carol", "dave", "frank", "ops")} == {
        "alice": True, "bob": True, "erin": True,  # managers and Master users of Northwind
        "carol": False,  # the customer sees its licenses but does not buy for Northwind
        "dave": False, "frank": False, "ops": False,
    }


# ---------------------------------------------------------------- the cart


def test_a_modification_goes_into_the_cart_at_the_price_shown(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    change = _upgrade(license_, "Enterprise", 25)

    with pytest.raises(RuleError, match="Check the price"):
        add_modification(alice, org, change, 1_000, actor(alice))  # not the price the page showed
    item = _into_cart(org, alice, change)

    assert (item.purchase, item.license_id, item.copies, item.quoted_list_minor) == (
        PurchaseKind.UPGRADE, license_.id, 1, 7_500)
    [line] = cart_lines(cart_items(alice, org))
    assert (line.modification.purchase, line.unit_list_minor, line.list_minor, line.price_changed) == (
        PurchaseKind.UPGRADE, 7_500, 7_500, False)
    assert line.description == change.description
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_type == "CartItem")) == \
        "cart.modification_added"


def test_a_new_upgrade_of_a_license_replaces_the_one_in_the_cart_and_maintenance_stays(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 25))
    _into_cart(org, alice, _maintenance(license_, PurchaseKind.RENEWAL))
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 50))

    items = cart_items(alice, org)
    assert sorted((i.purchase.value, i.quantity) for i in items) == [("renewal", 25), ("upgrade", 50)]


def test_a_modification_in_the_cart_is_not_edited_like_a_new_license(northwind, contoso):
    org, alice = northwind
    item = _into_cart(org, alice, _upgrade(make_license(org, contoso, quantity=25), "Enterprise", 25))
    product = product_by_slug("mailsuite")

    with pytest.raises(RuleError, match="Modify page"):
        update_item(item, configure(product, product.editions[0].id, 10, []), 1, actor(alice))


def test_the_cart_prices_a_modification_against_the_license_as_it_is_now(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Professional", 50))
    _fresh(license_).quantity = 100  # upgraded meanwhile, in another order
    db.session.commit()

    [line] = cart_lines(cart_items(alice, org))

    assert line.config is None and line.modification is None
    assert "contact the vendor" in line.problem and "Remove this item" in line.problem


def test_the_cart_says_when_a_license_changed_price_since_its_modification_went_in(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _maintenance(license_, PurchaseKind.RENEWAL))
    _product(license_).ms_rate_bp = 2500
    db.session.commit()

    [line] = cart_lines(cart_items(alice, org))

    assert line.price_changed and (line.item.quoted_list_minor, line.unit_list_minor) == (2_000, 2_500)


# ---------------------------------------------------------------- the order applies the change


def test_an_upgrade_bought_changes_the_license_marks_it_for_reactivation_and_emails_the_customer(northwind,
                                                                                                 contoso):
    org, alice = northwind
    carol_like = make_member(contoso).user  # a user of the customer's organization
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    make_activation(license_)  # it runs on the customer's installation
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 50, addons=("antispam",)))

    order = _check_out(org, alice)

    upgraded = _fresh(license_)
    enterprise = next(e for e in _product(license_).editions if e.name == "Enterprise")
    assert (upgraded.edition_id, upgraded.quantity, [a.slug for a in upgraded.addons]) == (
        enterprise.id, 50, ["antispam"])
    assert upgraded.reactivation_required
    [line] = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
    # $350 + $150 - $100 = $400 at list; Gold 20 % off at checkout
    assert (line.purchase, line.license_id, line.unit_list_minor, line.discount_minor, line.total_minor) == (
        PurchaseKind.UPGRADE, license_.id, 40_000, 8_000, 32_000)
    assert (order.subtotal_minor, order.total_minor) == (40_000, 32_000)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "license_modified")).one()
    assert carol_like.email in mail.to_addrs and "reactivate" in mail.subject
    assert "$" not in mail.body_text  # the customer never sees the reseller's prices
    assert db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "license.upgrade"))["after"] == {
        "edition": "Enterprise", "quantity": 50, "addons": ["antispam"]}
    assert cart_items(alice, org) == []


def test_an_upgrade_of_a_license_never_activated_asks_for_no_reactivation(northwind, contoso):
    org, alice = northwind
    carol_like = make_member(contoso).user
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 50))

    _check_out(org, alice)

    upgraded = _fresh(license_)
    assert upgraded.quantity == 50 and not upgraded.reactivation_required
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "license_modified")).one()
    assert carol_like.email in mail.to_addrs
    assert mail.subject == f"License {license_.key} upgraded" and "reactivat" not in mail.body_text.lower()
    assert "first activation uses the new configuration" in mail.body_text


def test_an_upgrade_of_a_license_activated_once_then_deactivated_still_asks_for_reactivation(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    make_activation(license_).deactivated_at = utcnow()
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 50))

    _check_out(org, alice)

    assert _fresh(license_).reactivation_required


def test_a_renewal_bought_extends_the_expiry_by_a_year_without_reactivation(northwind, contoso):
    org, alice = northwind
    expiry = _today() + timedelta(days=10)
    license_ = make_license(org, contoso, quantity=25, ms_expires_on=expiry)
    _into_cart(org, alice, _maintenance(license_, PurchaseKind.RENEWAL))

    order = _check_out(org, alice)

    renewed = _fresh(license_)
    assert renewed.ms_expires_on == one_year_after(expiry) and not renewed.reactivation_required
    assert (order.subtotal_minor, order.discount_minor) == (2_000, 400)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "license_modified")).one()
    assert one_year_after(expiry).isoformat() in mail.body_text


def test_a_reinstatement_bought_gives_a_year_from_today(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, quantity=25, ms_expires_on=_today() - timedelta(days=400))
    _into_cart(org, alice, _maintenance(license_, PurchaseKind.REINSTATEMENT))

    order = _check_out(org, alice)

    assert _fresh(license_).ms_expires_on == one_year_after(_today())
    assert order.subtotal_minor == 2_000 + 5_000


def _offer_in_cart(org: Organization, user: User, license_: License) -> modify.Modification:
    """The M&S the Modify page offers for `license_` while `user`'s cart holds what it holds."""
    product, today = _product(license_), _today()
    fresh = _fresh(license_)
    return modify.maintenance_offer(fresh, product, today, modify.upgrade_in_cart(user, org, fresh, product, today))


@pytest.mark.parametrize("upgrade_first", [True, False], ids=["upgrade-then-renewal", "renewal-then-upgrade"])
def test_an_upgrade_and_a_renewal_of_one_license_in_one_order_renew_the_upgraded_license(northwind, contoso,
                                                                                         upgrade_first):
    """The renewal buys a year of M&S for the license as the order leaves it: 20 % of Enterprise x 50 ($350.00),
    not of the Professional x 25 ($100.00) it had, whichever went into the cart first."""
    org, alice = northwind
    expiry = _today() + timedelta(days=10)
    license_ = make_license(org, contoso, edition="Professional", quantity=25, ms_expires_on=expiry)
    make_activation(license_)
    if upgrade_first:
        _into_cart(org, alice, _upgrade(license_, "Enterprise", 50))
        renewal = _offer_in_cart(org, alice, license_)
        assert (renewal.purchase, renewal.list_minor) == (PurchaseKind.RENEWAL, 7_000)
        assert renewal.description.endswith("(Enterprise, 50 mailboxes after the upgrade)")
        _into_cart(org, alice, renewal)
    else:
        _into_cart(org, alice, _offer_in_cart(org, alice, license_))  # $20.00 on the license as it is
        _into_cart(org, alice, _upgrade(license_, "Enterprise", 50))

    lines = checkout_summary(org, cart_items(alice, org)).lines
    renewal_line = next(line for line in lines if line.item.purchase is PurchaseKind.RENEWAL)
    assert renewal_line.unit_list_minor == 7_000
    assert renewal_line.price_changed is not upgrade_first  # the cart says the renewal went from $20 to $70
    order = _check_out(org, alice)

    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (25_000 + 7_000, 6_400, 25_600)
    assert sorted((line.purchase.value, line.edition_name, line.quantity, line.list_minor, line.total_minor)
                  for line in order.lines) == [("renewal", "Enterprise", 50, 7_000, 5_600),
                                               ("upgrade", "Enterprise", 50, 25_000, 20_000)]
    changed = _fresh(license_)
    enterprise = next(e for e in _product(license_).editions if e.name == "Enterprise")
    assert (changed.edition_id, changed.quantity, changed.ms_expires_on, changed.reactivation_required) == (
        enterprise.id, 50, one_year_after(expiry), True)


def test_a_renewal_is_refused_once_another_order_has_upgraded_the_license_it_was_priced_on(northwind, contoso):
    """Bob paid for a renewal priced on 25 mailboxes; alice's order made them 50 before bob's was recorded: bob's
    renewal would under-bill the year, so it is refused and his payment given back."""
    org, alice = northwind
    bob = db.session.scalars(select(User).where(User.email == "bob@northwind.example.com")).one()
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, bob, _maintenance(license_, PurchaseKind.RENEWAL))
    bobs_items = cart_items(bob, org)
    opened = checkout_summary(org, bobs_items)
    summary, taken = take_payment(org, bob, bobs_items, opened.signature, opened.quote.total_minor, INVOICE_ME,
                                  BillingDetails.of(org), gateway())
    _into_cart(org, alice, _upgrade(license_, "Professional", 50))
    _check_out(org, alice)

    with pytest.raises(RuleError, match="changed"):
        record_order(org, bob, summary, INVOICE_ME, BillingDetails.of(org), taken, actor(bob))
    db.session.rollback()
    assert _fresh(license_).ms_expires_on == _today() + timedelta(days=200)


def test_a_personal_license_upgrade_emails_the_resellers_managers(northwind, demo):
    org, alice = northwind
    license_ = make_license(org, org, quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 25))

    _check_out(org, alice)

    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "license_modified")).one()
    assert mail.to_addrs == ["alice@northwind.example.com"]


def test_checkout_shows_the_new_price_when_the_license_was_upgraded_in_another_order(northwind, contoso):
    org, alice = northwind
    bob = db.session.scalars(select(User).where(User.email == "bob@northwind.example.com")).one()
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Professional", 50))
    _into_cart(org, bob, _upgrade(license_, "Professional", 100))  # 25 -> 100: $300
    bobs_items = cart_items(bob, org)
    opened = checkout_summary(org, bobs_items)
    _check_out(org, alice)  # the license has 50 mailboxes now

    with pytest.raises(RuleError, match="Prices changed"):
        place_order(org, bob, bobs_items, opened.signature, opened.quote.total_minor, INVOICE_ME,
                    BillingDetails.of(org), actor(bob), gateway())
    [line] = checkout_summary(org, bobs_items).lines
    assert line.price_changed and line.unit_list_minor == 20_000  # 50 -> 100


def test_an_order_is_refused_when_the_license_changed_between_payment_and_recording(northwind, contoso):
    """Two orders upgrade one license at the same moment: the second finds, once it holds the license, that
    the upgrade it paid for is no longer the one priced. It is refused, so its payment is given back."""
    org, alice = northwind
    bob = db.session.scalars(select(User).where(User.email == "bob@northwind.example.com")).one()
    license_ = make_license(org, contoso, edition="Professional", quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Professional", 50))
    _into_cart(org, bob, _upgrade(license_, "Professional", 100))
    bobs_items = cart_items(bob, org)
    opened = checkout_summary(org, bobs_items)
    summary, taken = take_payment(org, bob, bobs_items, opened.signature, opened.quote.total_minor, INVOICE_ME,
                                  BillingDetails.of(org), gateway())  # bob has paid
    _check_out(org, alice)  # alice's order is recorded first

    with pytest.raises(RuleError, match="changed"):
        record_order(org, bob, summary, INVOICE_ME, BillingDetails.of(org), taken, actor(bob))
    db.session.rollback()

    assert _fresh(license_).quantity == 50
    assert db.session.scalar(select(func.count()).select_from(OrderLine)) == 1


def test_a_reinstatement_is_refused_once_another_order_has_renewed_the_license(northwind, contoso):
    org, alice = northwind
    bob = db.session.scalars(select(User).where(User.email == "bob@northwind.example.com")).one()
    license_ = make_license(org, contoso, ms_expires_on=_today() - timedelta(days=5))
    _into_cart(org, bob, _maintenance(license_, PurchaseKind.REINSTATEMENT))
    bobs_items = cart_items(bob, org)
    opened = checkout_summary(org, bobs_items)
    summary, taken = take_payment(org, bob, bobs_items, opened.signature, opened.quote.total_minor, INVOICE_ME,
                                  BillingDetails.of(org), gateway())
    _into_cart(org, alice, _maintenance(license_, PurchaseKind.REINSTATEMENT))
    _check_out(org, alice)

    with pytest.raises(RuleError, match="renew it instead"):
        record_order(org, bob, summary, INVOICE_ME, BillingDetails.of(org), taken, actor(bob))
    db.session.rollback()
    assert _fresh(license_).ms_expires_on == one_year_after(_today())


def test_new_licenses_in_the_same_cart_are_still_created_as_before(northwind, contoso):
    org, alice = northwind
    license_ = make_license(org, contoso, quantity=25)
    _into_cart(org, alice, _upgrade(license_, "Enterprise", 25))
    product = product_by_slug("webstats")
    add_new_to_cart(alice, org, configure(product, product.editions[0].id, 1, []), 2, actor(alice))
    db.session.commit()

    order = _check_out(org, alice)

    new_line = order.lines[1]
    assert db.session.scalar(select(func.count()).select_from(License)
                             .where(License.order_line_id == new_line.id)) == 2
    assert [line.purchase for line in order.lines] == [PurchaseKind.UPGRADE, PurchaseKind.NEW]
