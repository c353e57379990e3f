"""Staff set a main chain's commercial terms (billing mode, partner tier, grandfathered payment methods); a sub-chain
has none of its own. Each change is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts import services
from portal.accounts.models import BillingMode, Organization, PartnerTier
from portal.audit.models import AuditEntry
from portal.catalog.services import discount_bp
from portal.errors import RuleError
from portal.extensions import db
from tests.factories import actor, make_org


def _terms(org: Organization) -> tuple:
    return org.billing_mode, org.partner_tier, org.grandfathered_payment_methods


def _org_terms(app, org_id: int) -> tuple:
    with app.app_context():
        return _terms(db.session.get(Organization, org_id))


def _entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# ---------------------------------------------------------------- the service


def test_terms_of_a_main_chain_are_changed_and_audited(ctx):
    org = make_org()
    services.update_commercial_terms(org, BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD, True, actor())
    assert _terms(org) == (BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD, True)
    entry = _entries("organization.commercial_terms_changed")[0]
    assert entry.organization_id == org.id
    assert entry.details["changes"] == {"billing_mode": ["pay_on_order", "monthly_invoice"],
                                        "partner_tier": ["none", "gold"],
                                        "grandfathered_payment_methods": [False, True]}
    services.update_commercial_terms(org, BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD, True, actor())
    assert len(_entries("organization.commercial_terms_changed")) == 1  # nothing changed, nothing recorded


def test_a_sub_chain_has_no_billing_terms_of_its_own(ctx):
    sub = make_org(parent=make_org())
    with pytest.raises(RuleError, match="sub-chain"):
        services.update_commercial_terms(sub, BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD, False, actor())
    assert _terms(sub) == (BillingMode.PAY_ON_ORDER, PartnerTier.NONE, False)
    assert _entries("organization.commercial_terms_changed") == []


# ---------------------------------------------------------------- the pages, without JavaScript


def test_staff_set_northwind_to_monthly_invoicing_at_gold(app, login, demo):
    northwind = demo.orgs["Northwind IT"]
    with app.app_context():  # as a reseller that has just signed up
        org = db.session.get(Organization, northwind)
        org.billing_mode, org.partner_tier = BillingMode.PAY_ON_ORDER, PartnerTier.NONE
        db.session.commit()
    ops = login("ops")
    page = ops.get(f"/admin/organizations/{northwind}").get_data(as_text=True)
    assert "Contoso Retail" in page  # its sub-chains, read-only
    ops.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    response = ops.submit(f"/admin/organizations/{northwind}", {"billing_mode": "monthly_invoice",
                                                                "partner_tier": "gold"})
    assert response.status_code == 302
    assert "Commercial terms of Northwind IT saved." in ops.get(response.headers["Location"]).get_data(as_text=True)
    assert _org_terms(app, northwind) == (BillingMode.MONTHLY_INVOICE, PartnerTier.GOLD, False)
    with app.app_context():
        entry = _entries("organization.commercial_terms_changed")[0]
        assert (entry.actor_id, entry.organization_id, entry.ip) == (demo.users["ops"], northwind, "198.51.100.7")
        assert discount_bp(db.session.get(Organization, northwind)) == 2000  # the Gold discount, at checkout
    # Northwind's manager sees the terms on the account page
    assert "Invoiced monthly · Gold partner" in login("alice").get("/account").get_data(as_text=True)


def test_a_sub_chain_page_shows_no_terms_and_refuses_them(app, login, demo):
    contoso = demo.orgs["Contoso Retail"]
    before = _org_terms(app, contoso)
    ops = login("ops")
    page = ops.get(f"/admin/organizations/{contoso}").get_data(as_text=True)
    assert 'name="billing_mode"' not in page and "Northwind IT" in page
    response = ops.post(f"/admin/organizations/{contoso}", data={  # the page has no such form: forged
        "billing_mode": "monthly_invoice", "partner_tier": "platinum", "grandfathered_payment_methods": "y",
        "csrf_token": ops.csrf_token()})
    assert response.status_code == 422
    assert "Contoso Retail is a sub-chain" in response.get_data(as_text=True)
    assert _org_terms(app, contoso) == before
    with app.app_context():
        assert _entries("organization.commercial_terms_changed") == []


def test_an_unknown_choice_is_refused_beside_its_field(app, login, demo):
    fabrikam = demo.orgs["Fabrikam Stores"]
    before = _org_terms(app, fabrikam)
    ops = login("ops")
    page = ops.page(f"/admin/organizations/{fabrikam}")
    form, _ = page.find(action=f"/admin/organizations/{fabrikam}")
    # "barter" is no option of the select: the page's form with a forged choice.
    response = ops.post(f"/admin/organizations/{fabrikam}", data={**dict(form.successful()),
                                                                  "billing_mode": "barter", "partner_tier": "gold"})
    assert response.status_code == 422
    assert 'id="billing_mode-error"' in response.get_data(as_text=True)
    assert _org_terms(app, fabrikam) == before


def test_staff_find_organizations_by_name_a_page_at_a_time(app, login, demo):
    with app.app_context():
        for n in range(55):
            make_org(f"Zephyr Outlet {n:02d}")
        db.session.commit()
    ops = login("ops")
    found = ops.get("/admin/organizations?q=northwind").get_data(as_text=True)
    assert "Northwind IT" in found and "Fabrikam Stores" not in found
    first = ops.get("/admin/organizations?q=zephyr").get_data(as_text=True)
    assert "Zephyr Outlet 49" in first and "Zephyr Outlet 50" not in first and 'rel="next"' in first
    fragment = ops.get("/admin/organizations?q=zephyr&page=2", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="organizations">') and "<html" not in body
    assert "Zephyr Outlet 54" in body and "Zephyr Outlet 00" not in body
    assert "HX-Request" in fragment.headers["Vary"]


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave", "erin", "frank"])
def test_only_staff_see_or_change_commercial_terms(app, login, demo, user):
    litware = demo.orgs["Litware Solutions"]
    before = _org_terms(app, litware)
    member = login(user)
    assert member.get("/admin/organizations").status_code == 403
    for org_id in demo.orgs.values():  # their own organization included: this is not a page of theirs
        assert member.get(f"/admin/organizations/{org_id}").status_code == 404
    response = member.post(f"/admin/organizations/{litware}", data={  # not staff: no such page, forged
        "billing_mode": "monthly_invoice", "partner_tier": "platinum", "csrf_token": member.csrf_token()})
    assert response.status_code == 404
    assert _org_terms(app, litware) == before
