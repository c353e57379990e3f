"""Webhook endpoints through the API, as a partner's system manages them: added with the secret in that answer only,
an order placed through the API delivered to a local receiver signed with it, listed a page at a time, changed with
If-Match, disabled and enabled, deleted; deliveries newest first and Resend; scopes, other tenants, bad fields."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.api_keys.models import Scope
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.webhooks import delivery, signing
from portal.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.webhooks.helpers import make_delivery, make_endpoint
from tests.webhooks.test_delivery import Receiver

BASE = "/api/v1/webhook-endpoints"
NEW = {"url": "https://hooks.example.com/portal", "description": "ERP", "event_types": ["order.placed",
                                                                                      "invoice.paid"]}


def _org(name: str = "Northwind IT") -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _audit(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                        .order_by(AuditEntry.id)))
        db.session.expunge_all()
        return found


def _endpoint_with_deliveries(app, count: int, org: str = "Northwind IT", **fields) -> tuple[int, list[int]]:
    with app.app_context():
        endpoint = make_endpoint(_org(org), **fields)
        made = [make_delivery(endpoint, status=DeliveryStatus.FAILED, attempts=3, last_status_code=500)
                for _ in range(count)]
        db.session.commit()
        return endpoint.id, [d.id for d in made]


def test_an_endpoint_is_added_with_its_secret_in_that_answer_only(app, api, login):
    client = api("alice")
    created = client.post(BASE, json=NEW)
    assert created.status_code == 201
    body = created.get_json()
    assert body["object"] == "webhook_endpoint" and body["url"] == NEW["url"] and body["description"] == "ERP"
    assert body["event_types"] == ["order.placed", "invoice.paid"] and body["enabled"] is True
    assert body["secret"].startswith("whsec_")
    assert created.headers["Location"] == f"{BASE}/{body['id']}"
    with app.app_context():
        assert signing.decrypt(db.session.get(WebhookEndpoint, body["id"]).secret_encrypted) == body["secret"]
    again = client.get(created.headers["Location"])
    assert again.status_code == 200 and "secret" not in again.get_json() and again.headers["ETag"]
    assert all("secret" not in e for e in client.get(BASE).get_json()["data"])
    [entry] = _audit(app, "webhook.endpoint_added")
    assert entry.api_key_id is not None
    # the same service as the Webhooks page: the page lists it
    assert NEW["url"] in login("alice").get("/account/webhooks").get_data(as_text=True)


def test_an_order_placed_through_the_api_reaches_the_endpoint_signed_with_its_secret(app, api):
    app.config["PORTAL_DEBUG"] = True  # plain http to this machine: allowed in debug only
    try:
        with Receiver() as receiver:
            client = api("alice")
            created = client.post(BASE, json={"url": receiver.url, "event_types": ["order.placed"]}).get_json()
            placed = client.post("/api/v1/orders", json={
                "items": [{"product": "webstats", "edition": "Standard", "quantity": 5, "copies": 1}],
                "payment": {"method": "invoice"}})
            assert placed.status_code == 201, placed.get_json()
            with app.app_context():
                sent, failed = delivery.deliver()
            assert (sent, failed) == (1, 0)
            [(headers, body, _)] = receiver.requests
    finally:
        app.config.pop("PORTAL_DEBUG")
    assert signing.verify(created["secret"], headers, body)
    event = json.loads(body)
    assert event["type"] == "order.placed" and event["data"]["number"] == placed.get_json()["number"]
    [shown] = client.get(f"{BASE}/{created['id']}/deliveries").get_json()["data"]
    assert shown["object"] == "webhook_delivery" and shown["event_type"] == "order.placed"
    assert shown["status"] == "delivered" and shown["attempts"] == 1 and shown["last_status_code"] == 200
    assert shown["delivered_at"] is not None
    lowered = {k.lower(): v for k, v in headers.items()}
    assert shown["event_id"] == lowered["webhook-id"]


def test_endpoints_are_listed_a_page_at_a_time_stable_under_an_insert(app, api):
    with app.app_context():
        ids = [make_endpoint(_org(), url=f"https://hooks.example.com/{n}").id for n in range(5)]
        db.session.commit()
    client = api("alice")
    first = client.get(f"{BASE}?limit=2").get_json()
    assert [e["id"] for e in first["data"]] == ids[:2] and first["has_more"]
    client.post(BASE, json=NEW)  # added after the first page: it comes last
    seen = [e["id"] for e in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"{BASE}?limit=2&cursor={cursor}").get_json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
    assert seen[:5] == ids and len(seen) == 6 and len(set(seen)) == 6
    assert client.get(f"{BASE}?cursor=forged").get_json()["field"] == "cursor"


def test_an_endpoint_is_changed_with_if_match_and_a_stale_copy_is_refused(app, api):
    client = api("alice")
    created = client.post(BASE, json=NEW).get_json()
    url = f"{BASE}/{created['id']}"
    etag = client.get(url).headers["ETag"]
    changed = client.patch(url, json={"url": "https://erp.example.com/hooks", "event_types": ["device.added"],
                                      "description": "New ERP"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    body = changed.get_json()
    assert (body["url"], body["event_types"], body["description"]) == (
        "https://erp.example.com/hooks", ["device.added"], "New ERP")
    stale = client.patch(url, json={"description": "lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.get_json()["type"].endswith("#precondition-failed")
    assert client.get(url).get_json()["description"] == "New ERP"
    [entry] = _audit(app, "webhook.endpoint_changed")
    assert entry.api_key_id is not None and entry.details["after"]["url"] == "https://erp.example.com/hooks"
    with app.app_context():  # the secret stays: receivers keep verifying
        assert signing.decrypt(db.session.get(WebhookEndpoint, created["id"]).secret_encrypted) == created["secret"]


def test_an_endpoint_is_disabled_and_enabled_again(app, api, login):
    client = api("alice")
    endpoint_id = client.post(BASE, json=NEW).get_json()["id"]
    url = f"{BASE}/{endpoint_id}"
    disabled = client.patch(url, json={"enabled": False}).get_json()
    assert disabled["enabled"] is False and disabled["disabled_reason"]
    assert "Enable" in login("alice").get(f"/account/webhooks/{endpoint_id}").get_data(as_text=True)
    enabled = client.patch(url, json={"enabled": True}).get_json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert [e.api_key_id is not None for e in _audit(app, "webhook.endpoint_disabled")
            + _audit(app, "webhook.endpoint_enabled")] == [True, True]


def test_an_endpoint_is_deleted_with_its_deliveries(app, api):
    endpoint_id, _ = _endpoint_with_deliveries(app, 2)
    client = api("alice")
    url = f"{BASE}/{endpoint_id}"
    assert client.delete(url, headers={"If-Match": '"stale"'}).status_code == 412
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert _count(app, WebhookDelivery, WebhookDelivery.endpoint_id == endpoint_id) == 0
    assert _audit(app, "webhook.endpoint_deleted")[0].api_key_id is not None


def test_deliveries_newest_first_a_page_at_a_time_and_resend(app, api):
    endpoint_id, ids = _endpoint_with_deliveries(app, 5)
    client = api("alice")
    url = f"{BASE}/{endpoint_id}/deliveries"
    first = client.get(f"{url}?limit=3").get_json()
    assert [d["id"] for d in first["data"]] == ids[::-1][:3] and first["has_more"]
    with app.app_context():  # a new event between two pages does not move the next one
        make_delivery(db.session.get(WebhookEndpoint, endpoint_id))
        db.session.commit()
    second = client.get(f"{url}?limit=3&cursor={first['next_cursor']}").get_json()
    assert [d["id"] for d in second["data"]] == ids[:2][::-1] and not second["has_more"]
    assert second["next_cursor"] is None
    resent = client.post(f"{BASE}/{endpoint_id}/deliveries/{ids[0]}/resend")
    assert resent.status_code == 200 and resent.get_json()["status"] == "pending"
    with app.app_context():
        assert db.session.get(WebhookDelivery, ids[0]).status is DeliveryStatus.PENDING
        assert db.session.get(WebhookDelivery, ids[1]).status is DeliveryStatus.FAILED
    [entry] = _audit(app, "webhook.delivery_resent")
    assert entry.api_key_id is not None


def test_a_disabled_endpoint_resends_nothing_and_another_endpoints_delivery_is_404(app, api):
    endpoint_id, [delivery_id] = _endpoint_with_deliveries(app, 1)
    other_id, [other_delivery] = _endpoint_with_deliveries(app, 1)
    client = api("alice")
    assert client.post(f"{BASE}/{endpoint_id}/deliveries/{other_delivery}/resend").status_code == 404
    client.patch(f"{BASE}/{endpoint_id}", json={"enabled": False})
    refused = client.post(f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/resend")
    assert refused.status_code == 422 and refused.get_json()["type"].endswith("#refused")
    with app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id).status is DeliveryStatus.FAILED
    assert other_id != endpoint_id


def test_another_tenants_endpoint_is_a_404_and_unchanged(app, api):
    endpoint_id, [delivery_id] = _endpoint_with_deliveries(app, 1)
    litware = api("frank", "Litware Solutions")
    url = f"{BASE}/{endpoint_id}"
    for answer in (litware.get(url), litware.patch(url, json={"enabled": False}), litware.delete(url),
                   litware.get(f"{url}/deliveries"), litware.post(f"{url}/deliveries/{delivery_id}/resend")):
        assert answer.status_code == 404 and answer.get_json()["type"].endswith("#not-found")
    assert litware.get(BASE).get_json()["data"] == []
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert endpoint.enabled and db.session.get(WebhookDelivery, delivery_id).status is DeliveryStatus.FAILED


def test_a_key_without_the_webhooks_scope_is_refused(app, api):
    client = api("alice", scopes=[Scope.LICENSES_READ, Scope.ORDERS_WRITE])
    answer = client.post(BASE, json=NEW)
    assert answer.status_code == 403 and answer.get_json()["type"].endswith("#insufficient-scope")
    assert client.get(BASE).status_code == 403
    assert _count(app, WebhookEndpoint) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({**NEW, "url": "http://hooks.example.com/portal"}, "url"),  # plain http
    ({**NEW, "url": "http://127.0.0.1:9/hooks"}, "url"),  # loopback, but not in debug
    ({**NEW, "url": "not a url"}, "url"),
    ({**NEW, "url": ""}, "url"),
    ({**NEW, "url": "https://" + "a" * 2000 + ".example.com"}, "url"),
    ({**NEW, "url": 42}, "url"),
    ({**NEW, "event_types": ["order.shipped"]}, "event_types"),
    ({**NEW, "event_types": []}, "event_types"),
    ({**NEW, "event_types": "order.placed"}, "event_types"),
    ({"event_types": ["order.placed"]}, "url"),
    ({**NEW, "description": "x" * 201}, "description"),
    ({**NEW, "colour": "red"}, "colour"),
    ({**NEW, "url": "https://hooks.example.com/\x00"}, "url"),
    ({**NEW, "description": "ERP\x00"}, "description"),
    ({**NEW, "event_types": ["order.placed\x00"]}, "event_types.0"),
])
def test_bad_fields_are_named_and_nothing_is_saved(app, api, body, field):
    answer = api("alice").post(BASE, json=body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.mimetype == "application/problem+json" and answer.get_json()["field"] == field
    assert _count(app, WebhookEndpoint) == 0


def test_bad_changes_are_named_and_nothing_changes(app, api):
    client = api("alice")
    created = client.post(BASE, json=NEW).get_json()
    url = f"{BASE}/{created['id']}"
    for body, field in (({"url": "ftp://hooks.example.com"}, "url"), ({"event_types": ["nope"]}, "event_types"),
                        ({"event_types": []}, "event_types"), ({"enabled": "yes"}, "enabled"),
                        ({"url": "https://ok.example.com", "event_types": ["bad"]}, "event_types")):
        answer = client.patch(url, json=body)
        assert answer.status_code == 422 and answer.get_json()["field"] == field, (body, answer.get_json())
    nul = client.patch(url, json={"description": "a\x00b"})
    assert nul.status_code == 422 and nul.get_json()["field"] == "description"
    after = client.get(url).get_json()
    assert (after["url"], after["event_types"], after["description"]) == (NEW["url"], NEW["event_types"], "ERP")
    assert client.patch(url, data="{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.get(f"{BASE}/99999999999999999999").status_code == 404
    assert client.post(f"{BASE}/{created['id']}/deliveries/99999999999999999999/resend").status_code == 404


def test_at_most_twenty_endpoints(app, api):
    with app.app_context():
        for n in range(20):
            make_endpoint(_org(), url=f"https://hooks.example.com/{n}")
        db.session.commit()
    answer = api("alice").post(BASE, json=NEW)
    assert answer.status_code == 422 and "at most 20" in answer.get_json()["detail"]
    assert _count(app, WebhookEndpoint) == 20
