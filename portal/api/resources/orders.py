"""Orders: place one from the cart or from a list of items, read the history and one order.

Placing goes through the checkout's unit of work (`orders.checkout.place_order`), so an order placed here is the
one the checkout page would have made: the same pricing, invoice, emails, audit entry and events. Like the page,
it commits the order itself (the card processor is outside the transaction). Items sent directly are put in the
cart first (committed, so that the payment attempt, written on a connection of its own, is not kept waiting
behind them) and bought alone; if the order fails they are taken out again. A saved card is charged off session:
a bank that wants the cardholder (3-D Secure) cannot be answered by an API call, so the attempt is cancelled and
the answer is a 402 saying to pay in the portal.
"""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from flask import jsonify
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import pricing
from portal.accounts.context import current_actor
from portal.accounts.services import normalize_email
from portal.api import idempotency
from portal.api.auth import current_key, requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import resource_response
from portal.api.pagination import Order as PageOrder
from portal.api.pagination import PageQuery, page_json, page_schema, paginate
from portal.api.placing import MAX_ID, METHOD_OF_KIND, METHODS, OrderPaymentSchema, order_attempt, payment_choice
from portal.api.problems import ApiProblem, not_found, refused
from portal.api.resources.catalog import PROBLEM, ItemSchema, configured, priced_or_problem, rule_problem
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, can, scoped_to
from portal.billing.lines import order_licenses
from portal.billing.models import Invoice
from portal.cart.models import CartItem
from portal.cart.services import add_to_cart, cart_items
from portal.catalog.models import ProductKind, PurchaseKind
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.models import License
from portal.licenses.services import assign_licenses
from portal.orders import services
from portal.orders.models import Order, OrderLine
from portal.payments.charges import CARD_FIELD

blp = key_blueprint("api_orders", __name__, url_prefix="/orders", description="Orders: place one (from the cart "
                    "or from items), the history newest first, one order with its licenses and invoice.")

# The checkout's field names, as this operation's request names them.
FIELDS = {"payment_kind": "payment.method", CARD_FIELD: "payment.payment_method_id", "email": "assign_to",
          "purchase_order_number": "purchase_order_number", "storefront_alias": "items"}
BILLING_FIELDS = {"legal_name": 200, "address_line1": 200, "address_line2": 200, "city": 100, "region": 100,
                  "postal_code": 20, "country": 2, "invoice_email": 254, "phone": 40}
FIELDS.update({name: f"billing.{name}" for name in BILLING_FIELDS})
REQUIRED_BILLING = ("legal_name", "address_line1", "city", "postal_code", "country", "invoice_email", "phone")


# ---------------------------------------------------------------- shapes


class OrderBillingSchema(ma.Schema):
    """Billing details for this order's invoice; those left out are your account's."""

    legal_name = ma.fields.String(validate=ma.validate.Length(max=200))
    address_line1 = ma.fields.String(validate=ma.validate.Length(max=200))
    address_line2 = ma.fields.String(validate=ma.validate.Length(max=200))
    city = ma.fields.String(validate=ma.validate.Length(max=100))
    region = ma.fields.String(validate=ma.validate.Length(max=100))
    postal_code = ma.fields.String(validate=ma.validate.Length(max=20))
    country = ma.fields.String(validate=ma.validate.Length(equal=2))
    invoice_email = ma.fields.String(validate=ma.validate.Length(max=254))
    phone = ma.fields.String(validate=ma.validate.Length(min=5, max=40))


class OrderRequest(ma.Schema):
    from_cart = ma.fields.Boolean(load_default=False,
                                  metadata={"description": "Buy what is in your cart (GET /api/v1/cart/items)."})
    items = ma.fields.List(ma.fields.Nested(ItemSchema), load_default=None,
                           validate=ma.validate.Length(min=1, max=pricing.MAX_CART_ITEMS),
                           metadata={"description": "Or buy these items (your cart is left as it is)."})
    payment = ma.fields.Nested(OrderPaymentSchema, required=True)
    assign_to = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=254),
                                 metadata={"description": "Assign the new licenses at once to the customer with "
                                                          "this email (needs the `licenses:write` scope too), as "
                                                          "the licenses page does: an unknown address gets an "
                                                          "account."})
    purchase_order_number = ma.fields.String(load_default="", validate=ma.validate.Length(max=64),
                                             metadata={"description": "Your reference, printed on the invoice."})
    expected_total_minor = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                             validate=ma.validate.Range(min=0, max=MAX_ID),
                                             metadata={"description": "The total you agreed to (a quote's); the "
                                                                      "order is refused if the price is no longer "
                                                                      "that."})
    billing = ma.fields.Nested(OrderBillingSchema, load_default=None, allow_none=True)

    @ma.validates_schema
    def _one_source(self, data, **kwargs):
        if bool(data.get("from_cart")) == bool(data.get("items")):
            raise ma.ValidationError('Send either "from_cart": true or a list of "items".', "items")


class OrderLicenseSchema(ma.Schema):
    key = ma.fields.String(required=True)
    assigned_to = ma.fields.String(required=True, allow_none=True,
                                   metadata={"description": "The customer it is assigned to now (null: unassigned)."})


class OrderLineSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["order_line"]))
    position = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in ProductKind]))
    purchase = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in PurchaseKind]))
    product = ma.fields.String(required=True, metadata={"description": "The product's name when bought."})
    edition = ma.fields.String(required=True, allow_none=True)
    unit = ma.fields.String(required=True)
    interval = ma.fields.String(required=True, allow_none=True, validate=ma.validate.OneOf(["monthly", "annual"]))
    quantity = ma.fields.Integer(required=True)
    copies = ma.fields.Integer(required=True)
    addons = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "Add-on names."})
    unit_list_price = ma.fields.Nested(MoneySchema, required=True)
    list_price = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    shipping = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    licenses = ma.fields.List(ma.fields.Nested(OrderLicenseSchema), required=True,
                              metadata={"description": "The licenses this line bought or changed."})


class OrderPaymentInfoSchema(ma.Schema):
    method = ma.fields.String(required=True, validate=ma.validate.OneOf(list(METHODS)))
    card = ma.fields.String(required=True, allow_none=True, metadata={"description": "Such as Visa ending 4242."})


class OrderSummarySchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["order"]))
    number = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    payment = ma.fields.Nested(OrderPaymentInfoSchema, required=True)
    purchase_order_number = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)
    discount_bp = ma.fields.Integer(required=True)
    subtotal = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)


class OrderSchema(OrderSummarySchema):
    lines = ma.fields.List(ma.fields.Nested(OrderLineSchema), required=True)
    invoice_number = ma.fields.String(required=True, allow_none=True)


class PlacedOrderSchema(OrderSchema):
    assignment_problem = ma.fields.String(
        required=True, allow_none=True,
        metadata={"description": "With `assign_to`: why the licenses could not be assigned after the order was "
                                 "placed (null: assigned, or nothing to assign). Assign them with the licenses API."})


class OrderQuery(PageQuery):
    created_after = ma.fields.AwareDateTime(load_default=None, default_timezone=UTC,
                                            metadata={"description": "Orders placed at or after this instant "
                                                                     "(ISO 8601; UTC if no offset)."})
    created_before = ma.fields.AwareDateTime(load_default=None, default_timezone=UTC,
                                             metadata={"description": "Orders placed before this instant."})


ORDER = PageOrder(columns=(Order.created_at, Order.id), descending=True, parse=(datetime.fromisoformat,))


# ---------------------------------------------------------------- serializing


def order_summary_json(order: Order) -> dict:
    cur = order.currency
    return {
        "object": "order", "number": order.number, "created_at": order.created_at.isoformat(),
        "payment": {"method": METHOD_OF_KIND[order.payment_kind], "card": order.card_label},
        "purchase_order_number": order.purchase_order_number or "", "currency": cur,
        "discount_bp": order.discount_bp, "subtotal": money_json(order.subtotal_minor, cur),
        "discount": money_json(order.discount_minor, cur), "tax": money_json(order.tax_minor, cur),
        "total": money_json(order.total_minor, cur),
    }


def order_json(order: Order) -> dict:
    """An order with its lines, the licenses each bought or changed (and who holds them now), its invoice."""
    cur = order.currency
    licenses = order_licenses(order.id)
    invoice = db.session.scalar(select(Invoice.number).where(Invoice.order_id == order.id).limit(1))
    lines = [{
        "object": "order_line", "position": line.position, "kind": line.kind.value, "purchase": line.purchase.value,
        "product": line.product_name, "edition": line.edition_name, "unit": line.unit_label,
        "interval": line.interval.value if line.interval else None, "quantity": line.quantity,
        "copies": line.copies, "addons": [a.get("name", "") for a in line.addons or []],
        "unit_list_price": money_json(line.unit_list_minor, cur), "list_price": money_json(line.list_minor, cur),
        "discount": money_json(line.discount_minor, cur), "shipping": money_json(line.shipping_minor or 0, cur),
        "tax": money_json(line.tax_minor, cur), "total": money_json(line.total_minor, cur),
        "licenses": [{"key": found.key, "assigned_to": found.customer} for found in licenses.get(line.position, [])],
    } for line in order.lines]
    return {**order_summary_json(order), "lines": lines, "invoice_number": invoice}


def _order(number: str) -> Order:
    """One of the key's organization's orders, with its lines; anything else is a 404."""
    org = active_organization()
    stmt = scoped_to(org, select(Order).where(Order.number == number[:20], Order.organization_id == org.id),
                     Order.organization_id, current_user, Permission.VIEW_ORDERS)
    order = db.session.scalars(stmt.options(selectinload(Order.lines))
                               .execution_options(populate_existing=True)).first()
    if order is None:
        raise not_found("No order with that number in this organization.")
    return order


# ---------------------------------------------------------------- reading


@blp.route("")
@requires_scope(Scope.ORDERS_WRITE)
@blp.arguments(OrderQuery, location="query")
@blp.response(200, page_schema(OrderSummarySchema, "OrderPage"))
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "422": PROBLEM})
def list_orders(query: dict):
    """The organization's orders, newest first, optionally placed within a period (keyset pages)."""
    org = active_organization()
    if not can(current_user, Permission.VIEW_ORDERS, org):
        raise ApiProblem("forbidden", "The user who created this key may not see this organization's orders.")
    stmt = select(Order).where(Order.organization_id == org.id)
    if query["created_after"] is not None:
        stmt = stmt.where(Order.created_at >= query["created_after"])
    if query["created_before"] is not None:
        stmt = stmt.where(Order.created_at < query["created_before"])
    page = paginate(db.session, stmt, ORDER, limit=query["limit"], cursor=query["cursor"],
                    key=lambda row: (row.created_at, row.id))
    return jsonify(page_json(page, order_summary_json))


@blp.route("/<number>")
@requires_scope(Scope.ORDERS_WRITE)
@blp.response(200, OrderSchema)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "404": PROBLEM})
def get_order(number: str):
    """One order: its lines at the prices paid, the license keys each made (and who holds them), its invoice."""
    return resource_response(order_json(_order(number)))


# ---------------------------------------------------------------- placing


def _billing(org, body: dict) -> services.CheckoutDetails:
    """The account's billing details, with those the request gives in their place, checked as the form does."""
    values = {**services.BillingDetails.of(org).as_dict(), **(body.get("billing") or {})}
    values = {name: (value or "").strip() for name, value in values.items()}
    values["country"] = values["country"].upper()
    for name in REQUIRED_BILLING:
        if not values[name]:
            raise refused(f"The invoice needs a {name.replace('_', ' ')}: send billing.{name} (or set it on your "
                          "account).", f"billing.{name}")
    return services.CheckoutDetails(**values, purchase_order_number=body["purchase_order_number"].strip())


def _assignee(org, body: dict) -> str | None:
    """The normal form of `assign_to`, checked before anything is bought."""
    if body.get("assign_to") is None:
        return None
    if Scope.LICENSES_WRITE not in current_key().scope_set:
        raise ApiProblem("insufficient-scope", "assign_to needs an API key with the `licenses:write` scope too.",
                         required_scope=str(Scope.LICENSES_WRITE), field="assign_to")
    if not can(current_user, Permission.ASSIGN_LICENSES, org):
        raise ApiProblem("forbidden", "The user who created this key may not assign licenses here.",
                         field="assign_to")
    try:
        return normalize_email(body["assign_to"])
    except RuleError as error:
        raise refused(f"assign_to is not an email address: {error.message}", "assign_to") from None


def _put_in_cart(org, items: list[dict]) -> list[CartItem]:
    """The items, checked as the shop checks them, put in the cart and committed (see the module's docstring)."""
    configs = [configured(item, f"items.{i}.") for i, item in enumerate(items)]
    created = []
    for i, (item, config) in enumerate(zip(items, configs, strict=True)):
        try:
            created.append(add_to_cart(current_user, org, config, item["copies"], current_actor(),
                                       location_id=item.get("location_id")))
        except RuleError as error:
            db.session.rollback()
            raise rule_problem(error, f"items.{i}.") from None
    db.session.commit()
    return created


def _assign(order: Order, email: str) -> str | None:
    """Assign the order's new licenses to `email` (the licenses page's service); why not, if it could not."""
    licenses = list(db.session.scalars(
        select(License).join(OrderLine, License.order_line_id == OrderLine.id)
        .where(OrderLine.order_id == order.id).order_by(License.id)))
    if not licenses or all(lic.customer_id is not None for lic in licenses):
        return None
    try:
        assign_licenses(licenses, email, current_actor())
        db.session.flush()
    except RuleError as error:
        db.session.rollback()
        return error.message
    return None


@blp.route("", methods=["POST"])
@requires_scope(Scope.ORDERS_WRITE)
@blp.arguments(OrderRequest)
@blp.response(201, PlacedOrderSchema, description="Placed; `Location` is the order's address.")
@blp.doc(responses={"401": PROBLEM, "402": PROBLEM, "403": PROBLEM, "409": PROBLEM, "422": PROBLEM})
def place(body: dict):
    """Place an order from the cart or from items, paid as your account may pay, optionally assigning the new
    licenses to a customer at once. Send an Idempotency-Key: a retry then returns the same order."""
    org = active_organization()
    email = _assignee(org, body)
    payment = payment_choice(org, body["payment"])
    billing = _billing(org, body)
    earlier = _recovered_order(org)
    if earlier is not None:  # this key's first request placed it, then died before answering
        return _placed_answer(earlier, email)
    created = _put_in_cart(org, body["items"]) if body.get("items") else []
    items = created or cart_items(current_user, org)
    if not items:
        raise refused("Your cart is empty: add items (POST /api/v1/cart/items) or send them as `items`.",
                      "from_cart")
    def conflict(placed: services.AlreadyPlaced) -> ApiProblem:
        found = services.find_order(org, placed.order_key)
        return ApiProblem("conflict", f"This cart was already placed as order {found.number}." if found else
                          "Another order was placed from this cart at the same moment; nothing was charged.",
                          order_number=found.number if found else None)

    with order_attempt(org, created, portal_hint="Place this order in the portal (/checkout)", conflict=conflict,
                       refusal=lambda error: rule_problem(error, fields=FIELDS)) as attempt:
        summary = services.checkout_summary(org, items)
        if created:
            priced_or_problem(summary)
        expected = body.get("expected_total_minor")
        order = attempt.place(items, summary, summary.quote.total_minor if expected is None else expected, payment,
                              billing)
    return _placed_answer(order, email)


def _recovered_order(org) -> Order | None:
    """The order an earlier, unanswered request with this Idempotency-Key placed, if it got that far."""
    signature = idempotency.recovered()
    return services.find_order(org, signature) if signature else None


def _placed_answer(order: Order, email: str | None):
    """201 with the order, its new licenses assigned to `email` first (unless they already are)."""
    problem = _assign(order, email) if email else None
    answer = {**order_json(_order(order.number)), "assignment_problem": problem}
    response = resource_response(answer, status=201)
    response.headers["Location"] = f"/api/v1/orders/{order.number}"
    return response
