"""A request with an Idempotency-Key that dies after its checkout committed, before its answer was stored: the
retry with the same key takes the claim over and answers with the order (or the paid invoice) the first one made,
never buying or charging a second time."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import func, select, update

from portal.api.idempotency import CLAIM_TIMEOUT
from portal.api_keys.models import IdempotentRequest
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order, OrderLine

ITEM = {"product": "webstats", "edition": "Standard", "quantity": 5, "copies": 1}


def _die_before_answering(app, key: str) -> str | None:
    """As if the request with this Idempotency-Key had died after its work committed: its claim without an answer,
    older than a claim lasts. Returns the recovery point it had noted."""
    with app.app_context():
        row = db.session.scalars(select(IdempotentRequest).where(IdempotentRequest.idempotency_key == key)).one()
        db.session.execute(update(IdempotentRequest).where(IdempotentRequest.id == row.id).values(
            status_code=None, response_body=None, response_headers=None,
            created_at=utcnow() - CLAIM_TIMEOUT - timedelta(seconds=1)))
        db.session.commit()
        return row.recovery_point


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_retry_after_a_crash_answers_with_the_order_already_placed(app, api):
    client = api("alice")
    body = {"items": [ITEM], "payment": {"method": "invoice"}, "assign_to": "new.customer@example.com"}
    first = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"})
    assert first.status_code == 201
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert _die_before_answering(app, "crash-1") == order.idempotency_key
    retried = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"})
    assert retried.status_code == 201 and retried.get_json()["number"] == first.get_json()["number"]
    assert _count(app, Order) == 1
    with app.app_context():  # assigned once, by the first request
        bought = db.session.scalars(select(License).join(OrderLine, License.order_line_id == OrderLine.id)
                                    .where(OrderLine.order_id == order.id)).all()
        assert len(bought) == 1 and bought[0].customer_id is not None
    replayed = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-1"})
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.get_json() == retried.get_json()


def test_a_claim_abandoned_before_any_work_is_taken_over_and_done(app, api):
    client = api("alice")
    body = {"items": [ITEM], "payment": {"method": "invoice"}}
    refused = client.post("/api/v1/orders", json={**body, "payment": {"method": "bitcoin"}},
                          headers={"Idempotency-Key": "crash-2"})
    assert refused.status_code == 422
    with app.app_context():  # as if a first request had claimed the key and died before doing anything
        db.session.execute(update(IdempotentRequest).where(IdempotentRequest.idempotency_key == "crash-2").values(
            status_code=None, response_body=None, request_hash=_hash_of(body)))
        db.session.commit()
    assert _die_before_answering(app, "crash-2") is None
    placed = client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "crash-2"})
    assert placed.status_code == 201 and _count(app, Order) == 1


def _hash_of(body: dict) -> str:
    """The request hash the foundation keeps for a POST /api/v1/orders of `body` (method, path, query, JSON)."""
    text = "\n".join(["POST", "/api/v1/orders", "", json.dumps(body, sort_keys=True, separators=(",", ":"))])
    return hashlib.sha256(text.encode()).hexdigest()




def test_the_daily_sweep_forgets_answers_older_than_a_day(app, api):
    client = api("alice")
    for key in ("old", "new"):
        client.post("/api/v1/orders", json={"items": [ITEM], "payment": {"method": "bitcoin"}},
                    headers={"Idempotency-Key": key})
    with app.app_context():
        db.session.execute(update(IdempotentRequest).where(IdempotentRequest.idempotency_key == "old")
                           .values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["api", "sweep"])
    assert result.exit_code == 0 and "1 idempotent answers" in result.output
    with app.app_context():
        assert db.session.scalars(select(IdempotentRequest.idempotency_key)).all() == ["new"]
