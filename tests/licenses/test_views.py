"""License pages without JavaScript: the reselling page and its sections, license detail, the two-step
assignment, customers and their CSV, and an end customer's entitlements; htmx gets fragments of the same URLs."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.extensions import db
from portal.licenses.models import License
from tests.factories import DEMO_EMAILS, make_license, make_org
from tests.forms import Page

HX = {"HX-Request": "true"}
NEVER = "A license can never be re-assigned."


def _org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Organization.id).where(Organization.name == name)).one()


def _keys(app, owner: str, customer: str | None | bool = False) -> list[str]:
    """Keys of `owner`'s licenses: unassigned (customer=None), assigned to `customer`, or all (False)."""
    with app.app_context():
        stmt = select(License.key).where(License.owner_id == _org_id(app, owner)).order_by(License.key)
        if customer is None:
            stmt = stmt.where(License.customer_id.is_(None))
        elif customer:
            stmt = stmt.where(License.customer_id == _org_id(app, customer))
        return list(db.session.scalars(stmt))


def _license(app, key: str) -> License:
    with app.app_context():
        return db.session.scalars(select(License).where(License.key == key)).one()


def _review(client, query: str, data: dict | None = None, **kwargs):
    """Step 1 of the assignment: open /licenses/assign?<query>, fill it in and press Continue."""
    return client.submit(f"/licenses/assign?{query}", data, button="Continue", **kwargs)


def _confirm(client, review, button: str, on: str = "/licenses/assign", **kwargs):
    """Step 2: press `button` (Assign …, or Change) on the confirmation that step 1 answered with, shown `on` that
    page (the assign page, or in the dialog of the page htmx opened it from)."""
    return client.submit(Page.parse(on, review.get_data(as_text=True)), button=button, **kwargs)


def _section(html: str, name: str) -> str:
    return html.split(f'<div id="{name}">')[1].split("</table>")[0]


def test_the_reselling_page_shows_each_kind_of_license_in_its_section(app, login, demo):
    html = login("alice").get("/licenses").get_data(as_text=True)
    for heading in ("Unassigned products", "Reseller customers", "Resold licenses", "Personal licenses"):
        assert f">{heading}</h2>" in html
    unassigned, resold = _keys(app, "Northwind IT", None), _keys(app, "Northwind IT", "Contoso Retail")
    personal = _keys(app, "Northwind IT", "Northwind IT")
    assert all(k in _section(html, "unassigned") for k in unassigned)
    assert all(f"/licenses/assign?license={k}" in _section(html, "unassigned") for k in unassigned)
    assert all(k in _section(html, "resold") for k in resold) and "Contoso Retail" in _section(html, "resold")
    assert "Active on contoso-mail-01" in _section(html, "resold")
    assert all(k in _section(html, "personal") for k in personal)
    customers = _section(html, "customers")
    assert "Contoso Retail" in customers and f"/licenses/assign?customer={_org_id(app, 'Contoso Retail')}" in customers
    assert not any(k in html for k in _keys(app, "Litware Solutions"))


def test_each_section_is_searched_and_paged_on_its_own_and_htmx_gets_only_that_section(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, _org_id(app, "Northwind IT"))
        for _ in range(30):
            make_license(northwind, slug="livedesk", edition="Enterprise", quantity=5)
        db.session.commit()
    alice = login("alice")
    first = alice.get("/licenses?section=unassigned&q=livedesk").get_data(as_text=True)
    assert _section(first, "unassigned").count("LiveDesk Help Desk") == 25
    assert 'href="/licenses?unassigned-q=livedesk&amp;unassigned-page=2&amp;section=unassigned"' in first
    assert "MailSuite" not in _section(first, "unassigned") and "MailSuite" in _section(first, "resold")
    fragment = alice.get("/licenses?page=2&section=unassigned&q=livedesk", headers=HX)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in text and text.strip().startswith('<div id="unassigned">')
    assert text.count("LiveDesk Help Desk") == 5 and 'rel="prev"' in text


def test_a_resold_license_is_found_by_its_key_however_it_is_typed(app, login, demo):
    [key, other] = _keys(app, "Northwind IT", "Contoso Retail")
    typed = key.replace("-", "").lower()
    html = login("bob").get(f"/licenses?section=resold&q={typed}").get_data(as_text=True)
    assert key in _section(html, "resold") and other not in _section(html, "resold")


def test_the_detail_of_a_license_for_its_reseller_and_for_its_customer(app, login, demo):
    key = _keys(app, "Northwind IT", "Contoso Retail")[0]
    seller = login("alice").get(f"/licenses/{key}").get_data(as_text=True)
    contoso = _org_id(app, "Contoso Retail")
    assert f'To <a href="/customers/{contoso}">Contoso Retail</a>' in seller and NEVER in seller
    customer = login("carol").get(f"/licenses/{key}").get_data(as_text=True)
    assert key in customer and "Maintenance &amp; Support" in customer and "To Contoso Retail" not in customer
    assert f"/customers/{contoso}" not in customer  # the reseller's page of its customer is not the customer's
    assert "Assign license" not in customer


def test_an_unassigned_license_offers_assign_on_its_detail(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    html = login("alice").get(f"/licenses/{key}").get_data(as_text=True)
    assert f'href="/licenses/assign?license={key}"' in html and "cannot be activated until it is assigned" in html
    assert 'id="assign-dialog"' in html


def test_a_key_typed_loosely_leads_to_its_page_and_a_mistyped_one_is_explained(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    loose = alice.get(f"/licenses/{key.replace('-', '').lower()}")
    assert loose.status_code == 301 and loose.headers["Location"].endswith(f"/licenses/{key}")
    wrong = key[:-1] + ("0" if key[-1] != "0" else "1")
    mistyped = alice.get(f"/licenses/{wrong}")
    assert mistyped.status_code == 404 and "typing mistake" in mistyped.get_data(as_text=True)


def test_frank_never_reaches_a_northwind_license_by_key_or_by_assigning_it(app, login, demo):
    frank = login("frank")
    for key in _keys(app, "Northwind IT"):
        assert frank.get(f"/licenses/{key}").status_code == 404
        assert frank.get(f"/licenses/assign?license={key}").status_code == 404
        found = frank.get(f"/licenses?section=resold&q={key}").get_data(as_text=True)
        assert f"/licenses/{key}" not in found and "No resold license matches" in found
    unassigned = _keys(app, "Northwind IT", None)[0]
    # no page of frank's offers that license (its assign page is a 404): forged, with his session's token
    refused = frank.post("/licenses/assign", data={"licenses": unassigned, "email": DEMO_EMAILS["frank"],
                                                   "step": "assign", "csrf_token": frank.csrf_token()})
    assert refused.status_code == 422 and "is not one of Litware Solutions" in refused.get_data(as_text=True)
    assert _license(app, unassigned).customer_id is None
    assert frank.get(f"/licenses/assign?customer={_org_id(app, 'Contoso Retail')}").status_code == 404
    assert "Contoso" not in frank.get("/customers").get_data(as_text=True)


def test_assigning_without_javascript_chooses_then_confirms(app, login, demo, mailbox):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    choose = alice.get(f"/licenses/assign?license={key}").get_data(as_text=True)
    assert re.search(rf'<input[^>]*checked[^>]*value="{key}"|<input[^>]*value="{key}"[^>]*checked', choose)
    assert "Step 1 of 2" in choose and "<dialog" not in choose
    confirm = _review(alice, f"license={key}", {"email": "Carol@Contoso.example.com"})
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Step 2 of 2" in page
    assert '<strong class="confirm-email">carol@contoso.example.com</strong>' in page and NEVER in page
    assert _license(app, key).customer_id is None  # nothing happens before the confirmation
    done = _confirm(alice, confirm, "Assign license")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/licenses/{key}")
    assert "assigned to Contoso Retail" in alice.get(done.headers["Location"]).get_data(as_text=True)
    assert _license(app, key).customer_id == _org_id(app, "Contoso Retail")
    [mail] = mailbox.to(DEMO_EMAILS["carol"])
    assert key in mail.get_content()


def test_change_on_the_confirmation_goes_back_with_the_choices_kept(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    review = _review(alice, f"license={key}", {"email": "x@example.org", "customer_name": "Xylo"})
    assert "Step 2 of 2" in review.get_data(as_text=True)
    page = _confirm(alice, review, "Change")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Step 1 of 2" in html and 'value="x@example.org"' in html
    assert 'value="Xylo"' in html


def test_a_bad_email_is_explained_beside_the_field(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    # at step 1 as typed; at step 2 the address is a hidden field, so only a forged request carries a bad one
    forged = {"licenses": key, "email": "carol@@contoso", "step": "assign", "csrf_token": alice.csrf_token()}
    for response in (_review(alice, f"license={key}", {"email": "carol@@contoso"}),
                     alice.post("/licenses/assign", data=forged)):
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and 'id="email-error"' in html and 'aria-invalid="true"' in html
    assert _license(app, key).customer_id is None


def test_no_license_chosen_is_explained(app, login, demo):
    response = _review(login("alice"), "", {"email": DEMO_EMAILS["carol"]})
    assert response.status_code == 422 and "Choose at least one license" in response.get_data(as_text=True)


def test_a_license_assigned_in_another_tab_is_refused_at_confirmation(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    alice, bob = login("alice"), login("bob")
    review = _review(alice, f"license={key}", {"email": "someone@example.org"})
    assert review.status_code == 200
    bobs = _review(bob, f"license={key}", {"email": DEMO_EMAILS["carol"]})
    assert _confirm(bob, bobs, "Assign license").status_code == 302
    late = _confirm(alice, review, "Assign license")
    assert late.status_code == 422 and NEVER in late.get_data(as_text=True)
    assert _license(app, key).customer_id == _org_id(app, "Contoso Retail")


def test_two_licenses_go_to_a_new_customer_who_gets_an_account(app, login, demo, mailbox):
    keys = _keys(app, "Northwind IT", None)[:2]
    alice = login("alice")
    review = _review(alice, "&".join(f"license={k}" for k in keys),
                     {"licenses": keys, "email": "pat@tailspin.example.com", "customer_name": "Tailspin Toys"})
    response = _confirm(alice, review, "Assign 2 licenses")
    assert response.status_code == 302 and response.headers["Location"].endswith("/licenses")
    with app.app_context():
        tailspin = db.session.scalars(select(Organization).where(Organization.name == "Tailspin Toys")).one()
        assert tailspin.parent_id == _org_id(app, "Northwind IT")
        assert {db.session.scalars(select(License.customer_id).where(License.key == k)).one() for k in keys} == {
            tailspin.id}
    [mail] = mailbox.to("pat@tailspin.example.com")
    body = mail.get_content()
    assert "Your username: pat@tailspin.example.com" in body and "/password/set/" in body
    assert all(k in body for k in keys)


def test_assigning_from_a_customer_row_offers_its_users_and_use_myself_keeps_it(app, login, demo):
    contoso, northwind = _org_id(app, "Contoso Retail"), _org_id(app, "Northwind IT")
    alice = login("alice")
    html = alice.get(f"/licenses/assign?customer={contoso}").get_data(as_text=True)
    assert "Customer: <strong>Contoso Retail</strong>" in html and f'value="{DEMO_EMAILS["carol"]}"' in html
    key = _keys(app, "Northwind IT", None)[0]
    mine = alice.get(f"/licenses/assign?customer={northwind}&license={key}").get_data(as_text=True)
    assert "keeps it as personal licenses" in mine and 'name="email"' not in mine
    done = _confirm(alice, _review(alice, f"customer={northwind}&license={key}"), "Assign license")
    assert done.status_code == 302 and _license(app, key).customer_id == northwind


def test_with_htmx_the_assignment_is_a_dialog_and_ends_on_the_result_page(app, login, demo):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    detail = f"/licenses/{key}"  # the page whose #assign-dialog htmx fills
    htmx_headers = alice.page(detail).htmx_headers()
    dialog = alice.get(f"/licenses/assign?license={key}", headers=HX).get_data(as_text=True)
    assert "<html" not in dialog and dialog.strip().startswith('<dialog class="modal assign-dialog"')
    assert 'hx-post="/licenses/assign"' in dialog and 'method="dialog"' in dialog
    confirm = alice.submit(Page.parse(detail, dialog), {"email": DEMO_EMAILS["carol"]}, button="Continue",
                           htmx=True, headers=htmx_headers)
    confirmed = confirm.get_data(as_text=True)
    assert confirmed.strip().startswith('<dialog class="modal assign-dialog"') and NEVER in confirmed
    done = _confirm(alice, confirm, "Assign license", on=detail, htmx=True, headers=htmx_headers)
    assert done.status_code == 200 and done.headers["HX-Redirect"] == f"/licenses/{key}"


def test_carol_sees_her_entitlements_and_nothing_of_the_resellers_books(app, login, demo):
    with app.app_context():
        lic = db.session.scalars(select(License).where(
            License.customer_id == _org_id(app, "Contoso Retail"), License.product.has(slug="webstats"))).one()
        lic.reactivation_required = True
        db.session.commit()
    html = login("carol").get("/licenses").get_data(as_text=True)
    entitled = _section(html, "entitlements")
    assert all(k in entitled for k in _keys(app, "Northwind IT", "Contoso Retail"))
    assert "Enterprise" in entitled and "100 mailboxes" in entitled and "Advanced Anti-Spam" in entitled
    assert "Active on contoso-mail-01" in entitled and "Reactivation required" in entitled
    assert "$" not in html and "Unassigned" not in html and "Resold" not in html and "discount" not in html.lower()
    assert not any(k in html for k in _keys(app, "Northwind IT", None) + _keys(app, "Northwind IT", "Northwind IT"))
    assert login("carol").get("/licenses/assign").status_code == 403
    assert login("carol").get("/customers").status_code == 403


def test_a_user_of_an_end_customers_own_main_chain_sees_its_entitlements(app, login, client, demo):
    """dave's users (Fabrikam Stores, Scenario 2): a viewer there sees what Fabrikam was assigned, as carol does."""
    from portal.accounts.models import Role
    from tests.factories import make_member

    with app.app_context():
        fabrikam = db.session.get(Organization, _org_id(app, "Fabrikam Stores"))
        northwind = db.session.get(Organization, _org_id(app, "Northwind IT"))
        key = make_license(northwind, customer=fabrikam).key
        viewer = make_member(fabrikam, Role.VIEWER).user.email
        db.session.commit()
    client.login(viewer, "a-long-password")
    html = client.get("/licenses").get_data(as_text=True)
    assert key in _section(html, "entitlements") and "Unassigned products" not in html
    assert client.get(f"/licenses/{key}").status_code == 200


def test_an_end_customers_licenses_are_searched_and_paged_with_htmx(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, _org_id(app, "Northwind IT"))
        contoso = db.session.get(Organization, _org_id(app, "Contoso Retail"))
        for _ in range(26):
            make_license(northwind, customer=contoso, slug="livedesk", edition="Professional", quantity=3)
        db.session.commit()
    carol = login("carol")
    assert "rel=\"next\"" in carol.get("/licenses?q=livedesk").get_data(as_text=True)
    fragment = carol.get("/licenses?q=livedesk&page=2", headers=HX).get_data(as_text=True)
    assert fragment.strip().startswith('<div id="entitlements">') and fragment.count("LiveDesk Help Desk") == 1


def test_customers_list_their_license_counts_and_download_as_csv(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, _org_id(app, "Northwind IT"))
        sneaky = make_org("=HYPERLINK(\"http://evil.example\")", parent=northwind)
        make_license(northwind, customer=sneaky, slug="webstats", edition="Standard", quantity=1)
        make_org("Adatum", parent=northwind)
        db.session.commit()
    bob = login("bob")
    html = bob.get("/customers").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td[^>]*><a [^>]*>([^<]+)</a></td>.*?<td[^>]*>(\d+)</td>", html, re.S)
    assert [(name.replace("&#34;", '"'), int(count)) for name, count in rows] == [
        ('=HYPERLINK("http://evil.example")', 1), ("Adatum", 0), ("Contoso Retail", 2)]
    assert "carol@contoso.example.com" in html
    download = bob.get("/customers.csv")
    assert download.mimetype == "text/csv" and "attachment" in download.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert table[0][:3] == ["Customer", "License key", "Product"]
    assert table[1][0] == "'=HYPERLINK(\"http://evil.example\")" and table[1][2] == "WebStats Analytics"
    assert table[2] == ["Adatum"] + [""] * 8
    contoso = [r for r in table if r[0] == "Contoso Retail"]
    assert sorted(r[1] for r in contoso) == _keys(app, "Northwind IT", "Contoso Retail")
    assert not any(r[1] in _keys(app, "Northwind IT", None) for r in table[1:])


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    from portal.csv_export import csv_safe

    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "Contoso", 25, None)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "Contoso", "25", ""]


def test_the_new_customer_can_sign_in_and_see_the_license(app, login, client, demo, mailbox):
    key = _keys(app, "Northwind IT", None)[0]
    alice = login("alice")
    assert _confirm(alice, _review(alice, f"license={key}", {"email": "new@example.org"}),
                    "Assign license").status_code == 302
    [mail] = mailbox.to("new@example.org")
    link = re.search(r"http://portal\.test(/password/set/[\w-]+)", mail.get_content()).group(1)
    assert client.submit(link, {"password": "a-long-new-password", "confirm": "a-long-new-password"}
                         ).status_code == 302
    client.login("new@example.org", "a-long-new-password")
    assert key in client.get("/licenses").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User).where(User.email == "new@example.org")).one().password_hash
