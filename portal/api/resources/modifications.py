"""Modifying a license through the API: a quote (the price lines and total a modification would cost, nothing
written) and the modification order, placed as the Modify page and the checkout place it: each change priced by
portal/licenses/modify.py, put in the buyer's cart by the cart service, then bought by the checkout's place_order
(the same order, invoice, emails and audit entries). Registered on the licenses blueprint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal import pricing
from portal.accounts.context import current_actor
from portal.accounts.models import Organization
from portal.api import idempotency
from portal.api.conditional import check_if_match
from portal.api.placing import OrderPaymentSchema, order_attempt, payment_choice
from portal.api.problems import ApiProblem, refused
from portal.api.schemas import MoneySchema, money_json
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, can
from portal.billing.models import Invoice
from portal.cart.services import add_modification
from portal.catalog.models import PurchaseKind
from portal.catalog.services import discount_bp, products_by_id
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.models import License
from portal.orders import services as orders
from portal.orders.models import OrderLine
from portal.payments.charges import CARD_FIELD
from portal.seller.taxes import tax_terms

_LINE_FIELDS = {"edition": "edition", "quantity": "quantity", "addons": "addons", "key": "key",
                "payment_kind": "payment.method", CARD_FIELD: "payment.payment_method_id",
                "invoice_email": "billing.invoice_email", "address_line1": "billing.address_line1",
                "address_line2": "billing.address_line2", "purchase_order_number": "purchase_order_number"}


# ---------------------------------------------------------------- input


class ModificationSchema(ma.Schema):
    edition = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=80),
                               metadata={"description": "The edition to upgrade to, by name (default: the "
                                                        "license's)."})
    quantity = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=1_000_000),
                                 metadata={"description": "The quantity to upgrade to (default: the license's)."})
    addons = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)), load_default=None,
                            validate=ma.validate.Length(max=50),
                            metadata={"description": "Add-ons to add, by slug."})
    renew_ms = ma.fields.Boolean(load_default=False, metadata={"description": "One more year of M&S from its "
                                                                              "current expiry."})
    reinstate = ma.fields.Boolean(load_default=False, metadata={"description": "Reinstate lapsed M&S: a renewal "
                                                                               "plus the reinstatement charge."})


class ModificationOrderSchema(ModificationSchema):
    payment = ma.fields.Nested(OrderPaymentSchema, required=True)
    purchase_order_number = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))
    expected_total_minor = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=0, max=2**63 - 1),
                                             metadata={"description": "The quote's total: the order is refused "
                                                                      "if the price is no longer this."})


# ---------------------------------------------------------------- output


class QuoteLineSchema(ma.Schema):
    purchase = ma.fields.String(required=True, validate=ma.validate.OneOf(("upgrade", "renewal", "reinstatement")))
    description = ma.fields.String(required=True)
    ms_expires_on = ma.fields.Date(required=True, metadata={"description": "M&S expiry once applied."})
    list = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)


class QuoteSchema(ma.Schema):
    object = ma.fields.Constant("license_modification_quote", required=True)
    license_key = ma.fields.String(required=True)
    lines = ma.fields.List(ma.fields.Nested(QuoteLineSchema), required=True)
    subtotal = ma.fields.Nested(MoneySchema, required=True)
    discount = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)


def _quote_json(license_: License, changes: list[modify.Modification], quote: pricing.Quote,
                currency: str) -> dict:
    lines = []
    for change, priced in zip(changes, quote.lines, strict=True):
        lines.append({"purchase": change.purchase.value, "description": change.description,
                      "ms_expires_on": change.ms_expires_on.isoformat(),
                      "list": money_json(priced.list_minor, currency),
                      "discount": money_json(priced.discount_minor, currency),
                      "tax": money_json(priced.tax_minor, currency), "total": money_json(priced.total_minor, currency)})
    return {"object": "license_modification_quote", "license_key": license_.key, "lines": lines,
            "subtotal": money_json(quote.subtotal_minor, currency),
            "discount": money_json(quote.discount_minor, currency),
            "tax": money_json(quote.tax_minor, currency), "total": money_json(quote.total_minor, currency)}


# ---------------------------------------------------------------- the changes asked for


def _refusal(error: RuleError) -> ApiProblem:
    """A service's refusal as a 422 problem, named by the request's field."""
    return refused(error.message, _LINE_FIELDS.get(error.field, error.field))


def _fail(error: RuleError) -> ApiProblem:
    """A service's refusal as a 422 problem, after undoing whatever the request wrote."""
    db.session.rollback()
    return _refusal(error)


def _ordered_twice(_placed: orders.AlreadyPlaced) -> ApiProblem:
    return ApiProblem("conflict", "This modification was ordered by another request at the same moment; nothing "
                      "was charged twice.")


def _modifiable(license_: License, org: Organization) -> None:
    if not can(current_user, Permission.BUY, org):
        raise ApiProblem("forbidden", f"The user who created this key may not buy for {org.name}, so it cannot "
                         "price or order modifications.")
    if license_.owner_id != org.id:
        raise refused("Only the reseller that bought this license can modify it.", "key")


def _changes(license_: License, body: dict, today: date) -> list[modify.Modification]:
    """The modifications the body asks for, priced as the Modify page prices them: the upgrade first, then M&S
    (priced on the upgraded license when both come together)."""
    wants_upgrade = any(body[name] is not None for name in ("edition", "quantity", "addons"))
    if body["renew_ms"] and body["reinstate"]:
        raise ApiProblem("validation-error", "reinstate: ask for a renewal or a reinstatement, not both.",
                         field="reinstate", errors=[{"field": "reinstate", "detail": "Not with renew_ms."}])
    if not (wants_upgrade or body["renew_ms"] or body["reinstate"]):
        raise ApiProblem("validation-error", "Ask for at least one change: edition, quantity, addons, renew_ms or "
                         "reinstate.", field="edition",
                         errors=[{"field": "edition", "detail": "Ask for at least one change."}])
    for name, values in (("edition", [body["edition"] or ""]), ("addons", body["addons"] or [])):
        if any("\x00" in value for value in values):
            raise ApiProblem("validation-error", f"{name}: must not contain NUL characters.", field=name,
                             errors=[{"field": name, "detail": "Must not contain NUL characters."}])
    product = products_by_id({license_.product_id})[license_.product_id]
    changes: list[modify.Modification] = []
    upgraded = None
    if wants_upgrade:
        edition_id = license_.edition_id
        if body["edition"] is not None:
            edition_id = next((e.id for e in product.editions if e.name.casefold() == body["edition"].casefold()),
                              0)  # 0: no such edition, refused by quote_upgrade beside `edition`
        by_slug = {a.slug: a.id for a in product.addons}
        unknown = [slug for slug in body["addons"] or [] if slug not in by_slug]
        if unknown:
            raise RuleError(f"{unknown[0]} is not an add-on of {product.name}.", field="addons")
        upgrade = modify.quote_upgrade(license_, product, edition_id, body["quantity"] or license_.quantity,
                                       [by_slug[slug] for slug in body["addons"] or []])
        changes.append(upgrade)
        upgraded = upgrade.target
    if body["renew_ms"] or body["reinstate"]:
        purchase = PurchaseKind.RENEWAL if body["renew_ms"] else PurchaseKind.REINSTATEMENT
        changes.append(modify.quote_maintenance(license_, product, purchase, today, upgraded))
    return changes


# ---------------------------------------------------------------- the operations


class ModificationSchemaOut(ma.Schema):
    object = ma.fields.Constant("license_modification", required=True)
    order_number = ma.fields.String(required=True)
    invoice_number = ma.fields.String(required=True, allow_none=True)
    payment_method = ma.fields.String(required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    lines = ma.fields.List(ma.fields.Nested(QuoteLineSchema), required=True)


def register(blp, find: Callable[[str], License], license_json: Callable[[License], dict], license_schema,
             problems: dict) -> None:
    """Add the quote and order operations to the licenses blueprint."""
    from portal.api.auth import requires_scope

    class ModificationOut(ModificationSchemaOut):
        license = ma.fields.Nested(license_schema, required=True)

    @blp.route("/<key>/modification-quotes")
    class ModificationQuotes(MethodView):
        @requires_scope(Scope.LICENSES_READ)
        @blp.arguments(ModificationSchema)
        @blp.response(200, QuoteSchema)
        @blp.doc(responses=problems)
        def post(self, body: dict, key: str):
            """What a modification of the license would cost you now (upgrade, add-ons, M&S renewal or
            reinstatement): its lines with your discount and tax, and the total. Nothing is written."""
            org = active_organization()
            license_ = find(key)
            _modifiable(license_, org)
            try:
                changes = _changes(license_, body, utcnow().date())
            except RuleError as error:
                raise _fail(error) from None
            quote = pricing.quote([pricing.LineInput(str(i), c.list_minor) for i, c in enumerate(changes)],
                                  discount_bp=discount_bp(org), tax_bp=tax_terms(org).rate_bp)
            return jsonify(_quote_json(license_, changes, quote, org.currency))

    @blp.route("/<key>/modifications")
    class Modifications(MethodView):
        @requires_scope(Scope.LICENSES_WRITE)
        @blp.arguments(ModificationOrderSchema)
        @blp.response(201, ModificationOut)
        @blp.doc(responses={**problems, "402": {"$ref": "#/components/responses/Problem"},
                            "409": {"$ref": "#/components/responses/Problem"},
                            "412": {"$ref": "#/components/responses/Problem"}})
        def post(self, body: dict, key: str):
            """Order a modification of the license and pay for it, as the Modify page and the checkout do: the
            order, its invoice, the change to the license and the emails. Send an Idempotency-Key to place it once
            whatever the retries."""
            org = active_organization()
            earlier = idempotency.recovered()
            placed = orders.find_order(org, earlier) if earlier else None
            if placed is not None:  # this key's first request placed it, then died before answering
                raise ApiProblem("conflict", f"This request (its Idempotency-Key) already placed order "
                                 f"{placed.number}: read it at /api/v1/orders/{placed.number}.",
                                 order_number=placed.number)
            license_ = find(key)
            _modifiable(license_, org)
            check_if_match(license_json(license_))
            if "\x00" in body["purchase_order_number"]:
                raise ApiProblem("validation-error", "purchase_order_number: must not contain NUL characters.",
                                 field="purchase_order_number")
            actor = current_actor()
            try:
                changes = _changes(license_, body, utcnow().date())
                payment = payment_choice(org, body["payment"])
                # into the buyer's cart, as "Add to cart" on the Modify page puts them, then bought alone
                items = [add_modification(current_user, org, change, change.list_minor, actor) for change in changes]
            except RuleError as error:
                raise _fail(error) from None
            # committed first: a card's payment attempt and the Idempotency-Key's recovery point are written on
            # connections of their own, which must not wait behind them (they leave the cart if the order fails)
            db.session.commit()
            with order_attempt(org, items, portal_hint="Modify the license in the portal", conflict=_ordered_twice,
                               refusal=_refusal) as attempt:
                summary = orders.checkout_summary(org, items)
                if body["expected_total_minor"] is not None and body["expected_total_minor"] != \
                        summary.quote.total_minor:
                    raise RuleError(f"The total is now {summary.quote.total_minor} (minor units), not "
                                    f"{body['expected_total_minor']}: quote again.", field="expected_total_minor")
                billing = orders.CheckoutDetails(**orders.BillingDetails.of(org).as_dict(),
                                                 purchase_order_number=body["purchase_order_number"].strip())
                order = attempt.place(items, summary, summary.quote.total_minor, payment, billing)
            invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).first()
            changed = db.session.scalars(select(License).where(License.id == license_.id).options(
                joinedload(License.product), joinedload(License.edition), joinedload(License.customer),
                selectinload(License.addons)).execution_options(populate_existing=True)).one()
            currency = order.currency
            lines = [{"purchase": line.purchase.value, "description": change.description,
                      "ms_expires_on": change.ms_expires_on.isoformat(),
                      "list": money_json(line.list_minor, currency),
                      "discount": money_json(line.discount_minor, currency),
                      "tax": money_json(line.tax_minor, currency), "total": money_json(line.total_minor, currency)}
                     for line, change in zip(db.session.scalars(select(OrderLine).where(
                         OrderLine.order_id == order.id).order_by(OrderLine.position)), changes, strict=True)]
            body_out = {"object": "license_modification", "order_number": order.number,
                        "invoice_number": invoice.number if invoice is not None else None,
                        "payment_method": order.payment_kind.value,
                        "total": money_json(order.total_minor, currency), "lines": lines,
                        "license": license_json(changed)}
            response = jsonify(body_out)
            response.status_code = 201
            response.headers["Location"] = f"/api/v1/orders/{order.number}"
            return response
