"""Partner grant forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, IntegerField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

_EXPIRY_HELP = "Leave empty for one year. At most two years."


class GrantForm(FlaskForm):
    """The customer gives a partner organization access at once."""

    partner_code = StringField("Partner ID", validators=[DataRequired(), Length(max=40)],
                               description="Your partner reads its partner ID on its own Installation partners page.")
    expires_on = DateField("Access ends on", validators=[Optional()], description=_EXPIRY_HELP)


class RequestForm(FlaskForm):
    """A partner asks a customer for access."""

    email = EmailField("Customer's Chain & User Manager", validators=[DataRequired(), Email(), Length(max=254)],
                       description="The address a Chain & User Manager of your customer signs in with.")
    expires_on = DateField("Access ends on", validators=[Optional()], description=_EXPIRY_HELP)


class AssignForm(FlaskForm):
    """A partner manager picks (or removes) one of their users for a grant."""

    # Which users are the partner's is the service's question: the choice list is rendered by the page.
    user_id = IntegerField("User", validators=[DataRequired()])
