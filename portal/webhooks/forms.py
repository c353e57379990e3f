"""The webhook pages' forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from portal.catalog.forms import CheckboxesField
from portal.webhooks.models import EventType


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL", description="Where the portal POSTs events: an https:// address.",
                      render_kw={"inputmode": "url", "placeholder": "https://example.com/webhooks"})
    description = StringField("Description (optional)", validators=[Length(max=200)])
    event_types = CheckboxesField("Events to send", validate_choice=False,
                                  choices=[SelectChoice(kind.value, kind.value) for kind in EventType])


class DeliveryForm(FlaskForm):
    """A Resend button: the delivery it sends again."""

    delivery_id = HiddenField()
