"""The public catalog: list prices for anyone, a configurator whose price follows the choices."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_login import current_user

from portal.authz import Permission, active_organization, can
from portal.catalog.forms import HardwareForm, chosen, form_for
from portal.catalog.services import active_products, configure, default_configuration, product_by_slug
from portal.errors import RuleError
from portal.hardware.ordering import shippable_locations
from portal.rendering import render, show_rule_error

bp = Blueprint("shop", __name__, url_prefix="/shop")


@bp.route("")
def index():
    """Every product on sale, with its list prices."""
    return render("shop/index.html", products=active_products())


@bp.route("/<slug>", methods=["GET", "POST"])
def product(slug: str):
    """One product: choose edition, quantity and add-ons and see the list price (htmx updates only the price;
    without JavaScript "Update price" posts the choices here, so that the form's CSRF token stays out of the
    address). Nothing changes: the cart is the form's own action."""
    item = product_by_slug(slug)
    if item is None:
        abort(404)
    config, status = default_configuration(item), 200
    choices = request.form if request.method == "POST" else request.args
    form = form_for(item, formdata=choices or None, meta={"csrf": False})
    form.offer(item, None if choices else config)
    org = active_organization()
    if isinstance(form, HardwareForm) and org is not None and can(current_user, Permission.BUY, org):
        form.offer_locations(shippable_locations(org))
    if choices:
        form.validate()
        edition_id, quantity, addon_ids, _ = chosen(form)
        try:
            config = configure(item, edition_id, quantity, addon_ids)
        except RuleError as error:
            show_rule_error(form, error)
            config, status = None, 422
    return render("shop/product.html", "shop/_price.html", status=status, product=item, form=form, config=config)
