"""The reseller's storefront settings (/account/storefront), its prices (/account/storefront/prices) and the
storefront's public logo and theme stylesheet (/s/<alias>/logo.png, /s/<alias>/theme.css)."""

from __future__ import annotations

from portal.storefronts.views import bp  # noqa: F401 - routes register on bp
