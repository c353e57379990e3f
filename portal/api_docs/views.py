"""The API reference pages: public, read nothing from the database."""

from __future__ import annotations

from flask import Blueprint

from portal.api.problems import PROBLEM_TYPES
from portal.rendering import render

# Not "api-docs": flask-smorest's own blueprint (the OpenAPI document at /api/v1/openapi.json) has that name.
bp = Blueprint("api_docs", __name__, url_prefix="/api/docs")

# What a client does about each kind of problem; a type without an entry shows its title only.
ADVICE: dict[str, str] = {
    "malformed-request": "Send a JSON object with the fields the operation documents.",
    "unauthenticated": "Send Authorization: Bearer <key> with a key that is not revoked or expired.",
    "insufficient-scope": "Create a key with the scope the operation names (Account → API keys).",
    "forbidden": "The key's creator may not do this where the key acts; a Chain & User Manager can change roles.",
    "not-found": "The object does not exist or belongs to another organization: check the id.",
    "method-not-allowed": "Use a method the operation lists in the reference.",
    "conflict": "Read the object again and decide whether to retry.",
    "request-in-progress": "Wait for the first request with this Idempotency-Key to finish, then retry.",
    "precondition-failed": "Read the object again (GET) and send its new ETag in If-Match.",
    "payload-too-large": "Send a smaller request.",
    "unsupported-media-type": "Send the body as JSON with Content-Type: application/json.",
    "validation-error": "Fix the fields named in field and errors; nothing was changed.",
    "idempotency-key-reused": "Use a new Idempotency-Key for a different request.",
    "refused": "A rule of the portal refused the request; detail says which and field where.",
    "payment-failed": "The card was declined or needs 3-D Secure: pay in the portal, or use another card.",
    "precondition-required": "Send the ETag you read in an If-Match header.",
    "rate-limited": "Wait for the seconds in Retry-After; watch the RateLimit-* headers.",
    "server-error": "Nothing was changed. Retry later with the same Idempotency-Key.",
    "license-not-assigned": "Assign the license to a customer in the portal (or the API) before activating it.",
    "active-elsewhere": "Deactivate the license on its other installation first.",
}


@bp.route("")
def index():
    """The API reference: every operation of /api/v1, rendered from its OpenAPI document."""
    return render("api_docs/index.html")


@bp.route("/problems")
def problems():
    """Every kind of error the API answers, at the address its problem type points to."""
    types = sorted(PROBLEM_TYPES.items(), key=lambda item: (item[1][0], item[0]))
    return render("api_docs/problems.html", types=types, advice=ADVICE)
