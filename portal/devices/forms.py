"""Location and device forms (Flask-WTF: CSRF on every one). The services check names again, trimmed."""

from __future__ import annotations

from html import escape as escape_html

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import html_params

from portal.devices.services import ADDRESS_MAX, NAME_MAX, SERIAL_MAX, STREET_LABELS, STREET_LIMITS, StreetAddress
from portal.routing import id_value


def options_html(choices, chosen) -> Markup:
    """<option>s rendered in one pass: a chain can have thousands of locations, and rendering each option
    through WTForms' widget or a template loop was most of /devices' time at 2,000 locations."""
    options = "".join(f'<option value="{escape_html(str(value))}"{" selected" if value == chosen else ""}>'
                      f"{escape_html(label)}</option>" for value, label in choices or ())
    return Markup(options)  # noqa: S704 - every value and label is escaped above


def many_options_select(field: SelectField, **kwargs) -> Markup:
    """WTForms' select widget, with its options rendered by options_html."""
    kwargs.setdefault("id", field.id)
    # html_params escapes the attributes; options_html its values and labels.
    return Markup(f"<select {html_params(name=field.name, **kwargs)}>"  # noqa: S704
                  f"{options_html(field.choices, field.data)}</select>")


class ChoiceOfOurs(SelectField):
    """A select of ids the view offers (locations, organizations in scope); anything else, a foreign id as much
    as garbage, is one plain message beside the field. A location field of a big chain is a search with radio
    buttons instead (portal/devices/picker.py): its choices are then the one location posted, if in scope."""

    widget = staticmethod(many_options_select)

    def __init__(self, label: str, message: str, **kwargs):
        super().__init__(label, coerce=int, **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None

    def pre_validate(self, form):
        if self.data not in {value for value, _ in self.choices or ()}:
            raise ValidationError(self.message)


def _name(label: str, what: str) -> StringField:
    return StringField(label, validators=[DataRequired(message=f"Give the {what} a name."),
                                          Length(max=NAME_MAX, message=f"Keep the name to {NAME_MAX} characters "
                                                                       "or fewer.")],
                       description="Unique within its organization.")


def _street_field(name: str, label: str, **kwargs) -> StringField:
    limit = STREET_LIMITS[name]
    return StringField(label, validators=[Length(max=limit, message=f"Keep it to {limit} characters or fewer.")],
                       **kwargs)


class LocationForm(FlaskForm):
    name = _name("Location name", "location")
    address = StringField("Address", validators=[
        Length(max=ADDRESS_MAX, message=f"Keep the address to {ADDRESS_MAX} characters or fewer.")])
    # The street address hardware ships to (portal/hardware/ordering.py): all of it, or none.
    street = _street_field("street", "Street", description="Hardware ships here: a street address, no P.O. box.")
    city = _street_field("city", "City")
    region = _street_field("region", "State or region")
    postal_code = _street_field("postal_code", "Postal code")
    country = _street_field("country", "Country", description="Its 2-letter ISO code, such as US or CA.")

    def street_address(self) -> StreetAddress:
        return StreetAddress(*(getattr(self, name).data or "" for name in STREET_LABELS))


class AddLocationForm(LocationForm):
    # A main chain's managers and partners add locations for its sub-chains too; the view sets the choices.
    organization_id = ChoiceOfOurs("Organization", "Choose one of the listed organizations.")


class DeviceForm(FlaskForm):
    name = _name("Device name", "device")
    serial_number = StringField("Serial number", validators=[
        Length(max=SERIAL_MAX, message=f"Keep the serial number to {SERIAL_MAX} characters or fewer.")])
    counts = BooleanField("Counts towards plans", default=True,
                          description="Untick it for a spare kept on the shelf: it is listed but not counted.")


class ReplacedDeviceField(SelectField):
    """"Replacement of": empty for a device of its own, else the id of a device of the chain. Any id is taken
    here; the view looks it up in the user's scope and the service says why one cannot be replaced (a spare, one
    already replaced), beside this field."""

    widget = staticmethod(many_options_select)
    INVALID = object()

    def __init__(self, label: str, **kwargs):
        super().__init__(label, coerce=lambda value: value, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        try:
            self.data = id_value(raw) if raw else None
        except ValueError:
            self.data = self.INVALID

    def pre_validate(self, form):
        if self.data is self.INVALID:
            raise ValidationError("Choose one of the listed devices.")


class AddDeviceForm(DeviceForm):
    location_id = ChoiceOfOurs("Location", "Choose one of the listed locations.")
    replaces_id = ReplacedDeviceField(
        "Replacement of (RMA)",
        description="Only for a device that replaces a broken one under RMA: the broken one stops counting, the "
                    "plans' usage does not change and nobody is emailed.")


class MoveDeviceForm(FlaskForm):
    location_id = ChoiceOfOurs("Move to", "Choose one of the listed locations.")
