"""The route x role table: who may use each endpoint. Every route of the app must be listed here.

The matrix test (test_route_access.py) reads app.url_map, so a new route that is not listed fails by name.
The cross-tenant test (test_cross_tenant.py) uses ID_PARAMS to find every route that takes an id.
"""

from __future__ import annotations

from portal.accounts.models import Contact, Membership, Organization
from portal.cart.models import CartItem
from portal.orders.models import Order
from portal.payments.models import PaymentMethod

PUBLIC = frozenset({"anonymous", "ops", "alice", "bob", "carol", "dave", "erin", "frank"})
SIGNED_IN = PUBLIC - {"anonymous"}
MEMBERS = SIGNED_IN - {"ops"}  # everyone with a membership somewhere
MANAGERS = frozenset({"alice", "dave", "frank"})  # Chain & User Managers of main chains
BUYERS = MANAGERS | {"bob"}  # managers and Master users of main chains (erin works in Fabrikam as installer)
# Routes that name an object follow the object's organization, not the one the user works in: erin, working in
# Fabrikam, still reaches her own Northwind cart items and Northwind's orders as a Master user there.
BUYERS_BY_ID = BUYERS | {"erin"}
STAFF = frozenset({"ops"})
NOBODY = frozenset()

# An entry is who may use the endpoint, or per HTTP method when GET and POST differ.
ACCESS: dict[str, frozenset[str] | dict[str, frozenset[str]]] = {
    "static": PUBLIC,
    "core.home": PUBLIC,
    "core.help_page": PUBLIC,
    "core.healthz": PUBLIC,
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.forgot_password": PUBLIC,
    "accounts.set_password": PUBLIC,
    "accounts.switch_organization": SIGNED_IN,
    "accounts.account": {"GET": MEMBERS, "POST": MANAGERS},
    "accounts.change_password": SIGNED_IN,
    "accounts.users": MANAGERS,
    "accounts.change_role": MANAGERS,
    "accounts.deactivate": MANAGERS,
    "accounts.remove_contact": MANAGERS,
    "accounts.chains": MANAGERS,
    "accounts.chain": MANAGERS,
    "accounts.partners": MANAGERS,
    "accounts.revoke_partner": MANAGERS,
    "accounts.audit": MANAGERS,
    "shop.index": PUBLIC,
    "shop.product": PUBLIC,
    "cart.show": BUYERS,
    "cart.add": BUYERS,
    "cart.update": BUYERS_BY_ID,
    "cart.remove": BUYERS_BY_ID,
    "orders.checkout": BUYERS,
    "orders.index": BUYERS,
    "orders.detail": BUYERS_BY_ID,
    "payments.index": MANAGERS,
    "payments.make_default": MANAGERS,
    "payments.remove": MANAGERS,
    # --- licenses, customers and the activation API (issue 4)
    # --- invoices (issue 5)
    "admin.audit": STAFF,
    "admin.mail": STAFF,
    "admin.mail_message": STAFF,
    "admin.catalog": STAFF,
    "admin.tier_discounts": STAFF,
    "admin.new_product": STAFF,
    "admin.product": STAFF,
    "admin.add_edition": STAFF,
    "admin.update_edition": STAFF,
    "admin.add_addon": STAFF,
    "admin.update_addon": STAFF,
    "admin.organizations": STAFF,
    "admin.organization": STAFF,
}

# Route parameters that name a tenant's object: the model, and the attribute the URL carries.
ID_PARAMS: dict[str, tuple[type, str]] = {
    "membership_id": (Membership, "id"),
    "contact_id": (Contact, "id"),
    "org_id": (Organization, "id"),
    "item_id": (CartItem, "id"),
    "method_id": (PaymentMethod, "id"),
    "number": (Order, "number"),
}
# Route parameters that are not tenant ids, with a sample value for the matrix (secrets, file names, catalog ids
# that only staff can use: the view checks these itself).
OTHER_PARAMS: dict[str, object] = {
    "filename": "css/portal.css",
    "token": "not-a-real-token",
    "name": "00000001.eml",
    "slug": "mailsuite",
    "product_id": 1,
    "edition_id": 1,
    "addon_id": 1,
}


def staff_only(endpoint: str) -> bool:
    """Staff pages see every tenant by design; the cross-tenant test leaves them to the matrix."""
    entry = ACCESS[endpoint]
    sets = entry.values() if isinstance(entry, dict) else [entry]
    return all(users <= STAFF for users in sets)


def allowed_users(endpoint: str, method: str) -> frozenset[str]:
    entry = ACCESS[endpoint]
    return entry[method] if isinstance(entry, dict) else entry
