"""The demo's storefronts: Northwind on Standard at /s/northwind, Litware on Basic."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.catalog.services import active_products
from portal.demo import seed_demo
from portal.extensions import db
from portal.reseller_plans.plans import PlanName, reseller_plan, storefront_is_open
from portal.storefronts.models import Storefront, StorefrontPrice


def test_northwind_is_on_standard_with_its_storefront_and_litware_on_basic(app, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        state = reseller_plan(northwind)
        assert state.name is PlanName.STANDARD
        assert state.storefront.alias == "northwind" and storefront_is_open(state.storefront)
        assert state.storefront.default_markup_bp == 2500 and state.storefront.tax_id
        assert state.subscription.next_payment_on > state.subscription.started_on
        rules = db.session.scalars(select(StorefrontPrice).where(
            StorefrontPrice.storefront_id == state.storefront.id)).all()
        assert {r.customer_id for r in rules} == {None, demo.orgs["Contoso Retail"]}
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        assert reseller_plan(litware).name is PlanName.BASIC
        assert db.session.scalars(select(Storefront).where(Storefront.alias == "litware")).first() is None


def test_the_demo_storefront_is_made_once(app, demo):
    with app.app_context():
        seed_demo()
        db.session.commit()
        assert db.session.scalar(select(db.func.count()).select_from(Storefront)) == 1


def test_reseller_plans_are_not_listed_in_the_shop(app, demo):
    with app.app_context():
        assert all(p.basis is None or p.basis.value != "reseller" for p in active_products())
