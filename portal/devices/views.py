"""Locations and devices: add, rename, move and remove them (managers and Installation Partners)."""

from flask import Blueprint

bp = Blueprint("devices", __name__)
