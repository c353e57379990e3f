"""The reseller's storefront forms: its look and contact details (/account/storefront) and its prices
(/account/storefront/prices). Markups and amounts are typed as text and read by the storefront's and the money
parsers, so a field's `data` is basis points or minor units; a typing mistake is shown beside its field, and the
rules (ranges, Standard only, whose customer) are the services'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields import ColorField
from wtforms.validators import InputRequired, Length, Optional

from portal.admin.forms import AmountField
from portal.storefronts.prices import format_markup_bp, parse_markup_bp


class MarkupField(StringField):
    """A markup in % with up to 2 decimals, negative below list ("25", "12.5", "-10"); `data` is basis points,
    None when left blank."""

    def process_formdata(self, valuelist):
        if valuelist:
            text = valuelist[0].strip()
            self.data = parse_markup_bp(text) if text else None  # a RuleError is a ValueError: shown beside it

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_markup_bp(self.data) if self.data is not None else ""


class StorefrontForm(FlaskForm):
    """The storefront's name, look and contact details, and the reseller's numbers as seller on its invoices."""

    display_name = StringField("Storefront name", validators=[InputRequired("Enter the name your customers see."),
                                                              Length(max=200)])
    accent_colour = ColorField("Accent colour", validators=[InputRequired("Choose a colour.")],
                               description="Buttons and links on your storefront, as # and six hexadecimal digits "
                                           "(Standard plan).")
    logo = FileField("Logo", description="PNG, JPEG or WebP, at most 1 MB and 2000 × 2000 pixels (Standard plan). "
                                         "Leave empty to keep the current one.")
    remove_logo = BooleanField("Remove the logo")
    contact_email = StringField("Contact email", validators=[Optional(), Length(max=254)])
    contact_phone = StringField("Contact phone", validators=[Optional(), Length(max=40)])
    contact_address = TextAreaField("Contact address", validators=[Optional(), Length(max=1000)])
    tax_id = StringField("Tax ID", validators=[Optional(), Length(max=64)],
                         description="Your VAT or sales tax number, printed as seller on your invoices to customers.")
    registration_id = StringField("Company registration number", validators=[Optional(), Length(max=64)],
                                  description="Printed as seller on your invoices to customers (such as the EIN).")


class DefaultMarkupForm(FlaskForm):
    """The markup of every product without a rule of its own."""

    markup = MarkupField("Default markup (%)",
                         description="Over the vendor's list price, -100 to 1,000 with up to 2 decimals (25, 12.5, "
                                     "-10). Leave empty to sell at list price.")


class RuleForm(FlaskForm):
    """A markup or a special price per unit for a product, or one of its editions, for everyone."""

    target = SelectField("Product or edition", validate_choice=True)
    markup = MarkupField("Markup (%)", description="Over the vendor's list price of the whole configuration.")
    special = AmountField("Or a special price per unit (USD)",
                          description="Per mailbox, agent or site; it replaces the edition's list price.")


class CustomerPriceForm(FlaskForm):
    """A special price per unit of a product, or one of its editions, for one of the reseller's customers."""

    customer = SelectField("Customer", validate_choice=True)
    target = SelectField("Product or edition", validate_choice=True)
    special = AmountField("Special price per unit (USD)", validators=[InputRequired("Enter a price per unit.")])


class RemoveRuleForm(FlaskForm):
    """Remove one price rule (the next most specific one applies again)."""


class StorefrontProductForm(FlaskForm):
    """How the storefront shows one of the vendor's license products: its own name and description, or hidden."""

    name = StringField("Name on your storefront", validators=[Optional(), Length(max=120)],
                       description="Leave empty to show the vendor's name.")
    summary = TextAreaField("Description on your storefront", validators=[Optional(), Length(max=2000)],
                            description="Leave empty to show the vendor's description.")
    hidden = BooleanField("Hide this product from your storefront",
                          description="Your customers neither see it nor buy it there; its prices are kept.")
