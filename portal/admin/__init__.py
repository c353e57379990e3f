"""Vendor staff pages under /admin: the audit log, sent mail, the catalog and organizations' commercial terms."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
