"""The staff's credit note form (/admin/invoices/<number>/credit-note): an amount tax included, in the corrected
invoice's currency, and the reason the credit note prints; for an invoice paid by card, whether to refund the credit
to that card (the view names the card in the checkbox's label, and renders it only then). The amount is read by
the service, in that currency (portal.credits.issuing.parse_credit_amount), so a typing mistake is shown beside
the field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.credits.issuing import REASON_LENGTH


class CreditNoteForm(FlaskForm):
    amount = StringField("Credit, tax included", validators=[InputRequired("Enter the amount to credit."),
                                                             Length(max=40)],
                         description="What the customer sees as the total of the credit, such as 120.00. Net and "
                                     "tax follow from the invoice's tax rate.")
    currency = StringField("Currency", validators=[InputRequired("Enter the invoice's currency."), Length(max=3)],
                           description="The invoice's currency.")
    reason = TextAreaField("Reason", validators=[InputRequired("Give the reason: the credit note prints it."),
                                                 Length(max=REASON_LENGTH)],
                           description="Printed on the credit note, such as “Quantity billed twice”.")
    refund = BooleanField("Refund it to the card that paid",
                          description="The credit goes back to the card instead of paying the organization's next "
                                      "invoices.")
