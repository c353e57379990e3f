"""Idempotency-Key on POST, with Stripe's semantics.

The first request with a key claims it (a row committed on its own connection, so that the unique constraint
decides between concurrent requests before any work starts); its answer, errors included, is written in the same
transaction as the work it did and replayed for 24 hours. The same key with other parameters is a 422; a request
that finds the key claimed but unanswered waits for the answer (briefly), then gets a 409 to retry. A claim left
without an answer (a worker that died) can be taken over after CLAIM_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

from flask import Response, current_app, g, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal import encryption
from portal.api.problems import ApiProblem
from portal.api_keys.models import IdempotentRequest
from portal.db_types import utcnow
from portal.extensions import db

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
CLAIM_TIMEOUT = timedelta(minutes=2)
WAIT_SECONDS = 15.0
REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# Answers are kept encrypted: some carry a secret shown once (a webhook endpoint's signing secret).
PURPOSE = b"portal idempotent answer"


def _request_hash() -> str:
    """Method, path, query and body (JSON compared by value, not by spelling)."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")) if raw else ""
    except (ValueError, RecursionError):
        body = raw.decode("utf-8", "replace")
    text = "\n".join([request.method, request.path, request.query_string.decode("latin-1"), body])
    return hashlib.sha256(text.encode()).hexdigest()


def _key() -> str | None:
    value = request.headers.get(HEADER)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise ApiProblem("malformed-request", "An Idempotency-Key is 1 to 255 printable characters, such as a "
                         "UUID.", field=HEADER)
    return value


def _stored(api_key_id: int, key: str):
    with db.engine.connect() as connection:
        return connection.execute(
            select(IdempotentRequest.__table__).where(IdempotentRequest.api_key_id == api_key_id,
                                                      IdempotentRequest.idempotency_key == key)).first()


def _replay(row) -> Response:
    body = encryption.decrypt(row.response_body or "", PURPOSE)
    if body is None:  # SECRET_KEY changed since: the answer cannot be given again
        raise ApiProblem("conflict", "This Idempotency-Key's first answer can no longer be read. Use a new key.",
                         field=HEADER)
    response = Response(body, status=row.status_code)
    response.headers.update(row.response_headers or {})
    response.headers[REPLAYED] = "true"
    return response


def _claim(api_key_id: int, key: str, request_hash: str) -> bool:
    """Insert the claim on a connection of its own; False if the key is already claimed."""
    now = utcnow()
    with db.engine.connect() as connection:
        try:
            connection.execute(insert(IdempotentRequest.__table__).values(
                api_key_id=api_key_id, idempotency_key=key, method=request.method, path=request.path[:500],
                request_hash=request_hash, created_at=now))
            connection.commit()
            return True
        except IntegrityError:
            connection.rollback()
            return False


def _forget(row) -> None:
    with db.engine.connect() as connection:
        connection.execute(delete(IdempotentRequest.__table__).where(IdempotentRequest.id == row.id))
        connection.commit()


def _take_over(row) -> bool:
    """Claim an abandoned key (no answer after CLAIM_TIMEOUT): only one waiting request wins it."""
    with db.engine.connect() as connection:
        taken = connection.execute(
            update(IdempotentRequest.__table__)
            .where(IdempotentRequest.id == row.id, IdempotentRequest.status_code.is_(None),
                   IdempotentRequest.created_at == row.created_at)
            .values(created_at=utcnow())).rowcount
        connection.commit()
    return taken == 1


def _release_session_connection() -> None:
    """End the session's transaction (what authentication read, and its note of the key's use) without expiring
    what it loaded, so that a request waiting for another's answer holds no pooled connection meanwhile."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def begin() -> Response | None:
    """before_request: claim the key, or answer with the stored response. Nothing to do without a key."""
    if request.method != "POST":
        return None
    key = _key()
    if key is None:
        return None
    api_key_id = g.api_key.id
    request_hash = _request_hash()
    _release_session_connection()
    deadline = time.monotonic() + current_app.config.get("API_IDEMPOTENCY_WAIT", WAIT_SECONDS)
    while True:
        if _claim(api_key_id, key, request_hash):
            g.idempotency = (api_key_id, key)
            return None
        row = _stored(api_key_id, key)
        if row is None:  # swept between our two statements: claim again
            continue
        if utcnow() - row.created_at > KEPT_FOR:  # kept 24 hours only: the key is new again
            _forget(row)
            continue
        if row.request_hash != request_hash:
            raise ApiProblem("idempotency-key-reused", "This Idempotency-Key was already used with other "
                             "parameters (or on another operation). Use a new key for a new request.", field=HEADER)
        if row.status_code is not None:
            return _replay(row)
        if utcnow() - row.created_at > CLAIM_TIMEOUT and _take_over(row):
            g.idempotency = (api_key_id, key)
            g.idempotency_recovered = row.recovery_point
            return None
        if time.monotonic() > deadline:
            raise ApiProblem("request-in-progress", "A request with this Idempotency-Key is still being "
                             "processed. Retry in a moment to get its answer.", headers={"Retry-After": "1"})
        time.sleep(0.05)


def remember(point: str) -> None:
    """Before work that commits on its own (a checkout, a card payment), with nothing of this request's pending
    (the caller has committed): note on the claim what that work is (an order's checkout signature), committed at
    once on a connection of its own, so that a retry taking over after a crash looks for it (`recovered`) before
    doing it again. A point noted for work that never committed finds nothing, and the retry does the work."""
    claimed = g.get("idempotency")
    if claimed is None:
        return
    api_key_id, key = claimed
    with db.engine.connect() as connection:
        connection.execute(update(IdempotentRequest.__table__).where(
            IdempotentRequest.api_key_id == api_key_id, IdempotentRequest.idempotency_key == key)
            .values(recovery_point=point[:255]))
        connection.commit()


def recovered() -> str | None:
    """What an earlier request with this key, which died before answering, had started (see `remember`)."""
    return g.get("idempotency_recovered")


def finish(response: Response) -> Response:
    """after_request: store the answer in the work's transaction (the caller has rolled back a failed request's
    work: its answer is kept all the same, and the caller commits)."""
    claimed = g.pop("idempotency", None)
    if claimed is None:
        return response
    api_key_id, key = claimed
    db.session.execute(
        update(IdempotentRequest)
        .where(IdempotentRequest.api_key_id == api_key_id, IdempotentRequest.idempotency_key == key)
        .values(status_code=response.status_code,
                response_body=encryption.encrypt(response.get_data(as_text=True), PURPOSE),
                response_headers={h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}))
    return response


def release_on_failure() -> None:
    """teardown: a request that died before storing its answer gives its key back at once."""
    claimed = g.pop("idempotency", None)
    if claimed is None:
        return
    api_key_id, key = claimed
    with db.engine.connect() as connection:
        connection.execute(delete(IdempotentRequest.__table__).where(
            IdempotentRequest.api_key_id == api_key_id, IdempotentRequest.idempotency_key == key,
            IdempotentRequest.status_code.is_(None)))
        connection.commit()


def sweep(now=None) -> int:
    """Forget answers older than 24 hours (the jobs table runs it daily): how many were removed."""
    cutoff = (now or utcnow()) - KEPT_FOR
    removed = db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < cutoff)).rowcount
    return removed
