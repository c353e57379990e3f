"""The route x role matrix: every route of the app, requested by every demo user and by an anonymous visitor.

A user outside ACCESS for an endpoint gets 403 or 404 (anonymous: a redirect to sign in); a user inside gets
the page or the form's answer. The targets of routes that take an id are objects in the user's own organization,
so that a refusal here is the role's and not the tenancy's (tenancy is test_cross_tenant.py's job).
"""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from portal.accounts.models import Membership, Organization, Role, User
from portal.audit.services import Actor
from portal.catalog.models import Product, SubscriptionBasis
from portal.extensions import db
from portal.hardware.models import ReturnRequest
from portal.payments.processor import IntentState
from portal.reseller_fees.models import ResellerFeeOverride
from portal.sandbox_processor.models import SandboxIntent
from portal.signin.sessions import start_session
from portal.storefronts import branding
from portal.storefronts.models import Storefront
from portal.subscriptions.models import Subscription
from tests.access import ACCESS, ID_PARAMS, OTHER_PARAMS, PUBLIC, SIGNED_IN, allowed_users, key_authenticated
from tests.factories import (
    DEMO_EMAILS,
    make_activation,
    make_api_key,
    make_cart_item,
    make_contact,
    make_delivered_unit,
    make_device,
    make_invoice,
    make_license,
    make_location,
    make_member,
    make_order,
    make_org,
    make_partner_grant,
    make_payment_method,
    make_png,
    make_price_rule,
    make_receipt,
    make_shipment,
    make_storefront_invoice,
    make_subscription,
    make_transfer,
)
from tests.webhooks.helpers import make_delivery, make_endpoint

USERS = sorted(PUBLIC)
HOME_ORG = {  # the organization each user's requests aim at
    "anonymous": "Northwind IT", "ops": "Northwind IT", "alice": "Northwind IT", "bob": "Northwind IT",
    "carol": "Contoso Retail", "dave": "Fabrikam Stores", "erin": "Northwind IT", "frank": "Litware Solutions",
}
DENIED = {403, 404}
SIGN_OUTS = {"accounts.logout", "storefront_sales.logout"}  # a client signed out by these signs in again
# Endpoints that need a target of their own (an item to remove before another is edited; a partner grant on the
# side the action belongs to: the customer approves, declines and revokes; the partner withdraws and assigns).
DESTRUCTIVE_TARGETS = {"partners.approve": "customer_grant_id", "partners.decline": "customer_grant_id",
                       "partners.revoke": "customer_grant_id", "partners.withdraw": "partner_grant_id",
                       "partners.assign": "partner_grant_id", "partners.unassign": "partner_grant_id",
                       "cart.remove": "removable_item_id",
                       # Northwind's invoice to its customer Contoso (a vendor invoice is not the reseller's)
                       "storefronts.invoice_pdf": "storefront_invoice_number",
                       "storefront_sales.customer_invoice_pdf": "storefront_invoice_number",
                       # the storefront's cart lines and orders are the customer's own at that storefront
                       "storefront_sales.update": "storefront_item_id",
                       "storefront_sales.remove": "removable_storefront_item_id",
                       "storefront_sales.order": "storefront_order_number",
                       "devices.remove_device": "removable_device_id",
                       "devices.remove_location": "removable_location_id",
                       "webhooks.delete": "removable_endpoint_id"}


def _routes(app):
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))
    for rule in rules:
        if key_authenticated(app, rule.endpoint):
            continue  # an API key, not a session, is the credential: tests/api/test_operation_access.py
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_is_in_the_access_table(app):
    """A new route must say who may use it: add it to tests/access.py."""
    missing = sorted({rule.endpoint for rule, _ in _routes(app)} - ACCESS.keys())
    assert not missing, f"routes missing from tests/access.py ACCESS: {missing}"
    stale = sorted(ACCESS.keys() - {rule.endpoint for rule, _ in _routes(app)})
    assert not stale, f"ACCESS lists endpoints that no longer exist: {stale}"


@pytest.fixture
def targets(app, demo):
    """Per organization: another user's membership, a contact, an installer and a sub-chain to aim at."""
    with app.app_context():
        orgs = {o.name: o for o in db.session.scalars(select(Organization))}
        orgs_by_id = {o.id: o for o in orgs.values()}
        per_org = {}
        for name, org in orgs.items():
            other = make_member(org, Role.MEMBER if org.is_main_chain else Role.VIEWER)
            installer = db.session.scalars(
                select(Membership).where(Membership.organization_id == org.id, Membership.role == Role.INSTALLER)
            ).first() or make_member(org, Role.INSTALLER)
            sub = org if not org.is_main_chain else (
                next((s for s in orgs.values() if s.parent_id == org.id), None) or make_org(f"{name} East", org))
            license_ = (make_license(org) if org.is_main_chain else
                        make_license(db.session.get(Organization, org.parent_id), customer=org))
            per_org[name] = {"membership_id": other.id, "contact_id": make_contact(org).id,
                             "installer_id": installer.id, "org_id": sub.id,
                             "customer_id": sub.id,  # its sub-chain, a customer of the main chain (issue 17)
                             "method_id": make_payment_method(org).id,
                             "number": make_order(org, other.user).number,
                             "invoice_number": make_invoice(org).number,
                             "receipt_number": make_receipt(org).number,
                             # a license the organization bought, or (a sub-chain) was assigned by its reseller
                             "key": license_.key,
                             "activation": make_activation(license_).id,  # that license, installed somewhere
                             # a request to transfer that sub-chain, made by its main chain
                             "transfer_id": make_transfer(db.session.get(Organization, sub.parent_id), sub).id}
        for name, org in orgs.items():  # requests to and from each main chain (a sub-chain aims at its parent's)
            main = org if org.is_main_chain else db.session.get(Organization, org.parent_id)
            per_org[name].update(customer_grant_id=make_partner_grant(main, make_org()).id,
                                 partner_grant_id=make_partner_grant(make_org(), main).id)
        main_plans: dict[int, int] = {}
        for name, org in orgs.items():  # a plan of its main chain (one per main chain) to change
            main = org if org.is_main_chain else orgs_by_id[org.parent_id]
            if main.id not in main_plans:
                main_plans[main.id] = db.session.scalar(select(Subscription.id).join(Subscription.product).where(
                    Subscription.organization_id == main.id, Product.basis != SubscriptionBasis.RESELLER).limit(1)
                ) or make_subscription(main, quantity=2).id  # a device or location plan (not a reseller plan)
            per_org[name]["subscription_id"] = main_plans[main.id]
        for name, org in orgs.items():  # a location with a device to aim at, and a device and a location to remove
            location = make_location(org)
            per_org[name].update(location_id=location.id, device_id=make_device(location).id,
                                 removable_device_id=make_device(location).id,
                                 removable_location_id=make_location(org).id,
                                 unit_id=make_delivered_unit(location).id)
        requester = db.session.scalars(select(User).order_by(User.id)).first()
        for name, org in orgs.items():  # a shipment awaiting shipment, and a return request of its device
            requested = ReturnRequest(device_id=per_org[name]["device_id"], organization_id=org.id,
                                      requested_by_id=requester.id, reason="It no longer counts people")
            db.session.add(requested)
            db.session.flush()
            per_org[name].update(shipment_id=make_shipment(make_location(org), quantity=1).id, return_id=requested.id)
        for name, org in orgs.items():  # an API key acting for it (a sub-chain's is made by its main chain's manager)
            per_org[name]["key_id"] = make_api_key(org).id
        endpoints: dict[int, tuple[int, int]] = {}
        for name, org in orgs.items():  # webhook endpoints of its main chain: one to open, one to delete
            main = org if org.is_main_chain else orgs_by_id[org.parent_id]
            if main.id not in endpoints:
                endpoint = make_endpoint(main)
                make_delivery(endpoint)
                endpoints[main.id] = (endpoint.id, make_endpoint(main).id)
            per_org[name]["endpoint_id"], per_org[name]["removable_endpoint_id"] = endpoints[main.id]
        plans: dict[int, int] = {}  # a plan of each organization aimed at by org_id (staff's plan corrections)
        for target in per_org.values():
            if target["org_id"] not in plans:
                plans[target["org_id"]] = make_subscription(db.session.get(Organization, target["org_id"])).id
            target["plan_id"] = plans[target["org_id"]]
        # Northwind's invoice to its storefront customer Contoso, which its sellers and that customer may open
        northwind_shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        storefront_invoice = make_storefront_invoice(northwind_shop, orgs["Contoso Retail"]).number
        for target in per_org.values():
            target["storefront_invoice_number"] = storefront_invoice
        # Northwind's storefront (the demo's): its logo to serve, and a price rule every user aims at (only
        # Northwind's managers have a storefront whose rules they may remove)
        shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        branding.set_logo(shop, make_png(), Actor.system())
        rule_id = make_price_rule(shop, slug="webstats").id
        for target in per_org.values():
            target["rule_id"] = rule_id
        # Staff's fee for one reseller (Northwind) on the demo's product 1: the override the remove route aims at
        if db.session.get(ResellerFeeOverride, OTHER_PARAMS["fee_override_id"]) is None:
            override = ResellerFeeOverride(product_id=OTHER_PARAMS["product_id"], reseller_id=orgs["Northwind IT"].id,
                                           fee_minor=150)
            db.session.add(override)
            db.session.flush()
            assert override.id == OTHER_PARAMS["fee_override_id"]
        # A sandbox processor's payment intent for its hosted pages (the processor's own row, with a known id)
        if db.session.get(SandboxIntent, OTHER_PARAMS["intent_id"]) is None:
            db.session.add(SandboxIntent(id=OTHER_PARAMS["intent_id"], kind="payment", amount_minor=1000,
                                         state=IntentState.REQUIRES_PAYMENT_METHOD, currency="USD",
                                         client_secret="pi_sandbox_route_matrix_secret", metadata_={}))
        # Each user's own cart item, in the organization they work in.
        users = {u.email: u for u in db.session.scalars(select(User))}
        for name, email in DEMO_EMAILS.items():
            org = orgs[HOME_ORG[name]]
            per_org[f"user:{name}"] = {"item_id": make_cart_item(org, users[email]).id,
                                       "removable_item_id": make_cart_item(org, users[email]).id,
                                       # another browser of theirs, to sign out from the security page
                                       "session_id": start_session(users[email], "192.0.2.7", "Firefox/130").id,
                                       **_storefront_targets(org, users[email])}
        db.session.commit()
        return per_org


def _storefront_targets(org: Organization, user: User) -> dict:
    """A user's lines in Northwind's storefront cart and a storefront order, in the organization they work in."""
    storefront = db.session.scalars(select(Storefront).where(Storefront.alias == OTHER_PARAMS["alias"])).one()
    lines = [make_cart_item(org, user), make_cart_item(org, user)]
    for line in lines:
        line.storefront_id = storefront.id
    order = make_order(org, user, seller=db.session.get(Organization, storefront.organization_id))
    return {"storefront_item_id": lines[0].id, "removable_storefront_item_id": lines[1].id,
            "storefront_order_number": order.number}


def _url(app, rule, user: str, targets) -> str:
    target = {**targets[HOME_ORG[user]], **targets.get(f"user:{user}", {})}
    if user == "anonymous":  # aims at someone's items
        target.update(targets["user:alice"])
    values = {}
    for arg in rule.arguments:
        if arg in ID_PARAMS:
            key = DESTRUCTIVE_TARGETS.get(rule.endpoint, arg)
            values[arg] = target[key]
        elif arg in OTHER_PARAMS:
            values[arg] = OTHER_PARAMS[arg]
        elif key_authenticated(app, rule.endpoint):  # the API's own samples are tests/api/access.py's
            values[arg] = 1
        else:
            raise AssertionError(f"{rule.endpoint}: parameter {arg!r} is neither in ID_PARAMS nor OTHER_PARAMS")
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def _client(app, login, user: str):
    return app.test_client() if user == "anonymous" else login(user)


@pytest.mark.parametrize("user", USERS)
def test_route_access_matrix(app, login, targets, user):
    """Each user reaches exactly the routes ACCESS gives them, for every method of every route."""
    client = _client(app, login, user)
    token = client.csrf_token()  # every route is tried, most through no form: with the token, authorization decides
    problems = []
    for rule, method in _routes(app):
        allowed = user in allowed_users(rule.endpoint, method)
        url = _url(app, rule, user, targets)
        if method == "GET":
            response = client.get(url)
        elif method == "DELETE":  # the activation API
            response = client.delete(url)
        else:
            response = client.post(url, data={"csrf_token": token})
        status = response.status_code
        # A streamed download (a CSV) holds its request's context until its body is read or closed: close it, as
        # a browser's connection would end it, so that it cannot tear down the next request's database session.
        response.close()
        if user == "anonymous" and not allowed:
            ok = status == 302 and "/login" in response.headers["Location"]
        elif allowed:
            # Allowed: the page, a redirect after the action, or the form's answer.
            ok = status not in DENIED | {401, 405, 500}
            if rule.endpoint == "admin.mail_message":
                ok = status == 404  # the suite mails over SMTP: there is no mail folder to read a file from
        else:
            ok = status in DENIED
        if not ok:
            problems.append(f"{method} {url} ({rule.endpoint}) -> {status}, allowed={allowed}")
        if rule.endpoint in SIGN_OUTS and method == "POST":  # the session (and its token) ended
            if user != "anonymous":
                client = _client(app, login, user)  # signed out by the request above; sign in again
            token = client.csrf_token()
    assert not problems, f"{user}:\n  " + "\n  ".join(problems)


LEFT = "erin, after leaving Northwind"


def test_route_access_matrix_for_a_partner_user_who_has_left(app, login, targets, demo):
    """erin exercised Northwind's grant on Fabrikam; once her Northwind membership ends (her session left as it
    was, so that authorization alone decides), she reaches only what any signed-in user does: every route aimed
    at Fabrikam's objects, and at her own Northwind ones, is refused."""
    client = login("erin")
    with app.app_context():
        db.session.get(Membership, demo.memberships[("erin", "Northwind IT")]).active = False
        db.session.commit()
    HOME_ORG[LEFT] = "Fabrikam Stores"
    aimed = {**targets, f"user:{LEFT}": targets["user:erin"]}
    problems, refused = [], 0
    token = client.csrf_token()
    try:
        for rule, method in _routes(app):
            allowed = allowed_users(rule.endpoint, method) >= SIGNED_IN  # open to anyone signed in
            url = _url(app, rule, LEFT, aimed)
            if method == "GET":
                response = client.get(url)
            elif method == "DELETE":
                response = client.delete(url)
            else:
                response = client.post(url, data={"csrf_token": token})
            status = response.status_code
            response.close()  # a streamed download's context ends here (see test_route_access_matrix)
            ok = status not in DENIED | {401, 405, 500} if allowed else status in DENIED
            refused += not allowed
            if not ok:
                problems.append(f"{method} {url} ({rule.endpoint}) -> {status}, allowed={allowed}")
            if rule.endpoint in SIGN_OUTS and method == "POST":
                client = login("erin")
                token = client.csrf_token()
    finally:
        del HOME_ORG[LEFT]
    assert refused > 20
    assert not problems, f"{LEFT}:\n  " + "\n  ".join(problems)
