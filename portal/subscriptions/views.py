"""Manage Subscriptions: a main chain's device and location plans and how much of each is used."""

from flask import Blueprint

bp = Blueprint("subscriptions", __name__)
