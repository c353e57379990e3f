"""Who is calling: the API key in `Authorization: Bearer <key>`, its organization and its creator.

A key acts in its organization as its creator, with the permissions the creator holds there at the time of the
request (so a creator who loses a role, or leaves, takes the key's power with them) and only within the key's
scopes. Views name the scope they need with `requires_scope`, as pages name a Permission.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from portal.api.problems import ApiProblem
from portal.api_keys.models import ApiKey, Scope
from portal.api_keys.services import SCOPE_PERMISSIONS, find_usable_key, record_use
from portal.authz import can
from portal.db_types import utcnow

UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="api"'}


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate() -> None:
    """before_request of the key-authenticated API: the key, its creator as the current user, its organization
    as the working one. A missing, unknown, revoked or expired key is a 401."""
    token = bearer_token()
    if token is None:
        raise ApiProblem("unauthenticated", "Send an API key in the Authorization header: "
                         "`Authorization: Bearer <key>`. Managers create keys at /account/api-keys.",
                         headers=UNAUTHENTICATED)
    now = utcnow()
    key = find_usable_key(token, now)
    if key is None or not key.created_by.is_active:
        raise ApiProblem("unauthenticated", "This API key is unknown, revoked or expired, or its creator's "
                         "account is closed.", headers=UNAUTHENTICATED)
    g.api_key = key
    g._login_user = key.created_by  # Flask-Login's current_user for this request: the services' `user`
    g.organization = key.organization
    record_use(key, request.remote_addr, now)


def current_key() -> ApiKey:
    return g.api_key


def requires_scope(scope: Scope) -> Callable:
    """View decorator: the key must carry `scope`, and its creator must hold the matching permission in the
    key's organization now. Documented on the operation (security requirement and description)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            key = current_key()
            if scope not in key.scope_set:
                raise ApiProblem("insufficient-scope", f"This operation needs an API key with the `{scope}` "
                                 "scope. Create a key with it at /account/api-keys.", required_scope=str(scope))
            if not can(key.created_by, SCOPE_PERMISSIONS[scope], key.organization):
                raise ApiProblem("forbidden", f"The user who created this key may no longer do this in "
                                 f"{key.organization.name} (`{scope}`).", required_scope=str(scope))
            return view(*args, **kwargs)

        wrapper.required_scope = scope  # read by the route x role test and the documentation
        doc = getattr(wrapper, "_apidoc", {})
        manual = dict(doc.get("manual_doc", {}))
        manual["security"] = [{"apiKey": [str(scope)]}]
        wrapper._apidoc = {**doc, "manual_doc": manual}
        return wrapper

    return decorator
