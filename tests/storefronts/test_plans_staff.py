"""Staff put a reseller on a plan from /admin/organizations/<id> (the "BSS" path): an order on its behalf, billed
by its terms, the storefront opened and the welcome email sent; bad input changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceStatus
from portal.extensions import db
from portal.orders.models import Order, PaymentKind
from portal.outbox.models import OutboxMessage
from portal.reseller_plans.plans import PlanName, reseller_plan


def _org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Organization.id).where(Organization.name == name)).one()


def _post(ops, org_id: int, forged: bool = False, **data):
    """Staff fill in "Put on a plan" on the organization's page; `forged`: with values its form does not offer."""
    page = ops.page(f"/admin/organizations/{org_id}")
    assert "Put on a plan" in page.html
    action = f"/admin/organizations/{org_id}/plan"
    if forged:
        form, _ = page.find(action=action)
        return ops.post(action, data={**dict(form.successful()), **data})
    return ops.submit(page, data, action=action)


def test_staff_put_litware_on_free_with_an_invoice_due_in_30_days(app, login, demo):
    ops = login("ops")
    litware = _org_id(app, "Litware Solutions")
    refused = _post(ops, litware, **{"plan-plan": "reseller-free", "plan-storefront_alias": "northwind"})
    assert refused.status_code == 422 and "is taken" in refused.get_data(as_text=True)
    refused = _post(ops, litware, forged=True, **{"plan-plan": "nonsense", "plan-storefront_alias": "litware"})
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    done = _post(ops, litware, **{"plan-plan": "reseller-standard", "plan-storefront_alias": "litware"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with app.app_context():
        org = db.session.get(Organization, litware)
        state = reseller_plan(org)
        assert (state.name, state.storefront.alias) == (PlanName.STANDARD, "litware")
        order = db.session.scalars(select(Order)).one()
        assert order.payment_kind is PaymentKind.WIRE and order.organization_id == litware
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
        assert invoice.status is InvoiceStatus.UNPAID and invoice.due_on is not None
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.subject == "Welcome to your reseller storefront")) == 1


def test_an_end_customer_chain_is_not_offered_a_plan(app, login, demo):
    page = login("ops").get(f"/admin/organizations/{_org_id(app, 'Fabrikam Stores')}").get_data(as_text=True)
    assert "Only a reseller" in page and "Put on a plan" not in page
