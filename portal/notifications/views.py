"""Notification preferences at /account/notifications, and the unsubscribe links of optional emails."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.audit.services import Actor
from portal.extensions import csrf, db
from portal.notifications import services
from portal.notifications.forms import PreferencesForm, UnsubscribeForm
from portal.notifications.models import EmailCategory
from portal.rendering import render, submit

bp = Blueprint("notifications", __name__)

ONE_CLICK = "One-Click"  # RFC 8058: a mail client posts `List-Unsubscribe=One-Click` to the link


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    """Choose which optional emails you receive; security, invoice and receipt emails always arrive."""
    form = PreferencesForm()
    if request.method == "GET":
        form.receive.data = sorted(services.receiving(current_user))
    if submit(form, lambda: services.set_receiving(current_user, {EmailCategory(v) for v in form.receive.data},
                                                   current_actor())):
        flash("Your email choices are saved.", "success")
        return redirect(url_for("notifications.preferences"))
    return render("notifications/preferences.html", form=form, status=422 if form.errors else 200,
                  descriptions={c.value: c.description for c in EmailCategory})


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the one-click POST of a mail client carries no session; the confirmation form checks its own token
def unsubscribe(token: str):
    """Stop one kind of optional email from the link it carried, signed in or not: the page asks to confirm; a
    mail client's one-click POST (RFC 8058) unsubscribes at once."""
    found = services.read_unsubscribe_token(token)
    if found is None:
        return render("notifications/unsubscribe.html", found=None, form=None, status=400)
    one_click = request.method == "POST" and request.form.get("List-Unsubscribe") == ONE_CLICK
    form = UnsubscribeForm()
    if one_click or form.validate_on_submit():
        services.unsubscribe(found.user, found.category, Actor(user_id=found.user.id, ip=request.remote_addr))
        db.session.commit()
        return render("notifications/unsubscribe.html", found=found, form=None, done=True)
    return render("notifications/unsubscribe.html", found=found, form=form,
                  status=400 if request.method == "POST" else 200)
