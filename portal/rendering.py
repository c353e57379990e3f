"""Helpers every view uses: one URL renders its page or, for htmx, its fragment; rule errors beside fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import make_response, render_template, request
from flask_wtf import FlaskForm

from portal.errors import RuleError
from portal.extensions import db, htmx

T = TypeVar("T")


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """Render `page`, or only `fragment` (which the page includes) when htmx asks for part of the page."""
    # A history restore (HX-History-Restore-Request) replaces the whole body: it always gets the full page.
    wants_fragment = fragment is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request
    response = make_response(render_template(fragment if wants_fragment else page, **context), status)
    if fragment is not None:
        response.vary.add("HX-Request")
    return response


def confirmation(form: FlaskForm, *, title: str, message: str, button: str, back: str, note: str = ""):
    """Ask before a destructive action: a page with its POST form (no JavaScript), a modal dialog for htmx; a POST
    that did not confirm (no token, or an expired one) gets the question again with 400 and changes nothing."""
    return render("core/confirm.html", "core/_confirm.html", status=400 if request.method == "POST" else 200,
                  form=form, title=title, message=message, note=note, button=button, back=back, action=request.path)


def show_rule_error(form: FlaskForm, error: RuleError) -> None:
    """Put a service's refusal beside the field it names (or at the top of the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


@dataclass(frozen=True)
class Saved(Generic[T]):
    """What a service returned, once its change is committed."""

    value: T


def submit(form: FlaskForm, change: Callable[[], T]) -> Saved[T] | None:
    """Validate the posted form, make the change (one service call) and commit it. None when the form or the
    service refused: the form then carries the messages, a service's beside the field it names, and nothing is
    changed."""
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
