"""The catalog and price quotes: what the shop offers this reseller, at list price and at its own price after
its partner discount, and the checkout's pricing of a configuration before anything is bought.

A quote prices unsaved cart items with `orders.services.checkout_summary`, the function the checkout page prices a
cart with (list price, the tier's discount, tax, shipping), so a quote is exactly what an order of the same items
would cost now. The item shape (`ItemSchema`) and its reading (`configured`) serve the cart and direct orders too.
"""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal import pricing
from portal.accounts.models import Organization
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import resource_response
from portal.api.problems import ApiProblem, not_found, refused
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import active_organization
from portal.cart.models import CartItem
from portal.catalog.models import Product, ProductKind, PurchaseKind, SubscriptionBasis
from portal.catalog.services import Configuration, active_products, configure, discount_bp
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.services import CheckoutSummary, checkout_summary

blp = key_blueprint("api_catalog", __name__, url_prefix="", description="The catalog at this reseller's prices, "
                    "and price quotes for configurations.")

PROBLEM = {"$ref": "#/components/responses/Problem"}
ITEM_FIELDS = ("product", "edition", "quantity", "addons", "copies", "location_id")


# ---------------------------------------------------------------- the item a partner configures


class ItemSchema(ma.Schema):
    """One configuration to price, put in the cart or order: a product by slug, its edition by name, a quantity
    of its unit, add-ons by slug, copies (licenses of this configuration) and, for hardware, a location."""

    product = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64),
                               metadata={"description": "The product's slug, such as `mailsuite`.",
                                         "examples": ["mailsuite"]})
    edition = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=80),
                               metadata={"description": "The edition's name (license products), such as "
                                                        "`Professional`.", "examples": ["Professional"]})
    quantity = ma.fields.Integer(required=True, strict=True,
                                 validate=ma.validate.Range(min=1, max=pricing.MAX_UNITS),
                                 metadata={"description": "Units of the product: mailboxes, sites, devices … "
                                                          "(license products: one of its `quantities`)."})
    addons = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)), load_default=list,
                            validate=ma.validate.Length(max=20),
                            metadata={"description": "Slugs of the product's add-ons."})
    copies = ma.fields.Integer(load_default=1, strict=True, validate=ma.validate.Range(min=1, max=pricing.MAX_COPIES),
                               metadata={"description": "How many licenses of this configuration (1 for "
                                                        "subscriptions and hardware)."})
    location_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=ma.validate.Range(min=1, max=2**63 - 1),
                                    metadata={"description": "Hardware: the location the units ship to."})


def sold_product(slug: str) -> Product | None:
    """A product of the shop by slug, with its editions and add-ons (reseller plans are chosen at /account/plan)."""
    return db.session.scalars(
        select(Product).where(Product.slug == slug, Product.active.is_(True),
                              or_(Product.basis.is_(None), Product.basis != SubscriptionBasis.RESELLER))
        .options(selectinload(Product.editions), selectinload(Product.addons))).first()


def configured(item: dict, prefix: str = "") -> Configuration:
    """The catalog's check of an item (catalog.services.configure); an ApiProblem naming the field otherwise."""
    product = sold_product(item["product"])
    if product is None:
        raise refused(f"No product {item['product']!r} is on sale. GET /api/v1/catalog/products lists them.",
                      f"{prefix}product")
    edition_id = None
    if item.get("edition") is not None:
        wanted = item["edition"].strip().casefold()
        edition_id = next((e.id for e in product.editions if e.active and e.name.casefold() == wanted), 0)
    elif product.is_license:
        edition_id = 0
    by_slug = {a.slug: a.id for a in product.addons if a.active}
    unknown = [slug for slug in item.get("addons", []) if slug not in by_slug]
    if unknown:
        raise refused(f"{unknown[0]!r} is not an add-on of {product.name}.", f"{prefix}addons")
    try:
        return configure(product, edition_id, item["quantity"], [by_slug[s] for s in item.get("addons", [])])
    except RuleError as error:
        raise rule_problem(error, prefix) from None


def rule_problem(error: RuleError, prefix: str = "", fields: dict[str, str] | None = None) -> ApiProblem:
    """A service's RuleError as a 422 problem, its field named as the request names it."""
    field = error.field
    if field is not None:
        field = (fields or {}).get(field, f"{prefix}{field}" if field in ITEM_FIELDS else field)
    return refused(error.message, field)


# ---------------------------------------------------------------- products


class EditionPriceSchema(ma.Schema):
    quantity = ma.fields.Integer(required=True)
    list_price = ma.fields.Nested(MoneySchema, required=True)
    your_price = ma.fields.Nested(MoneySchema, required=True,
                                  metadata={"description": "The list price less your partner discount."})


class EditionSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["edition"]))
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    base_price = ma.fields.Nested(MoneySchema, required=True)
    unit_price = ma.fields.Nested(MoneySchema, required=True)
    prices = ma.fields.List(ma.fields.Nested(EditionPriceSchema), required=True,
                            metadata={"description": "The edition at each quantity offered, without add-ons."})


class AddOnSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["addon"]))
    id = ma.fields.Integer(required=True)
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    list_price = ma.fields.Nested(MoneySchema, required=True)
    your_price = ma.fields.Nested(MoneySchema, required=True)


class ProductSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["product"]))
    id = ma.fields.Integer(required=True)
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    summary = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in ProductKind]))
    unit = ma.fields.String(required=True, metadata={"description": "What the quantity counts: mailboxes, sites…"})
    currency = ma.fields.String(required=True)
    discount_bp = ma.fields.Integer(required=True, metadata={"description": "Your partner discount in basis "
                                                                            "points (2000 = 20 %)."})
    quantities = ma.fields.List(ma.fields.Integer(), required=True,
                                metadata={"description": "License products: the quantities offered (empty: any)."})
    ms_rate_bp = ma.fields.Integer(required=True, allow_none=True,
                                   metadata={"description": "License products: yearly M&S as a share of the list "
                                                            "price, in basis points."})
    editions = ma.fields.List(ma.fields.Nested(EditionSchema), required=True)
    addons = ma.fields.List(ma.fields.Nested(AddOnSchema), required=True)
    basis = ma.fields.String(required=True, allow_none=True,
                             validate=ma.validate.OneOf([b.value for b in SubscriptionBasis]),
                             metadata={"description": "Subscriptions: per device or per location."})
    interval = ma.fields.String(required=True, allow_none=True, validate=ma.validate.OneOf(["monthly", "annual"]))
    unit_price = ma.fields.Nested(MoneySchema, required=True, allow_none=True,
                                  metadata={"description": "Subscriptions and hardware: the list price per unit "
                                                           "(per interval for subscriptions)."})
    your_unit_price = ma.fields.Nested(MoneySchema, required=True, allow_none=True)


ProductPage = ma.Schema.from_dict({
    "data": ma.fields.List(ma.fields.Nested(ProductSchema), required=True),
    "has_more": ma.fields.Boolean(required=True),
    "next_cursor": ma.fields.String(required=True, allow_none=True),
}, name="ProductPage")


def _money_pair(list_minor: int, currency: str, discount: int) -> dict:
    return {"list_price": money_json(list_minor, currency),
            "your_price": money_json(pricing.reseller_cost(list_minor, discount), currency)}


def product_json(product: Product, discount: int) -> dict:
    """A product as this reseller buys it: list prices and its own (the list price less its discount)."""
    currency = product.currency
    quantities = sorted(product.quantities or []) if product.is_license else []
    editions = [{
        "object": "edition", "id": e.id, "name": e.name,
        "base_price": money_json(e.base_price_minor, currency), "unit_price": money_json(e.unit_price_minor, currency),
        "prices": [{"quantity": q, **_money_pair(pricing.edition_price(e.base_price_minor, e.unit_price_minor, q),
                                                 currency, discount)} for q in quantities],
    } for e in product.editions if e.active] if product.is_license else []
    addons = [{"object": "addon", "id": a.id, "slug": a.slug, "name": a.name,
               **_money_pair(a.price_minor, currency, discount)}
              for a in product.addons if a.active] if product.is_license else []
    unit = product.unit_price_minor
    return {
        "object": "product", "id": product.id, "slug": product.slug, "name": product.name,
        "summary": product.summary or "", "kind": product.kind.value, "unit": product.unit_label,
        "currency": currency, "discount_bp": discount, "quantities": quantities,
        "ms_rate_bp": product.ms_rate_bp if product.is_license else None,
        "editions": editions, "addons": addons,
        "basis": product.basis.value if product.basis else None,
        "interval": product.interval.value if product.interval else None,
        "unit_price": money_json(unit, currency) if unit is not None else None,
        "your_unit_price": money_json(pricing.reseller_cost(unit, discount), currency) if unit is not None else None,
    }


@blp.route("/catalog/products")
@requires_scope(Scope.CATALOG_READ)
@blp.response(200, ProductPage)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM})
def list_products():
    """The products on sale, in the shop's order, with list prices and yours: the whole catalog is one page."""
    discount = discount_bp(active_organization())
    return jsonify({"data": [product_json(p, discount) for p in active_products()], "has_more": False,
                    "next_cursor": None})


@blp.route("/catalog/products/<slug>")
@requires_scope(Scope.CATALOG_READ)
@blp.response(200, ProductSchema)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "404": PROBLEM})
def get_product(slug: str):
    """One product by slug: its editions at each quantity offered, its add-ons, list prices and yours."""
    product = sold_product(slug[:64])
    if product is None:
        raise not_found("No product with that slug is on sale.")
    return resource_response(product_json(product, discount_bp(active_organization())))


# ---------------------------------------------------------------- quotes


class PriceQuoteRequest(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ItemSchema), required=True,
                           validate=ma.validate.Length(min=1, max=pricing.MAX_CART_ITEMS),
                           metadata={"description": "The configurations to price, as an order would list them."})


class PriceQuoteLineSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["quote_line"]))
    product = ma.fields.String(required=True, metadata={"description": "The product's slug."})
    description = ma.fields.String(required=True)
    edition = ma.fields.String(required=True, allow_none=True)
    quantity = ma.fields.Integer(required=True)
    copies = ma.fields.Integer(required=True)
    addons = ma.fields.List(ma.fields.String(), required=True)
    unit_list_price = ma.fields.Nested(MoneySchema, required=True,
                                       metadata={"description": "One copy at list price (more of a plan you run: "
                                                                "prorated to its next payment)."})
    list_price = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    shipping = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)


class PriceQuoteSchema(ma.Schema):
    object = ma.fields.String(required=True, validate=ma.validate.OneOf(["quote"]))
    currency = ma.fields.String(required=True)
    discount_bp = ma.fields.Integer(required=True)
    tax_rate_bp = ma.fields.Integer(required=True)
    lines = ma.fields.List(ma.fields.Nested(PriceQuoteLineSchema), required=True)
    subtotal = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)


def unsaved_items(org: Organization, user, items: list[dict]) -> list[CartItem]:
    """The items as cart items that are never saved (ids 1…n), for the checkout's pricing."""
    now = utcnow()
    found = []
    for position, item in enumerate(items, start=1):
        config = configured(item, f"items.{position - 1}.")
        found.append(CartItem(id=position, purchase=PurchaseKind.NEW, user_id=user.id, organization_id=org.id,
                              product_id=config.product.id,
                              edition_id=config.edition.id if config.edition else None, quantity=config.quantity,
                              copies=item["copies"] if config.product.is_license else 1,
                              addon_ids=config.addon_ids, location_id=item.get("location_id"),
                              quoted_list_minor=0, created_at=now, updated_at=now))
    return found


def summary_json(summary: CheckoutSummary, currency: str) -> dict:
    """The checkout's pricing of some items, line by line, with its totals."""
    lines = []
    for line in summary.lines:
        goods, shipping = summary.priced(line)
        config = line.config
        lines.append({
            "object": "quote_line", "product": line.product.slug if line.product else "",
            "description": line.description, "edition": config.edition.name if config and config.edition else None,
            "quantity": line.item.quantity, "copies": line.item.copies,
            "addons": [a.slug for a in config.addons] if config else [],
            "unit_list_price": money_json(line.unit_list_minor, currency),
            "list_price": money_json(goods.list_minor, currency),
            "discount": money_json(goods.discount_minor, currency),
            "tax": money_json(goods.tax_minor + (shipping.tax_minor if shipping else 0), currency),
            "shipping": money_json(shipping.list_minor if shipping else 0, currency),
            "total": money_json(goods.total_minor + (shipping.total_minor if shipping else 0), currency),
        })
    quote = summary.quote
    return {"object": "quote", "currency": currency, "discount_bp": quote.discount_bp,
            "tax_rate_bp": summary.tax.rate_bp, "lines": lines,
            "subtotal": money_json(quote.subtotal_minor, currency),
            "discount": money_json(quote.discount_minor, currency), "tax": money_json(quote.tax_minor, currency),
            "total": money_json(quote.total_minor, currency)}


def priced_or_problem(summary: CheckoutSummary) -> CheckoutSummary:
    """The summary, unless a line cannot be bought as it is (a location it cannot ship to …): 422 naming it."""
    for position, line in enumerate(summary.lines):
        if line.config is None:
            field = "location_id" if line.item.location_id or line.product and line.product.is_hardware else None
            raise refused(line.problem or "This item cannot be bought as it is.",
                          f"items.{position}.{field}" if field else f"items.{position}")
    return summary


@blp.route("/quotes", methods=["POST"])
@requires_scope(Scope.CATALOG_READ)
@blp.arguments(PriceQuoteRequest)
@blp.response(200, PriceQuoteSchema)
@blp.doc(responses={"401": PROBLEM, "403": PROBLEM, "422": PROBLEM})
def create_quote(body: dict):
    """Price configurations as checkout would now: list price, your discount, tax and shipping, per line and in
    total. Nothing is saved or bought."""
    org = active_organization()
    summary = priced_or_problem(checkout_summary(org, unsaved_items(org, current_user, body["items"])))
    return jsonify(summary_json(summary, org.currency))
