"""Subscriptions: the key's main chain's device and location plans, as Manage Subscriptions shows them; changing a
plan's quantity (more now, prorated and bought through the cart; fewer from the next payment) and cancelling it
at the end of the paid period, through the same services as the plan's Change page (portal/subscriptions/changes.py).
"""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import pricing
from portal.accounts.context import current_actor
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.pagination import Order, PageQuery, page_json, page_schema, paginate
from portal.api.problems import not_found, refused
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, scoped_to
from portal.catalog.models import Product, SubscriptionBasis
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.subscriptions import changes
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import interval_of, is_running

blp = key_blueprint("api_subscriptions", __name__, url_prefix="/subscriptions",
                    description="Your chain's device and location plans: change the quantity, cancel at the end "
                                "of the paid period.")

_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _problems(*codes: str) -> dict:
    """The problems an operation may answer: those of every operation (a NUL anywhere, no key, scope, rate)
    and its own."""
    return {code: _PROBLEM for code in ("400", "401", "403", "429", *codes)}
# a chain has one plan per product (a handful), found through ix_subscription_organization_id: oldest first
ORDER = Order(columns=(Subscription.id,), descending=False)


class ProductRefSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class ScheduledChangeSchema(ma.Schema):
    quantity = ma.fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "The quantity from `takes_effect_on` (0: cancelled)."})
    product = ma.fields.Nested(ProductRefSchema, required=True, allow_none=True,
                               metadata={"description": "The plan it switches to (the other interval), if any."})
    takes_effect_on = ma.fields.Date(required=True)


class SubscriptionSchema(ma.Schema):
    object = ma.fields.Constant("subscription", required=True, metadata={"enum": ["subscription"]})
    id = ma.fields.Integer(required=True)
    product = ma.fields.Nested(ProductRefSchema, required=True)
    basis = ma.fields.String(required=True, metadata={"enum": ["device", "location"]})
    interval = ma.fields.String(required=True, metadata={"enum": ["monthly", "annual"]})
    status = ma.fields.String(required=True, metadata={"enum": ["active", "ended"]})
    quantity = ma.fields.Integer(required=True)
    unit = ma.fields.String(required=True)
    unit_price = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "List price per unit and "
                                                                                       "period."})
    started_on = ma.fields.Date(required=True)
    next_payment_on = ma.fields.Date(required=True)
    expires_on = ma.fields.Date(required=True, allow_none=True,
                                metadata={"description": "null: not configured to expire."})
    ended_on = ma.fields.Date(required=True, allow_none=True)
    scheduled_change = ma.fields.Nested(ScheduledChangeSchema, required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class IncreaseSchema(ma.Schema):
    object = ma.fields.Constant("subscription_increase", required=True,
                                metadata={"enum": ["subscription_increase"]})
    subscription = ma.fields.Nested(SubscriptionSchema, required=True)
    quantity_added = ma.fields.Integer(required=True)
    prorated_price = ma.fields.Nested(MoneySchema, required=True, metadata={
        "description": "List price of the addition for the days left in the paid period (your discount applies "
                       "at checkout)."})
    days_left = ma.fields.Integer(required=True)
    cart_item_id = ma.fields.Integer(required=True)
    next_step = ma.fields.String(required=True)


class QuantitySchema(ma.Schema):
    quantity = ma.fields.Integer(required=True, strict=True,
                                 validate=ma.validate.Range(min=0, max=pricing.MAX_UNITS),
                                 metadata={"description": "The plan's new quantity. Higher: the addition is "
                                                          "prorated and put in your cart (bought when you place the "
                                                          "order). Lower: from the next payment (0 cancels)."})


SubscriptionPage = page_schema(SubscriptionSchema, "SubscriptionPage")


def _product_ref(product: Product) -> dict:
    return {"slug": product.slug, "name": product.name}


def subscription_json(plan: Subscription) -> dict:
    product = plan.product
    scheduled = None
    if plan.has_scheduled_change:
        scheduled = {"quantity": plan.scheduled_quantity,
                     "product": _product_ref(plan.scheduled_product) if plan.scheduled_product_id else None,
                     "takes_effect_on": plan.next_payment_on.isoformat()}
    return {
        "object": "subscription", "id": plan.id, "product": _product_ref(product), "basis": product.basis.value,
        "interval": interval_of(product).value, "status": "active" if is_running(plan) else "ended",
        "quantity": plan.quantity, "unit": product.unit_label,
        "unit_price": money_json(product.unit_price_minor or 0, product.currency),
        "started_on": plan.started_on.isoformat(), "next_payment_on": plan.next_payment_on.isoformat(),
        "expires_on": plan.expires_on.isoformat() if plan.expires_on else None,
        "ended_on": plan.ended_on.isoformat() if plan.ended_on else None,
        "scheduled_change": scheduled, "created_at": plan.created_at.isoformat(),
    }


def _plans():
    """The key's organization's device and location plans (a reseller plan is changed on /account/plan)."""
    org = active_organization()
    stmt = (select(Subscription).join(Subscription.product)
            .where(Subscription.organization_id == org.id, Product.basis != SubscriptionBasis.RESELLER)
            .options(joinedload(Subscription.product), joinedload(Subscription.scheduled_product)))
    return scoped_to(org, stmt, Subscription.organization_id, current_user, Permission.MANAGE_SUBSCRIPTIONS)


def _plan(subscription_id: int) -> Subscription:
    plan = db.session.scalars(_plans().where(Subscription.id == subscription_id)).first()
    if plan is None:
        raise not_found("No plan of yours has this id.")
    return plan


def _refused(error: RuleError):
    return refused(error.message, error.field)


@blp.route("")
@requires_scope(Scope.SUBSCRIPTIONS_READ)
@blp.arguments(PageQuery, location="query")
@blp.response(200, SubscriptionPage)
@blp.doc(responses=_problems("422"))
def list_subscriptions(query: dict):
    """Your chain's device and location plans: quantity, list price per unit, next payment, scheduled change."""
    page = paginate(db.session, _plans(), ORDER, limit=query["limit"], cursor=query["cursor"],
                    key=lambda plan: (plan.id,))
    return jsonify(page_json(page, subscription_json))


@blp.route("/<int:subscription_id>")
@requires_scope(Scope.SUBSCRIPTIONS_READ)
@blp.response(200, SubscriptionSchema)
@blp.doc(responses=_problems("404"))
def get_subscription(subscription_id: int):
    """One plan (with an ETag)."""
    return resource_response(subscription_json(_plan(subscription_id)))


@blp.route("/<int:subscription_id>", methods=["PATCH"])
@requires_scope(Scope.SUBSCRIPTIONS_WRITE)
@blp.arguments(QuantitySchema, location="json")
@blp.response(200, SubscriptionSchema, description="Lowered (or cancelled) from the next payment on.")
@blp.alt_response(202, schema=IncreaseSchema, description="More now: the prorated addition is in your cart.")
@blp.doc(responses=_problems("404", "409", "412", "422"))
def change_quantity(body: dict, subscription_id: int):
    """Change the plan's quantity as its Change page does: more now (prorated to the next payment, put in your
    cart: place an order to buy it), or fewer from the next payment on (never below what your devices or
    locations use; 0 cancels). Send the plan's ETag in If-Match."""
    plan = _plan(subscription_id)
    check_if_match(subscription_json(plan))
    quantity = body["quantity"]
    try:
        if quantity > plan.quantity:
            return _increase(plan, quantity - plan.quantity)
        changes.schedule_decrease(plan, quantity, current_user, current_actor())
    except RuleError as error:
        raise _refused(error) from None
    db.session.flush()
    return resource_response(subscription_json(plan))


def _increase(plan: Subscription, added: int):
    today = utcnow().date()
    org = active_organization()
    quote = changes.quote_increase(plan, added, today)
    item = changes.add_increase_to_cart(current_user, org, plan, added, quote.proration.list_minor, today,
                                        current_actor())
    db.session.flush()
    response = jsonify({
        "object": "subscription_increase", "subscription": subscription_json(plan), "quantity_added": added,
        "prorated_price": money_json(quote.proration.list_minor, plan.product.currency),
        "days_left": quote.proration.days_left, "cart_item_id": item.id,
        "next_step": "The addition is in your cart: place an order (POST /api/v1/orders) to buy it; the plan "
                     "grows when the order is placed.",
    })
    response.status_code = 202
    return response


@blp.route("/<int:subscription_id>/cancellation", methods=["POST"])
@requires_scope(Scope.SUBSCRIPTIONS_WRITE)
@blp.response(200, SubscriptionSchema, description="Cancelled from the next payment on (its last paid day is the "
                                                   "day before).")
@blp.doc(responses=_problems("404", "409", "412", "422"))
def cancel(subscription_id: int):
    """Cancel the plan at the end of its paid period, as its Change page does (withdrawable in the portal until
    then). Send the plan's ETag in If-Match."""
    plan = _plan(subscription_id)
    check_if_match(subscription_json(plan))
    if plan.scheduled_quantity == 0:
        raise refused("This plan is already scheduled to be cancelled.")
    try:
        changes.schedule_decrease(plan, 0, current_user, current_actor())
    except RuleError as error:
        raise _refused(error) from None
    db.session.flush()
    return resource_response(subscription_json(plan))
