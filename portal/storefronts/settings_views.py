"""The reseller's storefront settings (/account/storefront), its prices (/account/storefront/prices and the price
list /account/storefront/prices.csv), how it shows each vendor product (/account/storefront/products/<slug>) and
the storefront's public logo and theme stylesheet (/s/<alias>/logo.png, /s/<alias>/theme.css).

The settings, prices and product pages are the reseller main chain's Chain & User Managers' (MANAGE_STOREFRONT); a
chain without a storefront (Basic, never subscribed or purged) has none of them: a 404 that points to the plans page.
Every form posts to its own URL and works without JavaScript; a refusal re-renders the page with the message
beside the field and changes nothing.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.accounts.context import current_actor
from portal.authz import Permission, active_organization, requires, scoped
from portal.catalog.models import Edition, Product
from portal.csv_export import streamed_csv
from portal.extensions import db
from portal.rendering import confirmation, render, submit
from portal.reseller_plans import plans
from portal.storage import storage
from portal.storefronts import branding, prices, storefront_products
from portal.storefronts.models import Storefront, StorefrontPrice
from portal.storefronts.settings_forms import (
    CustomerPriceForm,
    DefaultMarkupForm,
    RemoveRuleForm,
    RuleForm,
    StorefrontForm,
    StorefrontProductForm,
)
from portal.storefronts.views import bp

LOGO_MAX_AGE = 3600  # seconds: a changed logo shows within the hour (its URL stays the same)
THEME_MAX_AGE = 300


def _own_storefront() -> Storefront:
    """The working main chain's storefront (open, or kept after its plan ended); 404 without one."""
    org = active_organization()
    storefront = plans.storefront_of(org.id) if org is not None and org.is_main_chain else None
    if storefront is None:
        abort(render("storefronts/settings_none.html", status=404))
    return storefront


# ---------------------------------------------------------------- settings


@bp.route("/account/storefront", methods=["GET", "POST"])
@requires(Permission.MANAGE_STOREFRONT)
def settings():
    """The storefront's name, accent colour, logo and contact details, and the reseller's tax and registration
    numbers printed on its invoices."""
    storefront = _own_storefront()
    form = StorefrontForm(obj=storefront)
    saved = submit(form, lambda: _save_settings(storefront, form))
    if saved:
        branding.discard_file(saved.value)
        flash("Storefront settings saved.", "success")
        return redirect(url_for("storefronts.settings"))
    return render("storefronts/settings.html", form=form, storefront=storefront,
                  standard=branding.has_branding(storefront),
                  status=422 if form.errors or form.form_errors else 200)


def _save_settings(storefront: Storefront, form: StorefrontForm) -> str | None:
    """The details, then the logo: one change, refused as a whole. Returns a replaced logo file to discard."""
    actor = current_actor()
    branding.update_details(storefront, branding.StorefrontDetails(
        display_name=form.display_name.data or "", accent_colour=form.accent_colour.data or "",
        contact_email=form.contact_email.data or "", contact_phone=form.contact_phone.data or "",
        contact_address=form.contact_address.data or "", tax_id=form.tax_id.data or "",
        registration_id=form.registration_id.data or ""), actor)
    upload = form.logo.data
    if upload is not None and getattr(upload, "filename", ""):
        return branding.set_logo(storefront, upload.stream.read(branding.MAX_LOGO_BYTES + 1), actor)
    if form.remove_logo.data:
        return branding.remove_logo(storefront, actor)
    return None


# ---------------------------------------------------------------- prices


def _targets(products: list[Product]) -> tuple[list[tuple[str, str]], dict[str, tuple[Product, Edition | None]]]:
    """The choices of the product-or-edition select ("p<id>": a product, "e<id>": one of its editions)."""
    choices, by_value = [], {}
    for product in products:
        choices.append((f"p{product.id}", f"{product.name} (every edition)"))
        by_value[f"p{product.id}"] = (product, None)
        for edition in product.editions:
            if edition.active:
                choices.append((f"e{edition.id}", f"{product.name} {edition.name}"))
                by_value[f"e{edition.id}"] = (product, edition)
    return choices, by_value


def _prices_page(storefront: Storefront, default: DefaultMarkupForm | None = None, rule: RuleForm | None = None,
                 customer: CustomerPriceForm | None = None, status: int = 200):
    products = prices.license_products()
    choices, _ = _targets(products)
    default = default or DefaultMarkupForm(formdata=None, markup=storefront.default_markup_bp)
    rule = rule or RuleForm(formdata=None)
    customer = customer or CustomerPriceForm(formdata=None)
    rule.target.choices = choices
    customer.target.choices = choices
    if not customer.customer.choices:
        customer.customer.choices = _customer_choices(storefront)
    return render("storefronts/prices.html", storefront=storefront, rows=prices.price_rows(storefront, products),
                  customer_rows=prices.customer_rule_rows(storefront, products),
                  shown=storefront_products.shown_products(storefront.id),
                  standard=prices.sells_own_prices(storefront),
                  discount_bp=prices.discount_bp(storefront.organization),
                  default_form=default, rule_form=rule, customer_form=customer, remove_form=RemoveRuleForm(),
                  percent=prices.format_markup_bp, status=status)


def _customer_choices(storefront: Storefront) -> list[tuple[str, str]]:
    return [(str(org.id), org.name) for org in prices.customers(storefront)]


def _refused(form) -> int:
    return 422 if form.errors or form.form_errors else 200


@bp.route("/account/storefront/prices", endpoint="prices")
@requires(Permission.MANAGE_STOREFRONT)
def prices_page():
    """Every license edition with the vendor's list price, the reseller's cost, the storefront's price, the margin
    and the rule in force; forms to set the default markup, a product's rule and customers' special prices."""
    return _prices_page(_own_storefront())


@bp.route("/account/storefront/prices.csv", endpoint="prices_csv")
@requires(Permission.MANAGE_STOREFRONT)
def prices_csv():
    """Download the price list (CSV): every license edition with its list price, your cost, the RRP, your price,
    your margin, how far it is from the RRP, the vendor's fee and the rule in force."""
    storefront = _own_storefront()
    return streamed_csv(f"price-list-{storefront.alias}.csv", prices.PRICE_LIST_HEADER,
                        prices.price_list(storefront.id))


@bp.route("/account/storefront/prices/default", methods=["POST"])
@requires(Permission.MANAGE_STOREFRONT)
def set_default_markup():
    """Set or clear the default markup."""
    storefront = _own_storefront()
    form = DefaultMarkupForm()
    if submit(form, lambda: prices.set_default_markup(storefront, form.markup.data, current_actor())):
        flash("Default markup saved.", "success")
        return redirect(url_for("storefronts.prices"))
    return _prices_page(storefront, default=form, status=_refused(form))


@bp.route("/account/storefront/prices/rules", methods=["POST"])
@requires(Permission.MANAGE_STOREFRONT)
def set_rule():
    """Set a product's or an edition's markup or special price for everyone."""
    storefront = _own_storefront()
    choices, by_value = _targets(prices.license_products())
    form = RuleForm()
    form.target.choices = choices

    def change():
        product, edition = by_value[form.target.data]
        return prices.set_rule(storefront, product, edition, current_actor(), markup_bp=form.markup.data,
                               special_minor=form.special.data)

    if submit(form, change):
        flash("Price rule saved.", "success")
        return redirect(url_for("storefronts.prices"))
    return _prices_page(storefront, rule=form, status=_refused(form))


@bp.route("/account/storefront/prices/customers", methods=["POST"])
@requires(Permission.MANAGE_STOREFRONT)
def set_customer_price():
    """Set a special price per unit of a product or edition for one of the reseller's customers."""
    storefront = _own_storefront()
    choices, by_value = _targets(prices.license_products())
    form = CustomerPriceForm()
    form.target.choices = choices
    form.customer.choices = _customer_choices(storefront)

    def change():
        product, edition = by_value[form.target.data]
        customer = prices.customer_of(storefront, int(form.customer.data))
        return prices.set_customer_price(storefront, customer, product, edition, form.special.data,
                                         current_actor())

    if submit(form, change):
        flash("Customer's special price saved.", "success")
        return redirect(url_for("storefronts.prices"))
    return _prices_page(storefront, customer=form, status=_refused(form))


@bp.route("/account/storefront/prices/rules/<int:rule_id>/remove", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: a rule of a storefront the user does not manage is a 404
def remove_rule(rule_id: int):
    """Remove a price rule of the storefront, once asked (the next most specific rule applies again)."""
    rule = db.session.scalars(scoped(
        select(StorefrontPrice).join(Storefront, Storefront.id == StorefrontPrice.storefront_id)
        .where(StorefrontPrice.id == rule_id), Storefront.organization_id, current_user,
        Permission.MANAGE_STOREFRONT)).first()
    if rule is None:
        abort(404)
    form = RemoveRuleForm()
    if not form.validate_on_submit():
        special = rule.customer_id is not None
        return confirmation(form, title="Remove this special price?" if special else "Remove this price rule?",
                            message="The next most specific rule applies again to your storefront's prices.",
                            button="Remove the special price" if special else "Remove the rule",
                            back=url_for("storefronts.prices"))
    if submit(form, lambda: prices.remove_rule(rule, current_actor())):
        flash("Price rule removed.", "success")
    return redirect(url_for("storefronts.prices"))


# ---------------------------------------------------------------- a product on the storefront


@bp.route("/account/storefront/products/<slug>", methods=["GET", "POST"], endpoint="product")
@requires(Permission.MANAGE_STOREFRONT)
def storefront_product(slug: str):
    """How your storefront shows one of the vendor's license products: your name and description for it, or
    hidden; with its prices on your storefront and the vendor's RRP and fee (read-only)."""
    storefront = _own_storefront()
    product = storefront_products.license_product(slug)
    if product is None:
        abort(404)
    shown = storefront_products.shown_product(storefront, product)
    form = StorefrontProductForm(obj=shown)
    saved = submit(form, lambda: storefront_products.show_product(storefront, product, storefront_products.ShownAs(
        form.name.data or "", form.summary.data or "", bool(form.hidden.data)), current_actor()))
    if saved:
        flash(f"{product.name}: saved how your storefront shows it.", "success")
        return redirect(url_for("storefronts.product", slug=product.slug))
    return render("storefronts/product.html", storefront=storefront, product=product, shown=shown, form=form,
                  rows=prices.price_rows(storefront, [product]), standard=prices.sells_own_prices(storefront),
                  fee_minor=prices.vendor_fees(storefront.organization_id, [product])[product.id],
                  remove_form=RemoveRuleForm(), percent=prices.format_markup_bp, status=_refused(form))


# ---------------------------------------------------------------- public: the logo and the theme


def _by_alias(alias: str) -> Storefront:
    """A storefront by its alias (open or kept after its plan ended); 404 for any other."""
    if len(alias) > 30:
        abort(404)
    storefront = db.session.scalars(select(Storefront).where(Storefront.alias == alias)).first()
    if storefront is None:
        abort(404)
    return storefront


@bp.route("/s/<alias>/logo.png")
def logo(alias: str):
    """The storefront's logo (PNG, cacheable); 404 without one (or on a plan without branding)."""
    storefront = _by_alias(alias)
    if storefront.logo_path is None or not branding.has_branding(storefront):
        abort(404)
    try:
        response = storage().send(storefront.logo_path, "logo.png", "image/png", as_attachment=False,
                                  max_age=LOGO_MAX_AGE)
    except FileNotFoundError:
        abort(404)
    response.cache_control.public = True
    return response


@bp.route("/s/<alias>/theme.css")
def theme(alias: str):
    """The storefront's stylesheet: its accent colour as a CSS custom property (no inline styles: CSP)."""
    storefront = _by_alias(alias)
    response = make_response(branding.theme_css(storefront))
    response.mimetype = "text/css"
    response.cache_control.public = True
    response.cache_control.max_age = THEME_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)
