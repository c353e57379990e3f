"""The reseller's storefront pages (one blueprint, `storefronts`): its plan (/account/plan, plan_views.py), its
storefront settings and prices (/account/storefront, settings_views.py) and the storefront's public logo and theme
stylesheet. The route modules import `bp` from here and are imported back at the bottom so their routes register."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("storefronts", __name__)

from portal.storefronts import plan_views, settings_views  # noqa: E402, F401 - routes register on bp
