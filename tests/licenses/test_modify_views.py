"""Modify a License without JavaScript: from the cart, alice (Northwind IT, Gold 20 %, invoiced monthly) finds a
license she resold to Contoso Retail by its key, sees the price of an upgrade and of the M&S renewal before they
go into the cart, and checks out; the license is changed, marked "reactivation required", and Contoso's users
get an email. Other resellers never reach Northwind's licenses, by key or by address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, Role
from portal.cart.models import CartItem
from portal.catalog.models import PurchaseKind
from portal.catalog.services import product_by_slug
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.licenses.services import one_year_after
from tests.factories import make_activation, make_license, make_member
from tests.forms import Page


@pytest.fixture
def resold(app, demo):
    """A MailSuite Professional license for 25 mailboxes, with a year of M&S left, that Northwind resold to
    Contoso Retail, whose user contoso-it@… hears about changes; it runs on one of Contoso's installations.
    Returns (key, Contoso user's email)."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        license_ = make_license(northwind, contoso, edition="Professional", quantity=25)
        make_activation(license_)
        user = make_member(contoso, Role.VIEWER).user
        db.session.commit()
        return license_.key, user.email


def _ids(app, edition: str, addons: tuple[str, ...] = ()) -> dict:
    with app.app_context():
        product = product_by_slug("mailsuite")
        ids = {"edition": next(e.id for e in product.editions if e.name == edition),
               "addons": [a.id for a in product.addons if a.slug in addons]}
        db.session.remove()
    return ids


def _license(app, key: str) -> License:
    with app.app_context():
        license_ = db.session.scalars(select(License).where(License.key == key)
                                      .options(selectinload(License.addons))).one()
        db.session.expunge_all()
        return license_


def _cart(app) -> list[CartItem]:
    with app.app_context():
        items = list(db.session.scalars(select(CartItem)))
        db.session.expunge_all()
        return items



def test_the_cart_leads_to_modify_existing_license_and_maintenance_and_support(login, demo):
    page = login("alice").get("/cart").get_data(as_text=True)
    assert 'href="/licenses/modify">Modify existing license</a>' in page
    assert 'href="/licenses/modify?want=maintenance">Maintenance and support</a>' in page


def test_a_resold_license_is_found_by_its_key_then_selected(login, resold):
    key, _ = resold
    alice = login("alice")
    assert "License key" in alice.get("/licenses/modify").get_data(as_text=True)

    page = alice.get("/licenses/modify", query_string={"show": "resold", "key": key.lower().replace("-", "")})

    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Contoso Retail" in text
    assert f'href="/licenses/{key}/modify">Select' in text
    maintenance = alice.get("/licenses/modify", query_string={"show": "resold", "key": key, "want": "maintenance"})
    assert f'href="/licenses/{key}/modify#maintenance">Select' in maintenance.get_data(as_text=True)


def test_another_resellers_key_is_not_found_and_nothing_about_it_is_shown(app, login, demo):
    with app.app_context():
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        theirs = make_license(litware, make_member(litware).organization)
        db.session.commit()
        key = theirs.key
    response = login("alice").get("/licenses/modify", query_string={"show": "resold", "key": key})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "None of your licenses has that key" in text
    assert "Select" not in text and "MailSuite" not in text


def test_a_mistyped_key_is_explained_beside_the_field(login, resold):
    key, _ = resold
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    response = login("alice").get("/licenses/modify", query_string={"show": "resold", "key": typo})
    assert response.status_code == 422
    assert 'id="key-error"' in response.get_data(as_text=True)


def test_personal_licenses_are_listed_to_select(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        kept = make_license(northwind, northwind, slug="webstats", edition="Standard", quantity=5)
        db.session.commit()
        key = kept.key
    page = login("bob").get("/licenses/modify?show=personal").get_data(as_text=True)
    assert key in page and f'href="/licenses/{key}/modify">Select' in page


def test_the_modify_page_shows_the_license_and_the_price_of_one_more_year_of_maintenance(login, resold):
    key, _ = resold
    page = login("alice").get(f"/licenses/{key}/modify").get_data(as_text=True)
    assert "Professional" in page and "25 mailboxes" in page
    expiry = utcnow().date() + timedelta(days=200)
    assert f"until {one_year_after(expiry).isoformat()}" in page
    assert "$20.00" in page  # 20 % of $100.00
    assert "Add renewal to cart" in page


def test_the_upgrade_price_is_shown_before_it_can_go_into_the_cart(app, login, resold):
    key, _ = resold
    ids = _ids(app, "Enterprise", ("antispam",))
    alice = login("alice")

    page = alice.get(f"/licenses/{key}/modify", query_string={**ids, "quantity": 50, "quoted": ""})  # as htmx

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "$400.00" in text  # 50 x $7 + $150 - 25 x $4
    assert '<input type="hidden" name="quoted" value="40000">' in text  # the price shown goes with the form
    fragment = alice.get(f"/licenses/{key}/modify", query_string={**ids, "quantity": 50},
                         headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and "$400.00" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_a_downgrade_is_refused_with_a_message_to_contact_the_vendor(app, login, resold):
    key, _ = resold
    response = login("alice").get(f"/licenses/{key}/modify", query_string={**_ids(app, "Free"), "quantity": 25})
    assert response.status_code == 422
    assert "Downgrades are not self-service: contact the vendor" in response.get_data(as_text=True)


def test_a_change_whose_price_was_not_shown_is_not_added_to_the_cart(app, login, resold):
    key, _ = resold
    alice = login("alice")
    url = f"/licenses/{key}/modify"
    choices = {**_ids(app, "Enterprise"), "quantity": 25}

    # changed the choices, did not press Show price (nor had htmx show it)
    unseen = alice.submit(url, choices, button="Add upgrade to cart")

    assert unseen.status_code == 422
    text = unseen.get_data(as_text=True)
    assert "Check the price" in text and "$75.00" in text
    assert _cart(app) == []
    assert re.search(r'name="quoted" value="(\d+)"', text)  # the page now shows the price
    assert alice.submit(Page.parse(url, text), button="Add upgrade to cart").status_code == 302
    [item] = _cart(app)
    assert (item.purchase, item.quoted_list_minor) == (PurchaseKind.UPGRADE, 7_500)


def test_show_price_without_javascript_shows_the_price_adds_nothing_and_keeps_the_token_out_of_the_address(
        app, login, resold):
    key, _ = resold
    alice = login("alice")
    url = f"/licenses/{key}/modify"
    page = alice.page(url)

    shown = alice.submit(page, {**_ids(app, "Enterprise", ("antispam",)), "quantity": 50}, button="Show price")

    assert shown.status_code == 200
    assert "csrf_token" not in shown.request.url and shown.request.method == "POST"
    text = shown.get_data(as_text=True)
    assert "$400.00" in text and '<input type="hidden" name="quoted" value="40000">' in text
    assert _cart(app) == []
    # htmx asks for the price by a GET of the same choices, leaving the token out of that address too
    [upgrade] = [form for form in page.forms if form.id == "upgrade"]
    assert upgrade.attrs["hx-get"] == url and upgrade.attrs["hx-params"] == "not csrf_token"
    # the page shown carries the choices and their price: "Add upgrade to cart" puts exactly that in the cart
    assert alice.submit(Page.parse(url, text), button="Add upgrade to cart").status_code == 302
    [item] = _cart(app)
    assert (item.purchase, item.quoted_list_minor) == (PurchaseKind.UPGRADE, 40_000)


def test_show_price_of_a_downgrade_says_to_contact_the_vendor_and_adds_nothing(app, login, resold):
    key, _ = resold
    shown = login("alice").submit(f"/licenses/{key}/modify", {**_ids(app, "Free"), "quantity": 25},
                                  button="Show price")
    assert shown.status_code == 422
    assert "Downgrades are not self-service: contact the vendor" in shown.get_data(as_text=True)
    assert _cart(app) == []


def test_alice_upgrades_a_resold_license_and_contoso_is_told_to_reactivate(app, login, resold, mailbox):
    key, contoso_user = resold
    alice = login("alice")
    # the choices, with the price htmx showed for them in the form's hidden "quoted"
    upgrade = {**_ids(app, "Enterprise", ("antispam",)), "quantity": 50, "quoted": 40_000}

    added = alice.submit(f"/licenses/{key}/modify", upgrade, button="Add upgrade to cart")
    assert added.status_code == 302 and added.headers["Location"].endswith("/cart")
    # the renewal is priced on the license as the upgrade leaves it: 20 % of $500.00 (50 x $7 + $150), not of $100
    page = alice.get(f"/licenses/{key}/modify").get_data(as_text=True)
    maintenance = page[page.index('id="maintenance"'):]
    assert "$100.00" in maintenance and "after the upgrade in your cart" in maintenance
    stale = {"purchase": "renewal", "quoted": 2_000, "csrf_token": alice.csrf_token()}  # the price before the upgrade
    assert alice.post(f"/licenses/{key}/modify", data=stale).status_code == 422
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', maintenance.split("</form>")[0]))
    assert form["quoted"] == "10000"
    renewal = alice.submit(f"/licenses/{key}/modify", button="Add renewal to cart")
    assert renewal.status_code == 302

    cart = alice.get("/cart").get_data(as_text=True)
    assert f"Upgrade of license {key}: Professional to Enterprise; 25 to 50 mailboxes; add Advanced Anti-Spam" in cart
    assert f"M&amp;S renewal of license {key}" in cart and "$500.00" in cart  # $400 + $100
    assert "changed from" not in cart
    checkout = alice.get("/checkout").get_data(as_text=True)
    assert "Gold partner discount (20%)" in checkout and "−$100.00" in checkout and "$400.00" in checkout

    placed = alice.submit("/checkout", {"payment_kind": "invoice"})
    assert placed.status_code == 302
    order_page = alice.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Upgrade: MailSuite Mail Server Enterprise, 50 mailboxes" in order_page
    assert "M&amp;S renewal: MailSuite Mail Server" in order_page

    license_ = _license(app, key)
    assert (license_.quantity, [a.slug for a in license_.addons], license_.reactivation_required) == (
        50, ["antispam"], True)
    assert license_.ms_expires_on == one_year_after(utcnow().date() + timedelta(days=200))
    subjects = sorted(str(m["Subject"]).strip() for m in mailbox.to(contoso_user))
    assert subjects == [f"License {key} upgraded: reactivate your installation",
                        f"Maintenance & Support of license {key} extended"]
    assert mailbox.to("alice@northwind.example.com")  # the order confirmation
    assert _cart(app) == []


def test_lapsed_maintenance_is_reinstated_with_its_charge(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        key = make_license(northwind, contoso, quantity=25, ms_expires_on=utcnow().date() - timedelta(days=3)).key
        db.session.commit()
    alice = login("alice")
    page = alice.get(f"/licenses/{key}/modify").get_data(as_text=True)
    assert "M&amp;S lapsed on" in page and "reinstatement charge $50.00" in page and "$70.00" in page

    # a renewal's price is not what the page offers (a forged form): refused
    forged = {"purchase": "renewal", "quoted": 2_000, "csrf_token": alice.csrf_token()}
    assert alice.post(f"/licenses/{key}/modify", data=forged).status_code == 422
    assert 'name="quoted" value="7000"' in page
    assert alice.submit(f"/licenses/{key}/modify", button="Add reinstatement to cart").status_code == 302
    [item] = _cart(app)
    assert item.purchase is PurchaseKind.REINSTATEMENT


def test_other_resellers_and_customers_never_reach_a_license_to_modify_it(app, login, resold):
    key, _ = resold
    for name in ("frank", "dave", "carol"):  # another reseller, an end customer, Contoso's own viewer
        client = login(name)
        assert client.get(f"/licenses/{key}/modify").status_code == 404, name
        # no page of theirs has this form: the request is forged, with their own session's token
        form = {"purchase": "renewal", "quoted": 2_000, "csrf_token": client.csrf_token()}
        assert client.post(f"/licenses/{key}/modify", data=form).status_code == 404, name
    assert _cart(app) == []


def test_a_key_typed_loosely_leads_to_the_licenses_address(login, resold):
    key, _ = resold
    response = login("alice").get(f"/licenses/{key.lower()}/modify")
    assert response.status_code == 301 and response.headers["Location"].endswith(f"/licenses/{key}/modify")


def test_erin_working_in_fabrikam_modifies_a_northwind_license_in_northwinds_cart(app, login, resold, demo):
    key, _ = resold
    erin = login("erin")  # Master user of Northwind, installer of Fabrikam (her first working organization)
    assert erin.get("/licenses/modify").status_code == 403  # the chooser acts on the working organization

    assert erin.submit(f"/licenses/{key}/modify", button="Add renewal to cart").status_code == 302

    [item] = _cart(app)
    assert item.organization_id == demo.orgs["Northwind IT"]
    assert "M&amp;S renewal of license" in erin.get("/cart").get_data(as_text=True)  # now working in Northwind


def test_a_modification_in_the_cart_is_removed_not_edited(app, login, resold):
    key, _ = resold
    alice = login("alice")
    assert alice.submit(f"/licenses/{key}/modify", button="Add renewal to cart").status_code == 302
    [item] = _cart(app)
    page = alice.get("/cart").get_data(as_text=True)
    assert f'action="/cart/items/{item.id}"' not in page  # no inline edit form
    # so an edit can only be forged
    edited = alice.post(f"/cart/items/{item.id}", data={f"item-{item.id}-edition": item.edition_id,
                                                        f"item-{item.id}-quantity": 10,
                                                        "csrf_token": alice.csrf_token()})
    assert edited.status_code == 422
    assert alice.submit("/cart", action=f"/cart/items/{item.id}/remove").status_code == 302
    assert _cart(app) == []


def test_the_modify_pages_send_as_many_statements_however_many_licenses_there_are(app, login, resold, demo):
    """No N+1: the personal licenses (with product, edition and add-ons) and a license's Modify page."""
    from portal.diagnostics import count_statements

    key, _ = resold
    alice = login("alice")

    def statements() -> tuple[int, int]:
        counts = []
        for url in ("/licenses/modify?show=personal", f"/licenses/{key}/modify"):
            with app.app_context(), count_statements(db.engine) as counted:
                assert alice.get(url).status_code == 200
            counts.append(counted.count)
        return tuple(counts)

    before = statements()
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        for _ in range(15):
            make_license(northwind, northwind, addons=("antispam", "archiving"))
            make_license(northwind, slug="livedesk", edition="Enterprise", quantity=5)
        db.session.commit()
    assert statements() == before
