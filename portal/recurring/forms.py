"""Staff's form to start the renewal run from /admin/invoices."""

from __future__ import annotations

from datetime import timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, ValidationError
from wtforms.validators import InputRequired

from portal.db_types import utcnow

CATCH_UP_DAYS = 366  # how far back staff may run a day the job missed


class RenewForm(FlaskForm):
    day = DateField("Renew what is due on or before", validators=[InputRequired("Enter the date, as YYYY-MM-DD.")],
                    description="Today, unless you are catching up a day the job did not run.")

    def validate_day(self, field) -> None:
        if field.data is None:  # not a date: its own message says so
            return
        today = utcnow().date()
        if field.data > today:
            raise ValidationError("Renewals are billed on their day, not ahead: choose today or an earlier day.")
        if field.data < today - timedelta(days=CATCH_UP_DAYS):
            raise ValidationError("Choose a day within the last year.")
