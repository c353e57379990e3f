"""The rules of a main chain's webhook endpoints: add, enable and disable, delete, resend; every change audited."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, func, select

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.webhooks import signing
from portal.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS = 20
PER_PAGE = 25
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _debug() -> bool:
    return bool(current_app.debug or current_app.config.get("PORTAL_DEBUG"))


def check_url(raw: str) -> str:
    """The endpoint's URL as stored, or RuleError beside the field: HTTPS, or plain HTTP to this machine while
    the portal runs in debug (a receiver on a developer's laptop)."""
    url = (raw or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise RuleError("Enter a full URL, such as https://example.com/webhooks.", field="url") from None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise RuleError("Enter a full URL, such as https://example.com/webhooks (no user name or password in it).",
                        field="url")
    if parts.scheme == "http" and not (_debug() and _is_loopback(host)):
        raise RuleError("Use an https:// address: events carry your business data and are sent only over HTTPS.",
                        field="url")
    if len(url) > 2000:
        raise RuleError("Use a URL of at most 2,000 characters.", field="url")
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_event_types(chosen: list[str]) -> list[str]:
    """The chosen event types in the documented order, or RuleError beside the field: at least one, and only
    those the portal sends (a receiver waiting for an event that never comes is worse than a refusal)."""
    known = [kind.value for kind in EventType]
    unknown = sorted({str(kind) for kind in (chosen or ())} - set(known))
    if unknown:
        raise RuleError(f"Unknown event type {unknown[0][:60]!r}: choose from {', '.join(known)}.",
                        field="event_types")
    picked = [kind for kind in known if kind in set(chosen or ())]
    if not picked:
        raise RuleError("Choose at least one event to send to this endpoint.", field="event_types")
    return picked


def endpoints_of(org: Organization) -> list[WebhookEndpoint]:
    """The main chain's endpoints, in the order they were added."""
    return list(db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id)
                                   .order_by(WebhookEndpoint.id)))


def add_endpoint(org: Organization, url: str, description: str, event_types: list[str],
                 actor: Actor) -> WebhookEndpoint:
    """Register an endpoint with a new signing secret for the main chain."""
    if not org.is_main_chain:
        raise RuleError("Webhooks belong to a main chain: switch to it to add an endpoint.")
    url = check_url(url)
    picked = check_event_types(event_types)
    count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint)
                              .where(WebhookEndpoint.organization_id == org.id))
    if count >= MAX_ENDPOINTS:
        raise RuleError(f"An organization has at most {MAX_ENDPOINTS} endpoints: delete one you no longer use "
                        "first.", field="url")
    endpoint = WebhookEndpoint(organization_id=org.id, url=url, description=(description or "").strip()[:200],
                               event_types=picked, secret_encrypted=signing.encrypt(signing.new_secret()),
                               created_by_id=actor.user_id)
    db.session.add(endpoint)
    db.session.flush()
    record(actor, "webhook.endpoint_added", endpoint, org.id, url=url, event_types=picked)
    return endpoint


def change_endpoint(endpoint: WebhookEndpoint, actor: Actor, *, url: str | None = None,
                    description: str | None = None, event_types: list[str] | None = None) -> WebhookEndpoint:
    """Point the endpoint at another URL, describe it again or change its events (None keeps a value); the secret
    stays, so the receiver keeps verifying."""
    changes: dict = {}
    if url is not None and check_url(url) != endpoint.url:
        changes["url"] = check_url(url)
    if description is not None and description.strip()[:200] != endpoint.description:
        changes["description"] = description.strip()[:200]
    if event_types is not None and check_event_types(event_types) != list(endpoint.event_types):
        changes["event_types"] = check_event_types(event_types)
    if changes:
        before = {name: getattr(endpoint, name) for name in changes}
        for name, value in changes.items():
            setattr(endpoint, name, value)
        db.session.flush()
        record(actor, "webhook.endpoint_changed", endpoint, endpoint.organization_id, url=endpoint.url,
               before=before, after=changes)
    return endpoint


def secret_of(endpoint: WebhookEndpoint, actor: Actor) -> str | None:
    """The endpoint's signing secret, shown to a manager who asked (audited: a secret read is worth knowing)."""
    record(actor, "webhook.secret_revealed", endpoint, endpoint.organization_id, url=endpoint.url)
    return signing.decrypt(endpoint.secret_encrypted)


def disable(endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Stop sending to the endpoint; its waiting deliveries wait until it is enabled again."""
    if endpoint.disabled_at is not None:
        return
    endpoint.disabled_at, endpoint.disabled_reason = utcnow(), "Disabled by a manager."
    record(actor, "webhook.endpoint_disabled", endpoint, endpoint.organization_id, url=endpoint.url)


def enable(endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Send to the endpoint again, starting a fresh failure streak."""
    if endpoint.disabled_at is None:
        return
    endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
    record(actor, "webhook.endpoint_enabled", endpoint, endpoint.organization_id, url=endpoint.url)


def delete_endpoint(endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Remove the endpoint and its deliveries' history for good."""
    record(actor, "webhook.endpoint_deleted", endpoint, endpoint.organization_id, url=endpoint.url,
           event_types=list(endpoint.event_types))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def resend(endpoint: WebhookEndpoint, delivery_id: int | None, actor: Actor) -> WebhookDelivery:
    """Queue one more attempt of a delivery now (same event id, so a receiver that got it already can tell)."""
    delivery = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)).first() \
        if delivery_id else None
    if delivery is None:
        raise LookupError(delivery_id)
    if endpoint.disabled_at is not None:
        raise RuleError("This endpoint is disabled: enable it to send deliveries again.")
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, utcnow()
    record(actor, "webhook.delivery_resent", endpoint, endpoint.organization_id, url=endpoint.url,
           event_id=delivery.event_id, event_type=delivery.event_type)
    return delivery


@dataclass(frozen=True)
class DeliveryPage:
    """A page of an endpoint's deliveries, newest first; `older` is the keyset cursor of the next page."""

    items: list[WebhookDelivery]
    older: int | None
    newer: bool


def deliveries(endpoint: WebhookEndpoint, before: int | None = None) -> DeliveryPage:
    """The endpoint's deliveries newest first, PER_PAGE at a time, after the cursor `before` (a delivery id):
    read through ix_webhook_delivery_endpoint, never counted."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if before:
        stmt = stmt.where(WebhookDelivery.id < before)
    rows = list(db.session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(PER_PAGE + 1)))
    items = rows[:PER_PAGE]
    return DeliveryPage(items, items[-1].id if len(rows) > PER_PAGE else None, bool(before))
