"""The assignment form: which licenses, to whom (the rules live in licenses.services.assign_licenses)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import Length, Optional

from portal.catalog.forms import CheckboxesField
from portal.licenses.models import License
from portal.licenses.services import NEVER_REASSIGNED
from portal.routing import MAX_ID


class AssignForm(FlaskForm):
    licenses = CheckboxesField("Licenses to assign", validate_choice=False)  # checked by the view
    email = EmailField("Customer's email", validators=[Optional(), Length(max=254)],
                       description="The person who receives the license keys by email.")
    customer_name = StringField("Customer name", validators=[Optional(), Length(max=200)],
                                description="Only for a customer new to the portal: the company whose account we "
                                            "create under yours. Their email address if left empty.")
    customer = HiddenField()

    def customer_id(self) -> int | None:
        """The chosen customer's id, None if none is chosen; 0 (no organization's id, so the view answers 404) for
        a value no id column can hold (not ASCII digits, or beyond the largest id), rather than a database error."""
        value = (self.customer.data or "").strip()
        if not value:
            return None
        return int(value) if value.isascii() and value.isdigit() and int(value) <= MAX_ID else 0

    def offer(self, chosen: list[License], first_visit: bool) -> None:
        """The chosen licenses as the boxes to tick; on the first visit every unassigned one ticked, and each one
        already assigned explained beside them."""
        if first_visit:
            self.licenses.data = [lic.key for lic in chosen if lic.customer_id is None]
            self.licenses.errors = [f"License {lic.key} is already assigned. {NEVER_REASSIGNED}"
                                    for lic in chosen if lic.customer_id is not None]
        self.licenses.choices = [(lic.key, f"{lic.product.name} {lic.edition.name}, {lic.quantity} "
                                           f"{lic.product.unit_label} · {lic.key}") for lic in chosen]
