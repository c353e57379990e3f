"""The portal's own favicon and logo: defaults in portal/static/img, replaceable by vendor staff at
/admin/branding. An upload is stored under a fixed key in the portal's storage (portal/storage.py:
branding/favicon.<ext>, branding/logo.<ext>; no row of its own) and served at stable URLs, /branding/favicon and
/branding/logo."""

from flask import Blueprint

bp = Blueprint("branding", __name__)

from portal.branding import views  # noqa: E402,F401 - registers the routes
