"""The storefront's forms (Flask-WTF: CSRF on every one). Signing in reuses the portal's LoginForm; configuring a
license reuses the shop's ConfigureForm (portal/catalog/forms.py), so the rules of a configuration stay in
catalog.services.configure."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from portal.accounts.passwords import MIN_LENGTH
from portal.payments.forms import CardChoiceFields


class SignUpForm(FlaskForm):
    """A new customer: the person who signs in, and the organization the storefront bills."""

    full_name = StringField("Your full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             description=f"At least {MIN_LENGTH} characters.")
    confirm = PasswordField("Repeat the password",
                            validators=[DataRequired(), EqualTo("password", message="The passwords differ.")])
    organization_name = StringField("Organization name", validators=[DataRequired(), Length(max=200)],
                                    description="The business you buy for: it is named on your invoices.")
    address_line1 = StringField("Street address", validators=[DataRequired(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[DataRequired(), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[DataRequired(), Length(max=20)])
    country = StringField("Country (2-letter code)", validators=[DataRequired(), Length(min=2, max=2)])
    phone = StringField("Phone", validators=[DataRequired(), Length(min=5, max=40)])

    FIELDS = ("email", "full_name", "password", "organization_name", "address_line1", "address_line2", "city",
              "region", "postal_code", "country", "phone")

    def values(self) -> dict:
        return {name: getattr(self, name).data or "" for name in self.FIELDS}


class StorefrontCheckoutForm(CardChoiceFields):
    """Billing details of the customer's organization and a card (a saved card of it, or a new one): storefronts
    take cards only."""

    legal_name = StringField("Legal name", validators=[InputRequired(), Length(max=200)])
    address_line1 = StringField("Street address", validators=[InputRequired(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[InputRequired(), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[InputRequired(), Length(max=20)])
    country = StringField("Country (2-letter code)", validators=[InputRequired(), Length(min=2, max=2)])
    invoice_email = StringField("Invoice contact email", validators=[InputRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[InputRequired(), Length(min=5, max=40)])
    save_card = BooleanField("Save this card for later orders")
    cart_signature = StringField(validators=[InputRequired(), Length(max=64)])
    expected_total = IntegerField(validators=[InputRequired()])

    BILLING_FIELDS = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                      "invoice_email", "phone")

    def billing_values(self) -> dict:
        values = {name: (getattr(self, name).data or "").strip() for name in self.BILLING_FIELDS}
        values["country"] = values["country"].upper()
        return values
