"""The customers page (/customers) tells a reseller what each customer account costs it in the vendor's fees
(DOMAIN §8) before the invoice arrives: the fee-bearing products each holds and their fee per month, and the total
at the top. Only its billing roles see fees (Chain & User Managers and Master users), never a viewer or an
installer, nor an end customer's chain. The demo charges $2.00 a month per account holding MailSuite."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization, PartnerTier, Role, User
from portal.accounts.services import user_with_access
from portal.authz import Permission, can
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.diagnostics import count_statements
from portal.extensions import db
from portal.reseller_fees.models import ResellerFeeOverride
from tests.factories import demo_product, make_license, make_member, make_org

TOTAL = re.compile(r"<strong>(\d+) customer accounts?, (\$[\d,.]+) per month</strong>")


@dataclass(frozen=True)
class Reseller:
    id: int
    emails: dict[Role, str]


def held(owner: Organization, customer: Organization, slug: str = "mailsuite") -> None:
    """A license of `slug` the reseller assigned to `customer` today."""
    edition = "Standard" if slug == "webstats" else "Professional"
    make_license(owner, customer=customer, slug=slug, edition=edition).assigned_at = utcnow()


@pytest.fixture
def reseller(app, demo) -> Reseller:
    """A Gold reseller with a user of each role and three customers: Alpha (a sub-chain) holds MailSuite twice and
    WebStats, which bears $3.00 here; Beta (a sub-chain) holds LiveDesk only (no fee); Gamma (another partner's
    organization it resold to) holds MailSuite. Its own and unassigned licenses cost nothing."""
    with app.app_context():
        org = make_org("Fjord Reseller", partner_tier=PartnerTier.GOLD)
        emails = {role: make_member(org, role).user.email
                  for role in (Role.MANAGER, Role.MEMBER, Role.VIEWER, Role.INSTALLER)}
        alpha, beta = make_org("Alpha Customer", parent=org), make_org("Beta Customer", parent=org)
        gamma = make_org("Gamma Elsewhere")
        demo_product("webstats").reseller_fee_minor = 300
        held(org, alpha), held(org, alpha), held(org, alpha, "webstats")
        held(org, beta, "livedesk")
        held(org, gamma)
        make_license(org)  # unassigned
        held(org, org)  # its own use: not a customer account
        db.session.commit()
        return Reseller(org.id, emails)


def signed_in(client, reseller: Reseller, role: Role = Role.MANAGER):
    client.login(reseller.emails[role], "a-long-password")
    return client


def row_of(page: str, customer: str) -> list[str]:
    row = next(r for r in page.split("<tr")[1:] if f">{customer}</a>" in r).split("</tr>")[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_each_customer_shows_its_fee_bearing_products_and_fee_and_the_total_is_at_the_top(app, client, reseller):
    page = signed_in(client, reseller).get("/customers").get_data(as_text=True)
    assert "Reseller fees this month" in page
    assert TOTAL.search(page).groups() == ("2", "$7.00")  # Alpha $5.00 and Gamma $2.00
    assert "<th scope=\"col\">Fee-bearing products</th><th scope=\"col\">Fee per month</th>" in page
    assert row_of(page, "Alpha Customer")[2:5] == ["3", "2", "$5.00"]  # 3 licenses, MailSuite and WebStats
    assert row_of(page, "Beta Customer")[2:5] == ["1", "0", "None"]
    assert row_of(page, "Gamma Elsewhere")[2:5] == ["1", "1", "$2.00"]


def test_the_search_fragment_keeps_the_fee_columns(app, client, reseller):
    response = signed_in(client, reseller).get("/customers?q=Alpha", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="customer-list">')
    assert row_of(fragment, "Alpha Customer")[2:5] == ["3", "2", "$5.00"]


def test_staffs_fee_for_this_reseller_counts_instead_of_the_products(app, client, reseller):
    with app.app_context():
        db.session.add(ResellerFeeOverride(product_id=demo_product("mailsuite").id, reseller_id=reseller.id,
                                           fee_minor=150))
        db.session.commit()
    page = signed_in(client, reseller).get("/customers").get_data(as_text=True)
    assert TOTAL.search(page).groups() == ("2", "$6.00")
    assert row_of(page, "Alpha Customer")[3:5] == ["2", "$4.50"]


def test_a_master_user_sees_the_fees_a_viewer_and_an_installer_never_do(app, client, reseller):
    page = signed_in(client, reseller, Role.MEMBER).get("/customers").get_data(as_text=True)
    assert TOTAL.search(page).groups() == ("2", "$7.00")
    for role in (Role.VIEWER, Role.INSTALLER):
        other = app.test_client()
        assert signed_in(other, reseller, role).get("/customers").status_code == 403
        for url in ("/licenses", "/account"):
            page = other.get(url).get_data(as_text=True)
            assert not re.search(r"\bfees?\b", re.sub(r"<[^>]+>", " ", page), re.IGNORECASE), (role, url)
    with app.app_context():
        org = db.session.get(Organization, reseller.id)
        for role, allowed in ((Role.MANAGER, True), (Role.MEMBER, True), (Role.VIEWER, False),
                              (Role.INSTALLER, False)):
            user = user_with_access(db.session.scalars(select(User.id).where(User.email == reseller.emails[role]))
                                    .one())
            assert can(user, Permission.VIEW_RESELLER_FEES, org) is allowed, role


def test_an_end_customers_chain_has_no_fees(app, login, demo):
    """Fabrikam is nobody's reseller: no fee section even where it passed a MailSuite license on."""
    with app.app_context():
        fabrikam = db.session.get(Organization, demo.orgs["Fabrikam Stores"])
        held(fabrikam, make_org("Fabrikam Friend"))
        db.session.commit()
    page = login("dave").get("/customers").get_data(as_text=True)
    assert "Fabrikam Friend" in page
    assert "Reseller fees" not in page and "Fee per month" not in page


def test_without_any_fee_the_page_says_nothing_of_fees(app, client, reseller):
    with app.app_context():
        for product in db.session.scalars(select(Product).where(Product.reseller_fee_minor.is_not(None))):
            product.reseller_fee_minor = None
        db.session.commit()
    page = signed_in(client, reseller).get("/customers").get_data(as_text=True)
    assert "Alpha Customer" in page
    assert "Reseller fees" not in page and "Fee per month" not in page


def test_a_reseller_owing_nothing_yet_sees_what_its_fees_are(app, client, demo):
    """A product bears a fee but no customer holds it yet: the total says so."""
    with app.app_context():
        org = make_org("New Reseller", partner_tier=PartnerTier.SILVER)
        email = make_member(org, Role.MANAGER).user.email
        held(org, make_org("Delta Customer", parent=org), "livedesk")
        db.session.commit()
    client.login(email, "a-long-password")
    page = client.get("/customers").get_data(as_text=True)
    assert TOTAL.search(page).groups() == ("0", "$0.00")
    assert row_of(page, "Delta Customer")[3:5] == ["0", "None"]


def _statements(app, client, url: str) -> int:
    with app.app_context(), count_statements(db.engine) as counted:
        assert client.get(url).status_code == 200
    return counted.count


def test_the_page_takes_the_same_statements_however_many_customers_hold_fees(app, client, reseller):
    client = signed_in(client, reseller)
    urls = ("/customers", "/customers?page=2", "/customers?q=Customer")
    small = [_statements(app, client, url) for url in urls]
    with app.app_context():
        org = db.session.get(Organization, reseller.id)
        for i in range(40):  # past a page of 25: every customer holds MailSuite, some WebStats too
            customer = make_org(f"Zeta Customer {i:02d}", parent=org)
            held(org, customer)
            if i % 2:
                held(org, customer, "webstats")
        db.session.commit()
    large = [_statements(app, client, url) for url in urls]
    assert large == small
    page = client.get("/customers").get_data(as_text=True)
    assert TOTAL.search(page).groups() == ("42", "$147.00")  # 42 × $2.00 (MailSuite) and 21 × $3.00 (WebStats)
