"""The activation API: installations activate and deactivate licenses, with the license key as credential.

No session and no API key: the license key is what an installation holds. Every route shares one rate limit per
client address (API_LIMIT_PER_IP). Errors are RFC 9457 problems that also carry the message in `error`, as this
API always answered: 400 malformed request, 403 license not assigned, 404 no such license (or activation for that
key), 405, 409 the license is active on another installation, 429 too many requests.
"""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from portal.api.problems import ApiProblem, problem_for_http_exception
from portal.audit.services import Actor
from portal.extensions import csrf, db, limiter
from portal.licenses import activation as activations
from portal.licenses.models import Activation, License

blp = Blueprint("api", __name__, url_prefix="/api/v1",
                description="The activation API: an installation's license key is its credential.")
csrf.exempt(blp)

_api_limit = limiter.shared_limit(lambda: current_app.config["API_LIMIT_PER_IP"], scope="api")


def error(status: int, message: str, slug: str | None = None, **extra):
    """An activation API error: a problem whose `error` member repeats the detail (the API's first format)."""
    slug = slug or {400: "malformed-request", 403: "forbidden", 404: "not-found", 409: "conflict"}[status]
    return ApiProblem(slug, message, status=status, error=message, **extra).response()


@blp.errorhandler(HTTPException)
def _http_error(raised: HTTPException):
    problem = problem_for_http_exception(raised)
    problem.extensions["error"] = problem.detail
    return problem.response()


class ActivationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    license_key = ma.fields.String(required=True)
    installation_id = ma.fields.String(required=True)
    active = ma.fields.Boolean(required=True)
    activated_at = ma.fields.DateTime(required=True)
    deactivated_at = ma.fields.DateTime(required=True, allow_none=True)
    reactivation_required = ma.fields.Boolean(required=True)


class AddOnRef(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class LicenseStatusSchema(ma.Schema):
    license_key = ma.fields.String(required=True)
    product = ma.fields.String(required=True)
    edition = ma.fields.String(required=True)
    quantity = ma.fields.Integer(required=True)
    unit = ma.fields.String(required=True)
    addons = ma.fields.List(ma.fields.Nested(AddOnRef), required=True)
    ms_expires_on = ma.fields.Date(required=True)
    assigned = ma.fields.Boolean(required=True)
    activation = ma.fields.Nested(ActivationSchema, required=True, allow_none=True)
    activation_state = ma.fields.String(required=True, validate=ma.validate.OneOf(["active", "not activated"]))
    reactivation_required = ma.fields.Boolean(required=True)


_ACTIVATION_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["license_key", "installation_id"],
    "properties": {"license_key": {"type": "string", "examples": ["ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2"]},
                   "installation_id": {"type": "string", "maxLength": 100}}}}}}
_PROBLEM = {"$ref": "#/components/responses/Problem"}
_LICENSE_KEY = [{"licenseKey": []}]


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


@blp.route("/activations", methods=["POST"])
@_api_limit
@blp.response(201, ActivationSchema, description="Activated on this installation (200 if it already was).")
@blp.doc(security=[], requestBody=_ACTIVATION_BODY,
         responses={"400": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "409": _PROBLEM, "429": _PROBLEM})
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
        return error(403, slug="license-not-assigned",
                     message="This license must be assigned to a customer first: an unassigned license cannot be "
                             "activated. Ask your reseller to assign it.")
    except activations.ActiveElsewhere as busy:
        db.session.rollback()
        return error(409, slug="active-elsewhere",
                     message="This license is active on another installation. Deactivate it there first "
                             "(DELETE /api/v1/activations/<id>).",
                     activation={"id": busy.activation.id, "activated_at": busy.activation.activated_at.isoformat()})
    return jsonify(answer), 201 if result.created else 200


@blp.route("/activations/<int:activation_id>", methods=["DELETE"])
@_api_limit
@blp.response(200, ActivationSchema, description="Deactivated.")
@blp.doc(security=_LICENSE_KEY, responses={"400": _PROBLEM, "404": _PROBLEM, "429": _PROBLEM})
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


@blp.route("/licenses/<key>/status")
@_api_limit
@blp.response(200, LicenseStatusSchema)
@blp.doc(security=[], responses={"400": _PROBLEM, "404": _PROBLEM, "429": _PROBLEM})
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
