"""Account forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from portal.accounts.models import Role

ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in Role]
SUB_CHAIN_ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in (Role.VIEWER, Role.MANAGER)]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=1024)],
                             description="At least 10 characters.")
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password", message="The passwords differ.")])


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])


class ContactInformationForm(FlaskForm):
    legal_name = StringField("Legal name", validators=[DataRequired(), Length(max=200)])
    address_line1 = StringField("Street address", validators=[DataRequired(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[DataRequired(), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[DataRequired(), Length(max=20)])
    country = StringField("Country (2-letter code)", validators=[DataRequired(), Length(min=2, max=2)])
    invoice_email = EmailField("Invoice contact email", validators=[DataRequired(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[DataRequired(), Length(min=5, max=40)])

    FIELDS = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
              "invoice_email", "phone")

    def changes(self) -> dict:
        data = {name: (getattr(self, name).data or "").strip() for name in self.FIELDS}
        data["country"] = data["country"].upper()
        return data


class AddUserForm(FlaskForm):
    kind = RadioField("Add as", choices=[SelectChoice("login", "Authorized login"),
                                         SelectChoice("contact", "Additional contact (no login)")],
                      default="login", validators=[DataRequired()])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.MEMBER.value)


class ChangeRoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """A form with only its CSRF token: for buttons such as Deactivate and Revoke."""


class SubChainForm(FlaskForm):
    name = StringField("Sub-chain name", validators=[DataRequired(), Length(max=200)])
    full_name = StringField("First user's full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("First user's email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("First user's role", choices=SUB_CHAIN_ROLE_CHOICES, default=Role.VIEWER.value)


class SubChainUserForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=SUB_CHAIN_ROLE_CHOICES, default=Role.VIEWER.value)


class SwitchOrganizationForm(FlaskForm):
    # Which organizations are the user's is the view's question (another's is a 404, not a form error).
    org_id = IntegerField("Working in", validators=[DataRequired()])
