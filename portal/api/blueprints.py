"""The automation API's blueprints: each resource's blueprint is made here, so that every one of them
authenticates its key, limits its rate, honours Idempotency-Key, answers errors as problems and commits once.

Views of these blueprints do not commit: `_finish` does, after the idempotent answer is stored, so the work and
its stored answer are one transaction. A failed request's work is rolled back.
"""

from __future__ import annotations

import hashlib

from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from portal.api import idempotency
from portal.api.auth import authenticate, bearer_token
from portal.api.problems import ApiProblem, problem_for_http_exception
from portal.api_keys.services import record_use
from portal.db_types import utcnow
from portal.extensions import csrf, db, limiter
from portal.text_guard import NUL_MESSAGE, holds_nul_characters

RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _key_bucket() -> str:
    """Rate limits count per API key (a hash of the token, so a key's bucket is its own even before it is
    checked; requests without a key count per address)."""
    token = bearer_token()
    if token is None:
        return f"address:{request.remote_addr}"
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def answer_problem(problem: ApiProblem) -> Response:
    return problem.response()


def answer_http_exception(error: HTTPException) -> Response:
    return problem_for_http_exception(error).response()


def _nul_field(value, path: str = "") -> str | None:
    """The dotted name of the first JSON string (or key) holding a NUL character, if one does."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, inner in items:
        field = f"{path}.{name}" if path else str(name)
        if "\x00" in str(name):
            return field
        found = _nul_field(inner, field)
        if found is not None:
            return found
    return None


def _refuse_nul_characters() -> None:
    """No text the portal stores may hold a NUL character (PostgreSQL refuses it), in the query or the JSON body."""
    if holds_nul_characters():
        raise ApiProblem("malformed-request", NUL_MESSAGE)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise ApiProblem("malformed-request", "The JSON is nested too deeply.") from None
    field = _nul_field(body) if body is not None else None
    if field is not None:
        raise ApiProblem("validation-error", NUL_MESSAGE, field=field, errors=[{"field": field,
                                                                              "detail": NUL_MESSAGE}])


def _read_outside_a_transaction() -> None:
    """GET and HEAD change nothing but the key's last use (written at most once a minute): their statements run
    in autocommit, without a transaction's BEGIN and COMMIT, two round trips of four on PostgreSQL for a list (where
    each statement of READ COMMITTED reads its own snapshot in a transaction too)."""
    if request.method in ("GET", "HEAD") and not db.session().in_transaction():  # not if a hook read already
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _finish(response: Response) -> Response:
    if response.status_code >= 500:
        db.session.rollback()
        idempotency.release_on_failure()
        return response
    if response.status_code >= 400:  # a refused request keeps nothing of its work, but its key's use is noted
        db.session.rollback()
        if g.get("api_key") is not None:
            record_use(g.api_key, request.remote_addr, utcnow())
    response = idempotency.finish(response)
    try:
        db.session.commit()
    except (IntegrityError, OperationalError):  # a concurrent change won: nothing of this request is kept
        db.session.rollback()
        idempotency.release_on_failure()
        return ApiProblem("conflict", "Another request changed this at the same moment; nothing was changed. "
                          "Retry.").response()
    return response


def _rate_limit_headers(response: Response) -> Response:
    current = limiter.current_limit
    if current is not None:
        import time

        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(current.remaining, 0))
        response.headers["RateLimit-Reset"] = str(max(int(current.reset_at - time.time()), 0))
        if response.status_code == 429:
            response.headers["Retry-After"] = response.headers["RateLimit-Reset"]
    return response


def key_blueprint(name: str, import_name: str, *, url_prefix: str, description: str) -> Blueprint:
    """A blueprint of API-key-authenticated operations under /api/v1."""
    blp = Blueprint(name, import_name, url_prefix=f"/api/v1{url_prefix}", description=description)
    blp.key_authenticated = True  # read by the route x role and cross-tenant tests
    csrf.exempt(blp)
    limiter.limit(lambda: current_app.config["API_KEY_LIMIT"], key_func=_key_bucket, scope="api-key")(blp)
    blp.before_request(_read_outside_a_transaction)
    blp.before_request(authenticate)
    blp.before_request(_refuse_nul_characters)
    blp.before_request(idempotency.begin)
    blp.after_request(_finish)
    blp.after_request(_rate_limit_headers)
    blp.teardown_request(lambda _exc: idempotency.release_on_failure())
    blp.register_error_handler(ApiProblem, answer_problem)
    blp.register_error_handler(HTTPException, answer_http_exception)
    return blp
