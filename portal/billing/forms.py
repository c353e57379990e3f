"""Invoice forms: pay (a saved or new card, or wire/ACH/check), email, and the staff's payment, summary and tax
forms. Amounts and percentages are read by portal.money (through the admin's typed fields)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.admin.forms import AmountField, PercentField
from portal.billing.models import PaymentMethodKind
from portal.billing.payments import METHOD_LABELS, OTHER_METHODS
from portal.billing.taxes import CATEGORY_LABELS, RATE_CATEGORIES
from portal.payments.forms import CardChoiceFields


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
