"""The cart: add from a product page, change or remove inline, see the count in the header update."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires
from portal.cart import services
from portal.cart.models import CartItem
from portal.catalog.forms import HardwareForm, chosen, form_for
from portal.catalog.services import configure, products_by_id
from portal.errors import RuleError
from portal.extensions import db, htmx
from portal.hardware.ordering import shippable_locations
from portal.rendering import render, show_rule_error
from portal.routing import id_value

bp = Blueprint("cart", __name__, url_prefix="/cart")


def _hardware_form(form, org, current: int | None = None):
    """A hardware form offers the locations the buyer may ship to (one statement; other forms are returned as
    they are)."""
    if isinstance(form, HardwareForm):
        form.offer_locations(shippable_locations(org), current)
    return form


def _location_chosen(form) -> int | None:
    return form.location.data if isinstance(form, HardwareForm) else None


def _cart_context(org) -> dict:
    lines = services.cart_lines(services.cart_items(current_user, org))
    forms = {}
    locations = None
    for line in lines:
        product = line.product
        if product is not None:
            form = form_for(product, prefix=f"item-{line.item.id}", meta={"csrf": False})
            form.offer(product, line.config)
            if product.is_license:
                form.copies.data = line.item.copies
            if isinstance(form, HardwareForm):
                form.quantity.data = line.item.quantity
                locations = shippable_locations(org) if locations is None else locations
                form.offer_locations(locations, line.item.location_id)
            forms[line.item.id] = form
    return {"lines": lines, "forms": forms, "confirm_form": ConfirmForm(),
            "total_list_minor": sum(line.list_minor for line in lines)}


def _show_cart(status: int = 200):
    return render("cart/cart.html", "cart/_cart.html", status=status, **_cart_context(active_organization()))


@bp.route("")
@requires(Permission.BUY)
def show():
    """What is in your cart, at today's list prices; the discount appears at checkout."""
    return _show_cart()


@bp.route("", methods=["POST"])
@requires(Permission.BUY)
def add():
    """Add a configured product to the cart (from a product page)."""
    product_id = request.form.get("product_id", type=id_value) or 0
    product = products_by_id({product_id}).get(product_id)
    if product is None or not product.active:
        flash("That product is not for sale. Choose one from the shop.", "error")
        return redirect(url_for("shop.index"))
    form = form_for(product)
    form.offer(product)
    org = active_organization()
    _hardware_form(form, org)
    try:
        if not form.validate_on_submit():
            raise RuleError("Check the choices below.")
        edition_id, quantity, addon_ids, copies = chosen(form)
        config = configure(product, edition_id, quantity, addon_ids)
        services.add_to_cart(current_user, org, config, copies, current_actor(), location_id=_location_chosen(form))
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return render("shop/product.html", "shop/_add_result.html", status=422, product=product, form=form,
                      config=None)
    db.session.commit()
    message = f"Added to your cart: {config.description}."
    if htmx:
        return render("shop/_add_result.html", message=message, cart_count=services.cart_count(current_user, org),
                      product=product, form=form)
    flash(message, "success")
    return redirect(url_for("cart.show"))


def _item_in_scope(item_id: int) -> CartItem:
    item = get_in_scope_or_404(CartItem, item_id, CartItem.organization_id, current_user, Permission.BUY)
    if item.user_id != current_user.id:
        abort(404)  # a cart is its user's own, even within the organization
    return item


@bp.route("/items/<int:item_id>", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def update(item_id: int):
    """Change an item's edition, quantity, add-ons or number of licenses."""
    item = _item_in_scope(item_id)
    product = products_by_id({item.product_id}).get(item.product_id)
    form = form_for(product, prefix=f"item-{item.id}", meta={"csrf": False})  # CSRFProtect checked the POST
    form.offer(product)
    _hardware_form(form, active_organization())
    try:
        if not form.validate_on_submit():  # the inline form has no room beside its fields: say what is wrong
            wrong = [f"{field.label.text}: {field.errors[0]}" for field in form if field.errors]
            raise RuleError(" ".join(["Check the changes to this item.", *wrong[:1]]))
        edition_id, quantity, addon_ids, copies = chosen(form)
        services.update_item(item, configure(product, edition_id, quantity, addon_ids), copies, current_actor(),
                             location_id=_location_chosen(form))
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _show_cart(status=422)
    db.session.commit()
    if not htmx:
        flash("Cart updated.", "success")
        return redirect(url_for("cart.show"))
    return _show_cart()


@bp.route("/items/<int:item_id>/remove", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's object is a 404
def remove(item_id: int):
    """Take an item out of the cart."""
    item = _item_in_scope(item_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.remove_item(item, current_actor())
    db.session.commit()
    if not htmx:
        flash("Item removed from your cart.", "success")
        return redirect(url_for("cart.show"))
    return _show_cart()
