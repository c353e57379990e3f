"""Cross-tenant: on every route that takes an id, every user tries the ids of objects they have no access to.

Each attempt must answer 404 (never 403, which would confirm the object exists) and change nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Contact, Membership, Organization, Role, User
from portal.api_keys.models import ApiKey
from portal.billing.models import Invoice
from portal.cart.models import CartItem
from portal.catalog.models import Product, SubscriptionBasis
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.hardware.models import ShipmentUnit
from portal.licenses.models import Activation, License
from portal.outbox.models import OutboxMessage
from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant
from portal.receipts.models import Receipt
from portal.signin.models import UserSession
from portal.signin.sessions import start_session
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.subscriptions.models import Subscription
from portal.transfers.models import TransferRequest
from portal.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.access import ID_PARAMS, KEY_AUTHENTICATED, OTHER_PARAMS, PUBLIC, key_authenticated, staff_only
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
    make_receipt,
    make_storefront_invoice,
    make_subscription,
    make_transfer,
)
from tests.webhooks.helpers import make_delivery, make_endpoint

USERS = sorted(PUBLIC - {"anonymous"})


@pytest.fixture
def world(app, demo):
    """The demo plus, in every organization, a member, an installer, a contact, and a sub-chain per main chain."""
    with app.app_context():
        orgs = list(db.session.scalars(select(Organization)))
        for org in orgs:
            viewer = make_member(org, Role.VIEWER).user
            make_member(org, Role.INSTALLER)
            make_contact(org)
            make_cart_item(org, viewer)
            make_payment_method(org)
            make_order(org, viewer)
            make_invoice(org)  # an order invoice and a summary invoice: their pages and PDFs are tried
            make_invoice(org, summary=True)
            make_receipt(org)  # a paid invoice and its receipt: its page and PDF are tried
            location = make_location(org)
            make_device(location, added_by=viewer)  # a location with a device in every organization
            make_delivered_unit(location)  # and a unit delivered there, not installed yet
            if org.is_main_chain:
                # a partner grant it holds (active, with one of its users assigned) and one it was asked for
                make_partner_grant(make_org(), org, state=GrantState.ACTIVE, assign=[viewer])
                make_partner_grant(org, make_org())
                branch = make_org(f"{org.name} Branch", parent=org)
                make_license(org)  # unassigned, resold to its branch, and personal
                make_activation(make_license(org, customer=branch))
                make_activation(make_license(org, customer=org))
                make_transfer(org, branch)
                make_api_key(org)  # API keys: the chain's, and one limited to its branch
                make_api_key(branch)
                make_delivery(make_endpoint(org))  # a webhook endpoint, with a delivery to resend
                if not db.session.scalar(select(Subscription.id).join(Subscription.product).where(
                        Subscription.organization_id == org.id, Product.basis != SubscriptionBasis.RESELLER)):
                    make_subscription(org, quantity=2)  # a plan to change (issue 13)
        # Northwind's invoice to its storefront customer Contoso (issue 14): only theirs to open
        northwind_shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).first()
        if northwind_shop is not None:
            contoso = next(org for org in orgs if org.name == "Contoso Retail")
            make_storefront_invoice(northwind_shop, contoso)
        for user in db.session.scalars(select(User)):  # everyone signed in on another device too
            start_session(user, "192.0.2.9", "Chrome/120 (Windows NT 10.0)")
        db.session.commit()


def _owner_org_ids(obj) -> set[int]:
    """The organizations an object belongs to: a license to its owner (the buyer) and to its customer."""
    if isinstance(obj, Organization):
        return {obj.id}
    if isinstance(obj, License):
        return {obj.owner_id} | ({obj.customer_id} if obj.customer_id else set())
    if isinstance(obj, Activation):  # installed under its license: the owner's and the customer's
        return _owner_org_ids(obj.license)
    if isinstance(obj, TransferRequest):  # the reseller's request: its sub-chain's users do not see it
        return {obj.requester_id}
    if isinstance(obj, PartnerGrant):  # the customer's and the partner's
        return {obj.customer_id, obj.partner_id} - {None}
    if isinstance(obj, StorefrontPrice):  # a storefront's price rule is its reseller's, never its customer's
        return {db.session.get(Storefront, obj.storefront_id).organization_id}
    if isinstance(obj, ShipmentUnit):  # its shipment's: the organization of the location it was delivered to
        return {obj.shipment.organization_id}
    return {obj.organization_id}


_LOAD = {Activation: (joinedload(Activation.license),),  # lazy loads are errors in tests
         ShipmentUnit: (joinedload(ShipmentUnit.shipment),)}


def _covered_org_ids(email: str) -> set[int]:
    """Organizations a user's memberships reach (DOMAIN §2: the organization and its sub-chains), restated here
    independently of portal/authz.py."""
    member_of = set(db.session.scalars(
        select(Membership.organization_id).join(Membership.user)
        .where(Membership.active.is_(True)).where(Membership.user.has(email=email))
    ))
    # Customers reached through a partner grant in force, assigned to the user, of a partner they still belong to.
    member_of |= set(db.session.scalars(
        select(PartnerGrant.customer_id).join(PartnerAssignment, PartnerAssignment.grant_id == PartnerGrant.id)
        .where(PartnerAssignment.user.has(email=email), PartnerGrant.state == GrantState.ACTIVE,
               PartnerGrant.expires_on > date.today(), PartnerGrant.partner_id.in_(member_of))))
    children = set(db.session.scalars(select(Organization.id).where(Organization.parent_id.in_(member_of))))
    return member_of | children


def _foreign_ids(email: str) -> dict[str, list]:
    """Per id parameter, the values naming objects outside the user's organizations."""
    covered = _covered_org_ids(email)
    foreign = {param: [getattr(obj, attr) for obj in db.session.scalars(select(model).options(*_LOAD.get(model, ())))
                       if not _owner_org_ids(obj) & covered]
               for param, (model, attr) in ID_PARAMS.items() if model is not UserSession}
    # A sign-in session is its user's alone: every other user's is foreign, whatever organizations they share.
    foreign["session_id"] = list(db.session.scalars(
        select(UserSession.id).join(User, User.id == UserSession.user_id).where(User.email != email)))
    return foreign


def _id_routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if key_authenticated(app, rule.endpoint):
            continue  # an API key is the credential: tests/api/test_api_cross_tenant.py
        id_args = [a for a in rule.arguments if a in ID_PARAMS]
        unknown = set(rule.arguments) - ID_PARAMS.keys() - OTHER_PARAMS.keys()
        assert not unknown, f"{rule.endpoint}: add {sorted(unknown)} to ID_PARAMS or OTHER_PARAMS in tests/access.py"
        if id_args:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method, id_args


def _snapshot() -> tuple:
    return (
        sorted((m.id, m.role.value, m.active) for m in db.session.scalars(select(Membership))),
        sorted(c.id for c in db.session.scalars(select(Contact))),
        sorted((o.id, o.name, o.parent_id) for o in db.session.scalars(select(Organization))),
        sorted((i.number, i.status.value, i.pdf_path) for i in db.session.scalars(select(Invoice))),
        sorted((r.number, r.pdf_path) for r in db.session.scalars(select(Receipt))),
        db.session.scalar(select(func.count()).select_from(OutboxMessage)),
        sorted((lic.key, lic.customer_id, lic.auto_renew) for lic in db.session.scalars(select(License))),
        sorted((loc.id, loc.name, loc.address) for loc in db.session.scalars(select(Location))),
        sorted((d.id, d.name, d.location_id, d.organization_id, d.counts) for d in db.session.scalars(select(Device))),
        sorted((u.id, u.device_id) for u in db.session.scalars(select(ShipmentUnit))),
        sorted((a.id, a.deactivated_at) for a in db.session.scalars(select(Activation))),
        sorted((s.id, s.ended_at) for s in db.session.scalars(select(UserSession))),
        sorted((g.id, g.state.value) for g in db.session.scalars(select(PartnerGrant))),
        sorted((k.id, k.revoked_at) for k in db.session.scalars(select(ApiKey))),
        sorted((e.id, e.disabled_at) for e in db.session.scalars(select(WebhookEndpoint))),
        sorted((d.id, d.status.value, d.next_attempt_at) for d in db.session.scalars(select(WebhookDelivery))),
        sorted((a.grant_id, a.user_id) for a in db.session.scalars(select(PartnerAssignment))),
        sorted((s.id, s.quantity, s.scheduled_quantity, s.scheduled_product_id, s.ended_on)
               for s in db.session.scalars(select(Subscription))),
        db.session.scalar(select(func.count()).select_from(CartItem)),
        sorted((r.id, r.markup_bp, r.special_minor) for r in db.session.scalars(select(StorefrontPrice))),
        sorted((f.id, f.default_markup_bp, f.display_name, f.logo_path)
               for f in db.session.scalars(select(Storefront))),
    )


def test_id_routes_exist(app):
    """The cross-tenant test has something to try (and would notice if id routes vanished)."""
    assert len(list(_id_routes(app))) >= 10


@pytest.mark.parametrize("user", USERS)
def test_other_tenants_objects_answer_404(app, login, world, user):
    """No route shows or changes another tenant's object; each answer is a 404 and the data is unchanged."""
    client = login(user)
    with app.app_context():
        foreign = _foreign_ids(DEMO_EMAILS[user])
        before = _snapshot()
    problems, tried = [], 0
    token = client.csrf_token()  # requests no page of theirs makes: forged, so only authorization refuses them
    for rule, method, id_args in _id_routes(app):
        if user == "ops" and staff_only(rule.endpoint):
            continue  # staff pages span every tenant on purpose
        if rule.endpoint in KEY_AUTHENTICATED:
            continue  # a license key is the credential there, not the session (tests/api/test_activations.py)
        for arg in id_args:
            missing = "ORD-NONE" if ID_PARAMS[arg][1] == "number" else 999_999
            for object_id in [*foreign[arg], missing]:
                values = {**{a: OTHER_PARAMS[a] for a in rule.arguments if a in OTHER_PARAMS},
                          **{a: object_id for a in id_args}}
                with app.test_request_context():
                    url = url_for(rule.endpoint, **values)
                data = {"role": Role.MANAGER.value, "full_name": "Mallory", "email": "mallory@example.com",
                        "csrf_token": token}
                response = client.get(url) if method == "GET" else client.post(url, data=data)
                tried += 1
                if response.status_code != 404:
                    problems.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}")
    with app.app_context():
        assert _snapshot() == before, "a cross-tenant request changed data"
    assert tried > 0
    assert not problems, f"{user} reached objects of other tenants:\n  " + "\n  ".join(problems)


def test_staff_correct_a_plan_only_under_its_own_organizations_id(app, login, demo):
    """Staff pages span every tenant, but a plan is corrected under its own organization's id only: another
    organization's plan there is a 404 (as for anyone not staff), and nothing changes."""
    from tests.factories import make_subscription

    with app.app_context():
        mine, other = make_org("Plan Owner"), make_org("Plan Stranger")
        plan = make_subscription(mine)
        db.session.commit()
        plan_id, mine_id, other_id, due = plan.id, mine.id, other.id, plan.next_payment_on
    fields = {f"plan-{plan_id}-next_payment_on": (due + timedelta(days=1)).isoformat(),
              f"plan-{plan_id}-reason": "Aimed at the wrong organization"}
    for who, org_id in (("ops", other_id), ("ops", demo.orgs["Fabrikam Stores"]), ("dave", mine_id),
                        ("alice", other_id)):
        staff = login(who)  # the form is on the plan's own organization's page only: forged elsewhere
        response = staff.post(f"/admin/organizations/{org_id}/plans/{plan_id}/next-payment",
                              data={**fields, "csrf_token": staff.csrf_token()})
        assert response.status_code == 404, (who, org_id)
    with app.app_context():
        from portal.subscriptions.models import Subscription

        assert db.session.get(Subscription, plan_id).next_payment_on == due

def test_no_storefront_customer_pages_for_another_resellers_customer_or_a_fabrikam_user(app, client, login, demo):
    """Northwind's storefront, as a customer: a customer of Litware (a user of one of its sub-chains) gets a 404 on
    every storefront route, and dave (Fabrikam, nobody's customer) on every customer route; nothing changes."""
    from portal.orders.models import Order

    with app.app_context():
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        customer = make_member(make_org("Litware Customer", litware), Role.MANAGER).user.email
        db.session.commit()
        carts, orders = (db.session.scalar(select(func.count()).select_from(model)) for model in (CartItem, Order))
    client.login(customer, "a-long-password")
    dave = login("dave")
    tokens = {client: client.csrf_token(), dave: dave.csrf_token()}  # forged requests, refused by authorization
    tried = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("storefront_sales.") and rule.endpoint != "storefront_sales.logout":
            values = {a: OTHER_PARAMS.get(a, 1) for a in rule.arguments}
            values.update({a: "ORD-NONE" for a in rule.arguments if a == "number"})
            with app.test_request_context():
                url = url_for(rule.endpoint, **values)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                for who, user_client in (("litware customer", client), ("dave", dave)):
                    if who == "dave" and rule.endpoint.split(".")[1] in {"catalog", "product", "login", "signup"}:
                        continue  # pages anyone may see
                    response = user_client.get(url) if method == "GET" else user_client.post(
                        url, data={"csrf_token": tokens[user_client]})
                    tried += 1
                    assert response.status_code == 404, (who, method, url, response.status_code)
    assert tried > 10
    with app.app_context():
        assert (db.session.scalar(select(func.count()).select_from(CartItem)),
                db.session.scalar(select(func.count()).select_from(Order))) == (carts, orders)


def test_a_reseller_cannot_price_for_another_resellers_customer(app, login, demo):
    """Northwind's prices page offers its own customers only: a special price posted for a customer of another
    reseller, Fabrikam or Northwind itself is refused beside the field and no rule is made; and another reseller's
    manager removing one of Northwind's rules gets a 404."""
    from tests.factories import make_price_rule

    with app.app_context():
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        stranger = make_org("Litware Client", litware).id
        shop = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        rule_id = make_price_rule(shop).id
        product_id = db.session.scalars(select(Product.id).where(Product.slug == "mailsuite")).one()
        db.session.commit()
    alice, others = login("alice"), {who: login(who) for who in ("frank", "dave", "carol", "bob")}
    with app.app_context():
        before = _snapshot()
    for customer in (stranger, demo.orgs["Fabrikam Stores"], demo.orgs["Northwind IT"]):
        # none of them is among the page's customers: forged, with the session's token
        response = alice.post("/account/storefront/prices/customers",
                              data={"customer": customer, "target": f"p{product_id}", "special": "1.00",
                                    "csrf_token": alice.csrf_token()})
        assert response.status_code == 422 and 'id="customer-error"' in response.get_data(as_text=True)
    for who, client in others.items():
        response = client.post(f"/account/storefront/prices/rules/{rule_id}/remove",
                               data={"csrf_token": client.csrf_token()})
        assert response.status_code == 404, who
    with app.app_context():
        assert _snapshot() == before


def test_a_reseller_shows_prices_and_products_of_its_own_storefront_only(app, login, demo):
    """Issue 15: a storefront product page and the price list are the working chain's own storefront's; another
    reseller (Litware, with a storefront of its own) naming or hiding MailSuite changes only its own, users of
    Northwind who do not manage it or of Fabrikam change nothing, and neither sees another reseller's fees."""
    from portal.db_types import utcnow
    from portal.storefronts.models import StorefrontProduct
    from tests.storefronts.test_prices import make_storefront

    with app.app_context():
        litware = db.session.scalars(select(Organization).where(Organization.name == "Litware Solutions")).one()
        litware_shop = make_storefront(litware, alias="litware").id
        # a Northwind customer account holding MailSuite (its $2.00 fee is Northwind's alone)
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        customer = make_org("Northwind Only Customer", parent=northwind)
        make_license(northwind, customer=customer).assigned_at = utcnow()
        db.session.commit()

    def rows() -> list[tuple]:
        with app.app_context():
            return sorted(db.session.execute(select(StorefrontProduct.storefront_id, StorefrontProduct.name,
                                                    StorefrontProduct.hidden)).all())

    frank = login("frank")
    assert frank.submit("/account/storefront/products/mailsuite",
                        {"name": "Litware Mail", "summary": "", "hidden": True}).status_code == 302
    assert rows() == [(litware_shop, "Litware Mail", True)]
    assert "MailSuite Mail Server</a>" in login("alice").get("/s/northwind").get_data(as_text=True)
    price_list = frank.get("/account/storefront/prices.csv")
    assert 'filename="price-list-litware.csv"' in price_list.headers["Content-Disposition"]
    assert "edition's rule" not in price_list.get_data(as_text=True)  # Northwind's LiveDesk special price
    for who in ("bob", "carol", "dave", "erin"):
        user = login(who)  # the page is not theirs to change: forged, with the session's token
        response = user.post("/account/storefront/products/mailsuite",
                             data={"name": "Mallory Mail", "hidden": "y", "csrf_token": user.csrf_token()})
        assert response.status_code in (403, 404), who
    assert rows() == [(litware_shop, "Litware Mail", True)]
    customers = frank.get("/customers").get_data(as_text=True)
    assert "Northwind Only Customer" not in customers
    assert "0 customer accounts, $0.00 per month" in customers  # Litware owes nothing for Northwind's customers
    assert "Northwind Only Customer" in login("alice").get("/customers").get_data(as_text=True)
