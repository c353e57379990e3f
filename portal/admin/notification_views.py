"""Staff edit the text of the emails that allow it (/admin/notifications): subject and body with named
placeholders, previewed with sample values before saving (portal/reseller_plans/emails.py renders them safely)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired

from portal.accounts.context import current_actor
from portal.admin import bp
from portal.authz import Permission, requires
from portal.errors import RuleError
from portal.rendering import render, show_rule_error, submit
from portal.reseller_plans import emails


class EmailTemplateForm(FlaskForm):
    """An email's subject and body; Preview shows it with sample values, Save stores it."""

    subject = StringField("Subject", validators=[InputRequired("Write the subject.")])
    body = TextAreaField("Body", validators=[InputRequired("Write the text.")], render_kw={"rows": 16})


@bp.route("/notifications")
@requires(Permission.STAFF)
def notifications():
    """The emails whose text staff may edit, and whether each has been changed from its default."""
    return render("admin/notifications.html", editable=list(emails.EDITABLE.values()),
                  saved=emails.saved_templates())


@bp.route("/notifications/<template_name>", methods=["GET", "POST"])
@requires(Permission.STAFF)
def notification(template_name: str):
    """Edit one email's subject and body; Preview renders it with sample values, Save stores it (audited)."""
    email = emails.editable(template_name)
    if email is None:
        abort(404)
    subject, body = emails.current_text(email)
    form = EmailTemplateForm(data={"subject": subject, "body": body}) if request.method == "GET" \
        else EmailTemplateForm()
    preview = None
    if request.method == "POST" and "preview" in request.form:
        if form.validate_on_submit():
            try:
                preview = emails.preview(email, form.subject.data, form.body.data)
            except RuleError as error:
                show_rule_error(form, error)
    elif request.method == "POST" and submit(form, lambda: emails.save_template(
            email, form.subject.data, form.body.data, current_user.id, current_actor())):
        flash(f"Saved: the text of “{email.title}”.", "success")
        return redirect(url_for("admin.notification", template_name=template_name))
    return render("admin/notification_edit.html", status=422 if form.errors else 200, email=email, form=form,
                  preview=preview)
