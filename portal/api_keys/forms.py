"""The form that creates an API key (Flask-WTF: CSRF on it); the confirmation of a revoke is accounts' ConfirmForm."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.api_keys.models import Scope
from portal.catalog.forms import CheckboxesField

WHOLE_CHAIN = ""


class CreateKeyForm(FlaskForm):
    """Name, scopes, the sub-chain it is limited to and its expiry; the service decides what is allowed."""

    name = StringField("Name", validators=[DataRequired("Give the key a name, such as the system that will use it."),
                                           Length(max=100, message="Use at most 100 characters.")],
                       description="Shown in the list and in the activity log next to what the key does.")
    scopes = CheckboxesField("Scopes", choices=[SelectChoice(s.value, s.value) for s in Scope],
                             validators=[DataRequired("Choose at least one scope.")],
                             description="What the key may do, and never more than you may do yourself.")
    # The chain's sub-chains are the view's to offer; a posted value that is not one is refused beside the field.
    sub_chain = SelectField("Limit to sub-chain", validate_choice=False, default=WHOLE_CHAIN)
    # One per rendered form: a reload that sends the same POST again creates no second key (views.index).
    form_id = HiddenField(default=lambda: uuid.uuid4().hex)
    expires_on = DateField("Expires on", validators=[Optional()],
                           description="Optional: the key stops working at the end of that day (UTC), at most two "
                                       "years from now. Leave empty for a key that works until revoked.")
