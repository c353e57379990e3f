"""Account transfers: a reseller's manager asks for one of its sub-chains to become the customer's own account."""

from flask import Blueprint

bp = Blueprint("transfers", __name__)
