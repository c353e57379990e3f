"""Installing a delivered unit: the form that names the device it becomes (managers and installers of the unit's
location's organization, and Installation Partners there); the units waiting are listed on the location's page and
on /devices (portal/templates/hardware/install/_waiting.html)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal.accounts.context import current_actor
from portal.authz import Permission, require
from portal.devices.services import NAME_MAX, AddedDevice
from portal.devices.views import added_notice
from portal.hardware import installing
from portal.hardware.models import ShipmentUnit
from portal.rendering import render, submit

bp = Blueprint("hardware_install", __name__)


class InstallForm(FlaskForm):
    name = StringField("Device name", validators=[
        DataRequired(message="Give the device a name."),
        Length(max=NAME_MAX, message=f"Keep the name to {NAME_MAX} characters or fewer.")],
        description="Unique within its organization. The serial number is the unit's.")


def _unit_or_404(unit_id: int) -> ShipmentUnit:
    unit = installing.unit_to_install(current_user, unit_id)
    if unit is None:
        abort(404)
    return unit


@bp.route("/deliveries/<int:unit_id>/install", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's unit is a 404
def install(unit_id: int):
    """Install a delivered unit at its location: it becomes a device there and counts towards the plans."""
    unit = _unit_or_404(unit_id)
    require(Permission.MANAGE_DEVICES, unit.shipment.location.organization)
    refused = installing.why_not_installable(unit)
    form = InstallForm(name=installing.default_device_name(unit))
    if refused is None and (saved := submit(form, lambda: installing.install_unit(unit, form.name.data,
                                                                                 current_actor()))):
        added: AddedDevice = saved.value
        flash(f"Unit {unit.serial_number} installed. {added_notice(added)}", "success")
        return redirect(url_for("devices.device", device_id=added.device.id))
    if refused is not None and request.method == "POST":
        status = 409
    else:
        status = 422 if form.errors or form.form_errors else 200
    return render("hardware/install/install.html", status=status, unit=_unit_or_404(unit_id) if status == 422 else unit,
                  form=None if refused else form, refused=refused)
