"""ETags on single resources and If-Match on changes to them (412 when the client's copy is stale)."""

from __future__ import annotations

import hashlib
import json

from flask import Response, jsonify, request

from portal.api.problems import ApiProblem


def etag_of(representation: dict) -> str:
    digest = hashlib.sha256(json.dumps(representation, sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


def resource_response(representation: dict, status: int = 200) -> Response:
    """A single resource with its ETag; 304 when the client's If-None-Match already has it."""
    etag = etag_of(representation)
    if status == 200 and etag in _tags(request.headers.get("If-None-Match")):
        response = Response(status=304)
    else:
        response = jsonify(representation)
        response.status_code = status
    response.headers["ETag"] = etag
    return response


def _tags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {t.strip().removeprefix("W/") for t in header.split(",")}


def check_if_match(current: dict) -> None:
    """Refuse a change made from a stale copy: If-Match, when sent, must be the resource's current ETag."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    if etag_of(current) not in _tags(header):
        raise ApiProblem("precondition-failed", "The resource changed since you read it (its ETag is not the "
                         "one in If-Match). Read it again, then retry the change.", field="If-Match")
