"""Delivering webhooks to a real HTTP server on 127.0.0.1: the signed POST, retries with backoff on failure, and
an endpoint failing for three days disabled with its managers emailed."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.webhooks import delivery, signing
from portal.webhooks.events import emit
from portal.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.webhooks.helpers import make_endpoint


class Receiver:
    """An HTTP server that records each request and answers with the next status of `answers` (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], str, str]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                receiver.requests.append((dict(self.headers.items()), body, self.path))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def _northwind() -> Organization:
    return db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()


def test_a_delivery_is_posted_signed_with_the_endpoints_secret(app, demo, receiver):
    secret = signing.new_secret()
    with app.app_context():
        org = _northwind()
        make_endpoint(org, url=receiver.url, secret=secret)
        emit("order.placed", org.id, {"object": "order", "number": "ORD-1", "organization_id": org.id,
                                      "total_minor": 12_000, "currency": "USD"})
        db.session.commit()
        assert delivery.deliver() == (1, 0)
        row = db.session.scalars(select(WebhookDelivery)).one()
        assert row.status is DeliveryStatus.DELIVERED and row.attempts == 1 and row.last_status_code == 200
    [(headers, body, path)] = receiver.requests
    lowered = {k.lower(): v for k, v in headers.items()}
    assert path == "/hooks" and lowered["content-type"] == "application/json"
    assert lowered["user-agent"].startswith("PartnerPortal-Webhooks/")
    assert lowered["webhook-id"] == row.event_id and row.event_id.startswith("msg_")
    assert signing.verify(secret, headers, body)
    sent = json.loads(body)
    assert sent["type"] == "order.placed" and sent["timestamp"].endswith("Z")
    assert sent["data"] == {"object": "order", "number": "ORD-1", "organization_id": sent["data"]["organization_id"],
                            "total_minor": 12_000, "currency": "USD"}


def test_a_failed_attempt_is_retried_with_backoff_under_the_same_id(app, demo, receiver):
    receiver.answers = [500, 503]
    secret = signing.new_secret()
    with app.app_context():
        org = _northwind()
        endpoint = make_endpoint(org, url=receiver.url, secret=secret)
        emit("device.added", org.id, {"object": "device", "id": 1})
        db.session.commit()
        endpoint_id = endpoint.id
        start = utcnow()
        assert delivery.deliver() == (0, 1)
        row = db.session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
        assert timedelta(seconds=4) < row.next_attempt_at - start < timedelta(seconds=30)
        assert db.session.get(WebhookEndpoint, endpoint_id).failing_since is not None
        assert delivery.deliver() == (0, 0)  # not due yet
        later = lambda: utcnow() + timedelta(seconds=6)  # noqa: E731
        assert delivery.deliver(now=later) == (0, 1)
        db.session.expire_all()
        row = db.session.scalars(select(WebhookDelivery)).one()
        assert row.attempts == 2 and row.last_status_code == 503
        assert timedelta(minutes=4) < row.next_attempt_at - utcnow() < timedelta(minutes=6)
        assert delivery.deliver(now=lambda: utcnow() + timedelta(minutes=6)) == (1, 0)
        db.session.expire_all()
        assert db.session.scalars(select(WebhookDelivery)).one().status is DeliveryStatus.DELIVERED
        assert db.session.get(WebhookEndpoint, endpoint_id).failing_since is None  # a success ends the streak
    ids = {headers.get("webhook-id") or headers.get("Webhook-Id") for headers, _, _ in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert all(signing.verify(secret, headers, body) for headers, body, _ in receiver.requests)


def test_the_backoff_schedule():
    assert [delivery.backoff(n) for n in range(1, 9)] == [
        timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
        timedelta(hours=10), timedelta(hours=10), timedelta(hours=10)]


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_managers_emailed(app, demo):
    with app.app_context():
        org = _northwind()
        # nothing listens there: connection refused, every time
        endpoint = make_endpoint(org, url="https://127.0.0.1:9/hooks",
                                 failing_since=utcnow() - timedelta(days=3, minutes=1))
        emit("invoice.paid", org.id, {"object": "invoice", "number": "INV-1"})
        emit("invoice.issued", org.id, {"object": "invoice", "number": "INV-2"})
        db.session.commit()
        endpoint_id = endpoint.id
        emails_before = db.session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0
        assert delivery.deliver() == (0, 1)  # the first attempt fails, the endpoint is disabled: no second one
        db.session.expire_all()
        found = db.session.get(WebhookEndpoint, endpoint_id)
        assert found.disabled_at is not None and "failed since" in found.disabled_reason
        # the one tried and the one still waiting: both failed, until a manager enables the endpoint and resends
        assert [d.status for d in db.session.scalars(select(WebhookDelivery))] == [DeliveryStatus.FAILED] * 2
        [email] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id > emails_before,
                                                                 OutboxMessage.kind == "webhook_endpoint_disabled"))
        assert "alice@northwind.example.com" in email.to_addrs
        assert "https://127.0.0.1:9/hooks" in email.subject and "/account/webhooks/" in email.body_text


def test_a_failure_within_three_days_keeps_the_endpoint(app, demo):
    with app.app_context():
        org = _northwind()
        endpoint = make_endpoint(org, url="https://127.0.0.1:9/hooks",
                                 failing_since=utcnow() - timedelta(days=2, hours=23))
        emit("invoice.paid", org.id, {"object": "invoice", "number": "INV-1"})
        db.session.commit()
        endpoint_id = endpoint.id
        assert delivery.deliver() == (0, 1)
        db.session.expire_all()
        assert db.session.get(WebhookEndpoint, endpoint_id).enabled


def test_a_disabled_endpoint_gets_nothing(app, demo, receiver):
    with app.app_context():
        org = _northwind()
        endpoint = make_endpoint(org, url=receiver.url)
        emit("device.added", org.id, {"object": "device", "id": 1})
        endpoint.disabled_at = utcnow()
        emit("device.added", org.id, {"object": "device", "id": 2})  # not even queued
        db.session.commit()
        assert delivery.deliver() == (0, 0)
        assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1
    assert receiver.requests == []


def test_the_command_delivers(app, demo, receiver):
    with app.app_context():
        org = _northwind()
        make_endpoint(org, url=receiver.url)
        emit("device.added", org.id, {"object": "device", "id": 1})
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["webhooks", "deliver"])
    assert result.exit_code == 0 and "1 delivered" in result.output
    assert len(receiver.requests) == 1
