"""The product configurator: edition, quantity, add-ons and number of licenses.

The catalog service decides what is valid (`catalog.services.configure`); the form only carries the values, so
the rule lives in one place for the shop, the cart and the API."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.catalog.models import Product
from portal.catalog.services import Configuration
from portal.devices.models import Location
from portal.pricing import MAX_COPIES, MAX_UNITS
from portal.routing import id_value

UNITS = NumberRange(min=1, max=MAX_UNITS, message=f"Choose from 1 to {MAX_UNITS:,}; contact the vendor for more.")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConfigureForm(FlaskForm):
    product_id = HiddenField()
    edition = SelectField("Edition", coerce=int, validate_choice=False, validators=[Optional()])
    quantity = SelectField("Quantity", coerce=int, validate_choice=False, validators=[InputRequired(), UNITS])
    addons = CheckboxesField("Add-ons", coerce=int, validate_choice=False)
    copies = IntegerField("Number of licenses", default=1, render_kw={"min": 1, "max": MAX_COPIES},
                          validators=[Optional(), NumberRange(min=1, max=MAX_COPIES,
                                                              message=f"Buy between 1 and {MAX_COPIES} licenses.")])

    def offer(self, product: Product, config: Configuration | None = None) -> ConfigureForm:
        """Fill the choices from the catalog (and, when given, the current choice)."""
        self.product_id.data = str(product.id)
        self.edition.choices = [SelectChoice(e.id, e.name) for e in product.editions if e.active]
        unit = product.unit_label
        self.quantity.label.text = f"Quantity ({unit})"
        self.quantity.choices = [SelectChoice(q, f"{q} {unit}") for q in sorted(product.quantities)]
        self.addons.choices = [SelectChoice(a.id, a.name) for a in product.addons if a.active]
        if config is not None:
            self.edition.data = config.edition.id if config.edition else None
            self.quantity.data = config.quantity
            self.addons.data = config.addon_ids
        return self


class SubscriptionForm(FlaskForm):
    """Device and location plans: only a quantity."""

    product_id = HiddenField()
    quantity = IntegerField("Quantity", default=1, render_kw={"min": 1, "max": MAX_UNITS},
                            validators=[InputRequired(), UNITS])

    def offer(self, product: Product, config: Configuration | None = None) -> SubscriptionForm:
        self.product_id.data = str(product.id)
        self.quantity.label.text = f"Number of {product.unit_label}"
        if config is not None:
            self.quantity.data = config.quantity
        return self


def _location_id(value: object) -> int | None:
    if value in ("", None):
        return None
    return value if isinstance(value, int) else id_value(str(value))


class HardwareForm(SubscriptionForm):
    """Hardware: a number of units and the location they ship to (portal/hardware/ordering.py decides which)."""

    location = SelectField("Ship to", coerce=_location_id, validate_choice=False,
                           validators=[Optional()],
                           description="Hardware ships to the street address of one of your locations.")

    def offer(self, product: Product, config: Configuration | None = None) -> HardwareForm:
        super().offer(product, config)
        self.quantity.label.text = "Number of units"
        return self

    def offer_locations(self, locations: list[Location], current: int | None = None) -> HardwareForm:
        """The locations the buyer may ship to, named with their organization."""
        self.location.choices = [SelectChoice("", "Choose a location…")] + [
            SelectChoice(loc.id, f"{loc.name} ({loc.organization.name})") for loc in locations]
        if current is not None:
            self.location.data = current
        return self


def form_for(product: Product, **kwargs) -> ConfigureForm | SubscriptionForm:
    """The configurator form that suits the product (bound to the request's form unless `formdata` is given)."""
    cls = ConfigureForm if product.is_license else HardwareForm if product.is_hardware else SubscriptionForm
    return cls(**kwargs)


def chosen(form: ConfigureForm | SubscriptionForm) -> tuple[int | None, int | None, list[int], int | None]:
    """(edition id, quantity, add-on ids, copies) as the buyer chose them."""
    if isinstance(form, SubscriptionForm):
        return None, form.quantity.data, [], 1
    return form.edition.data, form.quantity.data, list(form.addons.data or []), form.copies.data
