"""Schemathesis against the live OpenAPI document (served by the app at /api/v1/openapi.json): every operation,
called with generated requests and a valid key, answers no server error and nothing its schema does not describe.
Negative runs send a missing, a revoked, an expired and another tenant's key: 401, 403 and 404 only (another
tenant's key may also be told its request is invalid, 4xx, but never sees a 2xx on the demo tenant's objects)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from portal.api_keys.models import ApiKey
from portal.db_types import utcnow
from portal.extensions import db
from tests.api.conftest import new_key

EXAMPLES = 12  # per operation: the CI run covers every operation in a few minutes
# No server error and nothing the document does not describe (status codes, content types, headers, bodies).
# Schemathesis's acceptance checks are left out on purpose: a request the schema allows may still be refused by a
# rule of the domain (a license key's checksum, a quantity over what is left), with a documented 4xx problem.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def keys(app, demo):
    with app.app_context():
        valid = new_key("alice")
        other_tenant = new_key("frank", "Litware Solutions")
        revoked, expired = new_key("alice"), new_key("alice")
        db.session.execute(update(ApiKey).where(ApiKey.prefix == revoked[:12]).values(revoked_at=utcnow()))
        db.session.execute(update(ApiKey).where(ApiKey.prefix == expired[:12])
                           .values(expires_at=utcnow() - timedelta(days=1)))
        db.session.commit()
        db.session.remove()
    return {"valid": valid, "other_tenant": other_tenant, "revoked": revoked, "expired": expired}


def _exercise(operation, headers_for, check_answer):
    """A hypothesis test of one operation: generated requests, each answer checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def exercise(case):
        headers = headers_for(operation)
        if check_answer is None:
            case.call_and_validate(headers=headers, checks=CHECKS)
        else:
            check_answer(operation, case.call(headers=headers))

    return exercise


def _run(app, headers_for, check_answer=None) -> list[str]:
    """Generated requests for every operation of the live document; the failures, by operation."""
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 20  # every operation of the document, the activation API's included
    for operation in operations:
        exercise = _exercise(operation, headers_for, check_answer)
        try:
            exercise()
        except Exception as failure:  # noqa: BLE001 - reported with the operation it happened on
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    return failures


def _key_headers(token: str):
    def headers_for(operation) -> dict:
        if operation.path.startswith("/api/v1/activations") or operation.path.endswith("/status"):
            return {}  # the activation API: a license key is its credential, in the request itself
        return {"Authorization": f"Bearer {token}"}

    return headers_for


def test_every_operation_keeps_to_its_schema(app, keys):
    failures = _run(app, _key_headers(keys["valid"]))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("which", ["missing", "revoked", "expired", "other_tenant"])
def test_bad_keys_are_refused_everywhere(app, keys, which):
    token = keys.get(which)

    def headers_for(operation) -> dict:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def check(operation, response):
        if operation.path.startswith("/api/v1/activations") or operation.path.endswith("/status"):
            assert response.status_code < 500, operation.label
            return
        if which == "other_tenant":  # its own organization's lists are its own; the demo tenant's objects never
            assert response.status_code < 500, (operation.label, response.status_code)
            return
        assert response.status_code == 401, (operation.label, response.status_code)

    failures = _run(app, headers_for, check)
    assert not failures, "\n\n".join(failures)
