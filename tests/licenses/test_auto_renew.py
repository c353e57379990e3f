"""Automatic M&S renewal, a choice per license (issue 13 item 4), without JavaScript: alice (Northwind IT, Gold 20 %,
invoiced monthly, tax exempt) reads on a license's page what its M&S renewal will bill and when, and turns it on and
off there; from the licenses list she selects licenses and turns it on or off for all of them at once, posting the
form the page renders. Another tenant's license in the selection refuses the whole request; the license's
customer sees whether it renews but neither the price nor the form."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from portal.accounts.models import BillingMode, Organization, Role
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.recurring import autorenew
from portal.recurring.models import CollectionMethod
from portal.seller.models import TaxRate
from portal.seller.taxes import STANDARD, set_tax_rate
from tests.factories import make_license, make_member, make_org, make_payment_method
from tests.forms import Page

TODAY = utcnow().date()


@pytest.fixture
def licenses(app, demo):
    """Northwind's licenses: one resold to Contoso Retail (MailSuite Professional, 25 mailboxes: M&S $20.00 at list
    price), one unassigned, one personal; with their keys and the Contoso viewer's email."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        resold = make_license(northwind, contoso, edition="Professional", quantity=25)
        unassigned = make_license(northwind)
        personal = make_license(northwind, northwind)
        db.session.commit()
        return {"resold": resold.key, "unassigned": unassigned.key, "personal": personal.key,
                "expires": resold.ms_expires_on}


def _license(app, key: str) -> License:
    with app.app_context():
        license_ = db.session.scalars(select(License).where(License.key == key)).one()
        db.session.expunge_all()
        return license_


def _audit(app, action: str = "license.auto_renew_changed") -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                          .order_by(AuditEntry.id)))
        db.session.expunge_all()
        return entries


def _text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.get_data(as_text=True)))


ON, OFF = "Turn automatic renewal on", "Turn automatic renewal off"  # a license's page
ALL_ON, ALL_OFF = "Turn automatic M&S renewal on", "Turn automatic M&S renewal off"  # the list's bulk form


def _buttons(page: Page, action: str) -> list[tuple[str, str]]:
    """The (name, value) of the buttons of the page's form that posts to `action`."""
    form, _ = page.find(action)
    return [(b.name, b.value) for b in form.buttons]


def _forged(client, url: str, data: dict):
    """A request no page of the user's offers (another tenant's key, a value no checkbox has, a lapsed license's
    "on"): posted by hand, with the session's token so that only the view's own checks refuse it."""
    return client.post(url, data={**data, "csrf_token": client.csrf_token()})


def _checkboxes(page: str) -> list[str]:
    """The license keys the list offers to select for the bulk form (checkboxes that belong to it by form=)."""
    return re.findall(r'<input type="checkbox" name="licenses" value="([^"]+)" form="auto-renew-form"', page)


# ---------------------------------------------------------------- one license, from its page


def test_a_license_does_not_renew_by_default_and_its_page_tells_what_a_renewal_would_bill(login, licenses):
    page = _text(login("alice").get(f"/licenses/{licenses['resold']}"))
    renews_on = (licenses["expires"] + timedelta(days=1)).isoformat()
    assert (f"does not renew automatically: it ends on {licenses['expires'].isoformat()} unless it is renewed. "
            f"Turned on, it renews on {renews_on} for $16.00 ($20.00 at list price less your 20% partner "
            "discount), added to your monthly summary invoice.") in page
    assert "Turn automatic renewal on" in page and "Turn automatic renewal off" not in page


def test_alice_turns_automatic_renewal_on_and_off_from_the_license_page(app, login, licenses):
    key = licenses["resold"]
    alice = login("alice")
    page = alice.page(f"/licenses/{key}")
    assert _buttons(page, f"/licenses/{key}/auto-renew") == [("auto_renew", "on")]

    turned_on = alice.submit(page, button=ON)

    assert turned_on.status_code == 303 and turned_on.headers["Location"].endswith(f"/licenses/{key}")
    assert _license(app, key).auto_renew is True
    page = _text(alice.get(f"/licenses/{key}"))
    renews_on = (licenses["expires"] + timedelta(days=1)).isoformat()
    assert f"Automatic M&S renewal of license {key} turned on." in page
    assert (f"Maintenance & Support renews automatically on {renews_on} for $16.00 ($20.00 at list price less your "
            "20% partner discount), added to your monthly summary invoice.") in page
    [entry] = _audit(app)
    assert (entry.object_type, entry.details) == ("License", {"auto_renew": True, "keys": [key]})

    page = alice.page(f"/licenses/{key}")
    assert _buttons(page, f"/licenses/{key}/auto-renew") == [("auto_renew", "off")]
    assert alice.submit(page, button=OFF).status_code == 303
    assert _license(app, key).auto_renew is False
    assert [e.details["auto_renew"] for e in _audit(app)] == [True, False]


def test_turning_on_what_is_already_on_changes_and_audits_nothing(app, login, licenses):
    alice = login("alice")
    key = licenses["resold"]
    page = alice.page(f"/licenses/{key}")  # pressed twice (or in two tabs) before the page changes
    assert [alice.submit(page, button=ON).status_code for _ in range(2)] == [303, 303]
    assert len(_audit(app)) == 1


def test_a_master_user_may_set_it_too(app, login, licenses):
    assert login("bob").submit(f"/licenses/{licenses['unassigned']}", button=ON).status_code == 303
    assert _license(app, licenses["unassigned"]).auto_renew is True


def test_a_lapsed_license_is_reinstated_not_renewed_automatically(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        key = make_license(northwind, ms_expires_on=TODAY - timedelta(days=3)).key
        db.session.commit()
    alice = login("alice")
    page = _text(alice.get(f"/licenses/{key}"))
    assert "does not renew automatically. It lapsed on" in page and "Turn automatic renewal on" not in page

    refused = _forged(alice, f"/licenses/{key}/auto-renew", {"auto_renew": "on"})

    assert refused.status_code == 422
    assert f"M&S of license {key} has lapsed: automatic renewal does not reinstate it." in _text(refused)
    assert _license(app, key).auto_renew is False and _audit(app) == []


def test_the_customer_sees_whether_it_renews_but_never_the_price_nor_the_form(app, login, licenses):
    key = licenses["resold"]
    assert login("alice").submit(f"/licenses/{key}", button=ON).status_code == 303
    carol = login("carol")  # a viewer of Contoso Retail, the customer
    page = _text(carol.get(f"/licenses/{key}"))
    renews_on = (licenses["expires"] + timedelta(days=1)).isoformat()
    assert f"Maintenance & Support renews automatically on {renews_on}." in page
    assert "$" not in page and "/auto-renew" not in page
    assert _forged(carol, f"/licenses/{key}/auto-renew", {"auto_renew": "off"}).status_code == 404
    assert _license(app, key).auto_renew is True


def test_another_reseller_never_reaches_the_setting(app, login, licenses):
    frank = login("frank")  # Litware Solutions
    for key in licenses.values():
        if isinstance(key, str):
            assert _forged(frank, f"/licenses/{key}/auto-renew", {"auto_renew": "on"}).status_code == 404
            assert _license(app, key).auto_renew is False


def test_the_page_says_how_the_renewal_is_collected_for_each_kind_of_account(app, login, demo):
    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])  # pays on order, no card saved
        key = make_license(fabrikam, edition="Professional", quantity=25).key
        db.session.commit()
    dave = login("dave")
    assert "$20.00, invoiced, due in 30 days." in _text(dave.get(f"/licenses/{key}"))
    with app.app_context():
        make_payment_method(db.session.get(Organization, demo.orgs["Fabrikam Stores"])).is_default = True
        db.session.commit()
    assert "charged to the saved card Visa ending 4242." in _text(dave.get(f"/licenses/{key}"))


def test_the_collection_follows_the_account(app, demo):
    with app.app_context():
        monthly = make_org(billing_mode=BillingMode.MONTHLY_INVOICE)
        with_card = make_org(billing_mode=BillingMode.PAY_ON_ORDER)
        make_payment_method(with_card).is_default = True
        not_default = make_org(billing_mode=BillingMode.PAY_ON_ORDER)
        make_payment_method(not_default)
        grandfathered = make_org(billing_mode=BillingMode.PAY_ON_ORDER, grandfathered_payment_methods=True)
        make_payment_method(grandfathered).is_default = True
        db.session.flush()
        found = autorenew.renewal_collections([monthly, with_card, not_default, grandfathered])
        assert [found[o.id].method for o in (monthly, with_card, not_default, grandfathered)] == [
            CollectionMethod.SUMMARY, CollectionMethod.CARD, CollectionMethod.INVOICE, CollectionMethod.INVOICE]
        assert found[with_card.id].phrase == "charged to the saved card Visa ending 4242"
        db.session.rollback()


def test_the_price_is_the_manual_renewal_price_less_discount_plus_tax(app, demo):
    with app.app_context():
        db.session.execute(delete(TaxRate).where(TaxRate.country == "US", TaxRate.region == "ZZ"))
        set_tax_rate("US", "ZZ", "Test tax", 800, STANDARD, Actor.system())
        taxed = make_org(billing_mode=BillingMode.PAY_ON_ORDER, region="ZZ")
        license_ = make_license(taxed, edition="Professional", quantity=25)
        db.session.flush()
        renewal = autorenew.maintenance_renewal(license_, TODAY)
        assert (renewal.price.list_minor, renewal.price.net_minor, renewal.price.tax_minor) == (2_000, 2_000, 160)
        assert renewal.price.phrase == "$20.00 plus $1.60 tax"
        assert renewal.renews_on == license_.ms_expires_on + timedelta(days=1) and not renewal.lapsed
        db.session.rollback()


# ---------------------------------------------------------------- many licenses, from the list


def test_alice_turns_automatic_renewal_on_for_the_licenses_she_selects_in_the_list(app, login, licenses):
    alice = login("alice")
    page = alice.page("/licenses")
    offered = _checkboxes(page.html)
    chosen = [licenses["resold"], licenses["unassigned"], licenses["personal"]]
    assert set(chosen) <= set(offered)
    assert _buttons(page, "/licenses/auto-renew") == [("auto_renew", "on"), ("auto_renew", "off")]

    done = alice.submit(page, {"licenses": chosen}, button=ALL_ON)

    assert done.status_code == 303 and done.headers["Location"].endswith("/licenses")
    listed = _text(alice.get("/licenses"))
    assert "Automatic renewal turned on for 3 licenses." in listed
    assert listed.count("Renews automatically") >= 3
    assert all(_license(app, key).auto_renew for key in chosen)
    [entry] = _audit(app)  # one entry for the change, naming the licenses
    assert (entry.object_type, entry.details) == ("Organization", {"auto_renew": True, "keys": sorted(chosen)})

    off = alice.submit("/licenses", {"licenses": chosen[:2]}, button=ALL_OFF)
    assert off.status_code == 303
    assert "Automatic renewal turned off for 2 licenses." in _text(alice.get("/licenses"))
    assert [_license(app, key).auto_renew for key in chosen] == [False, False, True]


def test_a_selection_partly_already_set_says_so(app, login, licenses):
    alice = login("alice")
    assert alice.submit(f"/licenses/{licenses['resold']}", button=ON).status_code == 303
    assert alice.submit("/licenses", {"licenses": [licenses["resold"], licenses["unassigned"]]},
                        button=ALL_ON).status_code == 303
    assert ("Automatic renewal turned on for 1 license. It was already on for 1 other license."
            in _text(alice.get("/licenses")))


def test_another_tenants_license_in_the_selection_refuses_the_whole_request(app, login, demo, licenses):
    with app.app_context():
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        foreign = make_license(litware).key
        db.session.commit()
    alice = login("alice")
    chosen = [licenses["resold"], foreign]

    assert foreign not in _checkboxes(alice.get("/licenses").get_data(as_text=True))
    refused = _forged(alice, "/licenses/auto-renew", {"licenses": chosen, "auto_renew": "on"})

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert (f"License {foreign} is not one of Northwind IT's licenses. Nothing was changed."
            in _text(refused))
    assert f'value="{licenses["resold"]}" form="auto-renew-form" id="select-{licenses["resold"]}" checked' in page
    assert not _license(app, licenses["resold"]).auto_renew and not _license(app, foreign).auto_renew
    assert _audit(app) == []


def test_a_key_that_is_not_a_key_is_refused_the_same_way(app, login, licenses):
    refused = _forged(login("alice"), "/licenses/auto-renew", {"licenses": [licenses["resold"], "not-a-key"],
                                                               "auto_renew": "on"})
    assert refused.status_code == 422 and "Nothing was changed." in _text(refused)
    assert not _license(app, licenses["resold"]).auto_renew


def test_a_lapsed_license_in_the_selection_refuses_the_whole_request(app, login, demo, licenses):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        lapsed = make_license(northwind, ms_expires_on=TODAY - timedelta(days=1)).key
        db.session.commit()
    alice = login("alice")
    page = alice.page("/licenses")
    assert {licenses["resold"], lapsed} <= set(_checkboxes(page.html))
    refused = alice.submit(page, {"licenses": [licenses["resold"], lapsed]}, button=ALL_ON)
    assert refused.status_code == 422
    assert f"M&S of license {lapsed} has lapsed" in _text(refused)
    assert not _license(app, licenses["resold"]).auto_renew


def test_turning_off_a_lapsed_license_is_allowed(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        license_ = make_license(northwind, ms_expires_on=TODAY - timedelta(days=40))
        license_.auto_renew = True
        key = license_.key
        db.session.commit()
    alice = login("alice")
    assert "automatic renewal does not reinstate it" in _text(alice.get(f"/licenses/{key}"))
    page = alice.page("/licenses")
    assert key in _checkboxes(page.html)
    assert alice.submit(page, {"licenses": [key]}, button=ALL_OFF).status_code == 303
    assert not _license(app, key).auto_renew


def test_an_empty_or_oversized_selection_is_explained_and_changes_nothing(app, login, licenses):
    alice = login("alice")
    empty = alice.submit("/licenses", button=ALL_ON)  # nothing selected
    assert empty.status_code == 422 and "Select the licenses to change" in _text(empty)
    too_many = [licenses["resold"]] * (autorenew.MAX_SELECTION + 1)
    oversized = _forged(alice, "/licenses/auto-renew", {"licenses": too_many, "auto_renew": "on"})
    assert oversized.status_code == 422
    assert f"Choose at most {autorenew.MAX_SELECTION} licenses at a time (501 were selected)." in _text(oversized)
    assert not _license(app, licenses["resold"]).auto_renew and _audit(app) == []


def test_a_license_another_reseller_assigned_to_us_is_not_offered(app, login, demo):
    """A license Litware assigned to Northwind is listed among Northwind's personal licenses but is Litware's to
    renew: no checkbox, and posting its key is refused."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        key = make_license(db.session.get(Organization, demo.orgs["Litware Solutions"]), northwind).key
        db.session.commit()
    alice = login("alice")
    page = alice.get("/licenses").get_data(as_text=True)
    assert key in page and key not in _checkboxes(page)
    assert _forged(alice, "/licenses/auto-renew", {"licenses": [key], "auto_renew": "on"}).status_code == 422
    assert not _license(app, key).auto_renew


def test_a_sub_chain_user_who_may_not_buy_has_no_bulk_form(app, demo):
    """A Master user of Contoso Retail (a sub-chain: no buying there) sees its licenses list without the form."""
    with app.app_context():
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        email = make_member(contoso, Role.MEMBER).user.email
        db.session.commit()
    client = app.test_client()
    client.login(email, "a-long-password")
    page = client.get("/licenses").get_data(as_text=True)
    assert "auto-renew-form" not in page
    assert _forged(client, "/licenses/auto-renew", {"auto_renew": "on"}).status_code == 403


@pytest.mark.parametrize("value", ["nul\x00", "\x00", "9" * 25, "x" * 300, "🙂", "ABCDE-FGHJK-MNPQR-STVWX-YZ012"])
def test_whatever_is_posted_as_a_key_is_refused_without_a_server_error(app, login, licenses, value):
    alice = login("alice")
    refused = _forged(alice, "/licenses/auto-renew", {"licenses": [licenses["resold"], value], "auto_renew": "on"})
    if "\x00" in value:  # the portal refuses a NUL character in any form before the view (400)
        assert refused.status_code == 400
    else:
        assert refused.status_code == 422 and "Nothing was changed." in _text(refused)
    assert _forged(alice, "/licenses/auto-renew", {"licenses": [value], "auto_renew": "maybe"}).status_code == 400
    assert not _license(app, licenses["resold"]).auto_renew
