"""Card forms. The number is checked by payments.cards (brand, length, Luhn, expiry) and never stored."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

MONTHS = [SelectChoice(m, f"{m:02d}") for m in range(1, 13)]


def _years() -> list[SelectChoice]:
    this_year = date.today().year
    return [SelectChoice(y, str(y)) for y in range(this_year, this_year + 16)]


class CardFields(FlaskForm):
    holder_name = StringField("Name on the card", validators=[Optional(), Length(max=200)])
    card_number = StringField("Card number", validators=[Optional(), Length(max=40)],
                              description="American Express, Visa or Mastercard.")
    exp_month = SelectField("Expiry month", coerce=int, choices=MONTHS, validate_choice=False, validators=[Optional()])
    exp_year = SelectField("Expiry year", coerce=int, validate_choice=False, validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exp_year.choices = _years()


class AddCardForm(CardFields):
    make_default = BooleanField("Use as the default card")


class CheckoutForm(CardFields):
    legal_name = StringField("Legal name", validators=[InputRequired(), Length(max=200)])
    address_line1 = StringField("Street address", validators=[InputRequired(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[InputRequired(), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[InputRequired(), Length(max=20)])
    country = StringField("Country (2-letter code)", validators=[InputRequired(), Length(min=2, max=2)])
    invoice_email = StringField("Invoice contact email", validators=[InputRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[InputRequired(), Length(min=5, max=40)])
    payment_kind = SelectField("Payment", validate_choice=False, validators=[InputRequired()])
    saved_card = SelectField("Saved card", coerce=int, validate_choice=False, validators=[Optional()])
    save_card = BooleanField("Save this card for later orders")
    cart_signature = StringField(validators=[InputRequired()])
    expected_total = IntegerField(validators=[InputRequired()])

    BILLING_FIELDS = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                      "invoice_email", "phone")
