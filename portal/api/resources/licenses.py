"""Licenses through the API: the licenses an organization sees (a reseller's book, an end customer's
entitlements), one license by its key, its assignment to a customer, and the quote and order of its modifications
(upgrade, add-ons, M&S renewal or reinstatement). The same services as the licenses and Modify pages decide."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache

import marshmallow as ma
from flask import jsonify, url_for
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import Integer, Select, bindparam, or_, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from portal.accounts.context import current_actor
from portal.accounts.models import Organization
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.pagination import Order, PageQuery, page_json, page_of, page_schema
from portal.api.problems import ApiProblem, not_found, refused
from portal.api.resources import modifications
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, can, chain_ids
from portal.catalog.models import AddOn, Edition, Product
from portal.db_types import among, utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import services
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License, license_addon

blp = key_blueprint("api_licenses", __name__, url_prefix="/licenses",
                    description="Licenses: a reseller's book (its stock and what it resold) or an end customer's "
                                "entitlements; assignment to a customer; modifications (upgrade, add-ons, M&S).")

PROBLEMS = {code: {"$ref": "#/components/responses/Problem"} for code in ("400", "401", "403", "404", "422", "429")}

# The list's order, M&S ending soonest first: the order of the indexes that serve each scope and filter
# (ix_license_owner_ms_id for a reseller's book, ix_license_unassigned_ms for its stock, ix_license_customer_ms for a
# customer's licenses and an end customer's entitlements), so a page is an index range whatever the book's size.
ORDER = Order(columns=(License.ms_expires_on, License.id), descending=False, parse=(date.fromisoformat,))


# ---------------------------------------------------------------- representation


class LicenseRefSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class LicenseProductSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class LicenseAddOnSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class LicenseSchema(ma.Schema):
    object = ma.fields.Constant("license", required=True)
    key = ma.fields.String(required=True, metadata={"description": "The license key, its identifier."})
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("unassigned", "assigned")))
    product = ma.fields.Nested(LicenseProductSchema, required=True)
    edition = ma.fields.Nested(LicenseRefSchema, required=True)
    quantity = ma.fields.Integer(required=True)
    unit = ma.fields.String(required=True, metadata={"description": "What the quantity counts: mailboxes, …"})
    addons = ma.fields.List(ma.fields.Nested(LicenseAddOnSchema), required=True)
    customer = ma.fields.Nested(LicenseRefSchema, required=True, allow_none=True,
                                metadata={"description": "Whom it is assigned to; null while unassigned."})
    assigned_at = ma.fields.DateTime(required=True, allow_none=True)
    ms_expires_on = ma.fields.Date(required=True, metadata={"description": "Last day covered by M&S."})
    ms_lapsed = ma.fields.Boolean(required=True)
    auto_renew = ma.fields.Boolean(required=True, metadata={"description": "M&S renews itself on expiry."})
    reactivation_required = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def license_json(license_: License, today: date | None = None) -> dict:
    """A license as the API shows it (its product, edition, customer and add-ons loaded with it)."""
    today = today or utcnow().date()
    customer = license_.customer
    return {
        "object": "license", "key": license_.key,
        "status": "unassigned" if license_.customer_id is None else "assigned",
        "product": {"slug": license_.product.slug, "name": license_.product.name},
        "edition": {"id": license_.edition.id, "name": license_.edition.name},
        "quantity": license_.quantity, "unit": license_.product.unit_label,
        "addons": [{"slug": a.slug, "name": a.name} for a in license_.addons],
        "customer": {"id": customer.id, "name": customer.name} if customer is not None else None,
        "assigned_at": _iso(license_.assigned_at), "ms_expires_on": license_.ms_expires_on.isoformat(),
        "ms_lapsed": license_.ms_expires_on < today, "auto_renew": bool(license_.auto_renew),
        "reactivation_required": bool(license_.reactivation_required), "created_at": _iso(license_.created_at),
    }


def license_row_json(row, addons: list[dict], today: date) -> dict:
    """license_json of a list's plain row (_list_statement's columns, in their order) and its add-ons: the same
    object, without loading License, Product, Edition and Organization objects for it."""
    (_, key, customer_id, quantity, ms_expires_on, auto_renew, reactivation_required, assigned_at, created_at,
     product_slug, product_name, unit, edition_id, edition_name, customer_name) = row
    return {
        "object": "license", "key": key, "status": "unassigned" if customer_id is None else "assigned",
        "product": {"slug": product_slug, "name": product_name}, "edition": {"id": edition_id, "name": edition_name},
        "quantity": quantity, "unit": unit, "addons": addons,
        "customer": {"id": customer_id, "name": customer_name} if customer_id is not None else None,
        "assigned_at": assigned_at.isoformat() if assigned_at is not None else None,
        "ms_expires_on": ms_expires_on.isoformat(), "ms_lapsed": ms_expires_on < today,
        "auto_renew": bool(auto_renew), "reactivation_required": bool(reactivation_required),
        "created_at": created_at.isoformat() if created_at is not None else None,
    }


@lru_cache(maxsize=1)
def _list_statement() -> Select:
    """The list's columns: a license with its product, edition and customer's names, as plain columns. Building
    and hydrating ORM objects for a page of 100 cost several times the statement itself (a cProfile of the list),
    so the list reads rows; outer joins keep the license table first, read in the order of its index."""
    customer = aliased(Organization)
    return (select(License.id, License.key, License.customer_id, License.quantity, License.ms_expires_on,
                   License.auto_renew, License.reactivation_required, License.assigned_at, License.created_at,
                   Product.slug.label("product_slug"), Product.name.label("product_name"), Product.unit_label,
                   Edition.id.label("edition_id"), Edition.name.label("edition_name"),
                   customer.name.label("customer_name"))
            .outerjoin(Product, Product.id == License.product_id)
            .outerjoin(Edition, Edition.id == License.edition_id)
            .outerjoin(customer, customer.id == License.customer_id))


@lru_cache(maxsize=2)
def _addons_statement(dialect: str) -> Select:
    """The add-ons of a page's licenses, in the order License.addons has (by position)."""
    return (select(license_addon.c.license_id, AddOn.slug, AddOn.name)
            .join(AddOn, AddOn.id == license_addon.c.addon_id)
            .where(among(license_addon.c.license_id, "ids", dialect))
            .order_by(AddOn.position))


def _addons_of(ids: list[int]) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = defaultdict(list)
    if ids:
        connection = db.session.connection()
        for license_id, slug, name in connection.execute(_addons_statement(connection.dialect.name), {"ids": ids}):
            found[license_id].append({"slug": slug, "name": name})
    return found


def _options() -> tuple:
    # many-to-one joined in the page's statement, add-ons in a second one: two statements a page
    return (joinedload(License.product), joinedload(License.edition), joinedload(License.customer),
            selectinload(License.addons))


# ---------------------------------------------------------------- which licenses a key sees


def _is_reseller_book(org: Organization) -> bool:
    """A reseller that may assign sees the licenses it bought; anyone else sees what it holds (entitlements)."""
    return org.is_reseller and can(current_user, Permission.ASSIGN_LICENSES, org)


def visible(org: Organization):
    """The licenses the key's organization sees by key: those it bought, and those assigned to it or to its
    sub-chains."""
    return select(License).where(or_(License.owner_id == org.id, License.customer_id.in_(chain_ids(org.id))))


def find(key: str) -> License:
    """The license with this key (as typed: lower case, no hyphens) if the key's organization sees it; else 404."""
    try:
        canonical = normalize_key(key)
    except InvalidKey:
        raise not_found("No license has this key, or it is not yours.") from None
    license_ = db.session.scalars(visible(active_organization()).where(License.key == canonical)
                                  .options(*_options())).first()
    if license_ is None:
        raise not_found("No license has this key, or it is not yours.")
    return license_


# ---------------------------------------------------------------- list


class LicenseQuery(PageQuery):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(("unassigned", "assigned")),
                              metadata={"description": "unassigned (stock to assign) or assigned."})
    customer_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=2**63 - 1),
                                    metadata={"description": "Only the licenses assigned to this organization."})
    product = ma.fields.String(load_default=None, validate=[ma.validate.Length(min=1, max=64),
                                                           ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]*$")],
                               metadata={"description": "Only this product's licenses (its slug)."})
    ms_expires_before = ma.fields.Date(load_default=None,
                                       metadata={"description": "M&S ends before this day."})
    ms_expires_after = ma.fields.Date(load_default=None, metadata={"description": "M&S ends after this day."})


LicensePage = page_schema(LicenseSchema, "LicensePage")

_FILTERS = {"customer_id": lambda: License.customer_id == bindparam("customer_id"),
            "product_id": lambda: License.product_id == bindparam("product_id"),
            "ms_expires_before": lambda: License.ms_expires_on < bindparam("ms_expires_before"),
            "ms_expires_after": lambda: License.ms_expires_on > bindparam("ms_expires_after"),
            "cursor": ORDER.after_bound}


@lru_cache(maxsize=128)
def _page_statement(reseller_book: bool, status: str | None, filters: tuple[str, ...]) -> Select:
    """A page of the list for one shape of request (whose book, which filters), built once with bound parameters
    (org_id, page_limit and each filter's): building and keying a statement this size cost a third of running it,
    so each shape's statement is reused."""
    stmt = _list_statement().where(License.owner_id == bindparam("org_id") if reseller_book
                                   else License.customer_id.in_(chain_ids(bindparam("org_id"))))
    if status == "unassigned":
        stmt = stmt.where(License.customer_id.is_(None))
    elif status == "assigned":
        stmt = stmt.where(License.customer_id.is_not(None))
    for name in filters:
        stmt = stmt.where(_FILTERS[name]())
    return stmt.order_by(*ORDER.order_by()).limit(bindparam("page_limit", type_=Integer))


@blp.route("")
class Licenses(MethodView):
    @requires_scope(Scope.LICENSES_READ)
    @blp.arguments(LicenseQuery, location="query")
    @blp.response(200, LicensePage)
    @blp.doc(responses=PROBLEMS)
    def get(self, query: dict):
        """The organization's licenses, M&S ending soonest first: a reseller's stock and the licenses it resold,
        or an end customer's entitlements."""
        org = active_organization()
        params = {"org_id": org.id, "page_limit": query["limit"] + 1}
        filters = []
        for name in ("customer_id", "ms_expires_before", "ms_expires_after"):
            if query[name] is not None:
                filters.append(name)
                params[name] = query[name]
        if query["product"] is not None:
            filters.append("product_id")
            params["product_id"] = db.session.scalar(select(Product.id).where(Product.slug == query["product"])) or 0
        if query["cursor"]:
            filters.append("cursor")
            params.update(ORDER.cursor_params(query["cursor"]))
        stmt = _page_statement(_is_reseller_book(org), query["status"], tuple(filters))
        page = page_of(db.session.connection().execute(stmt, params).all(), query["limit"],
                       key=lambda row: (row.ms_expires_on, row.id))
        addons = _addons_of([row[0] for row in page.items])
        today = utcnow().date()
        return jsonify(page_json(page, lambda row: license_row_json(row, addons.get(row[0], []), today)))


@blp.route("/<key>")
class OneLicense(MethodView):
    @requires_scope(Scope.LICENSES_READ)
    @blp.response(200, LicenseSchema)
    @blp.doc(responses=PROBLEMS)
    def get(self, key: str):
        """One license by its key, with its ETag."""
        return resource_response(license_json(find(key)))


# ---------------------------------------------------------------- assignment


class AssignmentSchema(ma.Schema):
    customer_email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254),
                                      metadata={"description": "Who receives the key; someone new to the portal "
                                                               "gets an account (a sub-chain of yours)."})
    customer_name = ma.fields.String(load_default="", validate=ma.validate.Length(max=120),
                                     metadata={"description": "The new customer account's name (default: the "
                                                              "address)."})


_ASSIGN_FIELDS = {"licenses": "key", "email": "customer_email", "customer_name": "customer_name"}


def _nul_free(*values: tuple[str, str]) -> None:
    for name, value in values:
        if "\x00" in value:
            raise ApiProblem("validation-error", f"{name}: must not contain NUL characters.", field=name,
                             errors=[{"field": name, "detail": "Must not contain NUL characters."}])


@blp.route("/<key>/assignment")
class Assignment(MethodView):
    @requires_scope(Scope.LICENSES_WRITE)
    @blp.arguments(AssignmentSchema)
    @blp.response(201, LicenseSchema)
    @blp.doc(responses={**PROBLEMS, "412": {"$ref": "#/components/responses/Problem"}})
    def post(self, body: dict, key: str):
        """Assign an unassigned license to a customer's email, for good (a license is never re-assigned); the
        customer is emailed the key. Send the license's ETag in If-Match to assign only what you read."""
        _nul_free(("customer_email", body["customer_email"]), ("customer_name", body["customer_name"]))
        org = active_organization()
        license_ = find(key)
        check_if_match(license_json(license_))
        chosen = services.licenses_by_keys(current_user, org, [license_.key])
        try:
            assignment = services.assign_licenses(services.licenses_to_assign(org, [license_.key], chosen),
                                                  body["customer_email"], current_actor(),
                                                  customer_name=body["customer_name"])
        except RuleError as error:
            db.session.rollback()
            raise refused(error.message, _ASSIGN_FIELDS.get(error.field, error.field)) from None
        assigned = db.session.scalars(select(License).where(License.id == assignment.licenses[0].id)
                                      .options(*_options()).execution_options(populate_existing=True)).one()
        response = resource_response(license_json(assigned), status=201)
        response.headers["Location"] = url_for("api_licenses.OneLicense", key=assigned.key)
        return response


modifications.register(blp, find, license_json, LicenseSchema, PROBLEMS)
