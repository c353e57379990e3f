"""Delivering webhooks: POST each due delivery to its endpoint, signed; retry with backoff; disable an endpoint
that has failed for three days and email its managers.

At-least-once, like the email outbox: each delivery is claimed with SELECT … FOR UPDATE SKIP LOCKED (so several
nodes running `flask webhooks deliver` never send one delivery twice at once) and its outcome committed on its own.
A receiver deduplicates on `webhook-id`, which stays the same on every attempt.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select, update

from portal.accounts.models import Organization
from portal.accounts.services import managers_emails
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.services import enqueue_email, external_url
from portal.webhooks import signing
from portal.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

TIMEOUT_SECONDS = 10
USER_AGENT = "PartnerPortal-Webhooks/1.0"
# Standard Webhooks' recommended schedule: after the first failure 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, and
# every 10 h after that, until the endpoint has failed for DISABLE_AFTER.
SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
            timedelta(hours=5), timedelta(hours=10))
DISABLE_AFTER = timedelta(days=3)


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt before the next one."""
    return SCHEDULE[min(max(attempts, 1), len(SCHEDULE)) - 1]


@dataclass(frozen=True)
class Answer:
    """What the endpoint answered: a status code, or an error when there was no HTTP answer."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Poster = Callable[[str, bytes, dict[str, str]], Answer]


def post(url: str, data: bytes, headers: dict[str, str]) -> Answer:
    """POST with a 10 s timeout; redirects are not followed (a 3xx is a failure, as in Standard Webhooks)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    # The URL was checked when the endpoint was added: https (or http to loopback in debug), never file: or ftp:.
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(4096)
            return Answer(response.status)
    except urllib.error.HTTPError as error:  # an HTTP answer outside 2xx
        return Answer(error.code, f"HTTP {error.code}")
    except Exception as error:  # no answer: refused, timed out, TLS, DNS … all retried
        return Answer(None, f"{type(error).__name__}: {error}"[:500])


def _attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint, poster: Poster) -> Answer:
    secret = signing.decrypt(endpoint.secret_encrypted)
    if secret is None:
        return Answer(None, "The signing secret cannot be read (SECRET_KEY changed): add the endpoint again.")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **signing.headers(secret, delivery.event_id, delivery.payload)}
    return poster(endpoint.url, delivery.payload.encode(), headers)


def _succeeded(delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.DELIVERED, now, None
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id,
                                                     WebhookEndpoint.failing_since.is_not(None))
                       .values(failing_since=None))


def _failed(delivery: WebhookDelivery, endpoint: WebhookEndpoint, answer: Answer, now: datetime) -> None:
    delivery.last_error = answer.error or f"HTTP {answer.status}"
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id,
                                                     WebhookEndpoint.failing_since.is_(None))
                       .values(failing_since=now))
    db.session.refresh(endpoint, ["failing_since"])
    if endpoint.failing_since is not None and now - endpoint.failing_since > DISABLE_AFTER:
        disable_failing(endpoint, now)


def disable_failing(endpoint: WebhookEndpoint, now: datetime) -> bool:
    """Disable an endpoint that kept failing, fail its waiting deliveries and email its managers, once (a
    conditional write: of two nodes, one does it)."""
    reason = (f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery has failed since "
              f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC.")
    written = db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id,
                                                               WebhookEndpoint.disabled_at.is_(None))
                                 .values(disabled_at=now, disabled_reason=reason)
                                 .execution_options(synchronize_session=False))
    if written.rowcount != 1:
        return False
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                     WebhookDelivery.status == DeliveryStatus.PENDING)
                       .values(status=DeliveryStatus.FAILED).execution_options(synchronize_session=False))
    db.session.refresh(endpoint)
    organization = db.session.get(Organization, endpoint.organization_id)
    recipients = managers_emails(organization)
    if recipients:
        enqueue_email(recipients, "webhook_endpoint_disabled", endpoint=endpoint, organization=organization,
                      link=external_url("webhooks.endpoint", endpoint_id=endpoint.id))
    return True


def deliver(now: Callable[[], datetime] = utcnow, poster: Poster = post,
            limit: int | None = None) -> tuple[int, int]:
    """Send every due delivery of enabled endpoints (at most `limit`); returns (delivered, failed attempts).
    Commits per delivery."""
    delivered = failed = 0
    skip: set[int] = set()
    while limit is None or delivered + failed < limit:
        stmt = (select(WebhookDelivery).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now(),
                       WebhookEndpoint.disabled_at.is_(None))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(1)
                .with_for_update(skip_locked=True, of=WebhookDelivery))
        if skip:
            stmt = stmt.where(WebhookDelivery.id.not_in(skip))
        delivery = db.session.scalars(stmt).first()
        if delivery is None:
            db.session.rollback()
            return delivered, failed
        skip.add(delivery.id)
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id, populate_existing=True)
        answer = _attempt(delivery, endpoint, poster)
        at = now()
        delivery.attempts += 1
        delivery.last_status_code = answer.status
        if answer.ok:
            _succeeded(delivery, at)
            delivered += 1
        else:
            _failed(delivery, endpoint, answer, at)
            failed += 1
        db.session.commit()
    return delivered, failed


def register_cli(app: Flask) -> None:
    """`flask webhooks deliver [--loop]`, run beside `flask outbox send`."""
    group = AppGroup("webhooks", help="Deliver webhooks.")

    @group.command("deliver")
    @click.option("--loop", is_flag=True, help="Keep running, polling every --interval seconds.")
    @click.option("--interval", default=5.0, show_default=True, help="Seconds between polls with --loop.")
    def deliver_command(loop: bool, interval: float):
        """Send every due webhook delivery, retrying failures with backoff."""
        import time

        while True:
            sent, failed = deliver()
            if sent or failed or not loop:
                click.echo(f"webhooks: {sent} delivered, {failed} failed (will retry)")
            if not loop:
                break
            time.sleep(interval)

    app.cli.add_command(group)
