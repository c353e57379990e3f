"""The storefront a reseller's customers see at /s/<alias>: its catalog at the reseller's prices, sign-in and
sign-up, the customer's cart, checkout and orders. Nothing here ever shows the vendor's price, a fee, the
reseller's cost or its margin.

Every route loads the storefront by its alias first (`_load_storefront`): an unknown alias is a 404 page saying
there is no storefront there, and a customer of another reseller is refused with a 404. A closed storefront shows
its sign-in page saying so, and nobody signs in or buys.
"""

from __future__ import annotations

import re
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import rendering
from portal.accounts.context import PORTAL_CHROME, current_actor
from portal.accounts.forms import ConfirmForm, LoginForm
from portal.accounts.services import authenticate, user_with_access
from portal.authz import customer_of_another_storefront
from portal.billing.models import Invoice
from portal.catalog.forms import ConfigureForm, chosen
from portal.catalog.services import configure, default_configuration, products_by_id
from portal.errors import RuleError
from portal.extensions import csrf, db, htmx, limiter
from portal.orders.models import Order, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice
from portal.pagination import window
from portal.payments.charges import BuyerMustAct, CardChoice
from portal.payments.gateway import gateway
from portal.payments.models import PaymentMethod
from portal.payments.services import saved_cards
from portal.rendering import show_rule_error
from portal.routing import id_value
from portal.signin.views import sign_in, sign_out
from portal.storefront_sales import carts, customers, selling
from portal.storefront_sales.forms import SignUpForm, StorefrontCheckoutForm
from portal.storefronts.prices import price_book

bp = Blueprint("storefront_sales", __name__, url_prefix="/s/<alias>")
SEE_OTHER = 303
ORDERS_PER_PAGE = 25
PRODUCTS_PER_PAGE = 12  # the catalog's page (keyset: ?after=<the last product's id>)
_PLAIN = re.compile(r"[A-Za-z0-9-]{1,120}", re.ASCII)  # what a product slug or an order number can be
SIGN_IN_LIMITED = "Too many sign-in attempts were made. Wait a minute before trying again."
SIGN_UP_LIMITED = "Too many sign-ups were made from here. Wait a minute before trying again."


# ---------------------------------------------------------------- the storefront of every request


@bp.url_value_preprocessor
def _take_alias(endpoint, values):
    g.storefront_alias = (values or {}).pop("alias", "")


@bp.url_defaults
def _add_alias(endpoint, values):
    if "alias" not in values and g.get("storefront") is not None:
        values["alias"] = g.storefront.alias


@bp.before_request
def _load_storefront():
    """The storefront of the alias, and the customer's sub-chain when the signed-in user is its customer."""
    found = customers.storefront_for_page(g.pop("storefront_alias", ""))
    if found is None:
        return render_template("storefront_sales/missing.html"), 404
    storefront, g.storefront_own_prices = found
    if current_user.is_authenticated and customer_of_another_storefront(current_user, storefront.organization_id):
        return render_template("storefront_sales/missing.html"), 404
    g.storefront = storefront
    working = g.get("organization")
    g.customer = (customers.customer_chain(current_user, storefront, working.id if working else None)
                  if current_user.is_authenticated else None)
    if not customers.is_open(storefront) and request.endpoint not in ("storefront_sales.logout",):
        return _closed()
    return None


@bp.context_processor
def _storefront_context() -> dict:
    storefront, customer = g.get("storefront"), g.get("customer")
    if storefront is None:
        return {}
    count = carts.cart_count(storefront, current_user, customer) if customer is not None else None
    return {"storefront": storefront, "customer": customer, "storefront_cart_count": count,
            "storefront_open": customers.is_open(storefront), "seller_name": _seller_name(),
            "has_endpoint": lambda endpoint: endpoint in current_app.view_functions}


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """rendering.render for the storefront's own pages, which wear the storefront's header (_layout.html), not the
    portal's: the portal's navigation, organization switch and cart count are not worked out for them
    (accounts.context.PORTAL_CHROME)."""
    g.setdefault(PORTAL_CHROME, False)
    return rendering.render(page, fragment, status, **context)


def _seller_name() -> str:
    return g.storefront.display_name or g.storefront.organization.name


def _closed():
    """The closed storefront: its sign-in page saying so; a POST changes nothing."""
    status = 200 if request.method == "GET" else 403
    return render("storefront_sales/login.html", status=status, form=LoginForm(), closed=True)


def customer_required(view):
    """The signed-in user must be a customer of this storefront: anonymous visitors sign in first, anyone else
    gets a 404 (another tenant's storefront pages do not exist for them)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("storefront_sales.login", next=request.full_path.rstrip("?")))
        if g.customer is None:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Only a path of this storefront may follow sign-in (no open redirects, nor a jump into the portal)."""
    home = url_for("storefront_sales.catalog")
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith(home) and "\\" not in target:
            return target
    return home


# ---------------------------------------------------------------- catalog and product pages


def _after() -> int | None:
    """The catalog's keyset cursor: the id of the last product of the previous page (a bad value: the first)."""
    value = request.args.get("after", "")
    return int(value) if value.isdigit() and len(value) <= 18 else None


@bp.route("")
def catalog():
    """The storefront's catalog: its license products, a page at a time, each from its lowest price at the
    storefront."""
    page = carts.catalog_page(g.storefront, g.customer.id if g.customer else None, _after(), PRODUCTS_PER_PAGE,
                              own_prices=g.storefront_own_prices)
    # Each product's link is this path and its slug: one url_for for the page rather than one a product.
    product_path = url_for("storefront_sales.product", slug="slug").removesuffix("slug")
    return render("storefront_sales/catalog.html", entries=page.entries, next_after=page.next_after,
                  first_page=page.first_page, product_path=product_path)


def _product_or_404(slug: str) -> carts.ShownProduct:
    """The product on sale here with this slug, as the storefront shows it; 404 for any other, or one the reseller
    hid."""
    shown = carts.storefront_product(g.storefront, slug) if _PLAIN.fullmatch(slug) else None
    if shown is None or not carts.sellable(shown.product):
        abort(404)
    return shown


def _price_of(product, config) -> int | None:
    """The storefront's price of the configuration for whoever is looking (a customer's own special prices)."""
    if config is None:
        return None
    book = price_book(g.storefront, g.customer.id if g.customer else None, [product.id],
                      own_prices=g.storefront_own_prices)
    return carts.unit_price(book, config)


@bp.route("/products/<slug>", methods=["GET", "POST"])
@csrf.exempt  # "Update price" posts here (a GET put a customer's token in the address); it changes nothing
def product(slug: str):
    """One product: choose edition, quantity and add-ons and see the storefront's price (htmx updates only the
    price; without JavaScript "Update price" posts the choices here, visitors without a token included);
    customers add it to their cart."""
    shown = _product_or_404(slug)
    item = shown.product
    config, status = default_configuration(item), 200
    choices = request.form if request.method == "POST" else request.args
    form = ConfigureForm(formdata=choices or None, meta={"csrf": False})
    form.offer(item, None if choices else config)
    if choices:
        form.validate()
        edition_id, quantity, addon_ids, _ = chosen(form)
        try:
            config = configure(item, edition_id, quantity, addon_ids)
        except RuleError as error:
            show_rule_error(form, error)
            config, status = None, 422
    return render("storefront_sales/product.html", "storefront_sales/_price.html", status=status, product=item,
                  shown=shown, form=form, config=config, price_minor=_price_of(item, config))


# ---------------------------------------------------------------- the customer's cart


@bp.route("/cart", methods=["POST"])
@customer_required
def add():
    """Add a configured license to your storefront cart (from a product page)."""
    product_id = request.form.get("product_id", type=id_value) or 0
    item = products_by_id({product_id}).get(product_id)
    shown = carts.shown_on(g.storefront, item.id) if carts.sellable(item) else None
    if not carts.sellable(item) or (shown is not None and shown.hidden):
        flash("That product is not sold here. Choose one from the catalog.", "error")
        return redirect(url_for("storefront_sales.catalog"))
    form = ConfigureForm()
    form.offer(item)
    try:
        if not form.validate_on_submit():
            raise RuleError("Check the choices below.")
        edition_id, quantity, addon_ids, copies = chosen(form)
        config = configure(item, edition_id, quantity, addon_ids)
        carts.add_item(g.storefront, current_user, g.customer, config, copies, current_actor())
    except RuleError as error:
        db.session.rollback()
        show_rule_error(form, error)
        return render("storefront_sales/product.html", "storefront_sales/_add_result.html", status=422,
                      product=item, shown=carts.storefront_product(g.storefront, item.slug), form=form, config=None,
                      price_minor=None)
    db.session.commit()
    message = f"Added to your cart: {carts.described(config, shown.name if shown else '')}."
    if htmx:
        return render("storefront_sales/_add_result.html", message=message, product=item, form=form,
                      storefront_cart_count=carts.cart_count(g.storefront, current_user, g.customer))
    flash(message, "success")
    return redirect(url_for("storefront_sales.cart"))


def _cart_page(status: int = 200):
    priced = carts.price_lines(g.storefront, g.customer, carts.cart_items(g.storefront, current_user, g.customer))
    forms = {}
    for line in priced.lines:
        if line.product is not None:
            form = ConfigureForm(prefix=f"item-{line.item.id}", meta={"csrf": False})
            form.offer(line.product, line.config)
            form.copies.data = line.item.copies
            forms[line.item.id] = form
    return render("storefront_sales/cart.html", "storefront_sales/_cart.html", status=status, cart=priced,
                  forms=forms, confirm_form=ConfirmForm())


@bp.route("/cart")
@customer_required
def cart():
    """What is in your cart, at the storefront's prices today."""
    return _cart_page()


def _item_or_404(item_id: int):
    item = carts.cart_item(g.storefront, current_user, g.customer, item_id)
    if item is None:
        abort(404)  # another customer's line, a line of the vendor's cart or of another storefront
    return item


@bp.route("/cart/items/<int:item_id>", methods=["POST"])
@customer_required
def update(item_id: int):
    """Change a cart line's edition, quantity, add-ons or number of licenses."""
    item = _item_or_404(item_id)
    product = products_by_id({item.product_id}).get(item.product_id)
    form = ConfigureForm(prefix=f"item-{item.id}", meta={"csrf": False})  # CSRFProtect checked the POST
    form.offer(product)
    try:
        if not carts.sellable(product):
            raise RuleError("This product is no longer sold here. Remove it to check out.")
        if not form.validate_on_submit():
            wrong = [f"{field.label.text}: {field.errors[0]}" for field in form if field.errors]
            raise RuleError(" ".join(["Check the changes to this item.", *wrong[:1]]))
        edition_id, quantity, addon_ids, copies = chosen(form)
        carts.update_item(g.storefront, g.customer, item, configure(product, edition_id, quantity, addon_ids),
                          copies, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _cart_page(status=422)
    db.session.commit()
    if not htmx:
        flash("Cart updated.", "success")
        return redirect(url_for("storefront_sales.cart"))
    return _cart_page()


@bp.route("/cart/items/<int:item_id>/remove", methods=["POST"])
@customer_required
def remove(item_id: int):
    """Take a line out of your cart."""
    item = _item_or_404(item_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    carts.remove_item(item, current_actor())
    db.session.commit()
    if not htmx:
        flash("Item removed from your cart.", "success")
        return redirect(url_for("storefront_sales.cart"))
    return _cart_page()


# ---------------------------------------------------------------- checkout and orders


def _payment(form: StorefrontCheckoutForm) -> PaymentChoice:
    """The card: one of the customer's saved cards, or a new card (the processor's hosted fields or page)."""
    if form.saved_card.data:
        card = db.session.scalars(select(PaymentMethod).where(PaymentMethod.id == form.saved_card.data,
                                                              PaymentMethod.organization_id == g.customer.id)).first()
        if card is None:
            raise RuleError("Choose one of your saved cards.", field="saved_card")
        return PaymentChoice(PaymentKind.CARD, CardChoice(saved_card=card))
    return PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=(form.payment_method_id.data or "").strip()
                                                      or None, save=bool(form.save_card.data)))


@bp.route("/checkout", methods=["GET", "POST"])
@customer_required
def checkout():
    """Review the order at the storefront's prices, confirm your billing details, pay by card, place the order."""
    customer = g.customer
    form = StorefrontCheckoutForm(obj=customer) if request.method == "GET" else StorefrontCheckoutForm()
    if form.validate_on_submit():
        items = carts.cart_items(g.storefront, current_user, customer)
        try:
            order = selling.place_storefront_order(
                g.storefront, customer, current_user, items, form.cart_signature.data, form.expected_total.data,
                _payment(form), BillingDetails(**form.billing_values()), current_actor(), gateway())
        except BuyerMustAct as sent:  # 3-D Secure, or the card on the processor's page: the order waits
            return redirect(sent.url, SEE_OTHER)
        except selling.AlreadyPlaced as placed:
            return _already_placed(placed)
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            return _placed(order)
    return _checkout_page(form)


@bp.get("/checkout/return")
@customer_required
def checkout_return():
    """Where the processor sends the customer back (`?payment_intent=`): the order is placed once its payment
    succeeded, or the checkout says why not."""
    try:
        order = selling.complete_storefront_order(g.storefront, g.customer, request.args.get("payment_intent", ""),
                                                  current_actor(), gateway())
    except LookupError:  # no such payment of this organization (or none named)
        flash("That payment is not one this page can complete; nothing was placed or charged.", "error")
        return redirect(url_for("storefront_sales.checkout"))
    except selling.AlreadyPlaced as placed:
        return _already_placed(placed)
    except RuleError as error:
        form = StorefrontCheckoutForm(obj=g.customer, formdata=None)
        show_rule_error(form, error)
        return _checkout_page(form, status=422)
    return _placed(order)


def _placed(order: Order):
    flash(f"Thank you. Order {order.number} is placed; a confirmation is on its way by email.", "success")
    return redirect(url_for("storefront_sales.order", number=order.number))


def _already_placed(placed):
    db.session.rollback()
    order = selling.find_storefront_order(g.customer, placed.order_key)
    if order is None:
        flash("The order could not be placed; nothing was charged. Please place it again.", "error")
        return redirect(url_for("storefront_sales.checkout"))
    flash(f"This order was already placed as {order.number}; nothing was charged twice.", "info")
    return redirect(url_for("storefront_sales.order", number=order.number))


def _checkout_page(form: StorefrontCheckoutForm, status: int | None = None):
    customer = g.customer
    form.payment_method_id.data = ""  # a card the hosted fields gave is used once
    items = carts.cart_items(g.storefront, current_user, customer)
    if not items and request.method == "GET":
        flash("Your cart is empty.", "info")
        return redirect(url_for("storefront_sales.cart"))
    summary = selling.sale_summary(g.storefront, customer, items)
    form.cart_signature.data = summary.signature  # placing the order agrees to exactly these prices
    form.expected_total.data = summary.quote.total_minor
    cards = saved_cards(customer)
    if request.method == "GET":
        form.saved_card.data = next((c.id for c in cards if c.is_default), 0)
    return render("storefront_sales/checkout.html", status=status or (422 if form.errors else 200), form=form,
                  summary=summary,
                  cart=summary.cart, cards=cards)


def _orders_query():
    return (select(Order).where(Order.seller_id == g.storefront.organization_id,
                                Order.organization_id == g.customer.id)
            .order_by(Order.created_at.desc(), Order.id.desc()))


@bp.route("/orders")
@customer_required
def orders():
    """Your orders at this storefront, newest first."""
    page = window(_orders_query(), request.args.get("page", 1, type=int), ORDERS_PER_PAGE)
    return render("storefront_sales/orders.html", orders=page)


@bp.route("/orders/<number>")
@customer_required
def order(number: str):
    """One of your storefront orders: what was bought, at which price, how it was paid, and the seller's
    invoice."""
    found = db.session.scalars(_orders_query().where(Order.number == number).options(selectinload(Order.lines))
                               ).first() if _PLAIN.fullmatch(number) else None
    if found is None:
        abort(404)
    invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == found.id,
                                                       Invoice.issuer_id == g.storefront.organization_id)).first()
    return render("storefront_sales/order.html", order=found, invoice=invoice)


# ---------------------------------------------------------------- signing in, up and out


def _login_account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()


def _signed_in_elsewhere():
    """A signed-in user who is not this storefront's customer: say so, and offer to sign out."""
    return render("storefront_sales/login.html", form=LoginForm(), not_customer=True)


# The same limits, and the same counters, as the portal's sign-in: a storefront adds no guesses.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], scope="login-ip",
               error_message=SIGN_IN_LIMITED)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
               key_func=_login_account_key, scope="login-account", error_message=SIGN_IN_LIMITED)
def login():
    """Sign in as a customer of this storefront (its reseller's customers only)."""
    if current_user.is_authenticated:
        if g.customer is not None:
            return redirect(_safe_next(request.args.get("next")))
        return _signed_in_elsewhere()
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data, current_actor())
        if user is not None:
            user = user_with_access(user.id)  # its memberships, which say whose customer it is
        try:
            customers.check_customer(user, g.storefront)
        except RuleError as error:
            db.session.rollback()  # not recorded as a sign-in: none happened
            show_rule_error(form, error)
        else:
            db.session.commit()
            return sign_in(user, _safe_next(form.next.data))  # or first the portal's second step
    return render("storefront_sales/login.html", status=200 if request.method == "GET" or not form.errors else 422,
                  form=form)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], scope="storefront-signup",
               error_message=SIGN_UP_LIMITED)
def signup():
    """Become a customer of this storefront: your account and your organization, under this reseller."""
    if current_user.is_authenticated:
        if g.customer is not None:
            return redirect(url_for("storefront_sales.catalog"))
        return _signed_in_elsewhere()
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            membership = customers.sign_up_customer(g.storefront, customers.SignUp(**form.values()), current_actor())
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            db.session.commit()
            flash(f"Your account at {_seller_name()} is ready.", "success")
            return sign_in(membership.user, url_for("storefront_sales.catalog"))
    form.password.data = form.confirm.data = ""
    return render("storefront_sales/signup.html", status=422 if form.errors else 200, form=form)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Sign out (POST); GET shows the button, since GET must not change state."""
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        sign_out()
        return redirect(url_for("storefront_sales.catalog"))
    if not current_user.is_authenticated:
        return redirect(url_for("storefront_sales.catalog"))
    return render("storefront_sales/logout.html", form=form)
