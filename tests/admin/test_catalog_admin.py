"""Staff manage the catalog: exact parsing of what they type, the rules of each product, edition and add-on, the
tier discounts, an audit entry per change; and the pages, without JavaScript."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import PartnerTier
from portal.audit.models import AuditEntry
from portal.catalog import admin
from portal.catalog.admin import AddOnDetails, EditionDetails, ProductDetails
from portal.catalog.models import (
    AddOn,
    BillingInterval,
    Edition,
    Product,
    ProductKind,
    SubscriptionBasis,
    TierDiscount,
)
from portal.errors import RuleError
from portal.extensions import db
from portal.money import Money, format_amount, format_money, format_percent_bp, parse_amount, parse_percent_bp
from tests.factories import actor, make_user

# ---------------------------------------------------------------- what staff type


@pytest.mark.parametrize(("typed", "cents"), [
    ("1,234.56", 123456), ("4", 400), ("$4", 400), (" 4.5 ", 450), ("0.07", 7), (".5", 50), ("0", 0),
    ("1234567.89", 123456789), ("$10,000,000.00", 1_000_000_000),
])
def test_amounts_typed_by_staff_become_exact_cents(typed, cents):
    assert parse_amount(typed) == cents


@pytest.mark.parametrize(("typed", "reason"), [
    ("", "Enter an amount"), ("   ", "Enter an amount"),
    ("-5", "cannot be negative"), ("-$5", "cannot be negative"), ("$-5", "cannot be negative"),
    ("1.234", "at most 2 decimal places"), ("0.001", "at most 2 decimal places"),
    ("abc", "such as 1,234.56"), ("1.234,56", "such as 1,234.56"), ("1,23", "such as 1,234.56"),
    ("1e3", "such as 1,234.56"), ("NaN", "such as 1,234.56"), ("Infinity", "such as 1,234.56"),
    ("0x10", "such as 1,234.56"), ("١٢", "such as 1,234.56"), ("4 500", "such as 1,234.56"),
    ("9" * 40, "too large"),
])
def test_bad_amounts_are_refused_with_a_reason_for_the_field(typed, reason):
    with pytest.raises(RuleError, match=reason) as refused:
        parse_amount(typed, field="price_minor")
    assert refused.value.field == "price_minor"


def test_a_currency_without_minor_units_takes_no_decimals():
    assert parse_amount("1,500", "JPY") == 1500
    with pytest.raises(RuleError, match="no decimals"):
        parse_amount("1.5", "JPY")


@given(st.integers(0, 10**9))
def test_formatted_amounts_read_back_to_the_same_cents(cents):
    assert parse_amount(format_amount(cents)) == cents
    assert parse_amount(format_money(Money(cents))) == cents  # what the portal shows, pasted back
    assert parse_amount(f"{cents // 100}.{cents % 100:02d}") == cents


@pytest.mark.parametrize(("typed", "bp"), [("20", 2000), ("12.5", 1250), ("12.34 %", 1234), ("0", 0), ("100", 10000),
                                           ("0.01", 1)])
def test_percentages_become_basis_points(typed, bp):
    assert parse_percent_bp(typed) == bp


@pytest.mark.parametrize(("typed", "reason"), [
    ("", "Enter a percentage"), ("-1", "cannot be negative"), ("12.345", "at most 2 decimal places"),
    ("100.01", "at most 100"), ("1000", "at most 100"), ("ten", "such as 20"),
])
def test_bad_percentages_are_refused(typed, reason):
    with pytest.raises(RuleError, match=reason):
        parse_percent_bp(typed)


@given(st.integers(0, 10_000))
def test_basis_points_shown_as_a_percentage_read_back_the_same(bp):
    assert parse_percent_bp(format_percent_bp(bp)) == bp


def test_quantities_are_typed_as_a_list_and_kept_sorted_once_each():
    assert admin.parse_quantities("10, 25, 50") == [10, 25, 50]
    assert admin.parse_quantities("50 10,10") == [10, 50]
    assert admin.parse_quantities("") == []
    for typed in ("ten", "10, -5", "1.5", "0"):
        with pytest.raises(RuleError) as refused:
            admin.parse_quantities(typed)
        assert refused.value.field == "quantities"


# ---------------------------------------------------------------- services


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _license(**fields) -> ProductDetails:
    return ProductDetails(**{"slug": "backup-pro", "name": "Backup Pro", "unit_label": "servers", "active": False,
                             "quantities": (5, 1, 10), "ms_rate_bp": 2250, "reinstatement_fee_minor": 7500,
                             **fields})


def _subscription(**fields) -> ProductDetails:
    return ProductDetails(**{"slug": "kiosk-care", "name": "Kiosk Care", "unit_label": "devices",
                             "basis": SubscriptionBasis.DEVICE, "interval": BillingInterval.MONTHLY,
                             "unit_price_minor": 450, **fields})


def test_a_license_product_is_created_with_its_terms_and_audited(ctx):
    staff = actor(make_user(is_staff=True))
    product = admin.create_product(ProductKind.LICENSE, _license(slug=" Backup-Pro "), staff)
    assert (product.slug, product.quantities, product.ms_rate_bp) == ("backup-pro", [1, 5, 10], 2250)
    assert product.basis is None and product.unit_price_minor is None
    entry = _audit("catalog.product_created")[0]
    assert entry.actor_id == staff.user_id and entry.object_id == str(product.id)
    assert entry.details["slug"] == "backup-pro" and entry.details["kind"] == "license"


def test_a_subscription_is_charged_per_device_or_location_monthly_or_annually(ctx):
    product = admin.create_product(ProductKind.SUBSCRIPTION, _subscription(quantities=(1, 2)), actor())
    assert (product.basis, product.interval, product.unit_price_minor) == (
        SubscriptionBasis.DEVICE, BillingInterval.MONTHLY, 450)
    assert product.quantities == []  # license terms do not apply
    for field, details in [("basis", _subscription(slug="a", basis=None)),
                           ("interval", _subscription(slug="b", interval=None)),
                           ("unit_price_minor", _subscription(slug="c", unit_price_minor=None))]:
        with pytest.raises(RuleError) as refused:
            admin.create_product(ProductKind.SUBSCRIPTION, details, actor())
        assert refused.value.field == field


@pytest.mark.parametrize(("changes", "field"), [
    ({"slug": "Backup Pro"}, "slug"), ({"slug": "-backup"}, "slug"), ({"slug": "backup--pro"}, "slug"),
    ({"slug": "b" * 65}, "slug"), ({"name": "  "}, "name"), ({"unit_label": ""}, "unit_label"),
    ({"quantities": ()}, "quantities"), ({"quantities": (0, 5)}, "quantities"),
    ({"quantities": (admin.MAX_QUANTITY + 1,)}, "quantities"),
    ({"ms_rate_bp": 10_001}, "ms_rate_bp"), ({"ms_rate_bp": -1}, "ms_rate_bp"), ({"ms_rate_bp": None}, "ms_rate_bp"),
    ({"reinstatement_fee_minor": -1}, "reinstatement_fee_minor"),
    ({"reinstatement_fee_minor": admin.MAX_PRICE_MINOR + 1}, "reinstatement_fee_minor"),
    ({"position": -1}, "position"),
])
def test_each_product_rule_names_its_field_and_creates_nothing(ctx, changes, field):
    with pytest.raises(RuleError) as refused:
        admin.create_product(ProductKind.LICENSE, _license(**changes), actor())
    assert refused.value.field == field
    assert db.session.scalars(select(Product)).all() == []
    assert _audit("catalog.product_created") == []


def test_slugs_are_unique_whatever_their_case(ctx):
    admin.create_product(ProductKind.LICENSE, _license(), actor())
    with pytest.raises(RuleError, match="already uses the slug") as refused:
        admin.create_product(ProductKind.SUBSCRIPTION, _subscription(slug="BACKUP-PRO"), actor())
    assert refused.value.field == "slug"


def test_updating_a_product_audits_what_changed_and_keeps_its_kind(ctx):
    product = admin.create_product(ProductKind.LICENSE, _license(), actor())
    admin.update_product(product, _license(name="Backup Pro 2", ms_rate_bp=2000, basis=SubscriptionBasis.DEVICE),
                         actor())
    assert product.kind is ProductKind.LICENSE and product.basis is None
    changes = _audit("catalog.product_updated")[0].details["changes"]
    assert changes == {"name": ["Backup Pro", "Backup Pro 2"], "ms_rate_bp": [2250, 2000]}
    admin.update_product(product, _license(name="Backup Pro 2", ms_rate_bp=2000), actor())
    assert len(_audit("catalog.product_updated")) == 1  # nothing changed, nothing recorded


def test_editions_have_unique_names_per_product_and_prices_that_are_not_negative(ctx):
    first = admin.create_product(ProductKind.LICENSE, _license(), actor())
    other = admin.create_product(ProductKind.LICENSE, _license(slug="other"), actor())
    pro = admin.add_edition(first, EditionDetails("Pro", 0, 400), actor())
    admin.add_edition(other, EditionDetails("Pro", 100, 100), actor())  # another product may use the name
    with pytest.raises(RuleError) as refused:
        admin.add_edition(first, EditionDetails(" pro ", 0, 500), actor())
    assert refused.value.field == "name"
    for details, field in [(EditionDetails("Plus", -1, 0), "base_price_minor"),
                           (EditionDetails("Plus", 0, -400), "unit_price_minor"),
                           (EditionDetails("Plus", 0, admin.MAX_PRICE_MINOR + 1), "unit_price_minor"),
                           (EditionDetails("", 0, 0), "name")]:
        with pytest.raises(RuleError) as refused:
            admin.add_edition(first, details, actor())
        assert refused.value.field == field
    enterprise = admin.add_edition(first, EditionDetails("Enterprise", 0, 700), actor())
    assert enterprise.position == pro.position + 1  # added after the others
    assert [e.details["name"] for e in _audit("catalog.edition_added")] == ["Pro", "Pro", "Enterprise"]


def test_an_edition_is_repriced_renamed_or_retired_with_an_audit_entry(ctx):
    product = admin.create_product(ProductKind.LICENSE, _license(), actor())
    pro = admin.add_edition(product, EditionDetails("Pro", 0, 400), actor())
    admin.add_edition(product, EditionDetails("Enterprise", 0, 700), actor())
    admin.update_edition(pro, EditionDetails("Pro", 1000, 450, position=pro.position, active=False), actor())
    assert (pro.base_price_minor, pro.unit_price_minor, pro.active) == (1000, 450, False)
    entry = _audit("catalog.edition_updated")[0]
    assert entry.details["changes"] == {"base_price_minor": [0, 1000], "unit_price_minor": [400, 450],
                                        "active": [True, False]}
    with pytest.raises(RuleError) as refused:
        admin.update_edition(pro, EditionDetails("enterprise", 0, 450, position=0), actor())
    assert refused.value.field == "name"


def test_add_ons_have_unique_slugs_per_product(ctx):
    product = admin.create_product(ProductKind.LICENSE, _license(), actor())
    addon = admin.add_addon(product, AddOnDetails("antispam", "Anti-Spam", 15000), actor())
    with pytest.raises(RuleError) as refused:
        admin.add_addon(product, AddOnDetails("AntiSpam", "Other", 100), actor())
    assert refused.value.field == "slug"
    with pytest.raises(RuleError) as refused:
        admin.add_addon(product, AddOnDetails("anti spam", "Other", 100), actor())
    assert refused.value.field == "slug"
    admin.update_addon(addon, AddOnDetails("antispam", "Advanced Anti-Spam", 17500, position=3), actor())
    assert (addon.name, addon.price_minor, addon.position) == ("Advanced Anti-Spam", 17500, 3)
    assert _audit("catalog.addon_added") and _audit("catalog.addon_updated")


def test_a_license_product_is_offered_only_while_it_has_an_edition_to_buy(ctx):
    with pytest.raises(RuleError) as refused:
        admin.create_product(ProductKind.LICENSE, _license(active=True), actor())
    assert refused.value.field == "active"
    product = admin.create_product(ProductKind.LICENSE, _license(), actor())
    pro = admin.add_edition(product, EditionDetails("Pro", 0, 400), actor())
    admin.update_product(product, _license(active=True), actor())
    assert product.active
    with pytest.raises(RuleError) as refused:
        admin.update_edition(pro, EditionDetails("Pro", 0, 400, active=False), actor())
    assert refused.value.field == "active"
    admin.add_edition(product, EditionDetails("Enterprise", 0, 700), actor())
    admin.update_edition(pro, EditionDetails("Pro", 0, 400, active=False), actor())  # another edition is offered
    assert not pro.active


def test_subscriptions_have_neither_editions_nor_add_ons(ctx):
    plan = admin.create_product(ProductKind.SUBSCRIPTION, _subscription(), actor())
    with pytest.raises(RuleError, match="no editions"):
        admin.add_edition(plan, EditionDetails("Pro", 0, 100), actor())
    with pytest.raises(RuleError, match="no add-ons"):
        admin.add_addon(plan, AddOnDetails("extra", "Extra", 100), actor())


def test_tier_discounts_are_set_in_basis_points_with_an_entry_per_change(ctx):
    db.session.add(TierDiscount(tier=PartnerTier.GOLD, discount_bp=2000))
    admin.set_tier_discounts({PartnerTier.SILVER: 1250, PartnerTier.GOLD: 2000, PartnerTier.PLATINUM: 3500},
                             actor())
    assert admin.tier_discounts() == {PartnerTier.SILVER: 1250, PartnerTier.GOLD: 2000, PartnerTier.PLATINUM: 3500}
    entries = _audit("catalog.tier_discount_changed")
    assert [(e.object_id, e.details) for e in entries] == [
        ("silver", {"before_bp": 0, "after_bp": 1250}), ("platinum", {"before_bp": 0, "after_bp": 3500})]
    with pytest.raises(RuleError) as refused:
        admin.set_tier_discounts({PartnerTier.GOLD: 10_001}, actor())
    assert refused.value.field == "gold"
    with pytest.raises(RuleError):
        admin.set_tier_discounts({PartnerTier.NONE: 500}, actor())


def test_the_database_refuses_negative_prices_even_past_the_services(ctx):
    product = admin.create_product(ProductKind.LICENSE, _license(), actor())
    db.session.add(Edition(product_id=product.id, name="Broken", base_price_minor=-1, unit_price_minor=0))
    with pytest.raises(IntegrityError):
        db.session.flush()


# ---------------------------------------------------------------- pages, without JavaScript


def _product_form(**fields) -> dict:
    return {"kind": "license", "name": "Backup Pro", "slug": "backup-pro", "summary": "Server backups.",
            "unit_label": "servers", "position": "", "quantities": "1, 5, 10", "ms_rate_bp": "22.5",
            "reinstatement_fee_minor": "75", "basis": "", "interval": "", "unit_price_minor": "", **fields}


def _id_from(location: str) -> int:
    return int(re.search(r"/admin/catalog/(\d+)$", location).group(1))


def _edition_form(prefix: str, name: str, base: str, unit: str, position: int, active: bool = True) -> dict:
    data = {f"{prefix}-name": name, f"{prefix}-base_price_minor": base, f"{prefix}-unit_price_minor": unit,
            f"{prefix}-position": str(position)}
    return data | {f"{prefix}-active": active}


def _catalog_state(app) -> tuple:
    with app.app_context():
        return (
            sorted((p.id, p.slug, p.name, p.active, tuple(p.quantities), p.ms_rate_bp)
                   for p in db.session.scalars(select(Product))),
            sorted((e.id, e.name, e.base_price_minor, e.unit_price_minor, e.active)
                   for e in db.session.scalars(select(Edition))),
            sorted((a.id, a.slug, a.price_minor) for a in db.session.scalars(select(AddOn))),
            sorted((t.tier.value, t.discount_bp) for t in db.session.scalars(select(TierDiscount))),
            db.session.scalar(select(db.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.startswith("catalog."))),
        )


def _forged(client, url: str, data: dict):
    """A request no page offers this user (not staff, an unknown id), with the session's token."""
    return client.post(url, data={**data, "csrf_token": client.csrf_token()})


def test_staff_build_a_product_with_two_editions_and_an_add_on_then_reprice_and_offer_it(app, login, client, demo):
    ops = login("ops")
    response = ops.submit("/admin/catalog/new", _product_form(active=True))
    assert response.status_code == 422  # nothing to buy it in yet
    assert 'id="active-error">A license is bought in one of its editions' in response.get_data(as_text=True)
    response = ops.submit("/admin/catalog/new", _product_form())
    assert response.status_code == 302
    product_id = _id_from(response.headers["Location"])
    assert "Backup Pro" not in client.get("/shop").get_data(as_text=True)
    for name, base, unit in [("Standard", "0", "49"), ("Enterprise", "1,000", "89.50")]:
        response = ops.submit(f"/admin/catalog/{product_id}", {
            "new-edition-name": name, "new-edition-base_price_minor": base, "new-edition-unit_price_minor": unit})
        assert response.status_code == 302
    response = ops.submit(f"/admin/catalog/{product_id}", {
        "new-addon-name": "Offsite Copies", "new-addon-slug": "offsite", "new-addon-price_minor": "$120"})
    assert response.status_code == 302

    page = ops.get(f"/admin/catalog/{product_id}").get_data(as_text=True)
    assert "Offsite Copies" in page and 'value="1,000.00"' in page and 'value="89.50"' in page
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert (product.slug, product.kind) == ("backup-pro", ProductKind.LICENSE)
        assert (product.quantities, product.ms_rate_bp, product.reinstatement_fee_minor) == ([1, 5, 10], 2250, 7500)
        editions = {e.name: (e.id, e.position, e.base_price_minor, e.unit_price_minor)
                    for e in db.session.scalars(select(Edition).where(Edition.product_id == product_id))}
        assert editions["Enterprise"][2:] == (100000, 8950)
        assert db.session.scalars(select(AddOn.price_minor).where(AddOn.product_id == product_id)).one() == 12000
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == demo.users["ops"])
                                          .where(AuditEntry.action.startswith("catalog."))))
        assert actions == ["catalog.product_created", "catalog.edition_added", "catalog.edition_added",
                           "catalog.addon_added"]

    standard_id, position = editions["Standard"][:2]
    response = ops.submit(f"/admin/catalog/{product_id}",
                          _edition_form(f"edition-{standard_id}", "Standard", "0", "54.99", position))
    assert response.status_code == 302
    assert "Edition Standard saved." in ops.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Edition, standard_id).unit_price_minor == 5499

    product_fields = {f"product-{k}": v for k, v in _product_form(active=True).items()
                      if k not in ("kind", "basis", "interval", "unit_price_minor")}  # a license's fields
    assert ops.submit(f"/admin/catalog/{product_id}", product_fields).status_code == 302
    assert "Backup Pro" in client.get("/shop").get_data(as_text=True)  # offered: the public catalog lists it


def test_a_mistyped_price_is_shown_beside_its_field_and_changes_nothing(app, login, demo):
    ops = login("ops")
    with app.app_context():
        edition = db.session.scalars(select(Edition).order_by(Edition.id)).first()
        edition_id, name, position = edition.id, edition.name, edition.position
        product_page = f"/admin/catalog/{edition.product_id}"
    before = _catalog_state(app)
    prefix = f"edition-{edition_id}"
    response = ops.submit(product_page, _edition_form(prefix, name, "0", "12.345", position))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="{prefix}-unit_price_minor-error">Use at most 2 decimal places.</p>', page)
    assert 'value="12.345"' in page  # what was typed is there to correct
    response = ops.submit(product_page, _edition_form(prefix, name, "-5", "4", position))
    assert response.status_code == 422
    assert f'id="{prefix}-base_price_minor-error">The amount cannot be negative.' in response.get_data(as_text=True)
    assert _catalog_state(app) == before


def test_a_rule_of_the_service_comes_back_beside_its_field(app, login, demo):
    ops = login("ops")
    with app.app_context():
        product_id = db.session.scalars(select(Product.id).where(Product.slug == "mailsuite")).one()
    before = _catalog_state(app)
    response = ops.submit(f"/admin/catalog/{product_id}", {
        "new-edition-name": "PROFESSIONAL", "new-edition-base_price_minor": "0", "new-edition-unit_price_minor": "1"})
    assert response.status_code == 422
    assert 'id="new-edition-name-error">This product already has an edition called PROFESSIONAL.' in (
        response.get_data(as_text=True))
    response = ops.submit("/admin/catalog/new", _product_form(slug="mailsuite", quantities="ten"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="quantities-error">Enter whole numbers separated by commas' in page
    response = ops.submit("/admin/catalog/new", _product_form(slug="mailsuite"))
    assert 'id="slug-error">Another product already uses the slug mailsuite.' in response.get_data(as_text=True)
    assert _catalog_state(app) == before


def test_staff_edit_a_product_and_set_the_tier_discounts(app, login, demo):
    ops = login("ops")
    with app.app_context():
        plan = db.session.scalars(select(Product).where(Product.slug == "device-protection")).one()
        plan_id = plan.id
    response = ops.submit(f"/admin/catalog/{plan_id}", {
        "product-name": "Device Protection", "product-slug": "device-protection", "product-summary": "",
        "product-unit_label": "devices", "product-position": "10", "product-basis": "device",
        "product-interval": "annual", "product-unit_price_minor": "45", "product-active": False})
    assert response.status_code == 302
    response = ops.submit("/admin/catalog", {"silver": "12.5", "gold": "25", "platinum": "150"})
    assert response.status_code == 422
    assert 'id="platinum-error">A percentage is at most 100.' in response.get_data(as_text=True)
    assert ops.submit("/admin/catalog", {"silver": "12.5", "gold": "25", "platinum": "35"}).status_code == 302
    catalog = ops.get("/admin/catalog").get_data(as_text=True)
    assert "Subscription, per device, annual" in catalog and 'value="12.5"' in catalog
    with app.app_context():
        plan = db.session.get(Product, plan_id)
        assert (plan.interval, plan.unit_price_minor, plan.active) == (BillingInterval.ANNUAL, 4500, False)
        assert admin.tier_discounts() == {PartnerTier.SILVER: 1250, PartnerTier.GOLD: 2500,
                                          PartnerTier.PLATINUM: 3500}


def test_the_catalog_page_lists_every_product_with_its_editions_and_add_ons(login, demo):
    page = login("ops").get("/admin/catalog").get_data(as_text=True)
    row = re.search(r"MailSuite Mail Server</a></th>(.*?)</tr>", page, re.S).group(1)
    assert [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] == [
        "Perpetual license", "mailboxes", "3", "3", "Offered"]


def test_unknown_catalog_ids_are_404(login, demo):
    ops = login("ops")
    assert ops.get("/admin/catalog/999999").status_code == 404
    assert _forged(ops, "/admin/catalog/999999/editions", {}).status_code == 404
    assert _forged(ops, "/admin/catalog/editions/999999", {}).status_code == 404
    assert _forged(ops, "/admin/catalog/addons/999999", {}).status_code == 404


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave", "erin", "frank"])
def test_only_staff_manage_the_catalog(app, login, client, demo, user):
    before = _catalog_state(app)
    member = login(user)
    assert member.get("/admin/catalog").status_code == 403
    assert _forged(member, "/admin/catalog/new", _product_form(slug="sneaky")).status_code == 403
    assert _forged(member, "/admin/catalog/tiers", {"silver": "90", "gold": "90", "platinum": "90"}).status_code == 403
    assert _forged(member, "/admin/catalog/editions/1",
                   _edition_form("edition-1", "Free", "0", "0", 0, active="y")).status_code == 403
    assert client.get("/admin/catalog").headers["Location"].startswith("/login")
    assert _catalog_state(app) == before
