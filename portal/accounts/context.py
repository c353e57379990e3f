"""Per-request context: the signed-in user (Flask-Login) and the organization they are working in."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, has_request_context, request, session
from flask_login import current_user

from portal.accounts.models import Organization
from portal.audit.services import Actor
from portal.authz import Permission, navigation_permissions, partner_access
from portal.cart.services import cart_count
from portal.extensions import login_manager
from portal.signin.sessions import load_user

ORG_SESSION_KEY = "org_id"
# False on g when the page rendered wears a header of its own (a storefront's), not the portal's: its template
# context then skips the navigation, the organization switch and the cart count, which nothing there shows.
PORTAL_CHROME = "portal_chrome"


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    permission: Permission


# The navigation, in order; each role sees the items its permissions allow (authz decides, not the template).
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("accounts.account", "Account", Permission.VIEW_ACCOUNT),
    NavItem("licenses.index", "Licenses", Permission.VIEW_LICENSES),
    NavItem("renewals.index", "Renewals", Permission.BUY),
    NavItem("licenses.activations", "Activations", Permission.ACTIVATE),
    NavItem("licenses.customers", "Customers", Permission.VIEW_CUSTOMERS),
    NavItem("devices.locations", "Locations", Permission.VIEW_DEVICES),
    NavItem("devices.devices", "Devices", Permission.VIEW_DEVICES),
    NavItem("hardware.shipments", "Shipments", Permission.VIEW_DEVICES),
    NavItem("shop.index", "Shop", Permission.BUY),
    NavItem("orders.index", "Orders", Permission.VIEW_ORDERS),
    NavItem("invoices.index", "Invoices", Permission.VIEW_INVOICES),
    NavItem("receipts.index", "Payments", Permission.VIEW_INVOICES),
    NavItem("subscriptions.index", "Manage Subscriptions", Permission.MANAGE_SUBSCRIPTIONS),
    NavItem("reseller_plans.plan", "Reseller plan", Permission.MANAGE_STOREFRONT),
    NavItem("payments.index", "Payment methods", Permission.MANAGE_PAYMENT_METHODS),
    NavItem("accounts.users", "Users", Permission.MANAGE_USERS),
    NavItem("accounts.chains", "Sub-chains", Permission.MANAGE_SUB_CHAINS),
    NavItem("transfers.index", "Transfers", Permission.MANAGE_SUB_CHAINS),
    NavItem("partners.index", "Installation partners", Permission.MANAGE_PARTNERS),
    NavItem("accounts.audit", "Activity", Permission.VIEW_AUDIT),
    NavItem("api_keys.index", "API keys", Permission.MANAGE_API),
    NavItem("webhooks.index", "Webhooks", Permission.MANAGE_API),
    NavItem("admin.catalog", "Catalog", Permission.STAFF),
    NavItem("admin.organizations", "Organizations", Permission.STAFF),
    NavItem("admin.invoices", "Invoices", Permission.STAFF),
    NavItem("admin.settings", "Seller settings", Permission.STAFF),
    NavItem("admin.transfers", "Transfers", Permission.STAFF),
    NavItem("hardware.admin_shipments", "Shipments", Permission.STAFF),
    NavItem("admin.audit", "Audit log", Permission.STAFF),
    NavItem("admin.mail", "Sent mail", Permission.STAFF),
    NavItem("admin.notifications", "Notifications", Permission.STAFF),
)


def current_actor() -> Actor:
    """The acting user and client IP of this request, for services and the audit log."""
    user_id = current_user.id if current_user.is_authenticated else None
    api_key = g.get("api_key")
    return Actor(user_id=user_id, ip=request.remote_addr, api_key_id=api_key.id if api_key else None)


def working_organizations(user) -> list[Organization]:
    """The organizations the user can switch between: those of their active memberships, and the customers they
    support through a partner grant in force."""
    orgs = {m.organization.id: m.organization for m in user.memberships if m.active}
    orgs.update({org_id: org for org_id, (org, _) in partner_access(user).items()})
    return sorted(orgs.values(), key=lambda o: (o.parent_id is not None, o.name.lower()))


def choose_organization(org_id: int) -> bool:
    """Make `org_id` the working organization if it is one of the user's; report whether it was."""
    if any(o.id == org_id for o in working_organizations(current_user)):
        session[ORG_SESSION_KEY] = org_id
        return True
    return False


def _load_working_organization() -> None:
    g.organization = None
    if not current_user.is_authenticated:
        return
    orgs = working_organizations(current_user)
    chosen = session.get(ORG_SESSION_KEY)
    g.organization = next((o for o in orgs if o.id == chosen), orgs[0] if orgs else None)
    if g.organization is not None and g.organization.id != chosen:
        # Kept in the session: access to another organization gained meanwhile (a partner grant, say, whose
        # customer sorts first) must not move the user out of the organization they are working in.
        session[ORG_SESSION_KEY] = g.organization.id


def _template_context() -> dict:
    if not has_request_context() or not current_user.is_authenticated:  # emails render outside requests
        return {"navigation": (), "organization": None, "organizations": ()}
    org = g.get("organization")
    if not g.get(PORTAL_CHROME, True):
        return {"navigation": (), "organization": org, "organizations": (), "granted": frozenset(),
                "cart_count": None, "Permission": Permission}
    granted = navigation_permissions(current_user, org)
    return {
        "navigation": [item for item in NAVIGATION if item.permission in granted],
        "organization": org,
        "organizations": working_organizations(current_user),
        "granted": granted,
        "cart_count": cart_count(current_user, org) if Permission.BUY in granted else None,
        "Permission": Permission,
    }


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to open that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.before_request(_load_working_organization)
    app.context_processor(_template_context)
