"""The route x role table: who may use each endpoint. Every route of the app must be listed here.

The matrix test (test_route_access.py) reads app.url_map, so a new route that is not listed fails by name.
The cross-tenant test (test_cross_tenant.py) uses ID_PARAMS to find every route that takes an id.
"""

from __future__ import annotations

from portal.accounts.models import Contact, Membership, Organization

PUBLIC = frozenset({"anonymous", "ops", "alice", "bob", "carol", "dave", "erin", "frank"})
SIGNED_IN = PUBLIC - {"anonymous"}
MEMBERS = SIGNED_IN - {"ops"}  # everyone with a membership somewhere
MANAGERS = frozenset({"alice", "dave", "frank"})  # Chain & User Managers of main chains
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
    "admin.audit": STAFF,
    "admin.mail": STAFF,
    "admin.mail_message": STAFF,
}

# Route parameters that name a tenant's object, and the model they name.
ID_PARAMS: dict[str, type] = {
    "membership_id": Membership,
    "contact_id": Contact,
    "org_id": Organization,
}
# Route parameters that are not tenant ids, with a sample value for the matrix (secrets, file names, catalog ids
# that only staff can use: the view checks these itself).
OTHER_PARAMS: dict[str, object] = {
    "filename": "css/portal.css",
    "token": "not-a-real-token",
    "name": "00000001.eml",
}


def staff_only(endpoint: str) -> bool:
    """Staff pages see every tenant by design; the cross-tenant test leaves them to the matrix."""
    entry = ACCESS[endpoint]
    sets = entry.values() if isinstance(entry, dict) else [entry]
    return all(users <= STAFF for users in sets)


def allowed_users(endpoint: str, method: str) -> frozenset[str]:
    entry = ACCESS[endpoint]
    return entry[method] if isinstance(entry, dict) else entry
