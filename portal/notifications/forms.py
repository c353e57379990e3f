"""The notification preferences form and the unsubscribe confirmation (Flask-WTF: CSRF on both)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from portal.catalog.forms import CheckboxesField
from portal.notifications.models import EmailCategory


class PreferencesForm(FlaskForm):
    # Only optional categories can be chosen: a posted value that is not one (say "invoices") is refused.
    receive = CheckboxesField("Emails you receive",
                              choices=[SelectChoice(c.value, c.label) for c in EmailCategory])


class UnsubscribeForm(FlaskForm):
    """Nothing but the CSRF token: the link's token says who and what."""
