"""The route x role table: who may use each endpoint. Every route of the app must be listed here.

The matrix test (test_route_access.py) reads app.url_map, so a new route that is not listed fails by name.
The cross-tenant test (test_cross_tenant.py) uses ID_PARAMS to find every route that takes an id.
"""

from __future__ import annotations

from portal.accounts.models import Contact, Membership, Organization
from portal.api_keys.models import ApiKey
from portal.billing.models import Invoice
from portal.cart.models import CartItem
from portal.devices.models import Device, Location
from portal.hardware.models import ReturnRequest, Shipment, ShipmentUnit
from portal.licenses.models import Activation, License
from portal.orders.models import Order
from portal.partners.models import PartnerGrant
from portal.payments.models import PaymentMethod
from portal.receipts.models import Receipt
from portal.signin.models import UserSession
from portal.storefronts.models import StorefrontPrice
from portal.subscriptions.models import Subscription
from portal.transfers.models import TransferRequest
from portal.webhooks.models import WebhookEndpoint

PUBLIC = frozenset({"anonymous", "ops", "alice", "bob", "carol", "dave", "erin", "frank"})
SIGNED_IN = PUBLIC - {"anonymous"}
MEMBERS = SIGNED_IN - {"ops"}  # everyone with a membership somewhere
MANAGERS = frozenset({"alice", "dave", "frank"})  # Chain & User Managers of main chains
BUYERS = MANAGERS | {"bob"}  # managers and Master users of main chains (erin works in Fabrikam as installer)
# Routes that name an object follow the object's organization, not the one the user works in: erin, working in
# Fabrikam, still reaches her own Northwind cart items and Northwind's orders as a Master user there.
BUYERS_BY_ID = BUYERS | {"erin"}
STAFF = frozenset({"ops"})
# Invoices of the main chain one works in: its managers and Master users (DOMAIN §2); by number, as with orders,
# erin reaches Northwind's as a Master user there. carol (a sub-chain's viewer) sees none.
INVOICE_READERS = BUYERS
INVOICE_READERS_BY_ID = INVOICE_READERS | {"erin"}
NOBODY = frozenset()
STOREFRONT_CUSTOMERS = frozenset({"carol"})  # users of Northwind's sub-chains, customers of its storefront
STOREFRONT_MANAGERS = frozenset({"alice"})  # managers of a reseller with a storefront (the demo's Northwind)
# Managers and Master users of a reseller with a storefront, working in it: its sales, margins and its invoices.
STOREFRONT_SELLERS = frozenset({"alice", "bob"})

# An entry is who may use the endpoint, or per HTTP method when GET and POST differ.
ACCESS: dict[str, frozenset[str] | dict[str, frozenset[str]]] = {
    "static": PUBLIC,
    "core.home": PUBLIC,
    "core.help_page": PUBLIC,
    "core.healthz": PUBLIC,
    "observability.readyz": PUBLIC,  # the load balancer's readiness probe: anonymous, like /healthz
    # /metrics answers 404 to a non-loopback address without `Authorization: Bearer <METRICS_TOKEN>`; the test
    # client's address is 127.0.0.1, so here everyone reads it (tests/observability/test_metrics.py tests the 404).
    "observability.metrics": PUBLIC,
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
    # --- Installation Partner grants (issue 12): Chain & User Managers of main chains, as customer and as partner.
    # A grant by id follows its customer and its partner (404 to anyone else); an action for the other side is a 403.
    "partners.index": MANAGERS,
    "partners.grant": MANAGERS,
    "partners.request_access": MANAGERS,
    "partners.approve": MANAGERS,
    "partners.decline": MANAGERS,
    "partners.withdraw": MANAGERS,
    "partners.revoke": MANAGERS,
    "partners.assign": MANAGERS,
    "partners.unassign": MANAGERS,
    "accounts.audit": MANAGERS,
    # --- API keys (issue 16): a main chain's Chain & User Managers (MANAGE_API); a key by id follows its main chain
    # (a sub-chain's key is its main chain's managers'), another tenant's key is a 404.
    "api_keys.index": MANAGERS,
    "api_keys.revoke": MANAGERS,
    # --- webhooks (issue 16): a main chain's Chain & User Managers (MANAGE_API); an endpoint by id follows its main
    # chain, another tenant's (or one the user may not manage) is a 404. Resend names its delivery in the form.
    "webhooks.index": MANAGERS,
    "webhooks.endpoint": MANAGERS,
    "webhooks.reveal_secret": MANAGERS,
    "webhooks.disable": MANAGERS,
    "webhooks.enable": MANAGERS,
    "webhooks.delete": MANAGERS,
    "webhooks.resend": MANAGERS,
    # --- notification preferences (issue 12): each signed-in user's own choices; an unsubscribe link is its own
    # credential (a signed token), so anyone holding it may use it (the matrix's sample token is refused with 400)
    "notifications.preferences": SIGNED_IN,
    "notifications.unsubscribe": PUBLIC,
    # --- sign-in security (issue 12): everyone's own sessions and two-step sign-in; a session is its user's alone
    # (another user's session id is a 404); a main chain's managers require two-step sign-in of its users.
    "signin.second_step": PUBLIC,
    "signin.security": SIGNED_IN,
    "signin.end_session": SIGNED_IN,
    "signin.sign_out_everywhere_else": SIGNED_IN,  # after signin.end_session in the matrix: it ends its target
    "signin.start_two_step": SIGNED_IN,
    "signin.two_step_setup": SIGNED_IN,
    "signin.disable_two_step": SIGNED_IN,
    "signin.recovery_codes": SIGNED_IN,
    "signin.chain_requirement": MANAGERS,
    "shop.index": PUBLIC,
    "shop.product": PUBLIC,
    "cart.show": BUYERS,
    "cart.add": BUYERS,
    "cart.update": BUYERS_BY_ID,
    "cart.remove": BUYERS_BY_ID,
    "orders.checkout": BUYERS,
    "orders.checkout_return": BUYERS,  # back from the processor (3-D Secure, the hosted page)
    "orders.index": BUYERS,
    "orders.export": BUYERS,
    "orders.detail": BUYERS_BY_ID,
    "payments.index": MANAGERS,
    "payments.saved": MANAGERS,  # back from the processor with a card set up
    "payments.make_default": MANAGERS,
    "payments.remove": MANAGERS,
    # --- licenses, customers and the activation API (issue 4)
    # /licenses: a reseller's page or an end customer's entitlements, by the role in the working organization
    # (erin works in Fabrikam as an installer: no licenses there); a license by key follows its owner or customer.
    "licenses.index": MEMBERS - {"erin"},
    "licenses.export": MEMBERS - {"erin"},
    "licenses.detail": MEMBERS,
    "licenses.assign": BUYERS,  # managers and Master users assign (dave: the licenses Fabrikam bought)
    "licenses.customers": BUYERS,
    "licenses.customers_csv": BUYERS,
    # One customer's page (issue 17): a reseller's own customers only (its sub-chains and those it assigned
    # licenses to); anyone else's organization is a 404.
    "customers.detail": BUYERS,
    # Modify a License: the chooser acts on the working organization; a license's Modify page follows its owner
    # (the reseller), whose managers and Master users buy there (erin too, as a Master user of Northwind).
    "licenses.modify_choose": BUYERS,
    "licenses.modify_license": BUYERS_BY_ID,
    # Automatic M&S renewal (issue 13): set by whoever may modify the license (its owner's buyers), one license
    # from its page, or the licenses selected in the working organization's list.
    "licenses.set_auto_renew": BUYERS_BY_ID,
    "licenses.bulk_auto_renew": BUYERS,
    # Renewals (issue 17 item 3): the working organization's M&S expiries and plan renewals, at its cost, for
    # whoever may buy there (the M&S of the selected licenses goes into the cart), and its CSV download.
    "renewals.index": BUYERS,
    "renewals.download": BUYERS,
    # The activation API: no session, a license key is the credential (see KEY_AUTHENTICATED below).
    "api.activate": PUBLIC,
    "api.deactivate": PUBLIC,
    "api.license_status": PUBLIC,
    # The API's OpenAPI document (issue 16) is public, like its rendering at /api/docs. The automation API's
    # operations authenticate an API key, not a session: tests/api/test_operation_access.py and
    # tests/api/test_api_cross_tenant.py cover them (see key_authenticated below), not this table.
    "api-docs.openapi_json": PUBLIC,
    # Its rendering for humans and the page the problems' `type` URIs point to (not flask-smorest's "api-docs").
    "api_docs.index": PUBLIC,
    "api_docs.problems": PUBLIC,
    # --- invoices (issue 5)
    "invoices.index": INVOICE_READERS,
    "invoices.export": INVOICE_READERS,
    "invoices.detail": INVOICE_READERS_BY_ID,
    "invoices.pdf": INVOICE_READERS_BY_ID,
    "invoices.lines_csv": INVOICE_READERS_BY_ID,  # every line of one invoice, to re-bill from (issue 11)
    "invoices.email": INVOICE_READERS_BY_ID,
    "invoices.pay": MANAGERS,  # Master users see invoices; Chain & User Managers pay them
    "invoices.pay_return": MANAGERS,  # back from the processor (3-D Secure, the hosted page)
    # --- payments and receipts (issue 11): the same readers as the invoices they paid
    "receipts.index": INVOICE_READERS,
    "receipts.export": INVOICE_READERS,
    "receipts.detail": INVOICE_READERS_BY_ID,
    "receipts.pdf": INVOICE_READERS_BY_ID,
    # --- Manage Subscriptions and activations (issue 6)
    # Billing of a main chain: its Chain & User Managers only (carol's sub-chain has none; bob and erin are
    # Master users of Northwind, erin an Installation Partner of Fabrikam: no subscriptions).
    "subscriptions.index": MANAGERS,
    # A plan's changes (issue 13 item 3) follow the plan's main chain: its Chain & User Managers (another
    # chain's plan, or a plan of a chain one does not manage, is a 404).
    "subscriptions.change": MANAGERS,
    "subscriptions.increase": MANAGERS,
    "subscriptions.decrease": MANAGERS,
    "subscriptions.switch": MANAGERS,
    "subscriptions.withdraw": MANAGERS,
    # Activations of the working organization's licenses: managers and Installation Partners (erin works in
    # Fabrikam by default). Ending one follows the activation's organization: the matrix aims erin at a Northwind
    # activation, where she is a Master user (404); tests/subscriptions covers her ending Fabrikam's.
    "licenses.activations": MANAGERS | {"erin"},
    "licenses.deactivate": MANAGERS,
    # --- end of Manage Subscriptions and activations
    # --- locations and devices (issue 6)
    # Pages of the working organization: everyone with VIEW_DEVICES there (managers, Master users, erin as
    # Installation Partner of Fabrikam, carol as Contoso's viewer); adding needs MANAGE_DEVICES there (managers
    # and erin). A location or device by id follows its organization: erin's targets are Northwind's, where she is
    # a Master user, so she sees them but may not change them.
    "devices.locations": {"GET": MEMBERS, "POST": MANAGERS | {"erin"}},
    "devices.devices": {"GET": MEMBERS, "POST": MANAGERS | {"erin"}},
    "devices.location": {"GET": MEMBERS, "POST": MANAGERS},
    "devices.device": {"GET": MEMBERS, "POST": MANAGERS},
    "devices.remove_location": MANAGERS,
    "devices.move_device": MANAGERS,
    "devices.remove_device": MANAGERS,  # the confirmation page too: it is only the way to removing
    # A location picker's search (issue 18): without parameters, the Devices page's filter's (VIEW_DEVICES on the
    # working organization); the forms' (field=location_id, device=) need MANAGE_DEVICES, tests/devices covers them.
    "devices.pick_location": MEMBERS,
    # --- shipments and returns (issue 20): a chain's shipments to whoever sees its devices and locations; staff's
    # queue and decisions; a device's return asked by its organization's managers and installers (erin installs in
    # Fabrikam, not in Northwind where she is a Master user).
    "hardware.shipments": MEMBERS,
    "hardware.admin_shipments": STAFF,
    "hardware.ship": STAFF,
    "hardware.deliver": STAFF,
    "hardware.cancel": STAFF,
    "hardware.approve_return": STAFF,
    "hardware.refuse_return": STAFF,
    "hardware.request_return": MANAGERS,
    # --- end of locations and devices
    # --- installing delivered hardware (issue 20): the unit's location's organization decides (MANAGE_DEVICES);
    # erin's target is a Northwind unit, where she is a Master user, so she may see it listed but not install it.
    "hardware_install.install": MANAGERS,
    # --- account transfers (issue 6)
    # A reseller's Chain & User Managers (managing sub-chains is theirs, on a main chain) request, follow and
    # withdraw transfers of their sub-chains and download the authorization; vendor staff review and decide.
    "transfers.index": MANAGERS,
    "transfers.detail": MANAGERS,
    "transfers.withdraw": MANAGERS,
    "transfers.authorization": MANAGERS,
    "admin.transfers": STAFF,
    "admin.transfer": STAFF,
    "admin.approve_transfer": STAFF,
    "admin.reject_transfer": STAFF,
    "admin.transfer_authorization": STAFF,
    # --- end of account transfers
    "admin.invoices": STAFF,
    "admin.summarize": STAFF,
    "admin.run_renewals": STAFF,
    "admin.record_payment": STAFF,
    "admin.credit_notes": STAFF,
    "admin.issue_credit_note": STAFF,
    "admin.tax_rates": STAFF,
    "admin.remove_tax_rate": STAFF,
    "admin.settings": STAFF,
    # the portal's favicon and logo (issue 17 item 9): served to anyone, replaced by staff
    "branding.favicon": PUBLIC,
    "branding.logo": PUBLIC,
    "branding.settings": STAFF,
    "branding.upload": STAFF,
    "branding.restore": STAFF,
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
    # Reseller fees (issue 15): staff's fee for one reseller on a product, and its removal (a confirmation page,
    # then a POST); the vendor's fees and RRPs are staff's to set, never a reseller's.
    "admin.set_reseller_fee": STAFF,
    "admin.remove_reseller_fee": STAFF,
    "admin.organizations": STAFF,
    "admin.organization": STAFF,
    "admin.correct_next_payment": STAFF,  # a plan of that organization (another's: 404), with a reason
    "admin.put_on_plan": STAFF,  # staff put a reseller on a plan (issue 14); another's id: 404 (no tenant's own)
    "admin.notifications": STAFF,
    "admin.notification": STAFF,  # one editable email by name (unknown: 404)
    # --- the storefront customers see (issue 14): /s/<alias>, aimed at the demo's `northwind`. Its catalog, product
    # pages, sign-in, sign-up and sign-out are anyone's (a customer of another reseller only gets a 404); the cart,
    # checkout and orders are its customers' (users of Northwind's sub-chains: carol), a 404 to anyone else signed in.
    "storefront_sales.catalog": PUBLIC,
    "storefront_sales.product": PUBLIC,
    "storefront_sales.login": PUBLIC,
    "storefront_sales.signup": PUBLIC,
    "storefront_sales.logout": PUBLIC,
    "storefront_sales.cart": STOREFRONT_CUSTOMERS,
    "storefront_sales.add": STOREFRONT_CUSTOMERS,
    "storefront_sales.update": STOREFRONT_CUSTOMERS,
    "storefront_sales.remove": STOREFRONT_CUSTOMERS,
    "storefront_sales.checkout": STOREFRONT_CUSTOMERS,
    "storefront_sales.checkout_return": STOREFRONT_CUSTOMERS,
    "storefront_sales.orders": STOREFRONT_CUSTOMERS,
    "storefront_sales.order": STOREFRONT_CUSTOMERS,
    # the reseller's invoice to its customer, by number: the users of the customer's sub-chains (another's: 404)
    "storefront_sales.customer_invoice_pdf": STOREFRONT_CUSTOMERS,
    # --- Reseller plans (issue 14): the main chain's Chain & User Managers (a chain that is not a reseller sees
    # the page and is told plans are for resellers); the alias check serves checkout, so every buyer.
    "reseller_plans.plan": MANAGERS,
    "reseller_plans.plan_choose": MANAGERS,
    "reseller_plans.plan_cancel": MANAGERS,
    "reseller_plans.plan_withdraw": MANAGERS,
    "reseller_plans.plan_switch_free": MANAGERS,
    "reseller_plans.plan_notifications": MANAGERS,
    "reseller_plans.alias_check": BUYERS,
    # --- Storefront settings and prices (issue 14): the Chain & User Managers of a reseller with a storefront
    # (alice: Northwind; Fabrikam and Litware have none, a 404). A price rule by id follows its storefront
    # (another's: 404). The logo and theme stylesheet of a storefront are public, as its pages are.
    "storefronts.settings": STOREFRONT_MANAGERS,
    "storefronts.prices": STOREFRONT_MANAGERS,
    "storefronts.prices_csv": STOREFRONT_MANAGERS,  # the price list with cost, RRP, margin and the vendor's fee
    # How the storefront shows one vendor product (its name, description, hidden), with its prices, RRP and fee
    "storefronts.product": STOREFRONT_MANAGERS,
    "storefronts.set_default_markup": STOREFRONT_MANAGERS,
    "storefronts.set_rule": STOREFRONT_MANAGERS,
    "storefronts.set_customer_price": STOREFRONT_MANAGERS,
    "storefronts.remove_rule": STOREFRONT_MANAGERS,
    "storefronts.logo": PUBLIC,
    # The reseller's storefront sales with its cost and margin, and its invoices to its customers (issue 14 item 5):
    # its managers and Master users (VIEW_ORDERS on a main chain with a storefront; others 404). An invoice by
    # number is the reseller's own (another reseller's, or a vendor invoice: 404).
    "storefronts.sales": STOREFRONT_SELLERS,
    "storefronts.invoice_pdf": STOREFRONT_SELLERS,
    "storefronts.theme": PUBLIC,
    # --- the sandbox processor (issue 21): the card processor's side, which anyone may reach as anyone may reach
    # Stripe's; its API is authenticated by the publishable key in its JSON body (the matrix's form post is not
    # JSON: 400), an intent's pages by the intent's random id.
    "sandbox_processor.fields": PUBLIC,
    "sandbox_processor.create_payment_method": PUBLIC,
    "sandbox_processor.pay": PUBLIC,
    "sandbox_processor.authenticate": PUBLIC,
    "sandbox_processor.demo": PUBLIC,  # a developer page: the hosted fields framed in a form
    # The processor's signed events: anyone may post, only a verified signature changes anything (400 otherwise).
    "payment_webhooks.receive": PUBLIC,
}

# Route parameters that name a tenant's object: the model, and the attribute the URL carries.
ID_PARAMS: dict[str, tuple[type, str]] = {
    "membership_id": (Membership, "id"),
    "contact_id": (Contact, "id"),
    "org_id": (Organization, "id"),
    "customer_id": (Organization, "id"),  # a reseller's customer: one of its sub-chains or an account it resold to
    "item_id": (CartItem, "id"),
    "method_id": (PaymentMethod, "id"),
    "number": (Order, "number"),
    "key": (License, "key"),  # a license belongs to its owner (the buyer) and to its customer
    "invoice_number": (Invoice, "number"),
    "receipt_number": (Receipt, "number"),
    "location_id": (Location, "id"),
    "device_id": (Device, "id"),
    "transfer_id": (TransferRequest, "id"),  # a transfer request belongs to its requester (the reseller)
    "activation": (Activation, "id"),  # an installation's activation, seen through its license's organizations
    "session_id": (UserSession, "id"),  # a sign-in session belongs to its user, not to an organization
    "grant_id": (PartnerGrant, "id"),  # a partner grant belongs to its customer and to its partner
    "plan_id": (Subscription, "id"),  # a plan, on staff's organization page (under its organization's id)
    "subscription_id": (Subscription, "id"),  # a plan belongs to its main chain
    "rule_id": (StorefrontPrice, "id"),  # a storefront's price rule belongs to its reseller
    "unit_id": (ShipmentUnit, "id"),  # a delivered unit belongs to its shipment's (its location's) organization
    "shipment_id": (Shipment, "id"),  # a shipment belongs to its location's organization (staff's pages only)
    "return_id": (ReturnRequest, "id"),  # a return request belongs to its device's organization (staff's only)
    "key_id": (ApiKey, "id"),  # an API key belongs to the organization it acts for (and to its main chain)
    "endpoint_id": (WebhookEndpoint, "id"),  # a webhook endpoint belongs to its main chain
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
    "fee_override_id": 1,  # staff's fee for one reseller (the view answers 404 when there is none)
    "rate_id": 1,  # a demo tax rate (portal/billing/demo.py)
    # An activation is addressed by the API together with its license's key, never through a session (see
    # KEY_AUTHENTICATED): without the key the API answers 400, with another license's key 404.
    "activation_id": 1,
    "alias": "northwind",  # the demo's storefront (Northwind IT, Standard)
    "template_name": "storefront_welcome",  # an email staff may edit (/admin/notifications)
    "kind": "favicon",  # the portal's favicon or logo (/admin/branding/<kind>)
    "intent_id": "pi_sandbox_route_matrix",  # a sandbox processor's payment intent (the matrix's targets make it)
}


# The activation API (portal/api/views.py) authenticates each request by a license key, not by who is signed in:
# the key in /api/v1/licenses/<key>/status is the credential itself, so a session's tenancy has nothing to refuse
# there. The cross-tenant test leaves these routes out; tests/api/test_activations.py checks that a key opens only
# its own license and that an activation is ended only with its own license's key (404 otherwise, nothing changed).
KEY_AUTHENTICATED = frozenset({"api.activate", "api.deactivate", "api.license_status"})


def key_authenticated(app, endpoint: str) -> bool:
    """An operation of the automation API (an API key is its credential: portal/api/blueprints.key_blueprint)."""
    blueprint = app.blueprints.get(endpoint.partition(".")[0])
    return bool(getattr(blueprint, "key_authenticated", False))


def staff_only(endpoint: str) -> bool:
    """Staff pages see every tenant by design; the cross-tenant test leaves them to the matrix."""
    entry = ACCESS[endpoint]
    sets = entry.values() if isinstance(entry, dict) else [entry]
    return all(users <= STAFF for users in sets)


def allowed_users(endpoint: str, method: str) -> frozenset[str]:
    entry = ACCESS[endpoint]
    return entry[method] if isinstance(entry, dict) else entry
