"""Invoice pages: unpaid and all invoices, detail, pay, PDF, email."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invoices", __name__)
