"""/renewals: every M&S expiry and plan renewal of the main chain in a window, at its cost, with totals; the M&S of
the selected licenses into the cart at once; and the same list as a CSV download."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.context import current_actor
from portal.authz import Permission, active_organization, requires
from portal.catalog.models import Product
from portal.csv_export import csv_amount, streamed_csv
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.rendering import render
from portal.renewals import listing
from portal.renewals.forms import RenewalFilterForm
from portal.renewals.to_cart import MAX_SELECTION, add_renewals_to_cart
from portal.words import plural

bp = Blueprint("renewals", __name__)

CSV_HEADER = ("Date", "Status", "Customer", "Product", "License key", "What", "List price", "Your cost", "Currency")


def _filter_form() -> RenewalFilterForm:
    """The filters from the query string, checked; a refused field's message is beside it."""
    products = list(db.session.scalars(select(Product).order_by(Product.name, Product.id)))
    form = RenewalFilterForm(request.args, meta={"csrf": False}).offer(products)
    if not form.validate():
        form.explain()
    return form


def _filter_args(form: RenewalFilterForm) -> dict:
    """The query string that keeps the current filters (for the pager, the download and the cart form)."""
    filters = form.filters()
    args = {"window": filters.window_days, "customer": filters.customer, "product": filters.product_id}
    return {name: value for name, value in args.items() if value not in (None, "")}


def status_of(row: listing.RenewalRow) -> str:
    """How a row's state reads on the page and in the CSV."""
    if row.lapsed:
        return "Lapsed"
    if row.ends:
        return "Ends"
    return "Renews automatically" if row.automatic else "Not renewed automatically"


@bp.route("/renewals", methods=["GET", "POST"])
@requires(Permission.BUY)
def index():
    """What renews or lapses in the coming 30, 60 or 90 days, at your cost, with totals; select licenses and add
    their M&S renewal (or reinstatement) to the cart, all at once."""
    org = active_organization()
    form = _filter_form()
    status, cart_error, selected = (422 if form.errors else 200), None, []
    if request.method == "POST":
        selected = [value.strip() for value in request.form.getlist("licenses") if value.strip()]
        try:
            items = add_renewals_to_cart(current_user, org, selected, utcnow().date(), current_actor())
        except RuleError as error:
            db.session.rollback()
            status, cart_error = 422, error.message
        else:
            db.session.commit()
            flash(plural(len(items), "Added to your cart: one more year of M&S of %(num)d license.",
                         "Added to your cart: one more year of M&S of %(num)d licenses."), "success")
            return redirect(url_for("cart.show"), 303)
    page = listing.renewals_page(current_user, org, form.filters(), utcnow().date(),
                                 listing.parse_cursor(request.args.get("after")))
    return render("renewals/index.html", "renewals/_list.html", status=status, org=org, form=form, renewals=page,
                  filter_args=_filter_args(form), cart_error=cart_error, selected=frozenset(selected),
                  max_selection=MAX_SELECTION, status_of=status_of)


@bp.route("/renewals.csv")
@requires(Permission.BUY)
def download():
    """The renewals of the chosen window (all pages) as a spreadsheet, streamed."""
    org = active_organization()
    form = _filter_form()
    if form.errors:
        page = listing.renewals_page(current_user, org, form.filters(), utcnow().date())
        return render("renewals/index.html", status=422, org=org, form=form, renewals=page,
                      filter_args=_filter_args(form), cart_error=None, selected=frozenset(),
                      max_selection=MAX_SELECTION, status_of=status_of)
    filters, today, user = form.filters(), utcnow().date(), current_user._get_current_object()

    def rows():
        for row in listing.all_renewals(user, org, filters, today):
            yield (row.due_on.isoformat(), status_of(row), row.customer.name if row.customer else "Not assigned",
                   row.product.name, row.license.key if row.license else "", row.description,
                   csv_amount(row.list_minor, row.currency), csv_amount(row.cost_minor, row.currency), row.currency)

    return streamed_csv(f"renewals-{today.isoformat()}-{filters.window_days}-days.csv", CSV_HEADER, rows())
