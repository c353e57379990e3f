"""The API under /api/v1: the automation API (API keys, portal/api/resources) and the activation API (a license
key as credential, portal/api/activations.py), described by one OpenAPI 3.1 document at /api/v1/openapi.json
that flask-smorest builds from the code (schemas, decorators, docstrings)."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from portal.api.problems import PROBLEM_JSON, PROBLEM_TYPES

PREFIX = "/api/"


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


class PortalApi(Api):
    """flask-smorest's Api, without its app-wide JSON error handler: the portal's pages keep their HTML error
    pages, and the API's blueprints answer problems (portal/api/blueprints.py)."""

    def _register_error_handlers(self):
        pass


SPEC = {
    "API_TITLE": "Partner Portal API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}

DESCRIPTION = """Everything a reseller does in the portal, from its own systems.

Authenticate with an API key (`Authorization: Bearer <key>`), created by a Chain & User Manager at
/account/api-keys. A key acts for its organization with its scopes, and never with more than the user who created
it may do there. Errors are RFC 9457 problems (`application/problem+json`) whose `type` is stable. Lists are
paginated with `limit` and `cursor`. Every POST accepts an `Idempotency-Key`: its first answer is replayed for 24
hours. Single resources carry an `ETag`; send it in `If-Match` when you change them. Rate limits are per key and
announced in `RateLimit-*` headers. The activation API uses the license key itself as its credential.
"""


def _problem_schema() -> dict:
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri",
                     "description": "Stable per kind of error; one of /api/docs/problems#<slug>: "
                                    + ", ".join(sorted(PROBLEM_TYPES))},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {"type": ["string", "null"], "description": "The request field at fault, if one is."},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "detail": {"type": "string"}}}},
        },
        "additionalProperties": True,
    }


def init_app(app: Flask) -> PortalApi:
    """The app's API (one per app: its spec is built from the blueprints registered on it)."""
    for key, value in SPEC.items():
        app.config.setdefault(key, value)
    api = PortalApi()
    app.extensions["portal-api"] = api
    api.init_app(app, spec_kwargs={
        "info": {"description": DESCRIPTION},
        "servers": [{"url": "/"}],
    })
    api.spec.components.security_scheme("apiKey", {
        "type": "http", "scheme": "bearer",
        "description": "An API key from /account/api-keys: `Authorization: Bearer ppk_…`."})
    api.spec.components.security_scheme("licenseKey", {
        "type": "apiKey", "in": "header", "name": "X-License-Key",
        "description": "The activation API: a license key is its own credential."})
    api.spec.components.schema("Problem", _problem_schema())
    api.spec.components.response("Problem", {"description": "An RFC 9457 problem",
                                             "content": {PROBLEM_JSON: {"schema": {"$ref":
                                                                                   "#/components/schemas/Problem"}}}})
    from portal.api.activations import blp as activations_blp
    from portal.api.resources import BLUEPRINTS

    api.register_blueprint(activations_blp)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    return api
