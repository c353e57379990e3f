"""Assign licenses with the picker, without JavaScript: a reseller with many unassigned licenses finds the one it
wants by product, edition, quantity, add-on or key, pages through the rest, ticks one or many, and the confirm
step names who receives them. Each step submits what the page's own form holds (its CSRF token included)."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.catalog.models import AddOn, Edition, Product
from portal.extensions import db
from portal.licenses.models import License
from tests.customers.forms import form_fields, submitted
from tests.factories import DEMO_EMAILS, make_license, make_org
from tests.forms import Page

HX = {"HX-Request": "true"}
KEY = re.compile(r'name="license" value="([0-9A-Z-]{29})" id="pick-')


def _org_id(name: str) -> int:
    return db.session.scalars(select(Organization.id).where(Organization.name == name)).one()


def _stock(app, n: int = 60) -> dict:
    """Northwind with `n` more unassigned MailSuite licenses, and the one wanted: WebStats Enterprise for 100
    sites with the data export add-on, bought last."""
    with app.app_context():
        northwind = db.session.get(Organization, _org_id("Northwind IT"))
        for _ in range(n):
            make_license(northwind)
        wanted = make_license(northwind, slug="webstats", edition="Enterprise", quantity=100,
                              addons=("data-export",))
        db.session.commit()
        product = db.session.get(Product, wanted.product_id)
        return {"key": wanted.key, "product": product.id, "edition": wanted.edition_id,
                "addon": db.session.scalars(select(AddOn.id).where(AddOn.slug == "data-export")).one(),
                "other_edition": db.session.scalars(select(Edition.id).where(Edition.product_id == product.id,
                                                                             Edition.id != wanted.edition_id)).first(),
                "unassigned": list(db.session.scalars(
                    select(License.key).where(License.owner_id == northwind.id, License.customer_id.is_(None))
                    .order_by(License.id)))}


def _customer(app, key: str) -> int | None:
    with app.app_context():
        return db.session.scalars(select(License.customer_id).where(License.key == key)).one()


def test_the_picker_finds_the_license_wanted_among_many(app, login, demo):
    stock = _stock(app)
    alice = login("alice")
    first = alice.get("/licenses/assign").get_data(as_text=True)
    assert len(KEY.findall(first)) == 25 and stock["key"] not in first  # the oldest 25 of 60 and more
    for query in ({"product": stock["product"], "quantity": 100},
                  {"edition": stock["edition"]}, {"addon": stock["addon"]},
                  {"key": stock["key"][-11:].lower()}, {"key": stock["key"].replace("-", "")}):
        found = alice.get("/licenses/assign", query_string=query).get_data(as_text=True)
        assert KEY.findall(found) == [stock["key"]], query
    nothing = alice.get("/licenses/assign", query_string={"edition": stock["other_edition"], "quantity": 100})
    assert "No other unassigned license matches this search." in nothing.get_data(as_text=True)


def test_the_picker_pages_through_every_unassigned_license_once(app, login, demo):
    stock = _stock(app)
    alice = login("alice")
    page, seen, pages = alice.get("/licenses/assign").get_data(as_text=True), [], 0
    while True:
        seen += KEY.findall(page)
        pages += 1
        buttons = {name: value for name, value, _ in form_fields(page, "license-picker")[1]}
        if "after" not in buttons:
            break
        page = alice.get("/licenses/assign", query_string=submitted(page, "license-picker", "after")).get_data(
            as_text=True)
        assert "First licenses" in page
    assert seen == stock["unassigned"] and pages == -(-len(seen) // 25) and pages >= 3


def test_without_javascript_pick_tick_name_confirm_and_assign(app, login, demo, mailbox):
    """A search, two licenses ticked on different pages, the customer's email, the confirmation that names
    Contoso Retail, then the assignment: each request is what the page's form sends."""
    stock = _stock(app, n=30)
    alice = login("alice")
    page = alice.get("/licenses/assign").get_data(as_text=True)
    oldest = KEY.findall(page)[0]
    # tick the first result, then go on to the next page: the tick is kept as a chosen license
    page = alice.get("/licenses/assign", query_string=submitted(page, "license-picker", "after", license=oldest))
    page = page.get_data(as_text=True)
    assert oldest not in KEY.findall(page) and ("license", oldest) in form_fields(page, "license-picker")[0]
    # search by key for the wanted one, tick it and add it
    page = alice.get("/licenses/assign", query_string=submitted(page, "license-picker",
                                                                key=stock["key"][:11])).get_data(as_text=True)
    assert KEY.findall(page) == [stock["key"]]
    fields = dict(form_fields(page, "license-picker")[0])
    ticked = submitted(page, "license-picker")
    ticked.add("license", stock["key"])
    page = alice.get("/licenses/assign", query_string=ticked).get_data(as_text=True)
    assert fields["key"] == stock["key"][:11]
    chosen = [value for name, value in form_fields(page, "assign-form")[0] if name == "licenses"]
    assert sorted(chosen) == sorted([oldest, stock["key"]])
    # the customer's email, with the page's own CSRF token
    review = alice.submit(Page.parse("/licenses/assign", page), {"email": DEMO_EMAILS["carol"]}, button="Continue")
    html = review.get_data(as_text=True)
    assert review.status_code == 200 and "Step 2 of 2" in html
    assert "These licenses go to <strong>Contoso Retail</strong>" in html
    assert _customer(app, oldest) is None and _customer(app, stock["key"]) is None
    done = alice.submit(Page.parse("/licenses/assign", html), button="Assign 2 licenses")
    assert done.status_code == 302
    contoso = _customer_id(app, "Contoso Retail")
    assert _customer(app, oldest) == contoso and _customer(app, stock["key"]) == contoso
    [mail] = mailbox.to(DEMO_EMAILS["carol"])
    assert stock["key"] in mail.get_content() and oldest in mail.get_content()


def _customer_id(app, name: str) -> int:
    with app.app_context():
        return _org_id(name)


def test_a_customer_rows_and_a_licenses_assign_open_the_picker(app, login, demo):
    stock = _stock(app, n=30)
    contoso = _customer_id(app, "Contoso Retail")
    alice = login("alice")
    from_customer = alice.get(f"/licenses/assign?customer={contoso}").get_data(as_text=True)
    assert len(KEY.findall(from_customer)) == 25 and "Customer: <strong>Contoso Retail</strong>" in from_customer
    assert ("customer", str(contoso)) in form_fields(from_customer, "license-picker")[0]  # the search keeps it
    from_license = alice.get(f"/licenses/assign?license={stock['key']}").get_data(as_text=True)
    assert stock["key"] not in KEY.findall(from_license)  # chosen already, not offered again
    assert ("licenses", stock["key"]) in form_fields(from_license, "assign-form")[0]


def test_the_confirm_step_says_who_receives_the_licenses(app, login, demo):
    stock = _stock(app, n=2)
    key = stock["unassigned"][0]
    alice = login("alice")
    step_1 = alice.page(f"/licenses/assign?license={key}")
    known = alice.submit(step_1, {"email": DEMO_EMAILS["carol"]}, button="Continue")
    assert "This license goes to <strong>Contoso Retail</strong>" in known.get_data(as_text=True)
    new = alice.submit(step_1, {"email": "pat@tailspin.example.com", "customer_name": "  Tailspin Toys "},
                       button="Continue")
    html = new.get_data(as_text=True)
    assert new.status_code == 200 and 'New customer: <strong class="new-customer">Tailspin Toys</strong>' in html
    assert "These licenses go to" not in html and "This license goes to" not in html
    unnamed = alice.submit(step_1, {"email": "pat@tailspin.example.com"}, button="Continue").get_data(as_text=True)
    assert 'New customer: <strong class="new-customer">pat@tailspin.example.com</strong>' in unnamed
    assert _customer(app, key) is None


def test_a_new_customer_named_like_an_existing_sub_chain_is_refused_before_the_last_click(app, login, demo):
    stock = _stock(app, n=1)
    key = stock["unassigned"][0]
    with app.app_context():
        before = db.session.scalar(select(db.func.count()).select_from(Organization))
    response = login("alice").submit(f"/licenses/assign?license={key}", {
        "email": "pat@tailspin.example.com", "customer_name": "contoso retail"}, button="Continue")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="customer_name-error"' in html
    assert "Northwind IT already has a customer called contoso retail" in html and "Step 1 of 2" in html
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Organization)) == before
    assert _customer(app, key) is None


def test_bad_picker_filters_are_explained_beside_their_fields(app, login, demo):
    stock = _stock(app, n=3)
    alice = login("alice")
    response = alice.get("/licenses/assign", query_string={
        "quantity": "ten", "product": "99999999999999999999", "addon": "-1", "edition": "x", "key": "K" * 300,
        "after": "yesterday"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ("quantity", "product", "addon", "edition", "key"):
        assert f'id="picker-{name}-error"' in html, name
    assert "Type a quantity as a whole number" in html
    assert set(KEY.findall(html)) <= set(stock["unassigned"]) and KEY.findall(html)  # the rest of the search
    unknown = alice.get("/licenses/assign", query_string={"product": 2**31 - 1}).get_data(as_text=True)
    assert KEY.findall(unknown) == [] and "No other unassigned license matches" in unknown


def test_the_picker_never_offers_another_resellers_or_an_assigned_license(app, login, demo):
    with app.app_context():
        litware = db.session.get(Organization, _org_id("Litware Solutions"))
        theirs = make_license(litware).key
        assigned = make_license(db.session.get(Organization, _org_id("Northwind IT")),
                                customer=make_org(parent=db.session.get(Organization, _org_id("Northwind IT")))).key
        db.session.commit()
    alice = login("alice")
    for key in (theirs, assigned):
        assert KEY.findall(alice.get("/licenses/assign", query_string={"key": key}).get_data(as_text=True)) == []
    assert alice.get(f"/licenses/assign?license={theirs}").status_code == 404
    assert theirs in KEY.findall(login("frank").get("/licenses/assign").get_data(as_text=True))


def test_with_htmx_the_picker_swaps_itself_and_replaces_the_url_on_the_page_only(app, login, demo):
    stock = _stock(app, n=3)
    alice = login("alice")
    page = alice.get("/licenses/assign").get_data(as_text=True)
    assert 'hx-replace-url="true"' in page and 'hx-select="#assign-picker"' in page
    dialog = alice.get("/licenses/assign", headers=HX).get_data(as_text=True)
    assert dialog.strip().startswith('<dialog class="modal') and 'hx-replace-url' not in dialog
    search = alice.get("/licenses/assign", headers=HX, query_string={"key": stock["key"]})
    assert KEY.findall(search.get_data(as_text=True)) == [stock["key"]] and "HX-Request" in search.headers["Vary"]
    # from the assign page itself, the picker it swaps in keeps replacing the page's URL (no dialog)
    on_page = alice.get("/licenses/assign", query_string={"key": stock["key"][:5]},
                        headers={**HX, "HX-Current-URL": "http://localhost/licenses/assign?key=X"})
    html = on_page.get_data(as_text=True)
    assert "<dialog" not in html and 'hx-replace-url="true"' in html and "<html" not in html
    assert stock["key"] in KEY.findall(html)
