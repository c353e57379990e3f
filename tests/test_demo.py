"""`flask seed-demo`: the demo accounts of the README, idempotent."""

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Membership, Organization, User
from portal.extensions import db
from portal.hardware.models import Shipment, ShipmentUnit
from tests.factories import DEMO_EMAILS


def _counts():
    # the demo's hardware too (issue 20): its orders' shipments and their units (tests/hardware/test_demo_hardware.py)
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Organization, User, Membership, Shipment, ShipmentUnit))


def test_seed_demo_is_idempotent_and_prints_the_accounts(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        after_first = _counts()
        assert after_first[-1] == 5  # the counters of the two demo orders of issue 20
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    with app.app_context():
        assert _counts() == after_first
    for email in DEMO_EMAILS.values():
        assert email in first.output
    assert "portal-demo-2026" in first.output


def test_every_demo_account_can_sign_in(client, demo):
    for email in DEMO_EMAILS.values():
        client.login(email)
        assert client.submit("/help", action="/logout").status_code == 302


def test_demo_chains_match_the_scenarios(app, demo):
    with app.app_context():
        orgs = {o.name: o for o in db.session.scalars(select(Organization))}
        assert orgs["Contoso Retail"].parent_id == orgs["Northwind IT"].id
        assert orgs["Fabrikam Stores"].parent_id is None
        assert orgs["Northwind IT"].billing_mode.value == "monthly_invoice"
        assert orgs["Northwind IT"].partner_tier.value == "gold"
        assert orgs["Litware Solutions"].billing_mode.value == "pay_on_order"


def test_demo_locations_and_devices_show_a_location_plan_short_of_what_is_needed(app, demo):
    """Fabrikam: Downtown Denver (3 devices) and Airport Kiosk (6, over the 4-device limit) need 1 + 2 location
    subscriptions and it bought 2 (the yellow bar); Contoso, Northwind's sub-chain, has a location of its own."""
    from portal.catalog.models import Product, SubscriptionBasis
    from portal.devices.models import Device, Location
    from portal.subscriptions.models import Subscription
    from portal.subscriptions.usage import plan_usage

    with app.app_context():
        orgs = {o.name: o for o in db.session.scalars(select(Organization))}
        per_location = dict(db.session.execute(
            select(Location.name, func.count(Device.id)).join(Device, Device.location_id == Location.id)
            .where(Location.organization_id == orgs["Fabrikam Stores"].id).group_by(Location.name)).all())
        assert per_location == {"Downtown Denver": 3, "Airport Kiosk": 6}
        assert plan_usage(orgs["Fabrikam Stores"].id)[SubscriptionBasis.LOCATION] == 3
        bought = db.session.scalars(select(Subscription.quantity).join(Product, Product.id == Subscription.product_id)
                                    .where(Subscription.organization_id == orgs["Fabrikam Stores"].id,
                                           Product.slug == "location-plan")).one()
        assert bought == 2
        contoso = db.session.scalars(select(Device).where(Device.organization_id == orgs["Contoso Retail"].id)).all()
        assert len(contoso) == 2
        assert all(d.organization_id == d.location.organization_id for d in db.session.scalars(
            select(Device).options(selectinload(Device.location))))


def test_seeding_the_demo_again_adds_no_locations_devices_or_plans(app, demo):
    from portal.demo import seed_demo
    from portal.devices.models import Device, Location
    from portal.subscriptions.models import Subscription

    def counts():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Location, Device, Subscription))

    with app.app_context():
        before = counts()
        seed_demo()
        db.session.commit()
        assert counts() == before


def test_seed_demo_shows_every_state_of_a_plan_on_first_run(app, login):
    """Issue 13's demo: dave's plan renews within the coming weeks, Northwind has a scheduled decrease, and
    Litware's renewal is past due after its card declined on every retry (made by the renewal run itself)."""
    from datetime import timedelta

    from portal.db_types import utcnow
    from portal.recurring.models import CollectionState, RenewalCollection
    from portal.recurring.status import past_due_invoices
    from portal.subscriptions.models import Subscription

    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    today = utcnow().date()
    with app.app_context():
        orgs = {o.name: o.id for o in db.session.scalars(select(Organization))}
        plans = {p.organization_id: p for p in db.session.scalars(select(Subscription))}
        assert today < plans[orgs["Fabrikam Stores"]].next_payment_on <= today + timedelta(days=31)
        assert plans[orgs["Northwind IT"]].scheduled_quantity is not None
        litware = plans[orgs["Litware Solutions"]]
        assert litware.id in past_due_invoices([litware.id])
        collection = db.session.scalars(select(RenewalCollection)).one()
        assert collection.state is CollectionState.PAST_DUE and collection.attempts == 4
    assert "Past due" in login("frank").get("/subscriptions").get_data(as_text=True)
    page = login("alice").get("/subscriptions").get_data(as_text=True)
    assert "Withdraw" in page
