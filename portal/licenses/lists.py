"""The license lists' filters and sorts (portal/list_options.py): what each section of the reselling page, the
customers list and an end customer's entitlements can be narrowed and ordered by, matching what their rows show."""

from __future__ import annotations

from sqlalchemy import exists, literal_column, or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Membership, Organization, User
from portal.catalog.models import Edition, Product
from portal.db_types import utcnow
from portal.licenses import services
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import Activation, License
from portal.list_options import Choice, ListSpec, Range, Sort, Text

# Subqueries name their own aliases: a list's query may already join the product or the customer.
_product = aliased(Product)
_edition = aliased(Edition)
_customer = aliased(Organization)


def key_or_product(text: str):
    """The search box of a license list: the exact key when what was typed is one, else part of a key or of the
    product's name."""
    try:
        return License.key == normalize_key(text)
    except InvalidKey:
        named = select(_product.id).where(_product.name.icontains(text, autoescape=True))
        return or_(License.key.contains(text.upper(), autoescape=True), License.product_id.in_(named))


def _customer_named(text: str):
    # correlated by the license's customer (a primary-key read per license already narrowed by its owner), never a
    # search of every organization's name
    return exists().where(_customer.id == License.customer_id, _customer.name.icontains(text, autoescape=True))


def _user_email(column):
    """Rows whose organization (`column`) has a member whose email contains what was typed: correlated by the
    organization (its memberships through their index), never a search of every user's email."""
    def condition(text: str):
        return (exists().where(Membership.organization_id == column)
                .where(exists().where(User.id == Membership.user_id,
                                      User.email.icontains(text, autoescape=True))))
    return condition


def _ms_state(value: str):
    today = utcnow().date()
    return License.ms_expires_on >= today if value == "active" else License.ms_expires_on < today


def _activated(value: str):
    active = exists().where(Activation.license_id == License.id, Activation.deactivated_at.is_(None))
    return active if value == "yes" else ~active


def _auto_renew(value: str):
    return License.auto_renew.is_(value == "on")


def _product_named(text: str):
    return License.product_id.in_(select(_product.id).where(_product.name.icontains(text, autoescape=True)))


def _edition_named(text: str):
    return License.edition_id.in_(select(_edition.id).where(_edition.name.icontains(text, autoescape=True)))


# Typed, not chosen from a list: a catalog of hundreds of products would make every list's form heavy.
PRODUCT = Text("product", "Product", _product_named)
EDITION = Text("edition", "Edition", _edition_named)
QUANTITY = Range("quantity", "Quantity", License.quantity)
MS_UNTIL = Range("ms", "M&S until", License.ms_expires_on, values="date")
MS_STATE = Choice("ms_state", "M&S", lambda: (("active", "Active"), ("lapsed", "Lapsed")), _ms_state)
ACTIVATION = Choice("activation", "Activation", lambda: (("yes", "Active on an installation"),
                                                           ("no", "Not activated")), _activated)
AUTO_RENEW = Choice("auto_renew", "Automatic renewal", lambda: (("on", "Renews automatically"), ("off", "Off")),
                    _auto_renew)
ASSIGNED = Range("assigned", "Assigned", License.assigned_at, values="day")

_product_name = select(_product.name).where(_product.id == License.product_id).scalar_subquery()
_customer_name = select(_customer.name).where(_customer.id == License.customer_id).scalar_subquery()
_COMMON_SORTS = {"key": Sort("Key", (License.key,)), "product": Sort("Product", (_product_name,)),
                 "quantity": Sort("Quantity", (License.quantity,)),
                 "ms": Sort("M&S until", (License.ms_expires_on,))}

UNASSIGNED = ListSpec(
    prefix="unassigned", search=key_or_product, search_label="Find an unassigned license",
    filters=(PRODUCT, EDITION, QUANTITY, MS_UNTIL, MS_STATE, AUTO_RENEW),
    # the stock to assign, whose M&S ends first first (ix_license_unassigned_ms); by product and oldest first on
    # request
    sorts={**_COMMON_SORTS, "product": Sort("Product", (_product_name, License.created_at))},
    default_sort="ms", tie_breaker=License.id)

RESOLD = ListSpec(
    prefix="resold", search=lambda text: or_(key_or_product(text), _customer_named(text)),
    search_label="Find a resold license by key, product or customer",
    filters=(PRODUCT, EDITION, QUANTITY, Text("email", "Customer user's email", _user_email(License.customer_id)),
             ASSIGNED, MS_UNTIL, MS_STATE, ACTIVATION, AUTO_RENEW),
    sorts={**_COMMON_SORTS, "customer": Sort("Customer", (_customer_name,)),
           "assigned": Sort("Assigned", (License.assigned_at,))},
    default_sort="-assigned", tie_breaker=License.id)

PERSONAL = ListSpec(
    prefix="personal", search=key_or_product, search_label="Find a personal license",
    filters=(PRODUCT, EDITION, QUANTITY, MS_UNTIL, MS_STATE, ACTIVATION, AUTO_RENEW),
    sorts={**_COMMON_SORTS, "product": Sort("Product", (_product_name, License.key))},
    default_sort="ms", tie_breaker=License.id)  # whose M&S ends first first (ix_license_customer_ms)

ENTITLEMENTS = ListSpec(
    prefix="", search=key_or_product, search_label="Find a license by key or product",
    filters=(PRODUCT, EDITION, QUANTITY, MS_UNTIL, MS_STATE, ACTIVATION),
    sorts={**_COMMON_SORTS, "product": Sort("Product", (_product_name, License.key))},
    default_sort="product", tie_breaker=License.id)

# Rows of the customer lists are (Organization, number of licenses): the count sorts by its label.
_CUSTOMER_SORTS = {"name": Sort("Customer", (Organization.name,)),
                   "licenses": Sort("Licenses from you", (literal_column("licenses"),))}
_CUSTOMER_FILTERS = (Text("email", "User's email", _user_email(Organization.id)),)


def customer_name(text: str):
    return Organization.name.icontains(text, autoescape=True)


CUSTOMERS_SECTION = ListSpec(
    prefix="customers", search=customer_name, search_label="Find a customer", filters=_CUSTOMER_FILTERS,
    sorts=_CUSTOMER_SORTS, default_sort="name", tie_breaker=Organization.id)

CUSTOMERS = ListSpec(
    prefix="", search=customer_name, search_label="Find a customer", filters=_CUSTOMER_FILTERS,
    sorts=_CUSTOMER_SORTS, default_sort="name", tie_breaker=Organization.id)

SECTION_SPECS = {"unassigned": UNASSIGNED, "customers": CUSTOMERS_SECTION, "resold": RESOLD, "personal": PERSONAL}

# The queries of the reselling page's license sections, for their CSV downloads.
LICENSE_SECTIONS = {"unassigned": services.unassigned_licenses, "resold": services.resold_licenses,
                    "personal": services.personal_licenses}
