"""Checkout and order history."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.context import current_actor
from portal.authz import Permission, active_organization, can, organization_ids_where, requires, scoped
from portal.billing.lines import order_licenses
from portal.billing.models import Invoice
from portal.cart.services import cart_items
from portal.csv_export import streamed_csv
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.list_options import read_list, show
from portal.orders import lists, services
from portal.orders.checkout import complete_order, place_order
from portal.orders.models import Order, PaymentKind
from portal.payments.charges import BuyerMustAct
from portal.payments.forms import CheckoutForm
from portal.payments.gateway import gateway
from portal.payments.services import saved_cards
from portal.rendering import render, show_rule_error
from portal.reseller_plans.plans import needs_alias

bp = Blueprint("orders", __name__)
SEE_OTHER = 303


def _payment_choice(form: CheckoutForm, org) -> services.PaymentChoice:
    try:
        kind = PaymentKind(form.payment_kind.data)
    except ValueError:
        raise RuleError("Choose how to pay.", field="payment_kind") from None
    if kind is not PaymentKind.CARD:
        return services.PaymentChoice(kind)
    # Only a user who may manage the chain's payment methods is offered to keep the card (and may keep it).
    may_save = can(current_user, Permission.MANAGE_PAYMENT_METHODS, org)
    return services.PaymentChoice(kind, form.card_choice(org, current_user, Permission.BUY,
                                                         save=bool(form.save_card.data) and may_save))


def _billing(form: CheckoutForm) -> services.CheckoutDetails:
    values = {name: (getattr(form, name).data or "").strip() for name in CheckoutForm.BILLING_FIELDS}
    values["country"] = values["country"].upper()
    return services.CheckoutDetails(**values, purchase_order_number=(form.purchase_order_number.data or "").strip(),
                                    storefront_alias=(form.storefront_alias.data or "").strip())


@bp.route("/checkout", methods=["GET", "POST"])
@requires(Permission.BUY)
def checkout():
    """Review the order with your discount, confirm billing details, choose how to pay, place the order."""
    org = active_organization()
    form = CheckoutForm(obj=org) if request.method == "GET" else CheckoutForm()
    if form.validate_on_submit():
        try:
            order = place_order(org, current_user, cart_items(current_user, org), form.cart_signature.data,
                                form.expected_total.data, _payment_choice(form, org), _billing(form),
                                current_actor(), gateway())
        except BuyerMustAct as sent:  # 3-D Secure, or the card on the processor's page: the order waits
            return redirect(sent.url, SEE_OTHER)
        except services.AlreadyPlaced as placed:
            return _already_placed(org, placed)
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            return _placed(order)
    return _checkout_page(org, form)


@bp.get("/checkout/return")
@requires(Permission.BUY)
def checkout_return():
    """Where the processor sends the buyer back (`?payment_intent=`): the order is placed once its payment
    succeeded, or the checkout says why not."""
    org = active_organization()
    try:
        order = complete_order(org, request.args.get("payment_intent", ""), current_actor(), gateway())
    except LookupError:  # no such payment of this organization (or none named)
        flash("That payment is not one this page can complete; nothing was placed or charged.", "error")
        return redirect(url_for("orders.checkout"))
    except services.AlreadyPlaced as placed:
        return _already_placed(org, placed)
    except RuleError as error:
        form = CheckoutForm(obj=org, formdata=None)
        show_rule_error(form, error)
        return _checkout_page(org, form, status=422)
    return _placed(order)


def _placed(order: Order):
    flash(f"Thank you. Order {order.number} is placed; a confirmation is on its way by email.", "success")
    return redirect(url_for("orders.detail", number=order.number))


def _already_placed(org, placed: services.AlreadyPlaced):
    db.session.rollback()
    order = services.find_order(org, placed.order_key)
    if order is None:  # a conflict other than a repeated checkout; the charge was given back
        flash("The order could not be placed; nothing was charged. Please place it again.", "error")
        return redirect(url_for("orders.checkout"))
    flash(f"This order was already placed as {order.number}; nothing was charged twice.", "info")
    return redirect(url_for("orders.detail", number=order.number))


def _checkout_page(org, form: CheckoutForm, status: int | None = None):
    """The checkout as it stands: the cart priced now, the billing details, how to pay."""
    form.payment_method_id.data = ""  # a card the hosted fields gave is used once
    items = cart_items(current_user, org)
    if not items and request.method == "GET":
        flash("Your cart is empty.", "info")
        return redirect(url_for("cart.show"))
    summary = services.checkout_summary(org, items)
    # The page states the current prices; placing the order agrees to exactly these.
    form.cart_signature.data = summary.signature
    form.expected_total.data = summary.quote.total_minor
    cards = saved_cards(org)
    options = services.payment_options(org, summary.quote.total_minor)
    if not form.payment_kind.data:  # an invoiced account is invoiced unless it chooses the card
        form.payment_kind.data = (PaymentKind.INVOICE if PaymentKind.INVOICE in options else PaymentKind.CARD).value
        form.saved_card.data = next((c.id for c in cards if c.is_default), 0)
    alias_needed = needs_alias(org, [line.config.product for line in summary.lines if line.config])
    return render("orders/checkout.html", status=status or (422 if form.errors else 200), form=form,
                  summary=summary,
                  options=options, cards=cards, org=org, PaymentKind=PaymentKind, alias_needed=alias_needed,
                  may_save_card=can(current_user, Permission.MANAGE_PAYMENT_METHODS, org))


def _history() -> object:
    """The active organization's orders, as far as the user may see them."""
    org_ids = organization_ids_where(current_user, Permission.VIEW_ORDERS)
    return services.orders_query(org_ids).where(Order.organization_id == active_organization().id)


@bp.route("/orders")
@requires(Permission.VIEW_ORDERS)
def index():
    """Order history of your chain: searched, filtered, sorted, newest first."""
    orders = show(read_list(lists.ORDERS, request.args, "orders.index"), _history())
    return render("orders/index.html", "orders/_rows.html", orders=orders)


@bp.route("/orders.csv")
@requires(Permission.VIEW_ORDERS)
def export():
    """The order history, with its search, filters and order, as a CSV file (streamed)."""
    state = read_list(lists.ORDERS, request.args, "orders.index")
    return streamed_csv(f"orders-{utcnow().date().isoformat()}.csv", lists.CSV_HEADER,
                        lists.csv_rows(state.apply(_history())))


@bp.route("/orders/<number>")
@login_required  # the scoped lookup decides: another tenant's object is a 404
def detail(number: str):
    """One order: what was bought (with the license keys and who each is assigned to now), at which price, how it
    was paid, its invoice."""
    stmt = scoped(select(Order).where(Order.number == number), Order.organization_id, current_user,
                  Permission.VIEW_ORDERS).options(selectinload(Order.lines))
    order = db.session.scalars(stmt).first()
    if order is None:
        abort(404)
    invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).first()
    return render("orders/detail.html", order=order, invoice=invoice, PaymentKind=PaymentKind,
                  licenses=order_licenses(order.id))
