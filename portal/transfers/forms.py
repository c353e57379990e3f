"""Transfer forms: the reseller's request (multipart, with the authorization PDF) and staff's decision."""

from __future__ import annotations

from dataclasses import fields

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.transfers.services import TransferDetails, Upload


class TransferRequestForm(FlaskForm):
    sub_chain_id = SelectField("Sub-chain to transfer", coerce=int, choices=[],
                               validators=[InputRequired("Choose the sub-chain to transfer.")])
    authorization = FileField("Written authorization (PDF)",
                              description="Signed by the initial purchaser: your organization's consent to hand the "
                                          "account over. A PDF file.")
    legal_name = StringField("Legal name of the new entity",
                             validators=[InputRequired("Enter the new entity's legal name."), Length(max=200)])
    address_line1 = StringField("Street address", validators=[InputRequired("Enter the street address."),
                                                              Length(max=200)],
                                description="A street address: invoices cannot go to a P.O. box.")
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[InputRequired("Enter the city."), Length(max=100)])
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[InputRequired("Enter the postal code."), Length(max=20)])
    country = StringField("Country (2-letter code)", default="US",
                          validators=[InputRequired("Enter the country."), Length(max=2)])
    invoice_email = EmailField("Invoice contact email",
                               validators=[InputRequired("Enter the invoice contact's email."), Length(max=254)])
    phone = StringField("Invoice contact phone", validators=[InputRequired("Enter a phone number."),
                                                             Length(max=40)])
    manager_email = EmailField("Email of the new Chain & User Manager",
                               validators=[InputRequired("Enter the email of the person who will manage the "
                                                         "account."), Length(max=254)],
                               description="This person manages the new account: users, subscriptions, payment. "
                                           "Someone without a login gets an email to set a password.")

    def details(self) -> TransferDetails:
        return TransferDetails(**{f.name: getattr(self, f.name).data or "" for f in fields(TransferDetails)})

    def upload(self) -> Upload | None:
        """The chosen file, or None when none was sent."""
        storage = self.authorization.data
        if storage is None or isinstance(storage, str) or not storage.filename:
            return None
        return Upload(filename=storage.filename, stream=storage.stream)


class ApproveTransferForm(FlaskForm):
    service_charge = StringField("Service-ticket charge (optional)", validators=[Optional(), Length(max=40)],
                                 description="Invoiced to the requester, taxed as its purchases are. Leave empty "
                                             "for no charge.")
    confirm = BooleanField("I have checked the written authorization and the new entity's details",
                           validators=[DataRequired("Confirm that you checked the authorization.")])


class RejectTransferForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[InputRequired("Say why the request is rejected."),
                                                 Length(max=2000)],
                           description="The requester reads it.")
