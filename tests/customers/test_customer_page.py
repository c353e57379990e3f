"""A reseller's page for one of its customers, without JavaScript: who they are, the licenses they hold from the
reseller (paged by key), what renews in the next 90 days, what they were invoiced and what happened; another
reseller's customer is a 404. htmx pages the licenses alone."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.storefronts.models import Storefront
from tests.factories import DEMO_EMAILS, make_activation, make_contact, make_license, make_org, make_storefront_invoice
from tests.forms import Page

HX = {"HX-Request": "true"}


def _org(name: str) -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


def _section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def test_a_sub_chains_page_shows_its_people_licenses_renewals_invoices_and_activity(app, login, demo):
    today = utcnow().date()
    with app.app_context():
        northwind, contoso = _org("Northwind IT"), _org("Contoso Retail")
        contact = make_contact(contoso)
        soon = make_license(northwind, customer=contoso, slug="webstats", edition="Enterprise",
                            ms_expires_on=today + timedelta(days=30))
        later = make_license(northwind, customer=contoso, ms_expires_on=today + timedelta(days=200))
        make_activation(later, installation_id="contoso-front-desk")
        theirs = make_license(_org("Litware Solutions"), customer=contoso)  # another reseller's license to it
        invoice = make_storefront_invoice(db.session.scalars(select(Storefront)
                                                             .where(Storefront.alias == "northwind")).one(), contoso)
        db.session.commit()
        ids = {"contoso": contoso.id, "contact": contact.email, "soon": soon.key, "later": later.key,
               "theirs": theirs.key, "invoice": invoice.number}
    alice = login("alice")
    review = alice.submit(f"/licenses/assign?license={_unassigned(app)[0]}", {"email": DEMO_EMAILS["carol"]},
                          button="Continue")
    assert alice.submit(Page.parse("/licenses/assign", review.get_data(as_text=True)),
                        button="Assign license").status_code == 302
    response = alice.get(f"/customers/{ids['contoso']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>Contoso Retail</h1>" in html
    people = _section(html, "people-heading")
    assert DEMO_EMAILS["carol"] in people and ids["contact"] in people and "Viewer" in people
    licenses = _section(html, "licenses-heading")
    assert ids["soon"] in licenses and ids["later"] in licenses and ids["theirs"] not in licenses
    assert "Active on contoso-front-desk" in licenses and (today + timedelta(days=200)).isoformat() in licenses
    renewals = _section(html, "renewals-heading")
    assert ids["soon"] in renewals and ids["later"] not in renewals
    assert (today + timedelta(days=30)).isoformat() in renewals
    invoices = _section(html, "invoices-heading")
    assert ids["invoice"] in invoices and "Invoiced to you" not in invoices
    activity = _section(html, "activity-heading")
    assert "license.assigned" in activity and DEMO_EMAILS["alice"] in activity
    assert f'/licenses/assign?customer={ids["contoso"]}' in html  # Assign license from the page


def _unassigned(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(License.key).where(License.owner_id == _org("Northwind IT").id,
                                                                 License.customer_id.is_(None))
                                       .order_by(License.id)))


def test_an_account_of_its_own_shows_no_people_and_is_invoiced_to_the_reseller(app, login, demo):
    """Fabrikam (an end customer's own main chain) holds a Northwind license: its page keeps Fabrikam's people to
    itself and says the vendor invoices Northwind."""
    with app.app_context():
        fabrikam = _org("Fabrikam Stores")
        key = make_license(_org("Northwind IT"), customer=fabrikam).key
        db.session.commit()
        fabrikam_id = fabrikam.id
    html = login("alice").get(f"/customers/{fabrikam_id}").get_data(as_text=True)
    assert key in _section(html, "licenses-heading")
    people = _section(html, "people-heading")
    assert "manages its own users and contacts" in people and DEMO_EMAILS["dave"] not in people
    assert "Invoiced to you" in _section(html, "invoices-heading")
    assert "No Maintenance &amp; Support" in _section(html, "renewals-heading")


def test_another_resellers_customer_or_any_other_organization_is_a_404(app, login, demo):
    with app.app_context():
        litware_customer = make_org("Litware Client", parent=_org("Litware Solutions"))
        stranger = make_org("Unrelated Org")
        db.session.commit()
        ids = [litware_customer.id, stranger.id, _org("Northwind IT").id, _org("Fabrikam Stores").id, 2**31 - 1]
        contoso = _org("Contoso Retail").id
    alice = login("alice")
    for org_id in ids:  # Fabrikam holds no license of Northwind in the demo: not its customer
        assert alice.get(f"/customers/{org_id}").status_code == 404, org_id
    assert login("frank").get(f"/customers/{contoso}").status_code == 404
    assert login("carol").get(f"/customers/{contoso}").status_code == 404  # a viewer has no customers
    assert alice.get("/customers/99999999999999999999").status_code == 404


def test_the_licenses_page_by_key_and_htmx_swaps_them_alone(app, login, demo):
    with app.app_context():
        northwind = _org("Northwind IT")
        customer = make_org("Big Buyer", parent=northwind)
        keys = sorted(make_license(northwind, customer=customer).key for _ in range(30))
        db.session.commit()
        customer_id = customer.id
    alice = login("alice")
    first = alice.get(f"/customers/{customer_id}").get_data(as_text=True)
    shown = re.findall(r"<code>([0-9A-Z-]{29})</code>", _section(first, "licenses-heading"))
    assert shown == keys[:25]
    assert f'href="/customers/{customer_id}?after={keys[24]}"' in first
    second = alice.get(f"/customers/{customer_id}?after={keys[24]}", headers=HX)
    fragment = second.get_data(as_text=True)
    assert fragment.strip().startswith('<div id="customer-licenses">') and "<html" not in fragment
    assert re.findall(r"<code>([0-9A-Z-]{29})</code>", fragment) == keys[25:]
    assert "HX-Request" in second.headers["Vary"]
    assert "rel=\"next\"" not in fragment and f'href="/customers/{customer_id}"' in fragment  # back to the first
    restored = alice.get(f"/customers/{customer_id}?after={keys[24]}",
                         headers={**HX, "HX-History-Restore-Request": "true"}).get_data(as_text=True)
    assert "<html" in restored and "Recent activity" in restored  # a history restore gets the whole page
    odd = alice.get(f"/customers/{customer_id}?after={'Z' * 200}")
    assert odd.status_code == 200 and "No more licenses" in odd.get_data(as_text=True)
    assert alice.get(f"/customers/{customer_id}?after=%00").status_code == 400  # refused before any query


def test_customer_names_link_to_their_page(app, login, demo):
    with app.app_context():
        contoso = _org("Contoso Retail").id
    alice = login("alice")
    link = f'<a href="/customers/{contoso}">Contoso Retail</a>'
    assert link in alice.get("/customers").get_data(as_text=True)
    assert link in alice.get("/licenses").get_data(as_text=True)  # the customers and resold licenses sections
    assert "section=resold&amp;q=Contoso" not in alice.get("/customers").get_data(as_text=True)
