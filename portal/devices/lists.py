"""The devices list's search, filters and sorts (portal/list_options.py): what its rows show."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from portal.accounts.models import User
from portal.devices.models import Device, Location
from portal.list_options import Choice, ListSpec, Range, Sort, Text

_adder = aliased(User)


def _added_by(text: str):
    return Device.added_by_id.in_(select(_adder.id).where(_adder.email.icontains(text, autoescape=True)))


DEVICES = ListSpec(
    prefix="", search=lambda text: or_(Device.name.icontains(text, autoescape=True),
                                       Device.serial_number.icontains(text, autoescape=True)),
    search_label="Name or serial number",
    filters=(Choice("counts", "Counts towards plans", lambda: (("yes", "Yes"), ("no", "No")),
                    lambda value: Device.counts.is_(value == "yes")),
             Text("added_by", "Added by (email)", _added_by),
             Range("added", "Added", Device.created_at, values="day")),
    # the list's query joins each device's location
    sorts={"name": Sort("Device", (Device.name,)), "serial": Sort("Serial number", (Device.serial_number,)),
           "location": Sort("Location", (Location.name, Device.name)), "added": Sort("Added", (Device.created_at,))},
    default_sort="location", tie_breaker=Device.id)
