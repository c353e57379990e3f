"""Card forms: a saved card or a new one, which the processor takes (never a card number: see CardChoiceFields)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from portal.authz import scoped
from portal.errors import RuleError
from portal.extensions import db
from portal.payments.charges import CardChoice
from portal.payments.models import PaymentMethod


class CardChoiceFields(FlaskForm):
    """One of the organization's saved cards, or a new card: entered in the processor's hosted fields (whose
    script fills `payment_method_id`), or on the processor's hosted page when there is no JavaScript. The portal's
    forms have no field for a card number."""

    saved_card = SelectField("Card", coerce=int, validate_choice=False, validators=[Optional()])
    payment_method_id = HiddenField(validators=[Optional(), Length(max=128)])

    def card_choice(self, org, user, permission, save: bool = False) -> CardChoice:
        """The saved card picked (one of `org`'s that `user` may use for `permission`), or the new card; RuleError
        beside the field otherwise."""
        if self.saved_card.data:
            stmt = scoped(select(PaymentMethod).where(PaymentMethod.id == self.saved_card.data,
                                                      PaymentMethod.organization_id == org.id),
                          PaymentMethod.organization_id, user, permission)
            card = db.session.scalars(stmt).first()
            if card is None:
                raise RuleError("Choose one of your saved cards.", field="saved_card")
            return CardChoice(saved_card=card)
        return CardChoice(payment_method_id=(self.payment_method_id.data or "").strip() or None, save=save)


class AddCardForm(FlaskForm):
    payment_method_id = HiddenField(validators=[Optional(), Length(max=128)])
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
