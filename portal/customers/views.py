"""The customer page: one of a reseller's customers, its people, licenses, renewals, invoices and activity."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_login import current_user, login_required

from portal.authz import Permission, active_organization, can
from portal.customers import services
from portal.db_types import utcnow
from portal.extensions import htmx
from portal.licenses.services import active_activations, customer_of
from portal.rendering import render

bp = Blueprint("customers", __name__)

MAX_KEY = 32  # License.key's length: a longer cursor is no key


@bp.route("/customers/<int:customer_id>")
@login_required  # by id: anyone else's organization, or a user without the right, is a 404 (never a 403)
def detail(customer_id: int):
    """One of your customers: its users and contacts, the licenses it holds from you (paged), what renews in the
    next 90 days, what it was invoiced and its recent activity."""
    org = active_organization()
    if org is None or not can(current_user, Permission.VIEW_CUSTOMERS, org):
        abort(404)
    customer = customer_of(current_user, org, customer_id)
    if customer is None:
        abort(404)  # not one of this reseller's customers
    after = request.args.get("after", "").strip()[:MAX_KEY]
    licenses = services.held_licenses(current_user, org, customer, after)
    context = {"org": org, "customer": customer, "licenses": licenses, "after": after,
               "activations": {license_id: activation.installation_id for license_id, activation
                               in active_activations([lic.id for lic in licenses.licenses]).items()},
               "sub_chain": services.is_sub_chain(org, customer),
               "can_assign": can(current_user, Permission.ASSIGN_LICENSES, org)}
    # The pager's htmx request swaps the licenses alone: the other sections are not computed for it. A history
    # restore (HX-History-Restore-Request) replaces the whole body: it gets the whole page.
    whole_page = not htmx or htmx.boosted or htmx.history_restore_request
    if whole_page:
        today = utcnow().date()
        context.update(people=services.contacts_of(org, customer),
                       renewals=services.renewals(current_user, org, customer, today),
                       invoices=services.storefront_invoices(org, customer),
                       activity=services.activity(org, customer), today=today,
                       can_open_invoices=can(current_user, Permission.VIEW_ORDERS, org))
    response = render("customers/detail.html" if whole_page else "customers/_licenses.html", **context)
    response.vary.add("HX-Request")
    return response
