"""Invoice forms: pay (a saved or new card, or wire/ACH/check), email, and the staff's payment, summary and tax
forms. Amounts and percentages are read by portal.money (through the admin's typed fields)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.admin.forms import AmountField, PercentField
from portal.billing.models import PaymentMethodKind
from portal.payments.forms import CardChoiceFields
from portal.receipts.methods import METHOD_LABELS, OTHER_METHODS
from portal.seller.details import clean_seller, seller_errors
from portal.seller.taxes import CATEGORY_LABELS, RATE_CATEGORIES


class PayInvoiceForm(CardChoiceFields):
    method = RadioField("How to pay", choices=[SelectChoice(kind.value, METHOD_LABELS[kind])
                                               for kind in PaymentMethodKind],
                        default=PaymentMethodKind.CARD.value, validate_choice=False,
                        validators=[InputRequired("Choose how to pay.")])


class EmailInvoiceForm(FlaskForm):
    to = StringField("Send to", validators=[InputRequired("Enter an email address."), Length(max=254)],
                     description="The invoice contact, or any address. The PDF is attached.")


class RecordPaymentForm(FlaskForm):
    method = SelectField("Received by", choices=[SelectChoice(kind.value, METHOD_LABELS[kind])
                                                 for kind in OTHER_METHODS],
                         validators=[InputRequired()])
    amount = AmountField("Amount (USD)", validators=[InputRequired("Enter the amount received.")])
    reference = StringField("Bank reference or check number",
                            validators=[InputRequired("Enter the bank reference or the check number."),
                                        Length(max=120)])


class SummarizeForm(FlaskForm):
    period = StringField("Month (YYYY-MM)", validators=[InputRequired("Enter the month to summarize."),
                                                        Length(max=7)],
                         description="Order invoices issued in that month, not yet summarized.")


class TaxRateForm(FlaskForm):
    country = StringField("Country (2-letter code)", validators=[InputRequired("Enter the country."),
                                                                 Length(min=2, max=2)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)],
                         description="Leave empty for the whole country; a region's rate wins over the country's.")
    label = StringField("Shown as", validators=[InputRequired("Name the tax."), Length(max=80)],
                        description="Such as Washington sales tax.")
    rate = PercentField("Rate (%)", validators=[InputRequired("Enter the rate.")])
    category = SelectField("Category", choices=[SelectChoice(code, f"{CATEGORY_LABELS[code]} ({code})")
                                                for code in RATE_CATEGORIES],
                           validators=[InputRequired()])


class SellerSettingsForm(FlaskForm):
    """The seller and bank details printed on invoices (staff, /admin/settings). The rules are the settings
    service's (portal.seller.details.seller_errors): the form shows each refusal beside its field."""

    legal_name = StringField("Legal name", description="As invoices print it, such as Vendor Software, Inc.")
    address_line1 = StringField("Street address")
    address_line2 = StringField("Address line 2")
    city = StringField("City")
    region = StringField("State or region")
    postal_code = StringField("Postal code")
    country = StringField("Country (ISO 2-letter code)", description="Such as US.")
    email = StringField("Billing email", description="Printed on invoices, for questions about them.")
    tax_id = StringField("Tax ID", description="The sales tax or VAT registration printed on every invoice.")
    registration_id = StringField("Registration number",
                                  description="The company registration, such as the US EIN (94-1234567).")
    bank_name = StringField("Bank name")
    account_name = StringField("Account name", description="The name the account is held in.")
    account_number = StringField("Account number", description="Or an IBAN for an account outside the US.")
    routing_number = StringField("Routing number (ABA)",
                                 description="9 digits, for wires and ACH within the US; required for a US seller.")
    swift_bic = StringField("SWIFT/BIC", description="8 or 11 characters, for wires from abroad, such as FEXBUS33.")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name, message in seller_errors(clean_seller(self.data)).items():
            getattr(self, name).errors = [*getattr(self, name).errors, message]
            valid = False
        return valid
