"""The portal's favicon and logo at stable URLs (anyone), and staff's page to replace them (/admin/branding)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, requires
from portal.branding import bp, services
from portal.errors import RuleError
from portal.extensions import db
from portal.rendering import render, show_rule_error
from portal.storage import storage

MAX_AGE = 300  # seconds: a replaced favicon or logo shows within minutes (its URL stays the same)


class ImageForm(FlaskForm):
    """One image to upload: the favicon or the logo (each form has its kind as prefix, for unique field ids)."""

    image = FileField("File")


def _kind(kind: str) -> services.Kind:
    found = services.KINDS.get(kind)
    if found is None:
        abort(404)
    return found


def _forms(**given: ImageForm) -> dict[str, ImageForm]:
    forms = {name: given.get(name) or ImageForm(prefix=name) for name in services.KINDS}
    for name, form in forms.items():
        form.image.description = services.describe(services.KINDS[name])
    return forms


def _page(forms: dict[str, ImageForm], status: int = 200):
    return render("branding/settings.html", status=status, forms=forms, kinds=services.KINDS,
                  stored={name: services.stored(kind) for name, kind in services.KINDS.items()},
                  confirm_form=ConfirmForm())


@bp.route("/favicon.ico")  # where browsers look without a link
@bp.route("/branding/favicon")  # the URL pages link (url_for builds the last rule declared here)
def favicon():
    """The portal's favicon: the one staff uploaded, else the default."""
    return _image(services.KINDS["favicon"])


@bp.route("/branding/logo")
def logo():
    """The portal's logo: the one staff uploaded, else the default."""
    return _image(services.KINDS["logo"])


def _image(kind: services.Kind):
    found = services.stored(kind)
    response = None
    if found is not None:
        key, mimetype = found
        try:
            response = storage().send(key, key.rsplit("/", 1)[-1], mimetype, as_attachment=False, max_age=MAX_AGE)
        except FileNotFoundError:  # removed since: the default
            response = None
    if response is None:
        response = send_file(current_app.static_folder + "/" + kind.default, mimetype="image/svg+xml",
                             max_age=MAX_AGE, conditional=True, etag=True)
    response.cache_control.public = True
    # An SVG opened on its own is a document of our origin: it may show itself and nothing else.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


@bp.route("/admin/branding")
@requires(Permission.STAFF)
def settings():
    """The portal's favicon and logo as every page shows them, with a form to replace each."""
    return _page(_forms())


@bp.route("/admin/branding/<kind>", methods=["POST"])
@requires(Permission.STAFF)
def upload(kind: str):
    """Replace the favicon or the logo with an uploaded PNG, SVG (or ICO for the favicon)."""
    image = _kind(kind)
    form = ImageForm(prefix=image.name)
    if form.validate_on_submit():
        upload_ = form.image.data
        try:
            if not upload_ or not getattr(upload_, "filename", ""):
                raise RuleError(f"Choose a file. {services.describe(image)}", "image")
            extension = services.replace_image(image, upload_.stream.read(image.max_bytes + 1), current_actor())
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            db.session.commit()
            flash(f"{image.label} replaced ({extension.upper()}): every page shows it within minutes.", "success")
            return redirect(url_for("branding.settings"))
    return _page(_forms(**{image.name: form}), status=422 if form.errors or form.form_errors else 400)


@bp.route("/admin/branding/<kind>/default", methods=["POST"])
@requires(Permission.STAFF)
def restore(kind: str):
    """Go back to the portal's default favicon or logo."""
    image = _kind(kind)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    restored = services.restore_default(image, current_actor())
    db.session.commit()
    flash(f"{image.label}: the default is back." if restored else f"{image.label}: already the default.", "success")
    return redirect(url_for("branding.settings"))
