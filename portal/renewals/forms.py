"""The renewals list's filters: a window of days ahead, a customer (part of its name, or its account id), a product."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from portal.catalog.models import Product
from portal.renewals.listing import DEFAULT_WINDOW, WINDOWS, RenewalFilters
from portal.routing import MAX_ID


def _product_id(value: object) -> int | None:
    if value in (None, "") or isinstance(value, int):
        return value or None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise ValueError("not a product id")
    return int(text)


class RenewalFilterForm(FlaskForm):
    window = SelectField("Window", choices=[(days, f"Next {days} days") for days in WINDOWS], coerce=int,
                         default=DEFAULT_WINDOW, validate_choice=True,
                         description="M&S that lapsed in the last 30 days is listed too, marked Lapsed.")
    customer = StringField("Customer", validators=[Optional(), Length(max=200)],
                           description="Part of the customer's name, or its account id.")
    product = SelectField("Product", coerce=_product_id, validate_choice=True)

    def offer(self, products: list[Product]) -> RenewalFilterForm:
        """The products to choose from: every product of the catalog, by name."""
        self.product.choices = [("", "All products")] + [(p.id, p.name) for p in products]
        return self

    def filters(self) -> RenewalFilters:
        """The filters as the service takes them: each field that is not valid at its default."""
        window = self.window.data if not self.window.errors and self.window.data in WINDOWS else DEFAULT_WINDOW
        customer = (self.customer.data or "").strip() if not self.customer.errors else ""
        product = self.product.data if not self.product.errors else None
        return RenewalFilters(window, customer, product)

    def explain(self) -> None:
        """Clear messages for the fields WTForms refused with its own."""
        if self.window.errors:
            self.window.errors = [f"Choose a window of {', '.join(str(d) for d in WINDOWS[:-1])} or "
                                  f"{WINDOWS[-1]} days."]
        if self.product.errors:
            self.product.errors = ["Choose one of the products listed."]
        if self.customer.errors:
            self.customer.errors = ["Type at most 200 characters of the customer's name, or its account id."]
