"""The public catalog: list prices for anyone, a configurator whose price follows the choices."""

from __future__ import annotations

from flask import Blueprint, abort, request

from portal.catalog.forms import chosen, form_for
from portal.catalog.services import active_products, configure, default_configuration, product_by_slug
from portal.errors import RuleError
from portal.rendering import render, show_rule_error

bp = Blueprint("shop", __name__, url_prefix="/shop")


@bp.route("")
def index():
    """Every product on sale, with its list prices."""
    return render("shop/index.html", products=active_products())


@bp.route("/<slug>")
def product(slug: str):
    """One product: choose edition, quantity and add-ons and see the list price (htmx updates only the price)."""
    item = product_by_slug(slug)
    if item is None:
        abort(404)
    config, status = default_configuration(item), 200
    form = form_for(item, formdata=request.args or None, meta={"csrf": False})
    form.offer(item, None if request.args else config)
    if request.args:
        form.validate()
        edition_id, quantity, addon_ids, _ = chosen(form)
        try:
            config = configure(item, edition_id, quantity, addon_ids)
        except RuleError as error:
            show_rule_error(form, error)
            config, status = None, 422
    return render("shop/product.html", "shop/_price.html", status=status, product=item, form=form, config=config)
