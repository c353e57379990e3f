"""The forms of a plan's Change page: each is posted once to see its price or effect, then again to confirm.

The rules live in portal/subscriptions/changes.py; the forms only carry the values (a quantity, the price shown)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired, NumberRange

from portal.pricing import MAX_UNITS

NOT_A_NUMBER = "Give a whole number."


class WholeNumberField(IntegerField):
    """An integer field that says what to type when the value is not a whole number."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError(NOT_A_NUMBER) from error


class IncreaseForm(FlaskForm):
    """Increase now: how many to add; `quoted` is the prorated price the buyer confirms."""

    quantity = WholeNumberField("Quantity to add", render_kw={"min": 1, "max": MAX_UNITS},
                            validators=[InputRequired(NOT_A_NUMBER), NumberRange(
                                min=1, max=MAX_UNITS, message=f"Add from 1 to {MAX_UNITS:,}; contact the vendor for "
                                                              "more.")])
    quoted = HiddenField()
    confirm = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="increase", **kwargs)

    @property
    def quoted_minor(self) -> int | None:
        """The price the buyer was shown, or None if the field was tampered with."""
        value = (self.quoted.data or "").strip()
        return int(value) if value.isdigit() and len(value) < 19 else None


class DecreaseForm(FlaskForm):
    """Decrease or cancel at the end of the period: the new quantity (0 cancels)."""

    quantity = WholeNumberField("New quantity from the next payment (0 cancels the plan)",
                            render_kw={"min": 0, "max": MAX_UNITS},
                            validators=[InputRequired(NOT_A_NUMBER), NumberRange(
                                min=0, max=MAX_UNITS, message="Give a quantity lower than today's, or 0 to cancel.")])
    confirm = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="decrease", **kwargs)


class SwitchForm(FlaskForm):
    """Switch monthly <-> annual at the end of the period: nothing to choose, only to confirm."""

    confirm = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="switch", **kwargs)
