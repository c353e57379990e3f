"""RFC 9457 problem details: every error the API answers, with a stable `type` per kind of error.

A view (or a service's refusal, translated by the view) raises ApiProblem; routing errors, validation errors of
the request (webargs, 422) and rate limits become problems in `handle_http_exception`. Each type is documented
at /api/docs/problems#<slug>; the slugs never change within v1.
"""

from __future__ import annotations

import json

from flask import Response, current_app
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"

# slug -> (status, title): one home for every kind of error, listed in the OpenAPI document and the docs.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "The request could not be understood"),
    "unauthenticated": (401, "A valid API key is required"),
    "insufficient-scope": (403, "The API key lacks the scope this operation needs"),
    "forbidden": (403, "Not allowed"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "The request conflicts with the current state"),
    "request-in-progress": (409, "A request with this Idempotency-Key is still being processed"),
    "precondition-failed": (412, "The resource changed since you read it"),
    "payload-too-large": (413, "The request is too large"),
    "unsupported-media-type": (415, "Send JSON"),
    "validation-error": (422, "The request's fields are not valid"),
    "idempotency-key-reused": (422, "This Idempotency-Key was used with other parameters"),
    "refused": (422, "The request is valid, but the portal's rules refuse it"),
    "payment-failed": (402, "The payment did not go through"),
    "precondition-required": (428, "This change needs an If-Match header"),
    "rate-limited": (429, "Too many requests"),
    "server-error": (500, "Something went wrong; nothing was changed"),
    # the activation API (a license key is its credential)
    "license-not-assigned": (403, "The license is not assigned to a customer"),
    "active-elsewhere": (409, "The license is active on another installation"),
}


def type_uri(slug: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/api/docs/problems#{slug}"


class ApiProblem(Exception):
    """An error answered as a problem: `slug` names its type (PROBLEM_TYPES), `field` the request field at fault
    (a JSON pointer-like dotted name), `errors` one entry per field for several at once."""

    def __init__(self, slug: str, detail: str, *, status: int | None = None, field: str | None = None,
                 errors: list[dict] | None = None, headers: dict[str, str] | None = None, **extensions):
        super().__init__(detail)
        self.slug = slug
        self.status = status or PROBLEM_TYPES[slug][0]
        self.detail = detail
        self.field = field
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    def response(self) -> Response:
        body = {"type": type_uri(self.slug), "title": PROBLEM_TYPES[self.slug][1], "status": self.status,
                "detail": self.detail}
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        response = Response(json.dumps(body), status=self.status, mimetype=PROBLEM_JSON)
        response.headers.update(self.headers)
        return response


def not_found(what: str = "No such object, or it is not yours.") -> ApiProblem:
    return ApiProblem("not-found", what)


def refused(detail: str, field: str | None = None) -> ApiProblem:
    """A service refused a valid request (a rule of the domain): 422 with the field it concerns."""
    return ApiProblem("refused", detail, field=field)


_SLUG_BY_STATUS = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
                   405: "method-not-allowed", 409: "conflict", 412: "precondition-failed", 413: "payload-too-large",
                   415: "unsupported-media-type", 422: "validation-error", 428: "precondition-required",
                   429: "rate-limited"}
_DETAILS = {
    400: "Send a JSON object with the fields this operation documents.",
    401: "Send an API key in the Authorization header: `Authorization: Bearer <key>`.",
    403: "Your API key, or the user who created it, may not do this.",
    404: "There is nothing at this address, or it is not yours.",
    405: "This address does not accept that method.",
    413: "The request is larger than the API accepts.",
    415: "Send the body as JSON (Content-Type: application/json).",
    429: "Too many requests: wait and try again (see Retry-After).",
    500: "Something went wrong; nothing was changed. Try again in a moment.",
}


def _field_errors(messages: dict, prefix: str = "") -> list[dict]:
    """webargs's nested {location: {field: [messages]}} as a flat list of {"field", "detail"}."""
    errors = []
    for name, value in messages.items():
        if name in {"json", "query", "path", "headers", "form"} and not prefix:
            errors += _field_errors(value, "")
            continue
        field = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, dict):
            errors += _field_errors(value, field)
        else:
            for message in value if isinstance(value, list) else [value]:
                errors.append({"field": "" if field == "_schema" else field, "detail": str(message)})
    return errors


def problem_for_http_exception(error: HTTPException) -> ApiProblem:
    """The problem for an HTTP error raised by routing, webargs (422) or Flask-Limiter (429)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422 and data.get("messages"):
        errors = _field_errors(data["messages"])
        first = errors[0] if errors else {"field": None, "detail": "Invalid request."}
        detail = "; ".join(f"{e['field']}: {e['detail']}" if e["field"] else e["detail"] for e in errors)
        return ApiProblem("validation-error", detail, field=first["field"] or None, errors=errors)
    if status == 400 and data.get("messages"):  # a body that is not JSON
        return ApiProblem("malformed-request", _DETAILS[400])
    headers = {}
    if status == 429:
        retry = error.get_response().headers.get("Retry-After") if hasattr(error, "get_response") else None
        headers["Retry-After"] = retry or "60"
    slug = _SLUG_BY_STATUS.get(status, "server-error")
    detail = _DETAILS.get(status, error.description or "Error.")
    return ApiProblem(slug, detail, status=status, headers=headers)


def problem_response(status: int, detail: str | None = None, **extensions) -> Response:
    """A problem for `status` outside any view (routing errors, the NUL guard, the app's error pages)."""
    slug = _SLUG_BY_STATUS.get(status, "server-error")
    return ApiProblem(slug, detail or _DETAILS.get(status, "Error."), status=status, **extensions).response()
