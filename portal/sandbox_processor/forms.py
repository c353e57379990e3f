"""The card form of the processor's hosted pages (the number and CVC are checked by the processor, never kept)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import Length, Optional


class CardForm(FlaskForm):
    holder_name = StringField("Name on the card", validators=[Optional(), Length(max=200)])
    number = StringField("Card number", validators=[Length(max=40)])
    exp_month = StringField("Expiry month (MM)", validators=[Length(max=4)])
    exp_year = StringField("Expiry year (YYYY)", validators=[Length(max=4)])
    cvc = StringField("Security code (CVC)", validators=[Length(max=4)],
                      description="3 digits on the back; 4 on the front of an American Express card.")


class AuthenticateForm(FlaskForm):
    complete = SubmitField("Complete authentication")
    cancel = SubmitField("Cancel")
