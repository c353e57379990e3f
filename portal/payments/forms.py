"""Card forms. The number is checked by payments.cards (brand, length, Luhn, expiry) and never stored."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.authz import scoped
from portal.errors import RuleError
from portal.extensions import db
from portal.payments.cards import CardInput, check_card
from portal.payments.models import PaymentMethod

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


class CardChoiceFields(CardFields):
    """One of the organization's saved cards, or a new card typed in (checkout, Pay invoice)."""

    saved_card = SelectField("Saved card", coerce=int, validate_choice=False, validators=[Optional()])

    def chosen_card(self, org, user, permission) -> tuple[PaymentMethod | None, CardInput | None]:
        """The saved card picked (one of `org`'s that `user` may use for `permission`), or the new card typed,
        checked by payments.cards; RuleError beside the field otherwise."""
        if self.saved_card.data:
            stmt = scoped(select(PaymentMethod).where(PaymentMethod.id == self.saved_card.data,
                                                      PaymentMethod.organization_id == org.id),
                          PaymentMethod.organization_id, user, permission)
            card = db.session.scalars(stmt).first()
            if card is None:
                raise RuleError("Choose one of your saved cards.", field="saved_card")
            return card, None
        return None, check_card(self.card_number.data, self.exp_month.data, self.exp_year.data,
                                self.holder_name.data or "")


class AddCardForm(CardFields):
    make_default = BooleanField("Use as the default card")


class CheckoutForm(CardChoiceFields):
    legal_name = StringField("Legal name", validators=[InputRequired(), Length(max=200)])
    address_line1 = StringField("Street address", validators=[InputRequired(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[InputRequired(), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[InputRequired(), Length(max=20)])
    country = StringField("Country (2-letter code)", validators=[InputRequired(), Length(min=2, max=2)])
    invoice_email = StringField("Invoice contact email", validators=[InputRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[InputRequired(), Length(min=5, max=40)])
    purchase_order_number = StringField("Purchase order number (optional)", validators=[Optional()],
                                        description="Your own reference for this order, up to 64 characters. "
                                                    "It is printed on the invoice.")
    # Asked when the cart holds a reseller plan and the chain has no storefront (portal/reseller_plans/aliases.py).
    storefront_alias = StringField("Storefront alias", validators=[Optional()],
                                   description="Your storefront's address: /s/<alias>. Lowercase letters, digits "
                                               "and hyphens, 3 to 30 characters.")
    payment_kind = SelectField("Payment", validate_choice=False, validators=[InputRequired()])
    save_card = BooleanField("Save this card for later orders")
    cart_signature = StringField(validators=[InputRequired()])
    expected_total = IntegerField(validators=[InputRequired()])

    BILLING_FIELDS = ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                      "invoice_email", "phone")
