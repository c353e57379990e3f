"""Staff set the reseller fees and recommended retail prices at /admin/catalog (issue 15, item 1): a license
product's fee per customer account per month for all resellers, another fee (or none) for one reseller, and each
edition's RRP per unit. Each change is checked (a mistake comes back beside its field and changes nothing) and
audited with its before and after values; only staff reach any of it. The forms are posted as the pages render
them, without JavaScript."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, PartnerTier, User
from portal.audit.models import AuditEntry
from portal.catalog import admin
from portal.catalog.models import Edition, Product
from portal.errors import RuleError
from portal.extensions import db
from portal.reseller_fees import config
from portal.reseller_fees.counting import fee_for
from portal.reseller_fees.models import ResellerFeeOverride
from tests.factories import actor, demo_product, make_org, make_user


def _ids(app) -> dict[str, int]:
    with app.app_context():
        mailsuite = demo_product("mailsuite")
        return {"mailsuite": mailsuite.id, "professional": next(e.id for e in mailsuite.editions
                                                                if e.name == "Professional"),
                "device-protection": demo_product("device-protection").id,
                **{o.name: o.id for o in db.session.scalars(select(Organization))}}


def _state(app) -> tuple:
    """Every fee, RRP and override, and the number of catalog audit entries: what a refused form must not
    change."""
    with app.app_context():
        return (
            sorted(db.session.execute(select(Product.id, Product.reseller_fee_minor, Product.name)).all()),
            sorted(db.session.execute(select(Edition.id, Edition.rrp_unit_minor, Edition.unit_price_minor)).all()),
            sorted(db.session.execute(select(ResellerFeeOverride.product_id, ResellerFeeOverride.reseller_id,
                                             ResellerFeeOverride.fee_minor)).all()),
            db.session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.startswith("catalog."))),
        )


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


# ---------------------------------------------------------------- services


def test_the_fee_in_force_is_the_resellers_own_else_the_products(ctx, demo):
    mailsuite, plan = demo_product("mailsuite"), demo_product("device-protection")
    northwind, litware = (db.session.get(Organization, demo.orgs[n]) for n in ("Northwind IT", "Litware Solutions"))
    other = make_org("Tailspin Resellers", partner_tier=PartnerTier.SILVER)
    staff = actor(make_user(is_staff=True))
    assert config.fee_in_force(mailsuite, northwind.id) == mailsuite.reseller_fee_minor  # the demo's, for all
    config.set_product_fee(mailsuite, 500, staff)
    config.set_reseller_fee(mailsuite, northwind, 300, staff)
    config.set_reseller_fee(mailsuite, litware, None, staff)  # no fee for Litware
    assert [config.fee_in_force(mailsuite, r.id) for r in (northwind, litware, other)] == [300, None, 500]
    # the counting rule's own statement of it says the same
    overrides = {(o.product_id, o.reseller_id): o.fee_minor for o in db.session.scalars(select(ResellerFeeOverride))}
    for reseller in (northwind, litware, other):
        assert config.fee_in_force(mailsuite, reseller.id) == (
            fee_for(mailsuite.id, reseller.id, {mailsuite.id: 500}, overrides) or None)
    config.set_product_fee(mailsuite, 0, staff)  # a fee of 0 charges nothing: no fee
    assert config.fee_in_force(mailsuite, other.id) is None
    assert config.fee_in_force(plan, northwind.id) is None


def test_a_products_fee_is_set_changed_and_cleared_with_its_before_and_after(ctx, demo):
    mailsuite = demo_product("mailsuite")
    staff = actor(make_user(is_staff=True))
    demo_fee = mailsuite.reseller_fee_minor
    config.set_product_fee(mailsuite, 1250, staff)
    config.set_product_fee(mailsuite, 1250, staff)  # no change, no entry
    config.set_product_fee(mailsuite, 990, staff)
    config.set_product_fee(mailsuite, None, staff)
    assert mailsuite.reseller_fee_minor is None
    entries = _audit("catalog.reseller_fee_set")
    assert [e.details["changes"] for e in entries] == [
        {"reseller_fee_minor": [demo_fee, 1250]}, {"reseller_fee_minor": [1250, 990]},
        {"reseller_fee_minor": [990, None]}]
    assert {(e.actor_id, e.object_id) for e in entries} == {(staff.user_id, str(mailsuite.id))}


@pytest.mark.parametrize(("fee", "reason"), [(-1, "cannot be negative"), (admin.MAX_PRICE_MINOR + 1, "too large")])
def test_a_fee_or_rrp_out_of_bounds_is_refused_beside_its_field(ctx, demo, fee, reason):
    mailsuite = demo_product("mailsuite")
    northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
    for change, field in [(lambda: config.set_product_fee(mailsuite, fee, actor()), "reseller_fee_minor"),
                          (lambda: config.set_edition_rrp(mailsuite.editions[0], fee, actor()), "rrp_unit_minor"),
                          (lambda: config.set_reseller_fee(mailsuite, northwind, fee, actor()), "fee_minor")]:
        with pytest.raises(RuleError, match=reason) as refused:
            change()
        assert refused.value.field == field
    config.set_product_fee(mailsuite, admin.MAX_PRICE_MINOR, actor())  # the largest price is a fee too
    assert mailsuite.reseller_fee_minor == admin.MAX_PRICE_MINOR


def test_a_subscription_carries_no_reseller_fee(ctx, demo):
    plan = demo_product("device-protection")
    northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
    with pytest.raises(RuleError, match="Subscriptions carry no reseller fee") as refused:
        config.set_product_fee(plan, 500, actor())
    assert refused.value.field == "reseller_fee_minor"
    with pytest.raises(RuleError, match="Subscriptions carry no reseller fee"):
        config.set_reseller_fee(plan, northwind, 500, actor())
    config.set_product_fee(plan, None, actor())  # none is what it has
    assert plan.reseller_fee_minor is None and _audit("catalog.reseller_fee_set") == []


def test_an_editions_rrp_is_set_and_cleared_with_an_audit_entry(ctx, demo):
    edition = next(e for e in demo_product("mailsuite").editions if e.name == "Professional")
    demo_rrp = edition.rrp_unit_minor
    config.set_edition_rrp(edition, 4500, actor())
    config.set_edition_rrp(edition, 4500, actor())
    config.set_edition_rrp(edition, None, actor())
    assert edition.rrp_unit_minor is None
    assert [(e.object_id, e.details["changes"]) for e in _audit("catalog.rrp_set")] == [
        (str(edition.id), {"rrp_unit_minor": [demo_rrp, 4500]}), (str(edition.id), {"rrp_unit_minor": [4500, None]})]


def test_one_resellers_fee_is_set_once_per_product_changed_and_removed(ctx, demo):
    mailsuite = demo_product("mailsuite")
    litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
    staff = make_user(is_staff=True, full_name="Olga Ops")
    first = config.set_reseller_fee(mailsuite, litware, 250, actor(staff))
    again = config.set_reseller_fee(mailsuite, litware, None, actor(staff))  # setting again changes it
    config.set_reseller_fee(mailsuite, litware, None, actor(staff))  # no change, no entry
    assert again.id == first.id and again.fee_minor is None
    assert db.session.scalar(select(func.count()).select_from(ResellerFeeOverride)) == 1
    row = config.overrides_of(mailsuite)[0]
    assert (row.id, row.reseller_id, row.reseller_name, row.fee_minor, row.updated_by) == (
        first.id, litware.id, "Litware Solutions", None, "Olga Ops")
    entries = _audit("catalog.reseller_fee_override_set")
    assert [(e.details["created"], e.details["changes"]) for e in entries] == [
        (True, {"fee_minor": [None, 250]}), (False, {"fee_minor": [250, None]})]
    assert entries[0].details["reseller_id"] == litware.id
    config.remove_reseller_fee(again, actor(staff))
    assert config.overrides_of(mailsuite) == []
    removed = _audit("catalog.reseller_fee_override_removed")[0]
    assert removed.details["before"] == {"fee_minor": None} and removed.details["reseller"] == "Litware Solutions"


def test_only_a_reseller_gets_a_fee_of_its_own(ctx, demo):
    mailsuite = demo_product("mailsuite")
    for name in ("Fabrikam Stores", "Contoso Retail"):  # a main chain without a partner tier; a sub-chain
        with pytest.raises(RuleError, match="is not a reseller") as refused:
            config.set_reseller_fee(mailsuite, db.session.get(Organization, demo.orgs[name]), 100, actor())
        assert refused.value.field == "reseller"
    assert db.session.scalars(select(ResellerFeeOverride)).all() == []


def test_staff_name_a_reseller_by_its_id_or_its_name(ctx, demo):
    litware_id = demo.orgs["Litware Solutions"]
    make_org("Acme North", partner_tier=PartnerTier.GOLD)
    make_org("Acme South", partner_tier=PartnerTier.GOLD)
    make_org("Acme", partner_tier=PartnerTier.SILVER)
    assert config.reseller_named(str(litware_id)).name == "Litware Solutions"
    assert config.reseller_named(" litware solutions ").id == litware_id
    assert config.reseller_named("ware").id == litware_id  # the one name that contains it
    assert config.reseller_named("ACME ").name == "Acme"  # an exact name wins over the names containing it
    for typed, reason in [("", "Enter the reseller's name"), ("Acme S0uth", "No reseller is called Acme S0uth"),
                          ("Fabrikam Stores", "No reseller is called"),  # a main chain, but without a partner tier
                          (str(demo.orgs["Fabrikam Stores"]), "No reseller has the id"),
                          ("99999999999999999999", "No reseller has the id"), ("%", "No reseller is called %"),
                          ("cme", "Several resellers match cme: Acme (id ")]:
        with pytest.raises(RuleError, match=re.escape(reason)) as refused:
            config.reseller_named(typed)
        assert refused.value.field == "reseller"


# ---------------------------------------------------------------- pages, without JavaScript


def test_staff_set_and_clear_a_products_fee_on_its_page(app, login, demo):
    ops, ids = login("ops"), _ids(app)
    url = f"/admin/catalog/{ids['mailsuite']}"
    page = ops.get(url).get_data(as_text=True)
    assert "Reseller fee per customer account per month (USD)" in page
    response = ops.submit(url, {"product-reseller_fee_minor": "12.50"}, action=url)
    assert response.status_code == 302
    page = ops.get(url).get_data(as_text=True)
    assert re.search(r'name="product-reseller_fee_minor"[^>]*value="12.50"', page)
    assert "in place of\n        the fee for all resellers ($12.50" in page
    with app.app_context():
        assert db.session.get(Product, ids["mailsuite"]).reseller_fee_minor == 1250
        entry = _audit("catalog.reseller_fee_set")[0]
        assert entry.actor_id == demo.users["ops"] and entry.details["changes"]["reseller_fee_minor"][1] == 1250
    assert ops.submit(url, {"product-reseller_fee_minor": ""}, action=url).status_code == 302
    with app.app_context():
        assert db.session.get(Product, ids["mailsuite"]).reseller_fee_minor is None


@pytest.mark.parametrize(("typed", "message"), [
    ("-5", "The amount cannot be negative."), ("five", "Enter an amount in USD such as 1,234.56."),
    ("1.234", "Use at most 2 decimal places."), ("10,000,000.01", "That fee is too large."),
])
def test_a_mistyped_fee_is_shown_beside_its_field_and_changes_nothing(app, login, demo, typed, message):
    ops, ids = login("ops"), _ids(app)
    url = f"/admin/catalog/{ids['mailsuite']}"
    before = _state(app)
    response = ops.submit(url, {"product-reseller_fee_minor": typed, "product-name": "MailSuite Renamed"},
                          action=url)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error(page, "product-reseller_fee_minor") == message
    assert f'value="{typed}"' in page  # what was typed is there to correct
    assert _state(app) == before  # the name typed with it is not saved either


def test_a_subscription_product_has_no_fee_field_and_takes_none(app, login, demo):
    ops, ids = login("ops"), _ids(app)
    url = f"/admin/catalog/{ids['device-protection']}"
    page = ops.get(url).get_data(as_text=True)
    assert "reseller_fee_minor" not in page and "Fee for one reseller" not in page and "RRP" not in page
    form, _ = ops.page(url).find(action=url)
    forged = {**dict(form.successful()), "product-reseller_fee_minor": "5"}  # sent anyway: the form has no such field
    assert ops.post(url, data=forged).status_code == 302
    with app.app_context():
        assert db.session.get(Product, ids["device-protection"]).reseller_fee_minor is None


def test_staff_set_an_editions_rrp_beside_its_list_price(app, login, demo):
    ops, ids = login("ops"), _ids(app)
    url, edition_url = f"/admin/catalog/{ids['mailsuite']}", f"/admin/catalog/editions/{ids['professional']}"
    prefix = f"edition-{ids['professional']}"
    page = ops.get(url).get_data(as_text=True)
    assert "RRP per unit (USD)" in page
    label = f'<label for="{prefix}-rrp_unit_minor" class="visually-hidden">Recommended retail price per unit (USD)'
    assert label in page
    response = ops.submit(url, {f"{prefix}-rrp_unit_minor": "$7.25"}, action=edition_url)
    assert response.status_code == 302
    assert "Edition Professional saved." in ops.get(response.headers["Location"]).get_data(as_text=True)
    page = ops.get(url).get_data(as_text=True)
    row = re.search(rf'name="{prefix}-unit_price_minor"[^>]*value="([^"]*)".*?name="{prefix}-rrp_unit_minor"'
                    rf'[^>]*value="([^"]*)"', page, re.S)
    with app.app_context():
        edition = db.session.get(Edition, ids["professional"])
        assert edition.rrp_unit_minor == 725
        assert row.groups() == (admin_amount(edition.unit_price_minor), "7.25")  # the RRP beside the list price
        assert _audit("catalog.rrp_set")[0].details["changes"]["rrp_unit_minor"][1] == 725

    before = _state(app)
    response = ops.submit(url, {f"{prefix}-rrp_unit_minor": "-1"}, action=edition_url)
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), f"{prefix}-rrp_unit_minor") == "The amount cannot be negative."
    assert _state(app) == before

    new_url = f"/admin/catalog/{ids['mailsuite']}/editions"
    response = ops.submit(url, {"new-edition-name": "Education", "new-edition-unit_price_minor": "2",
                                "new-edition-rrp_unit_minor": "3.10"}, action=new_url)
    assert response.status_code == 302
    assert ops.submit(url, {f"{prefix}-rrp_unit_minor": ""}, action=edition_url).status_code == 302
    with app.app_context():
        rrps = dict(db.session.execute(select(Edition.name, Edition.rrp_unit_minor)
                                       .where(Edition.product_id == ids["mailsuite"])).all())
        assert (rrps["Education"], rrps["Professional"]) == (310, None)


def admin_amount(minor: int) -> str:
    from portal.money import format_amount

    return format_amount(minor)


def test_staff_give_one_reseller_its_own_fee_change_it_and_remove_it(app, login, demo):
    ops, ids = login("ops"), _ids(app)
    url = f"/admin/catalog/{ids['mailsuite']}"
    fee_url = f"/admin/catalog/{ids['mailsuite']}/reseller-fees"
    page = ops.get(url).get_data(as_text=True)
    assert "None: every reseller pays the fee for all resellers." in page
    response = ops.submit(url, {"reseller-fee-reseller": "litware", "reseller-fee-fee_minor": "2.50"},
                          action=fee_url)
    assert response.status_code == 302
    page = ops.get(response.headers["Location"]).get_data(as_text=True)
    assert "Litware Solutions now pays a fee of $2.50 per customer account on MailSuite Mail Server." in page
    row = re.search(r"<tr>\s*<th[^>]* scope=\"row\"><a [^>]*>Litware Solutions</a></th>(.*?)</tr>", page, re.S).group(1)
    with app.app_context():
        ops_name = db.session.get(User, demo.users["ops"]).full_name
    assert "$2.50" in row and ops_name in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row)

    response = ops.submit(url, {  # by its id this time, with no fee
        "reseller-fee-reseller": str(ids["Litware Solutions"]), "reseller-fee-no_fee": True}, action=fee_url)
    assert response.status_code == 302
    page = ops.get(url).get_data(as_text=True)
    row = re.search(r"<tr>\s*<th[^>]* scope=\"row\"><a [^>]*>Litware Solutions</a></th>(.*?)</tr>", page, re.S).group(1)
    assert "No fee" in row and page.count(">Litware Solutions</a></th>") == 1
    with app.app_context():
        override = db.session.scalars(select(ResellerFeeOverride)).one()
        assert (override.reseller_id, override.fee_minor, override.updated_by_id) == (
            ids["Litware Solutions"], None, demo.users["ops"])
        override_id = override.id

    remove_url = f"/admin/catalog/reseller-fees/{override_id}/remove"
    assert f'href="{remove_url}"' in page  # the row's Remove… leads to the confirmation
    confirm = ops.page(remove_url)
    assert "Remove the fee of Litware Solutions on MailSuite Mail Server?" in confirm.html
    assert "now pays no fee" in confirm.html
    assert ops.post(remove_url, data={}).status_code == 400  # a forged post, without the token, removes nothing
    response = ops.submit(confirm, {}, action=remove_url)
    assert response.status_code == 302
    assert "Litware Solutions pays the fee of MailSuite Mail Server for all resellers again." in (
        ops.get(response.headers["Location"]).get_data(as_text=True))
    assert ops.get(remove_url).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(ResellerFeeOverride)).all() == []
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == demo.users["ops"])
                                          .where(AuditEntry.action.startswith("catalog.")).order_by(AuditEntry.id)))
        assert actions == ["catalog.reseller_fee_override_set", "catalog.reseller_fee_override_set",
                           "catalog.reseller_fee_override_removed"]


@pytest.mark.parametrize(("typed", "field", "message"), [
    ({"reseller-fee-reseller": "Nobody Ltd", "reseller-fee-fee_minor": "1"}, "reseller",
     "No reseller is called Nobody Ltd. A reseller is a main chain with a partner tier."),
    ({"reseller-fee-reseller": "i", "reseller-fee-fee_minor": "1"}, "reseller", "Several resellers match i: "),
    ({"reseller-fee-reseller": "Fabrikam Stores", "reseller-fee-fee_minor": "1"}, "reseller",
     "No reseller is called Fabrikam Stores."),
    ({"reseller-fee-reseller": "", "reseller-fee-fee_minor": "1"}, "reseller", "Enter the reseller's name or its id."),
    ({"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": ""}, "fee_minor",
     "Enter the fee, or tick No fee for this reseller."),
    ({"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": "3", "reseller-fee-no_fee": "y"},
     "fee_minor", "Leave the fee empty when this reseller pays no fee, or untick No fee."),
    ({"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": "-3"}, "fee_minor",
     "The amount cannot be negative."),
    ({"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": "3.999"}, "fee_minor",
     "Use at most 2 decimal places."),
    ({"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": "lots"}, "fee_minor",
     "Enter an amount in USD such as 1,234.56."),
])
def test_a_mistaken_resellers_fee_is_shown_beside_its_field_and_changes_nothing(app, login, demo, typed, field,
                                                                                 message):
    ops, ids = login("ops"), _ids(app)
    url = f"/admin/catalog/{ids['mailsuite']}"
    fee_url = f"{url}/reseller-fees"
    before = _state(app)
    response = ops.submit(url, {name: True if value == "y" else value for name, value in typed.items()},
                          action=fee_url)
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), f"reseller-fee-{field}").startswith(message)
    assert _state(app) == before


def test_the_admin_pages_of_fees_are_staff_only(app, login, client, demo):
    ids = _ids(app)
    with app.app_context():
        override = config.set_reseller_fee(db.session.get(Product, ids["mailsuite"]),
                                           db.session.get(Organization, ids["Northwind IT"]), 4321, actor())
        config.set_product_fee(db.session.get(Product, ids["mailsuite"]), 1234, actor())
        config.set_edition_rrp(db.session.get(Edition, ids["professional"]), 5678, actor())
        db.session.commit()
        override_id = override.id
    before = _state(app)
    remove_url = f"/admin/catalog/reseller-fees/{override_id}/remove"
    for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
        member = login(user)
        assert member.get(f"/admin/catalog/{ids['mailsuite']}").status_code == 403
        token = {"csrf_token": member.csrf_token()}  # no page offers them these forms: forged requests
        assert member.post(f"/admin/catalog/{ids['mailsuite']}/reseller-fees", data={
            "reseller-fee-reseller": "Northwind IT", "reseller-fee-no_fee": "y", **token}).status_code == 403
        assert member.get(remove_url).status_code == 403
        assert member.post(remove_url, data=token).status_code == 403
    assert client.get(remove_url).headers["Location"].startswith("/login")
    assert _state(app) == before
    # a viewer (carol) or an installer (erin) never sees a fee or an RRP, not even on the vendor's product page
    for user in ("carol", "erin"):
        shown = login(user).get("/shop/mailsuite").get_data(as_text=True)
        assert "12.34" not in shown and "56.78" not in shown and "43.21" not in shown
    assert login("ops").get("/admin/catalog/reseller-fees/999999/remove").status_code == 404
    ops = login("ops")
    assert ops.post("/admin/catalog/999999/reseller-fees", data={"csrf_token": ops.csrf_token()}).status_code == 404


@pytest.mark.parametrize("bad", ["nul\x00", "9" * 40, "99999999999999999999", "ü" * 300, "%_\\"])
def test_nothing_typed_into_the_fee_forms_gives_a_server_error_or_changes_anything(app, login, demo, bad):
    ops, ids = login("ops"), _ids(app)
    url, edition = f"/admin/catalog/{ids['mailsuite']}", ids["professional"]
    before = _state(app)
    for action, typed in [
        (f"{url}/reseller-fees", {"reseller-fee-reseller": bad, "reseller-fee-fee_minor": bad}),
        (f"{url}/reseller-fees", {"reseller-fee-reseller": bad, "reseller-fee-fee_minor": "1"}),
        (f"{url}/reseller-fees", {"reseller-fee-reseller": "Litware Solutions", "reseller-fee-fee_minor": bad}),
        (url, {"product-reseller_fee_minor": bad}),
        (f"/admin/catalog/editions/{edition}", {f"edition-{edition}-rrp_unit_minor": bad}),
        (f"{url}/editions", {"new-edition-name": "Education", "new-edition-unit_price_minor": "1",
                             "new-edition-rrp_unit_minor": bad}),
    ]:
        response = ops.submit(url, typed, action=action)
        assert response.status_code in (400, 422), (action, typed, response.status_code)  # NUL: 400 everywhere
    forged = {"csrf_token": ops.csrf_token()}  # no such fee, no confirmation page
    assert ops.post(f"/admin/catalog/reseller-fees/{bad}/remove", data=forged).status_code == 404
    assert _state(app) == before
