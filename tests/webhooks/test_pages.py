"""The webhook pages without JavaScript: add an endpoint (errors beside the field, nothing saved), reveal its
secret, disable and enable it, delete it after a confirmation page, list its deliveries and resend one."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.webhooks import services, signing
from portal.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.webhooks.helpers import make_delivery, make_endpoint

ADD = "/account/webhooks"


def _org(name: str = "Northwind IT") -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == name)).one()


def _endpoints(app) -> list[WebhookEndpoint]:
    with app.app_context():
        found = list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        db.session.expunge_all()
        return found


def _actions(app, prefix: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
                                       .order_by(AuditEntry.id)))


def _error_beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def test_a_manager_adds_an_endpoint_and_reads_its_secret(app, demo, login):
    alice = login("alice")
    assert "No endpoints yet." in alice.get(ADD).get_data(as_text=True)
    response = alice.submit(ADD, {"url": "https://hooks.example.com/portal", "description": "ERP",
                                  "event_types": ["order.placed", "invoice.paid"]})
    assert response.status_code == 303
    [endpoint] = _endpoints(app)
    assert endpoint.url == "https://hooks.example.com/portal" and endpoint.organization_id == demo.orgs["Northwind IT"]
    assert endpoint.event_types == ["order.placed", "invoice.paid"] and endpoint.enabled
    assert "whsec_" not in endpoint.secret_encrypted  # encrypted at rest
    url = response.headers["Location"]
    shown = alice.get(url).get_data(as_text=True)
    assert "whsec_" not in shown and "Reveal secret" in shown
    revealed = alice.submit(url, button="Reveal secret")
    assert revealed.status_code == 200
    secret = re.search(r'<code id="signing-secret">(whsec_[^<]+)</code>', revealed.get_data(as_text=True)).group(1)
    with app.app_context():
        assert signing.decrypt(db.session.get(WebhookEndpoint, endpoint.id).secret_encrypted) == secret
    assert _actions(app, "webhook.") == ["webhook.endpoint_added", "webhook.secret_revealed"]
    assert "https://hooks.example.com/portal" in alice.get(ADD).get_data(as_text=True)


def test_plain_http_is_refused_beside_the_field_and_nothing_is_saved(app, demo, login):
    alice = login("alice")
    for url in ("http://hooks.example.com/portal", "http://127.0.0.1:8000/hook", "ftp://example.com/x", "hooks",
                "https://user:pw@example.com/x", "https://example.com:99999/x"):
        response = alice.submit(ADD, {"url": url, "event_types": ["order.placed"]})
        assert response.status_code == 422, url
        assert _error_beside(response.get_data(as_text=True), "url"), url
    assert _endpoints(app) == []


def test_plain_http_to_this_machine_is_allowed_in_debug(app, demo, login):
    alice = login("alice")
    app.config["PORTAL_DEBUG"] = True
    try:
        response = alice.submit(ADD, {"url": "http://127.0.0.1:8000/hook", "event_types": ["device.added"]})
        refused = alice.submit(ADD, {"url": "http://example.com/hook", "event_types": ["device.added"]})
    finally:
        app.config.pop("PORTAL_DEBUG")
    assert response.status_code == 303
    assert refused.status_code == 422 and "https" in _error_beside(refused.get_data(as_text=True), "url")
    assert [e.url for e in _endpoints(app)] == ["http://127.0.0.1:8000/hook"]


def test_an_endpoint_needs_an_event_type(app, demo, login):
    alice = login("alice")
    response = alice.submit(ADD, {"url": "https://hooks.example.com/portal", "event_types": None})
    assert response.status_code == 422
    assert "at least one event" in _error_beside(response.get_data(as_text=True), "event_types")
    assert _endpoints(app) == []


def test_at_most_twenty_endpoints(app, demo, login):
    with app.app_context():
        org = _org()
        for n in range(services.MAX_ENDPOINTS):
            make_endpoint(org, url=f"https://hooks.example.com/{n}")
        db.session.commit()
    response = login("alice").submit(ADD, {"url": "https://hooks.example.com/more", "event_types": ["order.placed"]})
    assert response.status_code == 422
    assert "at most 20" in _error_beside(response.get_data(as_text=True), "url")
    assert len(_endpoints(app)) == services.MAX_ENDPOINTS


def test_disable_then_enable(app, demo, login):
    with app.app_context():
        endpoint_id = make_endpoint(_org(), failing_since=None).id
        db.session.commit()
    alice = login("alice")
    url = f"/account/webhooks/{endpoint_id}"
    assert alice.submit(url, button="Disable").status_code == 303
    [endpoint] = _endpoints(app)
    assert not endpoint.enabled and endpoint.disabled_reason
    assert "Disabled" in alice.get(url).get_data(as_text=True)
    assert alice.submit(url, button="Enable").status_code == 303
    assert _endpoints(app)[0].enabled
    assert _actions(app, "webhook.") == ["webhook.endpoint_disabled", "webhook.endpoint_enabled"]


def test_delete_asks_first_then_deletes_the_endpoint_and_its_deliveries(app, demo, login):
    with app.app_context():
        endpoint = make_endpoint(_org())
        make_delivery(endpoint)
        db.session.commit()
        endpoint_id = endpoint.id
    alice = login("alice")
    page = alice.get(f"/account/webhooks/{endpoint_id}").get_data(as_text=True)
    assert f'href="/account/webhooks/{endpoint_id}/delete"' in page  # a link to the question, not a button
    question = alice.page(f"/account/webhooks/{endpoint_id}/delete")
    assert len(_endpoints(app)) == 1
    response = alice.submit(question, button="Delete endpoint")
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/webhooks")
    assert _endpoints(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert _actions(app, "webhook.") == ["webhook.endpoint_deleted"]


def test_deliveries_newest_first_a_page_at_a_time_and_resend(app, demo, login):
    with app.app_context():
        endpoint = make_endpoint(_org())
        made = [make_delivery(endpoint, status=DeliveryStatus.FAILED, attempts=3, last_status_code=500)
                for _ in range(services.PER_PAGE + 2)]
        db.session.commit()
        endpoint_id, ids, events = endpoint.id, [d.id for d in made], [d.event_id for d in made]
    alice = login("alice")
    url = f"/account/webhooks/{endpoint_id}"
    first = alice.get(url).get_data(as_text=True)
    shown = re.findall(r"<code>(msg_[^<]+)</code>", first)
    assert shown == events[::-1][:services.PER_PAGE]
    older = re.search(r'href="([^"]+before=\d+)"[^>]*rel="next"', first).group(1).replace("&amp;", "&")
    second = alice.get(older).get_data(as_text=True)
    assert re.findall(r"<code>(msg_[^<]+)</code>", second) == events[:2][::-1]
    fragment = alice.get(older, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="deliveries">')
    response = alice.submit(url, button=f"Resend {events[-1]}")
    assert response.status_code == 303
    with app.app_context():
        resent = db.session.get(WebhookDelivery, ids[-1])
        assert resent.status is DeliveryStatus.PENDING and resent.event_id == events[-1]
        assert db.session.get(WebhookDelivery, ids[0]).status is DeliveryStatus.FAILED
    assert _actions(app, "webhook.") == ["webhook.delivery_resent"]


def test_a_delivery_of_another_endpoint_is_not_resent(app, demo, login):
    with app.app_context():
        mine = make_endpoint(_org())
        theirs = make_delivery(make_endpoint(_org("Fabrikam Stores")), status=DeliveryStatus.FAILED)
        db.session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    alice = login("alice")
    response = alice.post(f"/account/webhooks/{mine_id}/resend",
                          data={"delivery_id": str(theirs_id), "csrf_token": alice.csrf_token()})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(WebhookDelivery, theirs_id).status is DeliveryStatus.FAILED


def test_a_master_user_has_no_webhooks_page(app, demo, login):
    bob = login("bob")
    assert bob.get(ADD).status_code == 403
    assert "/account/webhooks" not in bob.get("/account").get_data(as_text=True)
    assert 'href="/account/webhooks"' in login("alice").get("/account").get_data(as_text=True)
