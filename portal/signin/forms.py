"""Sign-in security forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class CodeForm(FlaskForm):
    """The second step of signing in: a code from the authenticator app or a recovery code."""

    code = StringField("Code", validators=[DataRequired(message="Enter the code your app shows."), Length(max=32)],
                       description="The 6-digit code from your authenticator app, or one of your recovery codes.")


class ConfirmSetupForm(FlaskForm):
    code = StringField("Code from your app",
                       validators=[DataRequired(message="Enter the code your app shows."), Length(max=32)],
                       description="After adding the portal to your app, enter the 6-digit code it shows.")


class DisableForm(FlaskForm):
    credential = PasswordField("A current code or your password",
                               validators=[DataRequired(message="Enter a code from your app or your password."),
                                           Length(max=1024)])


class ChainRequirementForm(FlaskForm):
    required = BooleanField("Require two-step sign-in for every user of this chain and its sub-chains")
