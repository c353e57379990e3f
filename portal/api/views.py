"""API routes. JSON in and out, errors as JSON; no session, so no CSRF (see create_app).

The activation API is called by installations, not by signed-in users: a license key is its credential. Every
route shares one rate limit per client address (API_LIMIT_PER_IP). Errors are {"error": "..."} with the status:
400 malformed request, 403 license not assigned, 404 no such license (or activation for that key), 405, 409 the
license is active on another installation, 429 too many requests.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from portal.audit.services import Actor
from portal.extensions import db, limiter
from portal.licenses import activation as activations
from portal.licenses.models import Activation, License

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PREFIX = "/api/"

_api_limit = limiter.shared_limit(lambda: current_app.config["API_LIMIT_PER_IP"], scope="api")

ERRORS = {
    400: "The request could not be understood: send a JSON object with the fields this endpoint documents.",
    403: "Not allowed.",
    404: "Not found.",
    405: "This address does not accept that method.",
    413: "The request is too large.",
    429: "Too many requests from this address: wait a minute and try again.",
    500: "Something went wrong; nothing was changed. Try again in a moment.",
}


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def error(status: int, message: str | None = None, **extra):
    """An API error: {"error": message} with `status`."""
    return jsonify({"error": message or ERRORS.get(status, "Error."), **extra}), status


def _parsed_json() -> object:
    """The request's JSON (None if it is not JSON); InvalidRequest if it nests deeper than the parser goes."""
    try:
        return request.get_json(silent=True, force=True)
    except RecursionError:  # not a ValueError, so `silent` lets it through
        raise activations.InvalidRequest("The JSON is nested too deeply: send a flat JSON object.") from None


def _json_body() -> dict:
    body = _parsed_json()
    if not isinstance(body, dict):
        raise activations.InvalidRequest("Send a JSON object, such as "
                                         '{"license_key": "XXXXX-…", "installation_id": "…"}.')
    return body


def _actor() -> Actor:
    return Actor(user_id=None, ip=request.remote_addr)


def _activation_json(activation: Activation, license_: License) -> dict:
    return {
        "id": activation.id,
        "license_key": license_.key,
        "installation_id": activation.installation_id,
        "active": activation.deactivated_at is None,
        "activated_at": activation.activated_at.isoformat(),
        "deactivated_at": activation.deactivated_at.isoformat() if activation.deactivated_at else None,
        "reactivation_required": license_.reactivation_required,
    }


@bp.route("/activations", methods=["POST"])
@_api_limit
def activate():
    """Activate a license on an installation: {"license_key", "installation_id"} -> 201 (or 200 if it already is)."""
    try:
        body = _json_body()
        key = activations.license_key(body.get("license_key"))
        installation = activations.installation_id(body.get("installation_id"))
        try:
            result = activations.activate(key, installation, _actor())
        except IntegrityError:  # another installation activated it a moment ago: ask again for the answer
            db.session.rollback()
            result = activations.activate(key, installation, _actor())
        answer = _activation_json(result.activation, result.license)
        db.session.commit()
    except activations.InvalidRequest as refused:
        return error(400, str(refused))
    except activations.LicenseNotFound:
        db.session.rollback()
        return error(404, "No license has that key.")
    except activations.NotAssigned:
        db.session.rollback()
        return error(403, "This license must be assigned to a customer first: an unassigned license cannot be "
                          "activated. Ask your reseller to assign it.")
    except activations.ActiveElsewhere as busy:
        db.session.rollback()
        return error(409, "This license is active on another installation. Deactivate it there first "
                          "(DELETE /api/v1/activations/<id>).",
                     activation={"id": busy.activation.id, "activated_at": busy.activation.activated_at.isoformat()})
    return jsonify(answer), 201 if result.created else 200


@bp.route("/activations/<int:activation_id>", methods=["DELETE"])
@_api_limit
def deactivate(activation_id: int):
    """Deactivate: the license key goes in the X-License-Key header (or "license_key" in a JSON body)."""
    sent = request.headers.get("X-License-Key")
    try:
        if sent is None:
            body = _parsed_json()
            sent = body.get("license_key") if isinstance(body, dict) else None
        key = activations.license_key(sent)
        activation = activations.deactivate(activation_id, key, _actor())
        answer = _activation_json(activation, activation.license)
        db.session.commit()
    except activations.InvalidRequest as refused:
        return error(400, f"{refused} Send it in the X-License-Key header to deactivate.")
    except activations.LicenseNotFound:
        db.session.rollback()
        return error(404, "No activation with that id for that license key.")
    return jsonify(answer)


@bp.route("/licenses/<key>/status")
@_api_limit
def license_status(key: str):
    """What the license is and where it is active: edition, quantity, add-ons, M&S expiry, activation state."""
    try:
        license_ = activations.find_license(activations.license_key(key))
    except activations.InvalidRequest as refused:
        return error(400, str(refused))
    except activations.LicenseNotFound:
        return error(404, "No license has that key.")
    active = activations.active_activation(license_)
    return jsonify({
        "license_key": license_.key,
        "product": license_.product.name,
        "edition": license_.edition.name,
        "quantity": license_.quantity,
        "unit": license_.product.unit_label,
        "addons": [{"slug": a.slug, "name": a.name} for a in license_.addons],
        "ms_expires_on": license_.ms_expires_on.isoformat(),
        "assigned": license_.customer_id is not None,
        "activation": _activation_json(active, license_) if active else None,
        "activation_state": "active" if active else "not activated",
        "reactivation_required": license_.reactivation_required,
    })
