"""Route parameters of the automation API, for the generic cross-tenant and role tests: each names a function
that, inside an app context, returns a value naming an object of the given organization (made if needed)."""

from __future__ import annotations

from collections.abc import Callable

from portal.accounts.models import Organization


def _customer_id(org: Organization) -> str:
    """A customer of `org`: a sub-chain of it (made for the test)."""
    from tests.factories import make_org

    return str(make_org(parent=org).id)


def _invoice_number(org: Organization) -> str:
    from tests.factories import make_invoice

    return make_invoice(org).number


def _subscription_id(org: Organization) -> str:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.subscriptions.models import Subscription
    from tests.factories import make_subscription

    existing = db.session.scalars(select(Subscription.id).where(Subscription.organization_id == org.id)).first()
    return str(existing or make_subscription(org).id)  # one plan per product and chain


def _license_key(org: Organization) -> str:
    """A license `org` bought (unassigned)."""
    from tests.factories import make_license

    return make_license(org).key


def _cart_item_id(org: Organization) -> str:
    """An item in the cart of one of `org`'s users."""
    from tests.factories import make_cart_item

    return str(make_cart_item(org, _member_of(org)).id)


def _order_number(org: Organization) -> str:
    from tests.factories import make_order

    return make_order(org, _member_of(org)).number


def _member_of(org: Organization):
    from sqlalchemy import select

    from portal.accounts.models import Membership, User
    from portal.extensions import db

    return db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                              .where(Membership.organization_id == org.id).order_by(User.id)).first()


def _endpoint(org: Organization):
    """`org`'s first webhook endpoint (made if it has none), so a delivery sample belongs to the endpoint sample."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.webhooks.models import WebhookEndpoint
    from tests.webhooks.helpers import make_endpoint

    return db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id)
                              .order_by(WebhookEndpoint.id)).first() or make_endpoint(org)


def _endpoint_id(org: Organization) -> str:
    return str(_endpoint(org).id)


def _delivery_id(org: Organization) -> str:
    """A delivery to `org`'s first webhook endpoint."""
    from tests.webhooks.helpers import make_delivery

    return str(make_delivery(_endpoint(org)).id)


API_ID_PARAMS: dict[str, Callable[[Organization], str]] = {
    "customer_id": _customer_id,
    "invoice_number": _invoice_number,
    "key": _license_key,
    "subscription_id": _subscription_id,
    "item_id": _cart_item_id,
    "number": _order_number,
    "endpoint_id": _endpoint_id,
    "delivery_id": _delivery_id,
}

# Route parameters that name no tenant's object, with a sample value (the catalog is the vendor's, shown to all).
API_OTHER_PARAMS: dict[str, str] = {"slug": "mailsuite"}
