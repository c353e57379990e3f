"""The cart of the key's creator in the key's organization, through the cart's services (portal/cart): the same
items the cart page shows, priced against today's catalog. POST /api/v1/orders with `from_cart` buys them."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, jsonify
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import pricing
from portal.accounts.context import current_actor
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.problems import not_found
from portal.api.resources.catalog import PROBLEM, ItemSchema, configured, rule_problem
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, scoped_to
from portal.cart import services
from portal.cart.models import CartItem
from portal.cart.services import CartLine
from portal.catalog.models import PurchaseKind
from portal.catalog.services import products_by_id
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.models import License

blp = key_blueprint("api_cart", __name__, url_prefix="/cart", description="The cart: items to buy with "
                    "POST /api/v1/orders {\"from_cart\": true}.")

MAX_ID = 2**63 - 1


class CartItemSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["cart_item"]))
    id = ma.fields.Integer(required=True)
    purchase = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in PurchaseKind]),
                                metadata={"description": "`new`, or a change to a license chosen on its Modify "
                                                         "page (upgrade, renewal, reinstatement)."})
    license_key = ma.fields.String(required=True, allow_none=True,
                                   metadata={"description": "The license a change applies to."})
    product = ma.fields.String(required=True, metadata={"description": "The product's slug."})
    description = ma.fields.String(required=True)
    edition = ma.fields.String(required=True, allow_none=True)
    quantity = ma.fields.Integer(required=True)
    copies = ma.fields.Integer(required=True)
    addons = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "Add-on slugs."})
    location_id = ma.fields.Integer(required=True, allow_none=True)
    unit_list_price = ma.fields.Nested(MoneySchema, required=True,
                                       metadata={"description": "One copy at today's list price."})
    list_price = ma.fields.Nested(MoneySchema, required=True)
    price_changed = ma.fields.Boolean(required=True, metadata={"description": "Today's list price differs from "
                                                                              "the one when it was added."})
    problem = ma.fields.String(required=True, allow_none=True,
                               metadata={"description": "Why it cannot be bought as it is (null: it can)."})
    created_at = ma.fields.DateTime(required=True)


CartPage = ma.Schema.from_dict({
    "data": ma.fields.List(ma.fields.Nested(CartItemSchema), required=True),
    "has_more": ma.fields.Boolean(required=True),
    "next_cursor": ma.fields.String(required=True, allow_none=True),
}, name="CartPage")


class CartItemChange(ma.Schema):
    """The fields to change; those left out keep their value."""

    edition = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=80))
    quantity = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=pricing.MAX_UNITS))
    addons = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                            validate=ma.validate.Length(max=20))
    copies = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=pricing.MAX_COPIES))
    location_id = ma.fields.Integer(allow_none=True, strict=True, validate=ma.validate.Range(min=1, max=MAX_ID))


def cart_item_json(line: CartLine, keys: dict[int, str]) -> dict:
    """A cart item as the cart page shows it: its configuration, today's price, what blocks it."""
    item, config = line.item, line.config
    product = line.product
    currency = product.currency if product else active_organization().currency
    edition = config.edition.name if config and config.edition else None
    if config is None and product is not None and item.edition_id:
        edition = next((e.name for e in product.editions if e.id == item.edition_id), None)
    addons = [a.slug for a in config.addons] if config else \
        [a.slug for a in (product.addons if product else []) if a.id in set(item.addon_ids or [])]
    return {
        "object": "cart_item", "id": item.id, "purchase": item.purchase.value,
        "license_key": keys.get(item.license_id) if item.license_id else None,
        "product": product.slug if product else item.product.slug, "description": line.description,
        "edition": edition, "quantity": item.quantity, "copies": item.copies, "addons": addons,
        "location_id": item.location_id, "unit_list_price": money_json(line.unit_list_minor, currency),
        "list_price": money_json(line.list_minor, currency), "price_changed": line.price_changed,
        "problem": line.problem, "created_at": item.created_at.isoformat(),
    }


def _license_keys(items: list[CartItem]) -> dict[int, str]:
    ids = {i.license_id for i in items if i.license_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(License.id, License.key).where(License.id.in_(ids))).all())


def _lines_json(items: list[CartItem]) -> list[dict]:
    keys = _license_keys(items)
    return [cart_item_json(line, keys) for line in services.cart_lines(items)]


def _item_json(item: CartItem) -> dict:
    return _lines_json([item])[0]


def _cart_item(item_id: int) -> CartItem:
    """The caller's own cart item in the key's organization (a cart is its user's); anything else is a 404."""
    org = active_organization()
    stmt = scoped_to(org, select(CartItem).where(CartItem.id == item_id, CartItem.organization_id == org.id,
                                                 CartItem.user_id == current_user.id,
                                                 CartItem.storefront_id.is_(None)),
                     CartItem.organization_id, current_user, Permission.BUY)
    item = db.session.scalars(stmt.options(joinedload(CartItem.product))).first() if item_id <= MAX_ID else None
    if item is None:
        raise not_found("No such item in your cart.")
    return item


@blp.route("/items")
@requires_scope(Scope.ORDERS_WRITE)
@blp.response(200, CartPage)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM})
def list_items():
    """What is in the cart, in the order it was added, at today's list prices (a cart holds at most 50 items:
    one page)."""
    items = services.cart_items(current_user, active_organization())
    return jsonify({"data": _lines_json(items), "has_more": False, "next_cursor": None})


@blp.route("/items", methods=["POST"])
@requires_scope(Scope.ORDERS_WRITE)
@blp.arguments(ItemSchema)
@blp.response(201, CartItemSchema, description="Added; `Location` is the item's address.")
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "422": PROBLEM})
def add_item(body: dict):
    """Add a configured product to the cart at today's list price, as the shop's Add to cart does."""
    org = active_organization()
    config = configured(body)
    try:
        item = services.add_to_cart(current_user, org, config, body["copies"], current_actor(),
                                    location_id=body.get("location_id"))
        db.session.flush()
    except RuleError as error:
        raise rule_problem(error) from None
    response = resource_response(_item_json(item), status=201)
    response.headers["Location"] = f"/api/v1/cart/items/{item.id}"
    return response


@blp.route("/items/<int:item_id>")
@requires_scope(Scope.ORDERS_WRITE)
@blp.response(200, CartItemSchema)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "404": PROBLEM})
def get_item(item_id: int):
    """One cart item, priced today, with its ETag."""
    return resource_response(_item_json(_cart_item(item_id)))


@blp.route("/items/<int:item_id>", methods=["PATCH"])
@requires_scope(Scope.ORDERS_WRITE)
@blp.arguments(CartItemChange)
@blp.response(200, CartItemSchema)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "404": PROBLEM, "412": PROBLEM, "422": PROBLEM})
def change_item(body: dict, item_id: int):
    """Change an item's edition, quantity, add-ons, copies or location (If-Match: its ETag); its price becomes
    today's."""
    item = _cart_item(item_id)
    check_if_match(_item_json(item))
    product = products_by_id({item.product_id})[item.product_id]  # with its editions and add-ons
    current = {
        "product": product.slug,
        "edition": next((e.name for e in product.editions if e.id == item.edition_id), None),
        "quantity": item.quantity, "copies": item.copies, "location_id": item.location_id,
        "addons": [a.slug for a in product.addons if a.id in set(item.addon_ids or [])],
    }
    wanted = {**current, **body}
    if item.purchase is not PurchaseKind.NEW:
        raise rule_problem(RuleError("A change to a license is chosen on the license's Modify page: remove it and "
                                     "choose again."))
    config = configured(wanted)
    try:
        services.update_item(item, config, wanted["copies"], current_actor(), location_id=wanted.get("location_id"))
        db.session.flush()
    except RuleError as error:
        raise rule_problem(error) from None
    return resource_response(_item_json(item))


@blp.route("/items/<int:item_id>", methods=["DELETE"])
@requires_scope(Scope.ORDERS_WRITE)
@blp.response(204, description="Removed.")
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "404": PROBLEM, "412": PROBLEM})
def remove_item(item_id: int):
    """Take an item out of the cart (If-Match honoured)."""
    item = _cart_item(item_id)
    check_if_match(_item_json(item))
    services.remove_item(item, current_actor())
    return Response(status=204)
