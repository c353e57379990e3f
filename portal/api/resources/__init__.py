"""The automation API's resources, one module each; every blueprint comes from portal.api.blueprints."""

from __future__ import annotations

from portal.api.resources.cart import blp as cart_blp
from portal.api.resources.catalog import blp as catalog_blp
from portal.api.resources.customers import blp as customers_blp
from portal.api.resources.invoices import blp as invoices_blp
from portal.api.resources.licenses import blp as licenses_blp
from portal.api.resources.orders import blp as orders_blp
from portal.api.resources.subscriptions import blp as subscriptions_blp
from portal.api.resources.webhook_endpoints import blp as webhook_endpoints_blp

BLUEPRINTS: list = [customers_blp, invoices_blp, subscriptions_blp, catalog_blp, cart_blp, orders_blp, licenses_blp,
                    webhook_endpoints_blp]
