"""/account/webhooks: a main chain's managers register endpoints, read their secrets, follow their deliveries.

The list takes MANAGE_API on the organization one works in; a page about one endpoint finds it through the
scoped lookup, so another tenant's endpoint (or one the user may not manage) is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires
from portal.errors import RuleError
from portal.extensions import db
from portal.rendering import confirmation, render, submit
from portal.routing import id_value
from portal.webhooks import services
from portal.webhooks.forms import DeliveryForm, EndpointForm
from portal.webhooks.models import EventType, WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/account/webhooks")
SEE_OTHER = 303


@bp.route("", methods=["GET", "POST"])
@requires(Permission.MANAGE_API)
def index():
    """The chain's webhook endpoints; add one."""
    org = active_organization()
    form = EndpointForm()
    saved = submit(form, lambda: services.add_endpoint(org, form.url.data, form.description.data,
                                                       form.event_types.data, current_actor()))
    if saved is not None:
        flash("Endpoint added. Reveal its signing secret below to verify the events it receives.", "success")
        return redirect(url_for("webhooks.endpoint", endpoint_id=saved.value.id), SEE_OTHER)
    status = 422 if request.method == "POST" else 200
    return render("webhooks/index.html", status=status, form=form, endpoints=services.endpoints_of(org),
                  max_endpoints=services.MAX_ENDPOINTS)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return get_in_scope_or_404(WebhookEndpoint, endpoint_id, WebhookEndpoint.organization_id, current_user,
                               Permission.MANAGE_API)


def _page(endpoint: WebhookEndpoint, secret: str | None = None, status: int = 200):
    before = request.args.get("before", type=id_value)
    return render("webhooks/endpoint.html", "webhooks/_deliveries.html", status=status, endpoint=endpoint,
                  deliveries=services.deliveries(endpoint, before), secret=secret, confirm_form=ConfirmForm(),
                  resend_form=DeliveryForm(),
                  event_types=[kind.value for kind in EventType])


@bp.route("/<int:endpoint_id>")
@login_required  # the scoped lookup decides: another tenant's endpoint is a 404
def endpoint(endpoint_id: int):
    """One endpoint: its events, its state and its deliveries, newest first."""
    return _page(_endpoint(endpoint_id))


@bp.route("/<int:endpoint_id>/secret", methods=["POST"])
@login_required
def reveal_secret(endpoint_id: int):
    """Show the endpoint's signing secret (a POST: reading it is audited)."""
    found = _endpoint(endpoint_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    secret = services.secret_of(found, current_actor())
    db.session.commit()
    if secret is None:
        flash("This secret can no longer be read (the portal's key changed). Delete the endpoint and add it again.",
              "error")
    return _page(found, secret=secret)


@bp.route("/<int:endpoint_id>/disable", methods=["POST"])
@login_required
def disable(endpoint_id: int):
    """Stop sending events to the endpoint."""
    found = _endpoint(endpoint_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.disable(found, current_actor())
    db.session.commit()
    flash("Endpoint disabled: events wait until you enable it again.", "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id), SEE_OTHER)


@bp.route("/<int:endpoint_id>/enable", methods=["POST"])
@login_required
def enable(endpoint_id: int):
    """Send events to the endpoint again."""
    found = _endpoint(endpoint_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.enable(found, current_actor())
    db.session.commit()
    flash("Endpoint enabled.", "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id), SEE_OTHER)


@bp.route("/<int:endpoint_id>/delete", methods=["GET", "POST"])
@login_required
def delete(endpoint_id: int):
    """Delete the endpoint and its delivery history, once asked."""
    found = _endpoint(endpoint_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title="Delete this endpoint?", button="Delete endpoint",
                            message=f"No more events go to {found.url}, and its delivery history is deleted.",
                            back=url_for("webhooks.endpoint", endpoint_id=found.id))
    url = found.url
    services.delete_endpoint(found, current_actor())
    db.session.commit()
    flash(f"Endpoint {url} deleted.", "success")
    return redirect(url_for("webhooks.index"), SEE_OTHER)


@bp.route("/<int:endpoint_id>/resend", methods=["POST"])
@login_required
def resend(endpoint_id: int):
    """Queue one more attempt of a delivery, now."""
    found = _endpoint(endpoint_id)
    form = DeliveryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        delivery_id = id_value(form.delivery_id.data or "")
    except ValueError:
        abort(400)  # no page sends a Resend without its delivery
    try:
        delivery = services.resend(found, delivery_id, current_actor())
    except LookupError:
        abort(404)
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("webhooks.endpoint", endpoint_id=found.id), SEE_OTHER)
    db.session.commit()
    flash(f"{delivery.event_type} {delivery.event_id} queued: it is sent again within a minute.", "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id), SEE_OTHER)
