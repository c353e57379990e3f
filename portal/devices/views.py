"""Locations and devices: add, rename, move and remove them (managers and Installation Partners).

Everyone with VIEW_DEVICES sees the pages; the forms are offered, and POSTs accepted, only with MANAGE_DEVICES on
the organization concerned (the working one for adding, the object's own for changing it).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, can, get_in_scope_or_404, require, requires
from portal.devices import lists, picker, services
from portal.devices.forms import AddDeviceForm, AddLocationForm, DeviceForm, LocationForm, MoveDeviceForm
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware.installing import waiting_at, waiting_in_chain
from portal.list_options import read_list, show
from portal.notifications.models import EmailCategory
from portal.pagination import window
from portal.rendering import confirmation, render, submit
from portal.routing import id_value
from portal.subscriptions.usage import location_subscriptions_needed

bp = Blueprint("devices", __name__)

LAST_PAGE = 100_000  # beyond any real list; keeps OFFSET a number every database takes


def _search() -> str:
    return request.args.get("q", "").strip()[:100]


def _page() -> int:
    return min(request.args.get("page", 1, type=int), LAST_PAGE)


def _location_or_404(location_id: int) -> Location:
    return get_in_scope_or_404(Location, location_id, Location.organization_id, current_user,
                               Permission.VIEW_DEVICES, joinedload(Location.organization))


def _device_or_404(device_id: int) -> Device:
    return get_in_scope_or_404(Device, device_id, Device.organization_id, current_user, Permission.VIEW_DEVICES,
                               joinedload(Device.location).joinedload(Location.organization),
                               joinedload(Device.added_by))


# ---------------------------------------------------------------- locations


@bp.route("/locations", methods=["GET", "POST"])
@requires(Permission.VIEW_DEVICES)
def locations():
    """Your chain's locations with their devices and the location subscriptions each needs; add one."""
    org = active_organization()
    if request.method == "POST":
        require(Permission.MANAGE_DEVICES)
    form, big_chain = None, False
    if can(current_user, Permission.MANAGE_DEVICES, org):
        owners = services.organizations_for(current_user, org, Permission.MANAGE_DEVICES)
        big_chain = owners is None
        if big_chain:  # a search by name offers the matches, not a select of thousands of customers
            owners = services.find_organizations(current_user, org, Permission.MANAGE_DEVICES,
                                                 request.args.get("organization_q", "").strip()[:100],
                                                 request.form.get("organization_id", type=id_value))
        form = AddLocationForm(organization_id=org.id)
        form.organization_id.choices = [(o.id, o.name) for o in owners]

        def add() -> Location:
            owner = next(o for o in owners if o.id == form.organization_id.data)
            return services.add_location(owner, form.name.data, form.address.data, current_actor(),
                                         form.street_address())

        if saved := submit(form, add):
            flash(f"Location {saved.value.name} added. Add its devices next.", "success")
            return redirect(url_for("devices.location", location_id=saved.value.id))
    search = _search()
    rows = window(services.locations_with_counts(current_user, org, search), _page(), services.PER_PAGE, rows=True)
    return render("devices/locations.html", "devices/_locations.html", status=422 if form and form.errors else 200,
                  org=org, rows=rows, search=search, form=form, needed=location_subscriptions_needed,
                  several_organizations=any(loc.organization_id != org.id for loc, _, _ in rows.items),
                  big_chain=big_chain, organization_q=request.args.get("organization_q", "").strip()[:100],
                  total_needed=services.subscriptions_needed(current_user, org))


def _location_page(location: Location, form: LocationForm | None, status: int = 200):
    devices = window(services.location_devices(current_user, location), _page(), services.PER_PAGE)
    return render("devices/location.html", "devices/_location_devices.html", status=status, location=location,
                  devices=devices, form=form, confirm_form=ConfirmForm(), counts=services.device_counts(location),
                  needed=location_subscriptions_needed, waiting=waiting_at(current_user, location),
                  can_manage=can(current_user, Permission.MANAGE_DEVICES, location.organization))


@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's location is a 404
def location(location_id: int):
    """One location and its devices; rename it or change its address."""
    location_ = _location_or_404(location_id)
    if request.method == "POST":
        require(Permission.MANAGE_DEVICES, location_.organization)
    if not can(current_user, Permission.MANAGE_DEVICES, location_.organization):
        return _location_page(location_, None)
    form = LocationForm(obj=location_)
    if submit(form, lambda: services.edit_location(location_, form.name.data, form.address.data,
                                                   current_actor(), form.street_address())):
        flash(f"Location {location_.name} saved.", "success")
        return redirect(url_for("devices.location", location_id=location_.id))
    if form.errors:
        return _location_page(_location_or_404(location_id), form, status=422)  # reloaded after the rollback
    return _location_page(location_, form)


@bp.route("/locations/<int:location_id>/remove", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's location is a 404
def remove_location(location_id: int):
    """Remove a location that has no devices left, once asked."""
    location_ = _location_or_404(location_id)
    require(Permission.MANAGE_DEVICES, location_.organization)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Remove the location {location_.name}?",
                            message=f"{location_.name} is no longer listed; a location with devices cannot be "
                                    "removed (move or remove them first).", button=f"Remove {location_.name}",
                            back=url_for("devices.location", location_id=location_.id))
    name = location_.name
    try:
        services.remove_location(location_, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("devices.location", location_id=location_id))
    db.session.commit()
    flash(f"Location {name} removed.", "success")
    return redirect(url_for("devices.locations"))


# ---------------------------------------------------------------- devices


@bp.route("/devices", methods=["GET", "POST"])
@requires(Permission.VIEW_DEVICES)
def devices():
    """Every device of your chain with its location; filter by location, search; add one (managers are emailed),
    or a replacement under RMA (nobody is emailed: the device it replaces stops counting)."""
    org = active_organization()
    if request.method == "POST":
        require(Permission.MANAGE_DEVICES)
    can_manage = can(current_user, Permission.MANAGE_DEVICES, org)
    # A manager or partner of the chain manages every location the chain shows (a membership covers sub-chains).
    # The filter and the add form offer the same locations: read once (a chain's first few, or the whole of a
    # small chain's).
    scope = picker.Scope(current_user, org, Permission.MANAGE_DEVICES if can_manage else Permission.VIEW_DEVICES)
    location_filter = picker.build(scope, picker.FILTER, request.args.get("location", type=id_value),
                                   request.args.get(picker.SEARCHES[picker.FILTER], ""))
    chosen = location_filter.chosen
    form = replaceable = location_field = None
    if can_manage:
        form = AddDeviceForm(location_id=chosen, replaces_id=request.args.get("replaces", type=int))
        location_field = picker.build(scope, picker.ADD, form.location_id.data,
                                      request.args.get(picker.SEARCHES[picker.ADD], ""))
        form.location_id.choices = location_field.choices()
        # The devices a new one may replace: those of the chosen location (a whole chain can have thousands).
        replaceable = services.replaceable_devices(current_user, org, chosen) if chosen is not None else None
        form.replaces_id.choices = [("", "Not a replacement"), *(replaceable or ())]

        def add() -> services.AddedDevice:
            at = db.session.get(Location, form.location_id.data, options=[joinedload(Location.organization)])
            replaces = (services.device_to_replace(current_user, org, form.replaces_id.data)
                        if form.replaces_id.data is not None else None)
            return services.add_device(at, form.name.data, form.serial_number.data, form.counts.data,
                                       current_actor(), replaces=replaces)

        if saved := submit(form, add):
            flash(added_notice(saved.value), "success")
            return redirect(url_for("devices.device", device_id=saved.value.device.id))
    rows = show(read_list(lists.DEVICES, request.args, "devices.devices"),
                services.chain_devices(current_user, org, chosen))
    return render("devices/devices.html", "devices/_devices.html", status=422 if form and form.errors else 200,
                  org=org, devices=rows, location_filter=location_filter, location_field=location_field,
                  chosen=chosen, form=form, replaceable=replaceable,
                  waiting=waiting_in_chain(current_user, org.id, chosen),
                  several_organizations=_several_organizations(scope, rows.items))


def _several_organizations(scope: picker.Scope, devices: list[Device]) -> bool:
    """Whether the device list names each device's organization: when the locations offered span several (all
    read for a small chain), else when the page's devices do (a big chain's are not all read)."""
    if scope.small:
        return len({row.organization_id for row in scope.first()}) > 1
    return len({device.organization_id for device in devices}) > 1


def _emailed(notice: services.Notified | None) -> str:
    """The sentence a flash adds about the managers emailed (nothing when no email was due)."""
    if notice is None:
        return ""
    managers = len(notice.notified)
    if not managers:
        return (f" {notice.main_chain.name} has no active Chain & User Manager who receives "
                f"{EmailCategory.DEVICE_NOTICES.label.lower()} to email about it.")
    who = "the Chain & User Manager" if managers == 1 else f"the {managers} Chain & User Managers"
    return f" We emailed {who} of {notice.main_chain.name} about it."


def added_notice(added: services.AddedDevice) -> str:
    """The flash after a device is added (here, or by installing a delivered unit): where, and who was emailed."""
    done = f"Device {added.device.name} added at {added.device.location.name}."
    if added.replaces is not None:
        return (f"{done} It replaces {added.replaces.name} under RMA, which no longer counts towards plans: the "
                "plans' usage is unchanged, and nobody was emailed.")
    return done + _emailed(added)


def _device_page(device: Device, form: DeviceForm | None, move: tuple[MoveDeviceForm, picker.Picker] | None,
                 status: int = 200):
    # A replaced device does not count; a replacement names what it replaced (a query only for those).
    replaced_by = services.replacement_of(device) if not device.counts else None
    replaces = db.session.get(Device, device.replaces_id) if device.replaces_id else None
    move_form, move_picker = move if move is not None else (None, None)
    return render("devices/device.html", status=status, device=device, form=form, move_form=move_form,
                  move_picker=move_picker, replaced_by=replaced_by, replaces=replaces)


def _move_scope(device: Device) -> picker.Scope:
    """The locations a device may move to: its organization's other ones the user manages."""
    return picker.Scope(current_user, device.location.organization, Permission.MANAGE_DEVICES,
                        with_sub_chains=False, leave_out=device.location_id)


def _move_form(device: Device, formdata: bool) -> tuple[MoveDeviceForm, picker.Picker]:
    """The move form and its location picker (on the device's page, with the matches of `?location_q=`)."""
    form = MoveDeviceForm() if formdata else MoveDeviceForm(formdata=None)
    search = "" if formdata else request.args.get(picker.SEARCHES[picker.MOVE], "")
    location_field = picker.build(_move_scope(device), picker.MOVE, form.location_id.data, search,
                                  device_id=device.id)
    form.location_id.choices = location_field.choices()
    return form, location_field


@bp.route("/devices/<int:device_id>", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's device is a 404
def device(device_id: int):
    """One device: rename it, correct its serial number, say whether it counts towards the plan; move it."""
    device_ = _device_or_404(device_id)
    organization = device_.location.organization
    if request.method == "POST":
        require(Permission.MANAGE_DEVICES, organization)
    if not can(current_user, Permission.MANAGE_DEVICES, organization):
        return _device_page(device_, None, None)
    form = DeviceForm(obj=device_)
    if saved := submit(form, lambda: services.edit_device(device_, form.name.data, form.serial_number.data,
                                                          form.counts.data, current_actor())):
        flash(f"Device {device_.name} saved.{_emailed(saved.value)}", "success")
        return redirect(url_for("devices.device", device_id=device_.id))
    if form.errors:
        device_ = _device_or_404(device_id)  # reloaded after the rollback
        return _device_page(device_, form, _move_form(device_, formdata=False), status=422)
    return _device_page(device_, form, _move_form(device_, formdata=False))


@bp.route("/devices/<int:device_id>/move", methods=["POST"])
@login_required  # the scoped lookup decides: another tenant's device is a 404
def move_device(device_id: int):
    """Move a device to another location of its organization."""
    device_ = _device_or_404(device_id)
    require(Permission.MANAGE_DEVICES, device_.location.organization)
    move_form, move_picker = _move_form(device_, formdata=True)

    def move() -> tuple[Location, services.Notified]:
        to = db.session.get(Location, move_form.location_id.data)
        return to, services.move_device(device_, to, current_actor())

    if saved := submit(move_form, move):
        to, notice = saved.value
        flash(f"Device {device_.name} moved to {to.name}.{_emailed(notice)}", "success")
        return redirect(url_for("devices.device", device_id=device_.id))
    device_ = _device_or_404(device_id)
    # The picker again, after the rollback (its rows are plain tuples; the device is reloaded).
    return _device_page(device_, DeviceForm(obj=device_, formdata=None), (move_form, move_picker), status=422)


@bp.route("/locations/pick")
@login_required  # what is asked decides: the filter needs VIEW_DEVICES, the forms MANAGE_DEVICES
def pick_location():
    """A location picker's search (htmx asks it as one types): at most picker.PICK_MAX locations matching the name,
    city or postal code, as radio buttons for the picker's field, the one already chosen kept first. `field` is
    `location` (the Devices page's filter) or `location_id` (the add-device form; with `device`, that device's
    move form). Only locations the user may see there, or manage for a form, are ever offered."""
    field = request.args.get("field", picker.FIELDS[picker.FILTER])
    device_id = None
    if "device" in request.args:
        device_id = request.args.get("device", type=id_value)
        if device_id is None or field != picker.FIELDS[picker.MOVE]:
            abort(404)
        device_ = _device_or_404(device_id)
        require(Permission.MANAGE_DEVICES, device_.location.organization)
        purpose, scope = picker.MOVE, _move_scope(device_)
    elif field == picker.FIELDS[picker.ADD]:
        require(Permission.MANAGE_DEVICES)
        purpose, scope = picker.ADD, picker.Scope(current_user, active_organization(), Permission.MANAGE_DEVICES)
    elif field == picker.FIELDS[picker.FILTER]:
        require(Permission.VIEW_DEVICES)
        org = active_organization()
        permission = (Permission.MANAGE_DEVICES if can(current_user, Permission.MANAGE_DEVICES, org)
                      else Permission.VIEW_DEVICES)
        purpose, scope = picker.FILTER, picker.Scope(current_user, org, permission)
    else:
        abort(404)
    search = request.args.get("q") or request.args.get(picker.SEARCHES[purpose], "")
    found = picker.build(scope, purpose, request.args.get(field, type=id_value), search, device_id=device_id,
                         searchable=True)
    return render_template("devices/_location_picker.html", picker=found)


@bp.route("/devices/<int:device_id>/remove", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's device is a 404
def remove_device(device_id: int):
    """Remove a device, after saying that the plan quantity does not change by itself and to export its data
    first; the managers are emailed."""
    device_ = _device_or_404(device_id)
    require(Permission.MANAGE_DEVICES, device_.location.organization)
    form = ConfirmForm()
    if form.validate_on_submit():
        name, location_id = device_.name, device_.location_id
        notice = services.remove_device(device_, current_actor())
        db.session.commit()
        flash(f"Device {name} removed. Your subscription quantity is unchanged: a Chain & User Manager lowers it "
              f"on Manage Subscriptions.{_emailed(notice)}", "success")
        return redirect(url_for("devices.location", location_id=location_id))
    return render("devices/remove_device.html", "devices/_remove_device.html", device=device_, form=form,
                  status=400 if request.method == "POST" else 200)
