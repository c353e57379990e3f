"""Reseller plans without JavaScript: the plans page, buying Free or Standard through the cart with an alias,
the alias check, upgrading Free to Standard (prorated), cancelling (Pending Cancellation), the renewal run closing
the storefront, and reopening it within retention."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.catalog.models import Product, SubscriptionBasis
from portal.extensions import db
from portal.orders.models import Order
from portal.outbox.models import OutboxMessage
from portal.reseller_plans.plans import PlanName, close_storefront, reseller_plan
from portal.sandbox_processor.models import SandboxIntent
from portal.storefronts.models import Storefront
from portal.subscriptions.models import Subscription

APPROVED_VISA = "4242 4242 4242 4242"
CARD = {"payment_kind": "card", "saved_card": 0}  # a new card: typed on the processor's page (no JavaScript)


def _choose(client, plan: str):
    """Click the plans page's button for `plan` (Add … to the cart, Upgrade to …)."""
    page = client.page("/account/plan")
    [button] = [b.text for form in page.forms if ("plan", plan) in form.successful() for b in form.buttons]
    return client.submit(page, {}, button=button)


def _forged_choice(client, plan: str):
    """A plan the plans page does not offer this chain: a forged request, with the session's token."""
    return client.post("/account/plan/choose", data={"plan": plan, "csrf_token": client.csrf_token()})


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _state(app, name: str):
    with app.app_context():
        org = db.session.scalars(select(Organization).where(Organization.name == name)).one()
        state = reseller_plan(org)
        result = (state.name, state.storefront.alias if state.storefront else None,
                  state.subscription.product.slug if state.subscription else None)
        db.session.remove()
    return result


def test_the_plans_page_compares_the_plans_and_shows_northwinds_standard(login, demo):
    page = login("alice").get("/account/plan")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Standard" in text and "/s/northwind" in text and "markup" in text and "branding" in text
    assert "Cancel plan" in text


def test_frank_buys_standard_with_an_alias_checked_before_any_charge(app, login, demo, mailbox):
    frank = login("frank")
    assert _state(app, "Litware Solutions") == (PlanName.BASIC, None, None)
    assert _choose(frank, "reseller-standard").status_code == 302
    checkout = frank.get("/checkout").get_data(as_text=True)
    assert 'name="storefront_alias"' in checkout

    taken = frank.get("/account/plan/alias?alias=northwind").get_data(as_text=True)
    assert "is taken" in taken and "northwind-store" in taken
    assert "is free" in frank.get("/account/plan/alias?storefront_alias=litware").get_data(as_text=True)
    assert "reserved" in frank.get("/account/plan/alias?alias=admin").get_data(as_text=True)

    for bad in ("admin", "No Spaces", "ab", "-litware", "northwind", "x" * 31):
        refused = frank.submit("/checkout", {**CARD, "storefront_alias": bad})
        assert refused.status_code == 422, bad
        assert 'id="storefront_alias-error"' in refused.get_data(as_text=True)
    assert (_count(app, Order), _count(app, SandboxIntent)) == (0, 0)  # refused before the processor was asked

    placed = frank.at_processor(frank.submit("/checkout", {**CARD, "storefront_alias": "Litware"}), APPROVED_VISA)
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"], placed.get_data(as_text=True)
    assert _state(app, "Litware Solutions") == (PlanName.STANDARD, "litware", "reseller-standard")
    with app.app_context():
        welcome = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject == "Welcome to your reseller storefront")).one()
        assert "frank@litware.example.com" in welcome.to_addrs
        assert "/s/litware" in welcome.body_text and "/account/storefront" in welcome.body_text


def test_free_then_upgrade_to_standard_is_prorated_and_switches_the_plan(app, login, demo):
    frank = login("frank")
    _choose(frank, "reseller-free")
    free = frank.submit("/checkout", {**CARD, "storefront_alias": "litware"})  # nothing to charge: no processor
    assert free.status_code == 302 and "/orders/ORD-" in free.headers["Location"]
    assert _state(app, "Litware Solutions") == (PlanName.FREE, "litware", "reseller-free")
    assert _forged_choice(frank, "reseller-free").status_code == 422  # already on Free
    assert _choose(frank, "reseller-standard").status_code == 302
    checkout = frank.get("/checkout").get_data(as_text=True)
    assert 'name="storefront_alias"' not in checkout  # the storefront exists
    assert "prorated" in checkout.lower() or "no charge now" in checkout
    upgraded = frank.at_processor(frank.submit("/checkout", CARD), APPROVED_VISA)
    assert upgraded.status_code == 302 and "/orders/ORD-" in upgraded.headers["Location"]
    assert _state(app, "Litware Solutions") == (PlanName.STANDARD, "litware", "reseller-standard")
    with app.app_context():
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        running = db.session.scalars(select(Product.slug).join(Subscription, Subscription.product_id == Product.id)
                                     .where(Subscription.organization_id == litware.id, Subscription.quantity > 0,
                                            Product.basis == SubscriptionBasis.RESELLER)).all()
        assert running == ["reseller-standard"]


def test_an_end_customer_chain_cannot_buy_a_plan(app, login, demo):
    dave = login("dave")
    page = dave.get("/account/plan").get_data(as_text=True)
    assert "for resellers" in page
    assert _forged_choice(dave, "reseller-free").status_code == 422
    assert _forged_choice(dave, "nonsense").status_code == 422


def test_cancel_is_pending_until_the_period_ends_then_the_run_closes_the_storefront(app, login, demo):
    alice = login("alice")
    confirm = alice.get("/account/plan/cancel")
    assert confirm.status_code == 200 and "keeps working until" in confirm.get_data(as_text=True)
    done = alice.submit("/account/plan/cancel", {}, action="/account/plan/cancel")
    assert done.status_code == 302
    assert _state(app, "Northwind IT")[0] is PlanName.PENDING_CANCELLATION
    page = alice.get("/account/plan").get_data(as_text=True)
    assert "Pending Cancellation" in page
    assert alice.submit("/account/plan", {}, button="Withdraw the cancellation").status_code == 302
    assert _state(app, "Northwind IT")[0] is PlanName.STANDARD
    assert alice.submit("/account/plan/cancel", {}, action="/account/plan/cancel").status_code == 302

    from portal.recurring.run import renew

    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        due = reseller_plan(northwind).subscription.next_payment_on
        db.session.remove()
        renew(due)
        db.session.remove()
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        assert storefront.closed_on == due and storefront.purge_on == due + timedelta(days=90)
        assert reseller_plan(northwind).name is PlanName.BASIC
    page = alice.get("/account/plan").get_data(as_text=True)
    assert "closed on" in page and "kept until" in page


def test_a_kept_storefront_reopens_with_its_alias_when_a_plan_is_bought_again(app, login, demo):
    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        plan = reseller_plan(northwind).subscription
        plan.quantity, plan.ended_on = 0, date.today() - timedelta(days=3)
        close_storefront(northwind, plan.ended_on)
        db.session.commit()
    alice = login("alice")
    assert _choose(alice, "reseller-free").status_code == 302
    checkout = alice.get("/checkout").get_data(as_text=True)
    assert 'name="storefront_alias"' not in checkout
    assert alice.submit("/checkout", {"payment_kind": "invoice"}).status_code == 302
    name, alias, slug = _state(app, "Northwind IT")
    assert (name, alias, slug) == (PlanName.FREE, "northwind", "reseller-free")
    with app.app_context():
        storefront = db.session.scalars(select(Storefront)).one()
        assert storefront.is_open and storefront.purge_on is None and storefront.default_markup_bp == 2500


@pytest.mark.parametrize("emails,ok", [("a@example.com\nb@example.com", True), ("not an email", False),
                                       ("\n".join(f"x{i}@example.com" for i in range(11)), False)])
def test_notification_recipients_are_checked(app, login, demo, emails, ok):
    alice = login("alice")
    response = alice.submit("/account/plan", {"notify_emails": emails})
    assert response.status_code == (302 if ok else 422)
    with app.app_context():
        kept = db.session.scalars(select(Storefront)).one().notify_emails
    assert kept == (["a@example.com", "b@example.com"] if ok else ["store@northwind.example.com"])


def test_standard_moves_to_free_at_the_next_payment_and_is_renewed_as_free(app, login, demo):
    alice = login("alice")
    assert alice.submit("/account/plan", {}, button="Move to Free at the end of the paid period").status_code == 302
    assert "moves to Reseller plan: Free" in alice.get("/account/plan").get_data(as_text=True)
    from portal.recurring.run import renew

    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        due = reseller_plan(northwind).subscription.next_payment_on
        db.session.remove()
        renew(due)
        db.session.remove()
    name, alias, slug = _state(app, "Northwind IT")
    assert (name, alias, slug) == (PlanName.FREE, "northwind", "reseller-free")
