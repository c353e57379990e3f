"""Staff forms: the catalog (products, editions, add-ons, tier discounts) and organizations' commercial terms.

Amounts, percentages and quantities are typed as text and read by portal.money and the catalog's own parser, so a
field's `data` is already integer minor units, basis points or a list of quantities; a typing mistake is shown
beside its field. The rules (ranges, unique names, what each kind of product needs) are the services'.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from portal.accounts.models import BillingMode, PartnerTier
from portal.catalog.admin import (
    MAX_POSITION,
    TIERS,
    AddOnDetails,
    EditionDetails,
    ProductDetails,
    parse_countries,
    parse_quantities,
)
from portal.catalog.models import BillingInterval, ProductKind, SubscriptionBasis
from portal.money import format_amount, format_percent_bp, parse_amount, parse_percent_bp


class _TypedField(StringField):
    """Text in, a parsed value out (`data`); what was typed is shown again when it could not be read."""

    def parse(self, text: str) -> object:
        raise NotImplementedError

    def show(self, value: object) -> str:
        raise NotImplementedError

    def process_formdata(self, valuelist):
        if valuelist:
            text = valuelist[0].strip()
            self.data = self.parse(text) if text else None  # a RuleError is a ValueError: WTForms shows it

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.show(self.data) if self.data is not None else ""


class AmountField(_TypedField):
    """USD as staff type it ("1,234.56"); `data` is integer cents."""

    def parse(self, text: str) -> int:
        return parse_amount(text)

    def show(self, value: int) -> str:
        return format_amount(value)


class PercentField(_TypedField):
    """A percentage with up to 2 decimals ("12.5"); `data` is basis points."""

    def parse(self, text: str) -> int:
        return parse_percent_bp(text)

    def show(self, value: int) -> str:
        return format_percent_bp(value)


class QuantitiesField(_TypedField):
    """Quantities typed as "10, 25, 50"; `data` is the sorted list."""

    def parse(self, text: str) -> list[int]:
        return parse_quantities(text)

    def show(self, value: list[int]) -> str:
        return ", ".join(str(q) for q in value)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if valuelist and self.data is None:
            self.data = []


class CountriesField(_TypedField):
    """Countries typed as "US, CA"; `data` is the sorted list of ISO codes."""

    def parse(self, text: str) -> list[str]:
        return parse_countries(text)

    def show(self, value: list[str]) -> str:
        return ", ".join(value)


def _choices(enum_type, labels: dict | None = None, blank: str | None = None) -> list[SelectChoice]:
    choices = [SelectChoice("", blank)] if blank is not None else []
    return choices + [SelectChoice(member.value, (labels or {}).get(member) or member.label) for member in enum_type]


def _enum_or_none(enum_type, value: str | None):
    return enum_type(value) if value else None


class _Placement:
    """Where an edition or add-on stands in the list, and whether it is still offered (edit forms only)."""

    position = IntegerField("Position", validators=[InputRequired("Enter a position."),
                                                    NumberRange(0, MAX_POSITION)])
    active = BooleanField("Offered")

    def placement(self) -> dict:
        return {"position": self.position.data, "active": self.active.data}


class _ProductForm(FlaskForm):
    """What every product has; the license or subscription terms come from the mixins below."""

    name = StringField("Name", validators=[InputRequired("Enter the product's name."), Length(max=120)])
    slug = StringField("Slug", validators=[InputRequired("Enter a slug."), Length(max=64)],
                       description="Lowercase letters, digits and hyphens, such as mail-server: the product's "
                                   "address in the shop.")
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=2000)])
    unit_label = StringField("Unit", validators=[InputRequired("Enter the unit."), Length(max=40)],
                             description="What a quantity counts, in the plural: mailboxes, agents, sites, devices, "
                                         "locations.")
    position = IntegerField("Position in the catalog", validators=[Optional(), NumberRange(0, MAX_POSITION)],
                            description="Lower comes first. Leave empty to put it last.")
    active = BooleanField("Offered in the shop", default=True)

    def details(self) -> ProductDetails:
        return ProductDetails(
            slug=self.slug.data or "", name=self.name.data or "", unit_label=self.unit_label.data or "",
            summary=self.summary.data or "", active=self.active.data, position=self.position.data,
            **{**self.license_terms(), **self.subscription_terms(), **self.hardware_terms()},
        )

    def license_terms(self) -> dict:
        return {}

    def subscription_terms(self) -> dict:
        return {}

    def hardware_terms(self) -> dict:
        return {}


class _LicenseTerms:
    quantities = QuantitiesField("Quantities offered", description="Separated by commas, such as 10, 25, 50.")
    ms_rate_bp = PercentField("Yearly Maintenance & Support (% of the list price)", default=2000)
    reinstatement_fee_minor = AmountField("Reinstatement fee for lapsed M&S (USD)", default=0)

    def license_terms(self) -> dict:
        return {"quantities": tuple(self.quantities.data or ()), "ms_rate_bp": self.ms_rate_bp.data,
                "reinstatement_fee_minor": self.reinstatement_fee_minor.data}


class _SubscriptionTerms:
    basis = SelectField("Charged", default="", choices=_choices(SubscriptionBasis, {
        SubscriptionBasis.DEVICE: "Per device", SubscriptionBasis.LOCATION: "Per location",
        SubscriptionBasis.RESELLER: "Per reseller (a reseller plan)"}, blank="Choose…"))
    interval = SelectField("Billed", default="", choices=_choices(BillingInterval, {
        BillingInterval.MONTHLY: "Monthly", BillingInterval.ANNUAL: "Annually"}, blank="Choose…"))
    unit_price_minor = AmountField("List price per unit and interval (USD)")

    def subscription_terms(self) -> dict:
        return {"basis": _enum_or_none(SubscriptionBasis, self.basis.data),
                "interval": _enum_or_none(BillingInterval, self.interval.data),
                "unit_price_minor": self.unit_price_minor.data}


class _HardwareTerms:
    sku = StringField("SKU", validators=[Optional(), Length(max=40)],
                      description="The stock-keeping unit, such as PC-100: letters, digits, dots and hyphens.")
    hardware_unit_price_minor = AmountField("Unit price (USD)")
    shipping_per_order_minor = AmountField("Shipping per order (USD)",
                                           description="Charged once per order for each location it ships to. "
                                                       "Leave empty for none.")
    shipping_per_unit_minor = AmountField("Shipping per unit (USD)", description="Leave empty for none.")
    ships_to = CountriesField("Ships to", description="Countries as 2-letter ISO codes separated by commas, such "
                                                      "as US, CA.")
    becomes_device = BooleanField("Each unit becomes a counting device once installed")

    def hardware_terms(self) -> dict:
        return {"sku": self.sku.data or "", "unit_price_minor": self.hardware_unit_price_minor.data,
                "shipping_per_order_minor": self.shipping_per_order_minor.data,
                "shipping_per_unit_minor": self.shipping_per_unit_minor.data,
                "ships_to": tuple(self.ships_to.data or ()), "becomes_device": self.becomes_device.data}


class LicenseProductForm(_LicenseTerms, _ProductForm):
    reseller_fee_minor = AmountField(
        "Reseller fee per customer account per month (USD)",
        description="What every reseller pays the vendor each month for each of its customer accounts holding a "
                    "license of this product, counted on the month's last day. Leave empty for no fee. A fee set "
                    "for one reseller below takes its place for that reseller.")


class SubscriptionProductForm(_SubscriptionTerms, _ProductForm):
    pass


class HardwareProductForm(_HardwareTerms, _ProductForm):
    def __init__(self, *args, obj=None, **kwargs):
        # the unit price column is shared with subscriptions, whose field has that name on the new-product form
        if obj is not None:
            kwargs.setdefault("data", {"hardware_unit_price_minor": obj.unit_price_minor})
        super().__init__(*args, obj=obj, **kwargs)


PRODUCT_FORMS: dict[ProductKind, type[_ProductForm]] = {
    ProductKind.LICENSE: LicenseProductForm, ProductKind.SUBSCRIPTION: SubscriptionProductForm,
    ProductKind.HARDWARE: HardwareProductForm,
}


class NewProductForm(_LicenseTerms, _SubscriptionTerms, _HardwareTerms, _ProductForm):
    """Every kind's terms: without JavaScript every field is on the page, and the chosen kind's apply."""

    kind = RadioField("Sold as", choices=[
        SelectChoice(ProductKind.LICENSE.value, "Perpetual license (editions, quantities, add-ons, yearly M&S)"),
        SelectChoice(ProductKind.SUBSCRIPTION.value, "Subscription (per device or per location)"),
        SelectChoice(ProductKind.HARDWARE.value, "Hardware (units shipped to a location)"),
    ], default=ProductKind.LICENSE.value, validators=[InputRequired("Choose how the product is sold.")])

    def hardware_terms(self) -> dict:
        return super().hardware_terms() if self.kind.data == ProductKind.HARDWARE.value else {}
    active = BooleanField("Offered in the shop", default=False,
                          description="A license product is offered once it has an edition: add its editions on "
                                      "its page, then offer it there.")


class AddEditionForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Enter the edition's name."), Length(max=80)])
    base_price_minor = AmountField("Base price (USD)", validators=[InputRequired("Enter a price.")], default=0)
    unit_price_minor = AmountField("Price per unit (USD)", validators=[InputRequired("Enter a price.")])
    rrp_unit_minor = AmountField("Recommended retail price per unit (USD)",
                                 description="What resellers are advised to charge their customers per unit; they "
                                             "may follow, exceed or undercut it. Leave empty for none.")

    def details(self) -> EditionDetails:
        return EditionDetails(name=self.name.data, base_price_minor=self.base_price_minor.data,
                              unit_price_minor=self.unit_price_minor.data, **self.placement())

    def placement(self) -> dict:
        return {}


class EditionForm(_Placement, AddEditionForm):
    pass


class AddAddOnForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Enter the add-on's name."), Length(max=120)])
    slug = StringField("Slug", validators=[InputRequired("Enter a slug."), Length(max=64)])
    price_minor = AmountField("Price per license (USD)", validators=[InputRequired("Enter a price.")])

    def details(self) -> AddOnDetails:
        return AddOnDetails(slug=self.slug.data, name=self.name.data, price_minor=self.price_minor.data,
                            **self.placement())

    def placement(self) -> dict:
        return {}


class AddOnForm(_Placement, AddAddOnForm):
    pass


class ResellerFeeForm(FlaskForm):
    """Staff's fee for one reseller on one product, in place of the product's fee for all resellers."""

    reseller = StringField("Reseller (name or id)", validators=[InputRequired("Enter the reseller's name or its id."),
                                                                Length(max=200)],
                           description="A main chain with a partner tier. Setting a reseller's fee again changes it.")
    fee_minor = AmountField("Fee per customer account per month (USD)")
    no_fee = BooleanField("No fee for this reseller")

    def validate_fee_minor(self, field) -> None:
        if self.no_fee.data and field.data is not None:
            raise ValidationError("Leave the fee empty when this reseller pays no fee, or untick No fee.")
        if not self.no_fee.data and field.data is None and not field.errors:
            raise ValidationError("Enter the fee, or tick No fee for this reseller.")

    def fee(self) -> int | None:
        """The fee chosen: None for no fee."""
        return None if self.no_fee.data else self.fee_minor.data


class TierDiscountsForm(FlaskForm):
    silver = PercentField("Silver discount (%)", validators=[InputRequired("Enter a percentage.")])
    gold = PercentField("Gold discount (%)", validators=[InputRequired("Enter a percentage.")])
    platinum = PercentField("Platinum discount (%)", validators=[InputRequired("Enter a percentage.")])

    def discounts(self) -> dict[PartnerTier, int]:
        return {tier: getattr(self, tier.value).data for tier in TIERS}


class CommercialTermsForm(FlaskForm):
    billing_mode = SelectField("Billing", choices=_choices(BillingMode), validators=[InputRequired()],
                               description="Invoiced monthly: order invoices are gathered into one summary invoice "
                                           "a month, and checkout offers “Invoice me”.")
    partner_tier = SelectField("Partner tier", choices=_choices(PartnerTier), validators=[InputRequired()],
                               description="The tier's discount applies at checkout.")
    grandfathered_payment_methods = BooleanField(
        "Keeps the payment methods it had before April 2019",
        description="Other payment methods (wire, ACH, check) are otherwise offered only for amounts of "
                    "USD 1,000.00 and over.",
    )
    tax_exempt = BooleanField(
        "Resale exemption: buys for resale, pays no tax",
        description="With a resale certificate on file. Its orders show tax category E (exempt) and no tax.",
    )


class NextPaymentCorrectionForm(FlaskForm):
    """Staff correct a plan's next payment date, with the reason (portal/recurring/corrections.py)."""

    next_payment_on = DateField("New next payment date", validators=[InputRequired("Give the new date.")],
                                description="After the last day already billed; the plan renews on this day of the "
                                            "month from then on.")
    reason = StringField("Reason", validators=[InputRequired("Say why the date is corrected."),
                                               Length(max=500, message="Keep the reason to 500 characters or fewer.")],
                         description="Kept in the audit log with the old and the new date.")


class PutOnPlanForm(FlaskForm):
    """Staff put a reseller on Free or Standard (an order on its behalf, billed by its terms)."""

    plan = SelectField("Plan", choices=[SelectChoice("reseller-free", "Free"),
                                        SelectChoice("reseller-standard", "Standard")], validators=[InputRequired()])
    storefront_alias = StringField("Storefront alias", validators=[Optional()],
                                   description="The storefront's address, /s/<alias>: lowercase letters, digits and "
                                               "hyphens, 3 to 30 characters. Not needed when the reseller has a "
                                               "kept storefront (it reopens with its alias).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="plan", **kwargs)
