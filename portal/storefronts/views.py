"""The reseller's storefront pages (one blueprint, `storefronts`): its storefront settings and prices
(/account/storefront, settings_views.py) and the storefront's public logo and theme stylesheet (its plan is
portal/reseller_plans). The route modules import `bp` from here and are imported back at the bottom so their
routes register."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("storefronts", __name__)

from portal.reseller_plans import plan_views  # noqa: E402, F401 - routes register on bp
from portal.storefronts import settings_views  # noqa: E402, F401 - routes register on bp
