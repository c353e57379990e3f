"""Vendor staff pages under /admin: the audit log, sent mail, the catalog and organizations' commercial terms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Blueprint
from flask_wtf import FlaskForm

from portal.errors import RuleError
from portal.extensions import db
from portal.rendering import show_rule_error

bp = Blueprint("admin", __name__, url_prefix="/admin")

T = TypeVar("T")


@dataclass(frozen=True)
class Saved(Generic[T]):
    """What a service returned, once its change is committed."""

    value: T


def submit(form: FlaskForm, change: Callable[[], T]) -> Saved[T] | None:
    """Validate the posted form, make the change (one service call) and commit it. None when the form or the service
    refused: the form then carries the messages, a service's beside the field it names, and nothing is changed."""
    if not form.validate_on_submit():
        return None
    try:
        value = change()
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return None
    db.session.commit()
    return Saved(value)
