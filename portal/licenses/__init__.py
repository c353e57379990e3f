"""Licenses: the blueprint its route modules (views, modify_views, activation_views) register on; create_app
imports each of them, so none has to import another to register its routes."""

from flask import Blueprint

bp = Blueprint("licenses", __name__)
