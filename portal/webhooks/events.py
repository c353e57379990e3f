"""Emitting events: one delivery per enabled endpoint of the organization's main chain subscribed to the type,
written in the caller's transaction (flushed, never committed), so that a rolled-back change sends nothing.

Services call `emit` where the change happens. It costs one SELECT of the main chain's enabled endpoints (read
through ix_webhook_endpoint_org) and writes nothing when there are none. This module imports only models, so any
service may import it without a cycle.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, insert, select

from portal.accounts.models import Organization
from portal.db_types import utcnow
from portal.extensions import db
from portal.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint


def new_event_id() -> str:
    """`msg_` and 32 random base62-ish symbols: the `webhook-id` receivers deduplicate on."""
    return "msg_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def body(event_type: str, data: dict, at: datetime) -> str:
    """The JSON body every endpoint receives for an event."""
    return json.dumps({"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
                      separators=(",", ":"), sort_keys=True, default=str)


def _subscribed(organization_id: int) -> list[tuple[int, list[str]]]:
    """(id, event types) of the enabled endpoints of the main chain of `organization_id`."""
    main_chain = (select(func.coalesce(Organization.parent_id, Organization.id))
                  .where(Organization.id == organization_id).scalar_subquery())
    return [(row.id, list(row.event_types or ())) for row in db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types)
        .where(WebhookEndpoint.organization_id == main_chain, WebhookEndpoint.disabled_at.is_(None)))]


def emit_all(organization_id: int | None, events: Iterable[tuple[EventType | str, dict]]) -> int:
    """Queue several events of one organization (a renewal's plans) with a single read of its endpoints; returns
    how many deliveries were written."""
    events = [(str(EventType(kind)), data) for kind, data in events]
    if organization_id is None or not events:
        return 0
    endpoints = _subscribed(organization_id)
    if not endpoints:
        return 0
    now = utcnow()
    rows = []
    for kind, data in events:
        wanted = [endpoint_id for endpoint_id, types in endpoints if kind in types]
        if not wanted:
            continue
        event_id, payload = new_event_id(), body(kind, data, now)
        rows += [{"endpoint_id": endpoint_id, "event_id": event_id, "event_type": kind, "payload": payload,
                  "status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": now, "created_at": now}
                 for endpoint_id in wanted]
    if rows:
        db.session.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)


def emit(event_type: EventType | str, organization_id: int | None, data: dict) -> int:
    """Queue `event_type` with `data` for the main chain of `organization_id`, in the caller's transaction."""
    return emit_all(organization_id, [(event_type, data)])


# What each object looks like in an event's `data`: the identifiers the API uses.

def order_data(order) -> dict:
    return {"object": "order", "number": order.number, "organization_id": order.organization_id,
            "total_minor": order.total_minor, "currency": order.currency}


def license_data(license_, **extra) -> dict:
    return {"object": "license", "key": license_.key, "organization_id": license_.owner_id,
            "customer_id": license_.customer_id, **extra}


def invoice_data(invoice) -> dict:
    return {"object": "invoice", "number": invoice.number, "organization_id": invoice.organization_id,
            "total_minor": invoice.total_minor, "currency": invoice.currency, "status": invoice.status.value}


def invoice_issued(invoice) -> None:
    """invoice.issued, and invoice.paid too when it is issued paid (a card order, nothing to pay)."""
    data = invoice_data(invoice)
    kinds = [EventType.INVOICE_ISSUED] + ([EventType.INVOICE_PAID] if invoice.status.value == "paid" else [])
    emit_all(invoice.organization_id, [(kind, data) for kind in kinds])


def invoice_paid(invoice) -> None:
    """invoice.paid, for an invoice that has just become paid."""
    emit(EventType.INVOICE_PAID, invoice.organization_id, invoice_data(invoice))
