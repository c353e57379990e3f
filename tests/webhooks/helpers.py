"""Builders for the webhook tests (and the route matrix and cross-tenant tests): endpoints and deliveries."""

from __future__ import annotations

from portal.accounts.models import Organization
from portal.extensions import db
from portal.webhooks import signing
from portal.webhooks.events import body, new_event_id
from portal.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

ALL_EVENTS = [kind.value for kind in EventType]


def make_endpoint(org: Organization, url: str = "https://hooks.example.com/portal", event_types=None,
                  secret: str | None = None, **fields) -> WebhookEndpoint:
    """An enabled endpoint of `org` subscribed to `event_types` (all by default)."""
    endpoint = WebhookEndpoint(organization_id=org.id, url=url, description=fields.pop("description", ""),
                               event_types=list(event_types or ALL_EVENTS),
                               secret_encrypted=signing.encrypt(secret or signing.new_secret()), **fields)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def make_delivery(endpoint: WebhookEndpoint, event_type: str = "order.placed", **fields) -> WebhookDelivery:
    from portal.db_types import utcnow

    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=new_event_id(), event_type=event_type,
                               payload=body(event_type, {"object": "order", "number": "ORD-TEST"}, utcnow()),
                               **fields)
    db.session.add(delivery)
    db.session.flush()
    return delivery
