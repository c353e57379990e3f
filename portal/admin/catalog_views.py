"""Staff pages of the catalog (/admin/catalog): products, their editions and add-ons, and the partner tiers'
discounts. Every form is a plain POST; a mistake comes back (422) beside its field with nothing changed."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_wtf import FlaskForm

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization
from portal.admin import bp
from portal.admin.forms import (
    PRODUCT_FORMS,
    AddAddOnForm,
    AddEditionForm,
    AddOnForm,
    EditionForm,
    NewProductForm,
    ResellerFeeForm,
    TierDiscountsForm,
)
from portal.authz import Permission, requires
from portal.catalog import admin as catalog_admin
from portal.catalog.models import AddOn, Edition, Product, ProductKind
from portal.extensions import db
from portal.money import Money, format_money
from portal.rendering import render, submit
from portal.reseller_fees import config as fees


def _catalog_page(tiers_form: TierDiscountsForm | None = None, status: int = 200):
    if tiers_form is None:
        discounts = catalog_admin.tier_discounts()
        tiers_form = TierDiscountsForm(formdata=None, data={tier.value: bp for tier, bp in discounts.items()})
    return render("admin/catalog.html", products=catalog_admin.all_products(), tiers_form=tiers_form,
                  status=status)


@bp.route("/catalog")
@requires(Permission.STAFF)
def catalog():
    """Every product, retired ones included, and the discount of each partner tier."""
    return _catalog_page()


@bp.route("/catalog/tiers", methods=["POST"])
@requires(Permission.STAFF)
def tier_discounts():
    """Set the reseller discount of the Silver, Gold and Platinum tiers."""
    form = TierDiscountsForm()
    if submit(form, lambda: catalog_admin.set_tier_discounts(form.discounts(), current_actor())):
        flash("Partner tier discounts saved.", "success")
        return redirect(url_for("admin.catalog"))
    return _catalog_page(form, status=422)


@bp.route("/catalog/new", methods=["GET", "POST"])
@requires(Permission.STAFF)
def new_product():
    """Add a product, sold as a perpetual license or as a subscription."""
    form = NewProductForm()
    saved = submit(form, lambda: catalog_admin.create_product(ProductKind(form.kind.data), form.details(),
                                                             current_actor()))
    if saved:
        product = saved.value
        hint = " Add its editions and add-ons below, then offer it in the shop." if product.is_license else ""
        flash(f"{product.name} added to the catalog.{hint}", "success")
        return redirect(url_for("admin.product", product_id=product.id))
    return render("admin/new_product.html", form=form, status=422 if form.errors else 200)


def _product_or_404(product_id: int) -> Product:
    product = catalog_admin.product_for_staff(product_id)
    if product is None:
        abort(404)
    return product


def _product_page(product_id: int, sent: dict[str, FlaskForm] | None = None, status: int = 200):
    """The product page with a fresh form for each part, except `sent`: the forms just posted (by prefix), shown
    again with what was typed and the messages beside the fields."""
    product = _product_or_404(product_id)  # read again: a refused change was rolled back
    sent = sent or {}
    if status == 422:  # the form may be far down the page: say so at the top
        flash("Nothing was saved: see the message beside the field.", "error")

    def form(cls: type[FlaskForm], prefix: str, obj: object = None) -> FlaskForm:
        return sent[prefix] if prefix in sent else cls(formdata=None, obj=obj, prefix=prefix)

    return render(
        "admin/product.html", product=product, status=status,
        form=form(PRODUCT_FORMS[product.kind], "product", product),
        edition_forms={e.id: form(EditionForm, f"edition-{e.id}", e) for e in product.editions},
        addon_forms={a.id: form(AddOnForm, f"addon-{a.id}", a) for a in product.addons},
        new_edition=form(AddEditionForm, "new-edition"),
        new_addon=form(AddAddOnForm, "new-addon"),
        overrides=fees.overrides_of(product) if product.is_license else [],
        reseller_fee_form=form(ResellerFeeForm, "reseller-fee"),
    )


def _back_to(product_id: int, message: str):
    flash(message, "success")
    return redirect(url_for("admin.product", product_id=product_id))


@bp.route("/catalog/<int:product_id>", methods=["GET", "POST"])
@requires(Permission.STAFF)
def product(product_id: int):
    """One product: its details (a license's reseller fee too), editions and add-ons, each editable in place."""
    product = _product_or_404(product_id)
    form = PRODUCT_FORMS[product.kind](obj=product, prefix="product")

    def save():
        catalog_admin.update_product(product, form.details(), current_actor())
        if "reseller_fee_minor" in form:  # only a license's form has it
            fees.set_product_fee(product, form.reseller_fee_minor.data, current_actor())

    if submit(form, save):
        return _back_to(product.id, f"{product.name} saved.")
    return _product_page(product.id, {"product": form}, status=422 if form.errors else 200)


def _save_part(product_id: int, prefix: str, form: FlaskForm, change, saved: str):
    """Save an edition or add-on (new or edited) from its form on the product page; a refusal shows the page again
    with that form's messages."""
    if submit(form, change):
        return _back_to(product_id, saved.format(name=form.name.data.strip()))
    return _product_page(product_id, {prefix: form}, status=422)


@bp.route("/catalog/<int:product_id>/editions", methods=["POST"])
@requires(Permission.STAFF)
def add_edition(product_id: int):
    """Offer the product in one more edition."""
    product = _product_or_404(product_id)
    form = AddEditionForm(prefix="new-edition")

    def add():
        edition = catalog_admin.add_edition(product, form.details(), current_actor())
        fees.set_edition_rrp(edition, form.rrp_unit_minor.data, current_actor())

    return _save_part(product.id, "new-edition", form, add, "Edition {name} added.")


@bp.route("/catalog/editions/<int:edition_id>", methods=["POST"])
@requires(Permission.STAFF)
def update_edition(edition_id: int):
    """Rename, reprice, reorder or retire an edition, or change its recommended retail price."""
    edition = db.session.get(Edition, edition_id) or abort(404)
    form = EditionForm(prefix=f"edition-{edition.id}")

    def save():
        catalog_admin.update_edition(edition, form.details(), current_actor())
        fees.set_edition_rrp(edition, form.rrp_unit_minor.data, current_actor())

    return _save_part(edition.product_id, f"edition-{edition.id}", form, save, "Edition {name} saved.")


@bp.route("/catalog/<int:product_id>/addons", methods=["POST"])
@requires(Permission.STAFF)
def add_addon(product_id: int):
    """Offer an add-on with the product."""
    product = _product_or_404(product_id)
    form = AddAddOnForm(prefix="new-addon")
    return _save_part(product.id, "new-addon", form,
                      lambda: catalog_admin.add_addon(product, form.details(), current_actor()),
                      "Add-on {name} added.")


@bp.route("/catalog/addons/<int:addon_id>", methods=["POST"])
@requires(Permission.STAFF)
def update_addon(addon_id: int):
    """Rename, reprice, reorder or retire an add-on."""
    addon = db.session.get(AddOn, addon_id) or abort(404)
    form = AddOnForm(prefix=f"addon-{addon.id}")
    return _save_part(addon.product_id, f"addon-{addon.id}", form,
                      lambda: catalog_admin.update_addon(addon, form.details(), current_actor()),
                      "Add-on {name} saved.")


# ---------------------------------------------------------------- one reseller's fee


@bp.route("/catalog/<int:product_id>/reseller-fees", methods=["POST"])
@requires(Permission.STAFF)
def set_reseller_fee(product_id: int):
    """Set the fee one reseller pays on a license product (or no fee), in place of the product's fee."""
    product = _product_or_404(product_id)
    form = ResellerFeeForm(prefix="reseller-fee")

    def save():
        reseller = fees.reseller_named(form.reseller.data)
        fees.set_reseller_fee(product, reseller, form.fee(), current_actor())
        return reseller

    saved = submit(form, save)
    if saved:
        fee = "no fee" if form.fee() is None else f"a fee of {format_money(Money(form.fee(), product.currency))}"
        return _back_to(product.id, f"{saved.value.name} now pays {fee} per customer account on {product.name}.")
    return _product_page(product.id, {"reseller-fee": form}, status=422)


@bp.route("/catalog/reseller-fees/<int:fee_override_id>/remove", methods=["GET", "POST"])
@requires(Permission.STAFF)
def remove_reseller_fee(fee_override_id: int):
    """Remove one reseller's own fee on a product, after confirming: it pays the product's fee again."""
    override = fees.override_for_staff(fee_override_id) or abort(404)
    product = _product_or_404(override.product_id)
    reseller = db.session.get(Organization, override.reseller_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        fees.remove_reseller_fee(override, current_actor())
        db.session.commit()
        return _back_to(product.id, f"{reseller.name} pays the fee of {product.name} for all resellers again.")
    return render("admin/remove_reseller_fee.html", "admin/_remove_reseller_fee.html", override=override,
                  product=product, reseller=reseller, form=form, status=400 if request.method == "POST" else 200)
