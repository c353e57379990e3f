"""The assignment form: which licenses, to whom (the rules live in licenses.services.assign_licenses)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import Length, Optional

from portal.catalog.forms import CheckboxesField


class AssignForm(FlaskForm):
    licenses = CheckboxesField("Licenses to assign", validate_choice=False)  # checked by the view
    email = EmailField("Customer's email", validators=[Optional(), Length(max=254)],
                       description="The person who receives the license keys by email.")
    customer_name = StringField("Customer name", validators=[Optional(), Length(max=200)],
                                description="Only for a customer new to the portal: the company whose account we "
                                            "create under yours. Their email address if left empty.")
    customer = HiddenField()

    def customer_id(self) -> int | None:
        value = (self.customer.data or "").strip()
        return int(value) if value.isdigit() else None
