"""Shipments and returns: a chain's shipments (/shipments); staff's queue (/admin/shipments) where they mark
shipments shipped and delivered, cancel them, and approve or refuse return requests; a device's return request."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired

from portal.accounts.context import current_actor
from portal.accounts.services import user_with_access
from portal.admin.organization_views import not_found_unless_staff
from portal.authz import Permission, active_organization, can, get_in_scope_or_404, require, requires
from portal.catalog.models import Product
from portal.devices.models import Device, Location
from portal.extensions import db
from portal.hardware import returns, shipping
from portal.hardware.models import ReturnRequest, ReturnState, Shipment, ShipmentState
from portal.pagination import window
from portal.rendering import render, submit

bp = Blueprint("hardware", __name__)

PER_PAGE = 50
RETURNS_PER_PAGE = 20
# Staff's filter: what still needs them (awaiting shipment, then shipped) by default.
STAFF_FILTERS: dict[str, tuple[str, tuple[ShipmentState, ...]]] = {
    "open": ("Awaiting shipment or shipped", shipping.OPEN_STATES),
    **{state.value: (state.label, (state,)) for state in ShipmentState},
    "all": ("All", ()),
}
CHAIN_FILTERS: dict[str, tuple[str, ShipmentState | None]] = {
    "all": ("All", None), **{state.value: (state.label, state) for state in ShipmentState}}


class ConfirmForm(FlaskForm):
    """A button with its CSRF token (Mark delivered, Approve)."""


class ShipForm(FlaskForm):
    carrier = StringField("Carrier", validators=[InputRequired("Enter the carrier.")],
                          description=f"UPS, FedEx, DHL… at most {shipping.CARRIER_MAX} characters.")
    tracking_number = StringField("Tracking number", validators=[InputRequired("Enter the tracking number.")],
                                  description=f"At most {shipping.TRACKING_MAX} characters.")


class CancelForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[InputRequired("Give the reason: the managers read it.")],
                           description="Emailed to the buyer's and the location's managers, and printed on the "
                                       f"credit note if the order was billed. At most {shipping.REASON_MAX} "
                                       "characters.")


class ApproveReturnForm(FlaskForm):
    product_id = SelectField("Replacement", coerce=int, choices=[],
                             validators=[InputRequired("Choose the hardware product to ship.")])


class RefuseReturnForm(FlaskForm):
    note = TextAreaField("Note", validators=[InputRequired("Write a note: the managers read why.")])


class ReturnForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[InputRequired("Say what is wrong with the device.")],
                           description=f"What is wrong with the device: the vendor reads it. At most "
                                       f"{returns.REASON_MAX} characters.")


# ---------------------------------------------------------------- a chain's shipments


@bp.route("/shipments")
@requires(Permission.VIEW_DEVICES)
def shipments():
    """The shipments to your chain's locations (and those your chain ordered), newest first, by state."""
    org = active_organization()
    chosen = request.args.get("state", "all")
    if chosen not in CHAIN_FILTERS:
        chosen = "all"
    with_orders = can(current_user, Permission.VIEW_ORDERS, org)
    found = window(shipping.chain_shipments(current_user, org, CHAIN_FILTERS[chosen][1], with_orders),
                   request.args.get("page", 1, type=int), PER_PAGE, rows=True)
    return render("hardware/shipments.html", "hardware/_shipments.html", org=org, found=found, chosen=chosen,
                  filters=CHAIN_FILTERS, with_orders=with_orders)


# ---------------------------------------------------------------- staff


def _staff_page(status: int = 200, failed: tuple[int, FlaskForm] | None = None,
                failed_return: tuple[int, FlaskForm] | None = None):
    if status != 200:
        # A refused change was rolled back, which expired what was read: the signed-in user with the memberships
        # the page header shows, read again before the page loads them one by one.
        user_with_access(current_user.id)
    chosen = request.args.get("state", "open")
    if chosen not in STAFF_FILTERS:
        chosen = "open"
    found = window(shipping.staff_queue(STAFF_FILTERS[chosen][1]), request.args.get("page", 1, type=int), PER_PAGE,
                   rows=True)
    ship_forms = {row[0].id: ShipForm(formdata=None, prefix=f"ship-{row[0].id}") for row in found.items
                  if row[0].state is ShipmentState.AWAITING_SHIPMENT}
    if failed is not None:
        ship_forms[failed[0]] = failed[1]
    requests_found = window(returns.staff_requests(), request.args.get("returns_page", 1, type=int),
                            RETURNS_PER_PAGE)
    originals = returns.original_products([r.device_id for r in requests_found.items])
    products = returns.hardware_products()
    approve_forms, refuse_forms = {}, {}
    for return_request in requests_found.items:
        form = ApproveReturnForm(formdata=None, prefix=f"approve-{return_request.id}",
                                 product_id=originals.get(return_request.device_id))
        form.product_id.choices = products
        approve_forms[return_request.id] = form
        refuse_forms[return_request.id] = RefuseReturnForm(formdata=None, prefix=f"refuse-{return_request.id}")
    if failed_return is not None:
        forms = approve_forms if isinstance(failed_return[1], ApproveReturnForm) else refuse_forms
        forms[failed_return[0]] = failed_return[1]
    return render("hardware/admin_shipments.html", "hardware/_admin_shipments.html", status=status, found=found,
                  chosen=chosen, filters=STAFF_FILTERS, ship_forms=ship_forms, confirm_form=ConfirmForm(),
                  requests_found=requests_found, approve_forms=approve_forms, refuse_forms=refuse_forms,
                  State=ShipmentState)


@bp.route("/admin/shipments")
@requires(Permission.STAFF)
def admin_shipments():
    """Staff's queue: shipments awaiting shipment first, then shipped; return requests awaiting a decision."""
    return _staff_page()


def _shipment_or_404(shipment_id: int) -> Shipment:
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None:
        abort(404)
    return shipment


def _back():
    return redirect(url_for("hardware.admin_shipments", state=request.args.get("state") or None))


@bp.route("/admin/shipments/<int:shipment_id>/ship", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def ship(shipment_id: int):
    """Mark a shipment shipped with its carrier and tracking number; the managers are emailed."""
    shipment = _shipment_or_404(shipment_id)
    number = shipment.number
    if not shipping.can_move(shipment, ShipmentState.SHIPPED):  # shipped or cancelled meanwhile: no form to show
        flash(f"Shipment {number} is {shipment.state.label.lower()}: it cannot be marked shipped.", "error")
        return _back()
    form = ShipForm(prefix=f"ship-{shipment_id}")
    if submit(form, lambda: shipping.mark_shipped(shipment, form.carrier.data, form.tracking_number.data,
                                                  current_actor())):
        flash(f"Shipment {number} marked shipped; the managers were emailed its tracking number.", "success")
        return _back()
    return _staff_page(422, failed=(shipment_id, form))


@bp.route("/admin/shipments/<int:shipment_id>/deliver", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def deliver(shipment_id: int):
    """Mark a shipped shipment delivered: its units wait at the location to be installed."""
    shipment = _shipment_or_404(shipment_id)
    number = shipment.number
    form = ConfirmForm()
    if submit(form, lambda: shipping.mark_delivered(shipment, current_actor())):
        flash(f"Shipment {number} marked delivered; the managers were emailed.", "success")
        return _back()
    for message in [*form.form_errors, *form.errors.get("csrf_token", [])]:
        flash(message, "error")
    return _back()


@bp.route("/admin/shipments/<int:shipment_id>/cancel", methods=["GET", "POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def cancel(shipment_id: int):
    """Cancel a shipment that has not shipped, with a reason, once asked; a billed order's lines are credited."""
    shipment = _shipment_or_404(shipment_id)
    number, shipment_state = shipment.number, shipment.state
    form = CancelForm()
    if request.method == "POST" and (saved := submit(form, lambda: shipping.cancel(shipment, form.reason.data,
                                                                                   current_actor()))):
        credited = "".join(f" Credit note {note.number} credits it." for note in saved.value)
        flash(f"Shipment {number} cancelled; the managers were emailed.{credited}", "success")
        return _back()
    status = 422 if request.method == "POST" else 200
    if status == 422:
        user_with_access(current_user.id)
        shipment = _shipment_or_404(shipment_id)
    return render("hardware/cancel.html", "hardware/_cancel.html", status=status, form=form, shipment=shipment,
                  can_cancel=shipping.can_move(shipment, ShipmentState.CANCELLED), state=shipment_state,
                  back=url_for("hardware.admin_shipments"))


def _return_or_404(return_id: int) -> ReturnRequest:
    found = db.session.get(ReturnRequest, return_id)
    if found is None:
        abort(404)
    return found


def _decided(found: ReturnRequest):
    """A request decided meanwhile is no longer listed with its forms: say so at the top of the page."""
    flash(f"That return request was already {found.state.label.lower()}.", "error")
    return _back()


@bp.route("/admin/returns/<int:return_id>/approve", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def approve_return(return_id: int):
    """Approve a return: a replacement ships to the device's location at no charge; the managers are emailed."""
    found = _return_or_404(return_id)
    if found.state is not ReturnState.REQUESTED:
        return _decided(found)
    form = ApproveReturnForm(prefix=f"approve-{return_id}")
    form.product_id.choices = returns.hardware_products()
    if saved := submit(form, lambda: returns.approve(found, db.session.get(Product, form.product_id.data),
                                                     current_actor())):
        flash(f"Return approved: replacement {saved.value.number} awaits shipment; the managers were emailed.",
              "success")
        return _back()
    return _staff_page(422, failed_return=(return_id, form))


@bp.route("/admin/returns/<int:return_id>/refuse", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def refuse_return(return_id: int):
    """Refuse a return with a note the managers read."""
    found = _return_or_404(return_id)
    if found.state is not ReturnState.REQUESTED:
        return _decided(found)
    form = RefuseReturnForm(prefix=f"refuse-{return_id}")
    if submit(form, lambda: returns.refuse(found, form.note.data, current_actor())):
        flash("Return refused; the managers were emailed the note.", "success")
        return _back()
    return _staff_page(422, failed_return=(return_id, form))


# ---------------------------------------------------------------- a device's return


def _device_or_404(device_id: int) -> Device:
    return get_in_scope_or_404(Device, device_id, Device.organization_id, current_user, Permission.VIEW_DEVICES,
                               joinedload(Device.location).joinedload(Location.organization))


@bp.route("/devices/<int:device_id>/return", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's device is a 404
def request_return(device_id: int):
    """Ask the vendor to take a device back under RMA (managers and installers of its organization)."""
    device = _device_or_404(device_id)
    require(Permission.MANAGE_DEVICES, device.location.organization)
    name = device.name
    form = ReturnForm()
    if request.method == "POST" and submit(form, lambda: returns.request_return(device, form.reason.data,
                                                                                current_actor())):
        flash(f"Return of {name} requested; the vendor will approve or refuse it, and the managers will be "
              "emailed the decision.", "success")
        return redirect(url_for("devices.device", device_id=device_id))
    status = 422 if request.method == "POST" else 200
    if status == 422:
        user_with_access(current_user.id)
        device = _device_or_404(device_id)
    return render("hardware/request_return.html", status=status, form=form, device=device,
                  pending=returns.open_request(device.id))


@bp.app_template_global()
def open_return_request(device_id: int) -> ReturnRequest | None:
    """The device's return request awaiting a decision (the device page's RMA section)."""
    return returns.open_request(device_id)



@bp.app_template_global()
def shipments_of_order(order_id: int) -> list[Shipment]:
    """An order's shipments (its page shows each one's state and tracking)."""
    return shipping.order_shipments(order_id)
