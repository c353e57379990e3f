"""Webhook endpoints of the key's main chain, managed as /account/webhooks manages them (portal/webhooks/services):
list, add (the signing secret is in that answer only), read, change, enable or disable, delete; an endpoint's
deliveries newest first, and Resend."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, jsonify, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.context import current_actor
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.pagination import Order, PageQuery, page_json, page_schema, paginate
from portal.api.problems import not_found, refused
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, scoped_to
from portal.errors import RuleError
from portal.extensions import db
from portal.webhooks import services, signing
from portal.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint

blp = key_blueprint("api_webhook_endpoints", __name__, url_prefix="/webhook-endpoints",
                    description="Webhook endpoints: where the portal POSTs signed events, and their deliveries.")

_PROBLEM = {"$ref": "#/components/responses/Problem"}
EVENT_TYPES = [kind.value for kind in EventType]
# The page lists endpoints oldest first, as they were added: ix_webhook_endpoint_org (organization_id, id).
ENDPOINT_ORDER = Order(columns=(WebhookEndpoint.id,), descending=False)
# Deliveries newest first: ix_webhook_delivery_endpoint (endpoint_id, id).
DELIVERY_ORDER = Order(columns=(WebhookDelivery.id,), descending=True)


def _problems(*codes: str) -> dict:
    """The problems an operation may answer: those of every operation (a NUL anywhere, no key, scope, rate)
    and its own."""
    return {code: _PROBLEM for code in ("400", "401", "403", "429", *codes)}


class WebhookEndpointSchema(ma.Schema):
    object = ma.fields.Constant("webhook_endpoint", required=True, metadata={"enum": ["webhook_endpoint"]})
    id = ma.fields.Integer(required=True)
    url = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    event_types = ma.fields.List(ma.fields.String(metadata={"enum": EVENT_TYPES}), required=True)
    enabled = ma.fields.Boolean(required=True, metadata={
        "description": "false: events wait (disabled by a manager) or were failed (disabled after three days of "
                       "failures; see `disabled_reason`)."})
    disabled_reason = ma.fields.String(required=True, allow_none=True)
    failing_since = ma.fields.DateTime(required=True, allow_none=True, metadata={
        "description": "The first failure of the current streak of failed deliveries (null: none)."})
    created_at = ma.fields.DateTime(required=True)


class NewWebhookEndpointSchema(WebhookEndpointSchema):
    secret = ma.fields.String(required=True, metadata={
        "description": "The signing secret (`whsec_…`): shown in this answer only. Managers may read it again "
                       "on the endpoint's page in the portal."})


class WebhookDeliverySchema(ma.Schema):
    object = ma.fields.Constant("webhook_delivery", required=True, metadata={"enum": ["webhook_delivery"]})
    id = ma.fields.Integer(required=True)
    event_id = ma.fields.String(required=True, metadata={"description": "The `webhook-id` header: `msg_…`, the "
                                                                        "same on every attempt."})
    event_type = ma.fields.String(required=True, metadata={"enum": EVENT_TYPES})
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in DeliveryStatus]})
    attempts = ma.fields.Integer(required=True)
    last_status_code = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "The HTTP status of the last attempt (null: none yet, or no HTTP answer)."})
    last_error = ma.fields.String(required=True, allow_none=True)
    next_attempt_at = ma.fields.DateTime(required=True)
    created_at = ma.fields.DateTime(required=True)
    delivered_at = ma.fields.DateTime(required=True, allow_none=True)


def _no_nul(value: str) -> None:
    # PostgreSQL refuses NUL in text: a 500 at the flush unless refused here, beside the field
    if "\x00" in value:
        raise ma.ValidationError("Text may not contain NUL characters.")


def _text(max_length: int) -> list:
    return [ma.validate.Length(max=max_length), _no_nul]


_EVENT_TYPES_DOC = f"The events to send, at least one of: {', '.join(EVENT_TYPES)}."


def _event_types_field(**kwargs) -> ma.fields.List:
    return ma.fields.List(ma.fields.String(validate=_text(60), metadata={"enum": EVENT_TYPES}),
                          validate=ma.validate.Length(max=len(EVENT_TYPES) * 2),
                          metadata={"description": _EVENT_TYPES_DOC}, **kwargs)


class EndpointIn(ma.Schema):
    url = ma.fields.String(required=True, validate=_text(2000), metadata={
        "description": "An https:// address (plain http:// only to this machine while the portal runs in debug)."})
    description = ma.fields.String(load_default="", validate=_text(200))
    event_types = _event_types_field(required=True)


class EndpointChange(ma.Schema):
    """The fields to change; those left out keep their value."""

    url = ma.fields.String(validate=_text(2000))
    description = ma.fields.String(validate=_text(200))
    event_types = _event_types_field()
    enabled = ma.fields.Boolean(truthy={True}, falsy={False}, metadata={
        "description": "false stops sending (deliveries wait); true sends again, starting a fresh failure streak."})


WebhookEndpointPage = page_schema(WebhookEndpointSchema, "WebhookEndpointPage")
WebhookDeliveryPage = page_schema(WebhookDeliverySchema, "WebhookDeliveryPage")


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    return {"object": "webhook_endpoint", "id": endpoint.id, "url": endpoint.url,
            "description": endpoint.description or "", "event_types": list(endpoint.event_types or ()),
            "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason,
            "failing_since": _time(endpoint.failing_since), "created_at": endpoint.created_at.isoformat()}


def delivery_json(delivery: WebhookDelivery) -> dict:
    return {"object": "webhook_delivery", "id": delivery.id, "event_id": delivery.event_id,
            "event_type": delivery.event_type, "status": DeliveryStatus(delivery.status).value,
            "attempts": delivery.attempts, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error, "next_attempt_at": delivery.next_attempt_at.isoformat(),
            "created_at": delivery.created_at.isoformat(), "delivered_at": _time(delivery.delivered_at)}


def _endpoints():
    """The key's organization's endpoints, as the page lists them (a sub-chain's key sees none: webhooks are its
    main chain's, which a sub-chain's key never reaches)."""
    org = active_organization()
    return scoped_to(org, select(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id),
                     WebhookEndpoint.organization_id, current_user, Permission.MANAGE_API)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    """One endpoint of the key's organization; another tenant's is a 404, as an unknown id."""
    found = db.session.scalars(_endpoints().where(WebhookEndpoint.id == endpoint_id)).first()
    if found is None:
        raise not_found("No webhook endpoint of yours has this id.")
    return found


def _rule_problem(error: RuleError):
    return refused(error.message, error.field)


@blp.route("")
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.arguments(PageQuery, location="query")
@blp.response(200, WebhookEndpointPage)
@blp.doc(responses=_problems("422"))
def list_endpoints(query: dict):
    """Your endpoints in the order they were added, a page at a time."""
    page = paginate(db.session, _endpoints(), ENDPOINT_ORDER, limit=query["limit"], cursor=query["cursor"],
                    key=lambda row: (row.id,))
    return jsonify(page_json(page, endpoint_json))


@blp.route("", methods=["POST"])
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.arguments(EndpointIn, location="json")
@blp.response(201, NewWebhookEndpointSchema, headers={"Location": {"schema": {"type": "string"}}})
@blp.doc(responses=_problems("409", "422"))
def create_endpoint(body: dict):
    """Register an endpoint with a new signing secret, as the Webhooks page's Add does; the answer holds the
    secret (`whsec_…`), and no other answer of the API does."""
    try:
        endpoint = services.add_endpoint(active_organization(), body["url"], body["description"],
                                         body["event_types"], current_actor())
    except RuleError as error:
        raise _rule_problem(error) from None
    response = resource_response({**endpoint_json(endpoint), "secret": signing.decrypt(endpoint.secret_encrypted)},
                                 status=201)
    response.headers["Location"] = url_for("api_webhook_endpoints.get_endpoint", endpoint_id=endpoint.id)
    return response


@blp.route("/<int:endpoint_id>")
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.response(200, WebhookEndpointSchema)
@blp.doc(responses=_problems("404"))
def get_endpoint(endpoint_id: int):
    """One endpoint with its ETag (without its secret)."""
    return resource_response(endpoint_json(_endpoint(endpoint_id)))


@blp.route("/<int:endpoint_id>", methods=["PATCH"])
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.arguments(EndpointChange, location="json")
@blp.response(200, WebhookEndpointSchema)
@blp.doc(responses=_problems("404", "409", "412", "422"))
def change_endpoint(body: dict, endpoint_id: int):
    """Change an endpoint's URL, description or events, or enable or disable it (If-Match: its ETag); its
    secret stays the same."""
    endpoint = _endpoint(endpoint_id)
    check_if_match(endpoint_json(endpoint))
    actor = current_actor()
    try:
        services.change_endpoint(endpoint, actor, url=body.get("url"), description=body.get("description"),
                                 event_types=body.get("event_types"))
    except RuleError as error:
        raise _rule_problem(error) from None
    if body.get("enabled") is True:
        services.enable(endpoint, actor)
    elif body.get("enabled") is False:
        services.disable(endpoint, actor)
    db.session.flush()
    return resource_response(endpoint_json(endpoint))


@blp.route("/<int:endpoint_id>", methods=["DELETE"])
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.response(204, description="Deleted, with its delivery history.")
@blp.doc(responses=_problems("404", "409", "412"))
def delete_endpoint(endpoint_id: int):
    """Delete an endpoint and its delivery history (If-Match honoured)."""
    endpoint = _endpoint(endpoint_id)
    check_if_match(endpoint_json(endpoint))
    services.delete_endpoint(endpoint, current_actor())
    return Response(status=204)


@blp.route("/<int:endpoint_id>/deliveries")
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.arguments(PageQuery, location="query")
@blp.response(200, WebhookDeliveryPage)
@blp.doc(responses=_problems("404", "422"))
def list_deliveries(query: dict, endpoint_id: int):
    """An endpoint's deliveries newest first, a page at a time, as its page lists them."""
    endpoint = _endpoint(endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    page = paginate(db.session, stmt, DELIVERY_ORDER, limit=query["limit"], cursor=query["cursor"],
                    key=lambda row: (row.id,))
    return jsonify(page_json(page, delivery_json))


@blp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", methods=["POST"])
@requires_scope(Scope.WEBHOOKS_WRITE)
@blp.response(200, WebhookDeliverySchema, description="Queued: sent again within a minute, under the same "
                                                     "event id.")
@blp.doc(responses=_problems("404", "409", "422"))
def resend_delivery(endpoint_id: int, delivery_id: int):
    """Queue one more attempt of a delivery now, as the endpoint page's Resend does (a disabled endpoint's
    deliveries are refused: enable it first)."""
    endpoint = _endpoint(endpoint_id)
    try:
        delivery = services.resend(endpoint, delivery_id, current_actor())
    except LookupError:
        raise not_found("This endpoint has no delivery with this id.") from None
    except RuleError as error:
        raise _rule_problem(error) from None
    db.session.flush()
    return jsonify(delivery_json(delivery))
