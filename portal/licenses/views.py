"""License pages: the reselling page, license detail, assignment, modification, customers."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("licenses", __name__)
