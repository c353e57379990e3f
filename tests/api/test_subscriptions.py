"""Subscriptions through the API, as a partner's provisioning system adjusts a chain's plans: list them, read one
(ETag), change the quantity through the same services as the plan's Change page (more now: prorated and put in the
cart; fewer: from the next payment, never below what the devices use) and cancel at the end of the paid period,
each with If-Match honoured."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.cart.models import CartItem
from portal.catalog.models import SubscriptionBasis
from portal.db_types import utcnow
from portal.extensions import db
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import plan_usage
from tests.factories import make_subscription


def _org(name: str) -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


@pytest.fixture
def plans(app, demo):
    """Northwind: Device Protection (monthly, 10 days into its period) of 4 more than its devices use, and a
    Location Plan of 2 more than its locations use; Litware: Device Protection x3 and nothing in use."""
    with app.app_context():
        northwind = _org("Northwind IT")
        used = plan_usage(northwind.id)
        start = utcnow().date() - timedelta(days=10)
        devices = make_subscription(northwind, "device-protection", used[SubscriptionBasis.DEVICE] + 4,
                                    next_payment_on=pricing.advance_billing_date(start, 1, start.day))
        devices.started_on, devices.anchor_day = start, start.day
        locations = make_subscription(northwind, "location-plan", used[SubscriptionBasis.LOCATION] + 2)
        litware = make_subscription(_org("Litware Solutions"), "device-protection", 3)
        db.session.commit()
        return {"devices": devices.id, "locations": locations.id, "litware": litware.id,
                "devices_used": used[SubscriptionBasis.DEVICE]}


def _plan(app, plan_id: int) -> Subscription:
    with app.app_context():
        plan = db.session.get(Subscription, plan_id)
        db.session.expunge(plan)
        return plan


def test_the_chains_plans_are_listed_a_page_at_a_time(api, plans):
    client = api("alice", scopes=[Scope.SUBSCRIPTIONS_READ])
    first = client.get("/api/v1/subscriptions?limit=1")
    assert first.status_code == 200
    body = first.get_json()
    assert [p["id"] for p in body["data"]] == [plans["devices"]] and body["has_more"]
    second = client.get("/api/v1/subscriptions", query_string={"limit": 1, "cursor": body["next_cursor"]})
    assert [p["id"] for p in second.get_json()["data"]] == [plans["locations"]]
    assert second.get_json()["has_more"] is False
    plan = body["data"][0]
    assert (plan["object"], plan["product"]["slug"], plan["basis"], plan["interval"], plan["quantity"],
            plan["status"], plan["scheduled_change"]) == ("subscription", "device-protection", "device", "monthly",
                                                          plans["devices_used"] + 4, "active", None)


def test_another_chains_plan_is_a_404_and_stays_as_it_was(app, api, plans):
    client = api("alice")
    url = f"/api/v1/subscriptions/{plans['litware']}"
    assert client.get(url).status_code == 404
    assert client.patch(url, json={"quantity": 1}).status_code == 404
    assert client.post(f"{url}/cancellation").status_code == 404
    assert plans["litware"] not in [p["id"] for p in client.get("/api/v1/subscriptions").get_json()["data"]]
    plan = _plan(app, plans["litware"])
    assert (plan.quantity, plan.scheduled_quantity) == (3, None)


def test_a_key_without_the_scope_is_refused(api, plans):
    read_only = api("alice", scopes=[Scope.SUBSCRIPTIONS_READ])
    response = read_only.patch(f"/api/v1/subscriptions/{plans['devices']}", json={"quantity": 8})
    assert response.status_code == 403 and response.get_json()["type"].endswith("#insufficient-scope")
    assert api("alice", scopes=[Scope.INVOICES_READ]).get("/api/v1/subscriptions").status_code == 403


def test_a_lower_quantity_is_scheduled_for_the_next_payment_and_shown_on_the_page(app, api, login, plans):
    client = api("alice")
    url = f"/api/v1/subscriptions/{plans['devices']}"
    etag = client.get(url).headers["ETag"]
    lower = plans["devices_used"] + 1
    response = client.patch(url, json={"quantity": lower}, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["quantity"] == plans["devices_used"] + 4
    assert body["scheduled_change"]["quantity"] == lower
    assert body["scheduled_change"]["takes_effect_on"] == body["next_payment_on"]
    assert _plan(app, plans["devices"]).scheduled_quantity == lower
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subscription.change_scheduled")).one()
        assert entry.api_key_id is not None
    assert f"lowers to {lower}" in login("alice").get("/subscriptions").get_data(as_text=True)


def test_a_stale_if_match_is_a_412_and_nothing_changes(app, api, plans):
    client = api("alice")
    url = f"/api/v1/subscriptions/{plans['devices']}"
    etag = client.get(url).headers["ETag"]
    lower = plans["devices_used"] + 2
    assert client.patch(url, json={"quantity": lower}, headers={"If-Match": etag}).status_code == 200
    stale = client.patch(url, json={"quantity": lower - 1}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.get_json()["type"].endswith("#precondition-failed")
    assert client.post(f"{url}/cancellation", headers={"If-Match": etag}).status_code == 412
    assert _plan(app, plans["devices"]).scheduled_quantity == lower


def test_a_plan_cannot_go_below_what_the_devices_use(app, api, plans):
    used = plans["devices_used"]
    assert used > 0  # the demo's devices
    response = api("alice").patch(f"/api/v1/subscriptions/{plans['devices']}", json={"quantity": used - 1})
    assert response.status_code == 422
    assert response.get_json()["field"] == "quantity"
    assert f"you can lower this plan to {used} at the least" in response.get_json()["detail"]
    assert _plan(app, plans["devices"]).scheduled_quantity is None


def test_a_higher_quantity_is_prorated_and_put_in_the_cart_as_the_page_does(app, api, plans):
    more = plans["devices_used"] + 6
    response = api("alice").patch(f"/api/v1/subscriptions/{plans['devices']}", json={"quantity": more})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["object"], body["quantity_added"]) == ("subscription_increase", 2)
    assert body["prorated_price"]["amount_minor"] > 0 and body["days_left"] > 0
    assert body["subscription"]["quantity"] == plans["devices_used"] + 4  # it grows when the order is placed
    with app.app_context():
        item = db.session.get(CartItem, body["cart_item_id"])
        assert item is not None and item.quantity == 2
        assert db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "subscription.increase_added_to_cart")).one().api_key_id is not None


def test_cancel_at_the_end_of_the_period(app, api, login, plans):
    client = api("frank", "Litware Solutions")
    url = f"/api/v1/subscriptions/{plans['litware']}"
    response = client.post(f"{url}/cancellation", headers={"Idempotency-Key": "cancel-locations"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scheduled_change"]["quantity"] == 0
    assert response.get_json()["status"] == "active"  # until the end of the paid period
    assert _plan(app, plans["litware"]).scheduled_quantity == 0
    replay = client.post(f"{url}/cancellation", headers={"Idempotency-Key": "cancel-locations"})
    assert replay.status_code == 200 and replay.get_json() == response.get_json()
    again = client.post(f"{url}/cancellation")
    assert again.status_code == 422 and "already scheduled" in again.get_json()["detail"]
    assert "Cancels on" in login("frank").get("/subscriptions").get_data(as_text=True)


def test_a_cancellation_below_usage_is_refused(app, api, plans):
    response = api("alice").post(f"/api/v1/subscriptions/{plans['devices']}/cancellation")
    assert response.status_code == 422
    assert _plan(app, plans["devices"]).scheduled_quantity is None


@pytest.mark.parametrize("body, field", [({}, "quantity"), ({"quantity": "7"}, "quantity"),
                                         ({"quantity": -1}, "quantity"), ({"quantity": 10**20}, "quantity"),
                                         ({"quantity": 7.5}, "quantity"),
                                         ({"quantity": 7, "product": "x"}, "product")])
def test_a_bad_quantity_names_the_field_and_changes_nothing(app, api, plans, body, field):
    response = api("alice").patch(f"/api/v1/subscriptions/{plans['devices']}", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    assert _plan(app, plans["devices"]).scheduled_quantity is None


def test_the_same_quantity_is_refused(app, api, plans):
    same = plans["devices_used"] + 4
    response = api("alice").patch(f"/api/v1/subscriptions/{plans['devices']}", json={"quantity": same})
    assert response.status_code == 422 and response.get_json()["field"] == "quantity"
    assert _plan(app, plans["devices"]).scheduled_quantity is None
