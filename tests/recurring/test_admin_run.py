"""Staff start the renewal run from /admin/invoices: a real form with today's date that works without JavaScript,
audited, showing what it billed; a bad day is refused beside the field and bills nothing."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.db_types import utcnow
from portal.extensions import db
from portal.recurring.models import Renewal
from portal.subscriptions.models import Subscription

RUN = "/admin/invoices/renew"


def test_staff_run_the_renewals_due_today_from_the_invoices_page(app, demo, login):
    today = utcnow().date()
    with app.app_context():
        plan = db.session.scalars(select(Subscription).where(Subscription.quantity > 0)
                                  .order_by(Subscription.id)).first()
        plan.next_payment_on = today  # due now
        plan.scheduled_quantity = plan.scheduled_product_id = None
        plan_id = plan.id
        db.session.commit()
    ops = login("ops")
    page = ops.page("/admin/invoices")
    form, _ = page.find(action=RUN)
    assert dict(form.successful())["day"] == today.isoformat() and "csrf_token" in form.names

    response = ops.submit(page, {}, action=RUN)  # the day as the page fills it in

    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "renewal invoice" in text and "issued" in text
    with app.app_context():
        assert db.session.scalars(select(Renewal).where(Renewal.subscription_id == plan_id)).first() is not None
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "renewal.run")).one()
        assert entry.details["day"] == today.isoformat() and entry.details["invoices"] >= 1
        assert entry.actor_id is not None
    again = ops.submit(page, {}, action=RUN).get_data(as_text=True)
    assert "0 renewal invoices issued" in again


def test_a_day_ahead_or_not_a_date_is_refused_beside_the_field(app, demo, login):
    ops = login("ops")
    for day, message in (("2999-01-01", "not ahead"), ("15/01/2027", "valid date"), ("", "Enter the date")):
        response = ops.submit("/admin/invoices", {"day": day}, action=RUN)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
        assert 'id="day-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Renewal)).first() is None
