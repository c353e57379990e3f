"""Forms of the Modify a License pages. They only carry values: `licenses.modify` decides what is allowed."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from portal.catalog.forms import UNITS, CheckboxesField
from portal.catalog.models import Product
from portal.licenses.models import License


class FindLicenseForm(FlaskForm):
    """Resold licenses are found by key (a GET form: nothing changes)."""

    key = StringField("License key", validators=[Length(max=64)],
                      description="25 characters, as in the assignment email: XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.")


class UpgradeForm(FlaskForm):
    """A higher edition, more units, more add-ons; `quoted` is the price the page showed for these choices."""

    edition = SelectField("Edition", coerce=int, validate_choice=False, validators=[Optional()])
    quantity = SelectField("Quantity", coerce=int, validate_choice=False, validators=[InputRequired(), UNITS])
    addons = CheckboxesField("Add add-ons", coerce=int, validate_choice=False)
    quoted = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def offer(self, license_: License, product: Product, owned_addon_ids: set[int]) -> UpgradeForm:
        """Every edition and quantity on offer (a lower one is refused with its reason, not hidden), and the
        add-ons the license does not have yet; the license's own values are chosen when nothing was posted."""
        self.edition.choices = [SelectChoice(e.id, e.name) for e in product.editions
                                if e.active or e.id == license_.edition_id]
        quantities = sorted(set(product.quantities) | {license_.quantity})
        unit = product.unit_label
        self.quantity.label.text = f"Quantity ({unit})"
        self.quantity.choices = [SelectChoice(q, f"{q} {unit}") for q in quantities]
        self.addons.choices = [SelectChoice(a.id, a.name) for a in product.addons
                               if a.active and a.id not in owned_addon_ids]
        if self.edition.data is None:
            self.edition.data = license_.edition_id
        if self.quantity.data is None:
            self.quantity.data = license_.quantity
        return self


class MaintenanceForm(FlaskForm):
    """One more year of M&S: `purchase` is renewal or reinstatement, `quoted` the price the page showed."""

    purchase = HiddenField()
    quoted = IntegerField(widget=HiddenInput(), validators=[Optional()])
