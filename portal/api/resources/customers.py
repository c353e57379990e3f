"""Customers: a reseller's customers as /customers shows them (its sub-chains and the accounts it resold to), one
customer by id, and a new customer created as /account/chains creates one (Scenario 1: a sub-chain with its
first user, who is emailed a sign-in link)."""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify, url_for
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.models import Organization, Role
from portal.accounts.services import create_sub_chain
from portal.api.auth import requires_scope
from portal.api.blueprints import key_blueprint
from portal.api.conditional import resource_response
from portal.api.pagination import Order, PageQuery, decode_cursor, encode_cursor, page_schema
from portal.api.problems import ApiProblem, not_found, refused
from portal.api_keys.models import Scope
from portal.authz import Permission, active_organization, can
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.services import customers as customers_query

blp = key_blueprint("api_customers", __name__, url_prefix="/customers",
                    description="Your customers: your sub-chains and the accounts you resold licenses to.")

_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _problems(*codes: str) -> dict:
    """The problems an operation may answer: those of every operation (a NUL anywhere, no key, scope, rate)
    and its own."""
    return {code: _PROBLEM for code in ("400", "401", "403", "429", *codes)}
ROLES = {"viewer": Role.VIEWER, "manager": Role.MANAGER}  # a sub-chain's first user, as on /account/chains
ORDER = Order(columns=(Organization.name, Organization.id), descending=False)


class CustomerSchema(ma.Schema):
    object = ma.fields.Constant("customer", required=True, metadata={"enum": ["customer"]})
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    legal_name = ma.fields.String(required=True)
    country = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)
    sub_chain = ma.fields.Boolean(required=True, metadata={
        "description": "A sub-chain of yours (Scenario 1) rather than another account you resold to."})
    licenses = ma.fields.Integer(required=True, metadata={"description": "How many of your licenses it holds."})
    created_at = ma.fields.DateTime(required=True)


class CustomerQuery(PageQuery):
    q = ma.fields.String(load_default="", validate=ma.validate.Length(max=200),
                         metadata={"description": "Customers whose name starts with this (case-insensitive)."})


class NewCustomerSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                            metadata={"description": "The customer's name (its sub-chain's name)."})
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254),
                            metadata={"description": "Its first user's email: they are emailed a sign-in link."})
    full_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    role = ma.fields.String(load_default="viewer", validate=ma.validate.OneOf(sorted(ROLES)),
                            metadata={"description": "The first user's role: viewer (read-only, the default) or "
                                                     "manager."})


CustomerPage = page_schema(CustomerSchema, "CustomerPage")


def customer_json(customer: Organization, licenses: int, reseller: Organization) -> dict:
    return {"object": "customer", "id": customer.id, "name": customer.name, "legal_name": customer.legal_name,
            "country": customer.country, "currency": customer.currency,
            "sub_chain": customer.parent_id == reseller.id, "licenses": int(licenses or 0),
            "created_at": customer.created_at.isoformat()}


def _reseller() -> Organization:
    org = active_organization()
    if not can(current_user, Permission.VIEW_CUSTOMERS, org):
        raise ApiProblem("forbidden", f"The user who created this key may not see the customers of {org.name}.")
    return org


def _has_text(value: str, field: str) -> str:
    if "\x00" in value:
        raise ApiProblem("validation-error", "Text may not contain NUL characters.", field=field)
    return value


@blp.route("")
@requires_scope(Scope.LICENSES_READ)
@blp.arguments(CustomerQuery, location="query")
@blp.response(200, CustomerPage)
@blp.doc(responses=_problems("422"))
def list_customers(query: dict):
    """Your customers by name, a page at a time; `q` keeps those whose name starts with it."""
    org = _reseller()
    stmt = customers_query(current_user, org)
    q = _has_text(query["q"].strip(), "q")
    if q:
        stmt = stmt.where(Organization.name.istartswith(q, autoescape=True))
    if query["cursor"]:
        stmt = stmt.where(ORDER.after(decode_cursor(query["cursor"], 2)))
    # the service already orders by (name, id), served by ix_organization_name: the keyset continues that order
    rows = db.session.execute(stmt.limit(query["limit"] + 1)).all()
    more, rows = len(rows) > query["limit"], rows[:query["limit"]]
    cursor = encode_cursor([rows[-1][0].name, rows[-1][0].id]) if more and rows else None
    return jsonify({"data": [customer_json(c, n, org) for c, n in rows], "has_more": cursor is not None,
                    "next_cursor": cursor})


def _customer_row(org: Organization, customer_id: int):
    return db.session.execute(customers_query(current_user, org).where(Organization.id == customer_id)).first()


@blp.route("/<int:customer_id>")
@requires_scope(Scope.LICENSES_READ)
@blp.response(200, CustomerSchema)
@blp.doc(responses=_problems("404"))
def get_customer(customer_id: int):
    """One of your customers (another's organization is a 404)."""
    org = _reseller()
    row = _customer_row(org, customer_id)
    if row is None:
        raise not_found("No customer of yours has this id.")
    return resource_response(customer_json(row[0], row[1], org))


_FIELDS = {"name": "name", "email": "email", "full_name": "full_name", "customer_name": "name"}


@blp.route("", methods=["POST"])
@requires_scope(Scope.LICENSES_WRITE)
@blp.arguments(NewCustomerSchema, location="json")
@blp.response(201, CustomerSchema, headers={"Location": {"schema": {"type": "string"}}})
@blp.doc(responses=_problems("409", "422"))
def create_customer(body: dict):
    """Create a customer: a sub-chain of yours with its first user, emailed a link to set a password (as
    /account/chains does). Needs a key whose creator manages sub-chains (a Chain & User Manager)."""
    org = active_organization()
    if not can(current_user, Permission.MANAGE_SUB_CHAINS, org):
        raise ApiProblem("forbidden", f"The user who created this key may not create customers (sub-chains) in "
                         f"{org.name}: only its Chain & User Managers may.")
    for field in ("name", "full_name", "email"):
        _has_text(body[field], field)
    if not body["name"].strip():
        raise ApiProblem("validation-error", "Give the customer a name.", field="name")
    if not body["full_name"].strip():
        raise ApiProblem("validation-error", "Give the first user's full name.", field="full_name")
    try:
        sub = create_sub_chain(org, body["name"], body["email"], body["full_name"].strip(), ROLES[body["role"]],
                               current_actor())
    except RuleError as error:
        raise refused(error.message, _FIELDS.get(error.field or "", error.field)) from None
    db.session.flush()
    response = resource_response(customer_json(sub, 0, org), status=201)
    response.headers["Location"] = url_for("api_customers.get_customer", customer_id=sub.id)
    return response
