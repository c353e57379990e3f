"""The location picker of the devices pages (issue 18 item 4): a chain's locations as a choice that stays small.

A choice of up to PICK_MAX locations lists them all in a select, as it always did. A bigger one (a chain of 2,000
locations) offers a search instead, by name, city or postal code (any part of them, any case), and shows at most
PICK_MAX matches as radio buttons, the location already chosen kept first. With htmx the search asks
/locations/pick as one types; without JavaScript it is a GET of the page itself (`?location_q=`), which shows the
matches in the same form: search, choose, submit.

Every query goes through authz.scoped, as the location fields' did: a picker never offers, and a posted id is
never taken for, a location outside what the user may see (or manage) in the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import Select, or_, select

from portal.accounts.models import Organization, User
from portal.authz import Permission, chain_ids, scoped
from portal.devices.forms import options_html
from portal.devices.models import Location
from portal.extensions import db
from portal.routing import MAX_ID

PICK_MAX = 20  # locations a picker shows at once: all of a small chain's, or the matches of a search
SEARCH_MAX = 100

FILTER = "filter"  # the Devices page's location filter (field `location`, "All locations" too)
ADD = "add"  # the add-device form's location (field `location_id`)
MOVE = "move"  # a device's move form (field `location_id`, the device's own location left out)

FIELDS = {FILTER: "location", ADD: "location_id", MOVE: "location_id"}
# The query parameter of each picker's search on its page (two pickers on /devices search apart).
SEARCHES = {FILTER: "location_filter_q", ADD: "location_q", MOVE: "location_q"}


@dataclass(frozen=True)
class Option:
    id: int
    label: str  # the name, and the organization's when it is not the working one
    detail: str  # city and postal code, to tell apart two locations of a similar name


@dataclass
class Scope:
    """The locations a picker offers: those of `org` (and of its sub-chains) on which `user` holds `permission`,
    less `leave_out` (a device's own location, on its move form). Rows read once are kept for the request."""

    user: User
    org: Organization
    permission: Permission
    with_sub_chains: bool = True
    leave_out: int | None = None
    _first: list | None = field(default=None, repr=False)
    _by_id: dict = field(default_factory=dict, repr=False)

    def _select(self) -> Select:
        owners = chain_ids(self.org.id) if self.with_sub_chains else [self.org.id]
        stmt = scoped(
            select(Location.id, Location.name, Location.city, Location.postal_code, Location.organization_id,
                   Organization.name.label("organization"))
            .join(Organization, Organization.id == Location.organization_id)
            .where(Location.organization_id.in_(owners)),
            Location.organization_id, self.user, self.permission)
        if self.leave_out is not None:
            stmt = stmt.where(Location.id != self.leave_out)
        return stmt.order_by(Organization.parent_id.is_not(None), Organization.name, Location.name, Location.id)

    def first(self) -> list:
        """The first PICK_MAX + 1 locations: all of them when there are PICK_MAX or fewer."""
        if self._first is None:
            self._first = list(db.session.execute(self._select().limit(PICK_MAX + 1)))
            self._by_id.update((row.id, row) for row in self._first)
        return self._first

    @property
    def small(self) -> bool:
        return len(self.first()) <= PICK_MAX

    def get(self, location_id: int | None):
        """The location's row if the scope offers it, else None (any id: a foreign one, garbage, out of range)."""
        if not isinstance(location_id, int) or not 0 < location_id <= MAX_ID:
            return None
        if location_id not in self._by_id:
            if self._first is not None and len(self._first) <= PICK_MAX:  # all of them are read already
                return None
            self._by_id[location_id] = db.session.execute(
                self._select().where(Location.id == location_id)).first()
        return self._by_id[location_id]

    def matching(self, text: str) -> list:
        """The first PICK_MAX + 1 locations whose name, city or postal code contains `text` (any case)."""
        return list(db.session.execute(self._select().where(or_(
            Location.name.icontains(text, autoescape=True), Location.city.icontains(text, autoescape=True),
            Location.postal_code.icontains(text, autoescape=True))).limit(PICK_MAX + 1)))


def clean_search(raw: str | None) -> str:
    return " ".join((raw or "").split())[:SEARCH_MAX]


@dataclass(frozen=True)
class Picker:
    """What a location field shows: all the locations (`searchable` False) or a search with its matches."""

    purpose: str  # FILTER, ADD or MOVE
    options: list[Option]
    chosen: int | None  # the chosen location, if the scope offers it
    searchable: bool  # more than PICK_MAX locations: a search, and the matches as radio buttons
    search: str = ""  # what was searched
    found: int = 0  # matches of the search shown (at most PICK_MAX)
    more: bool = False  # more matches than PICK_MAX
    device_id: int | None = None  # the device a move form moves

    @property
    def field(self) -> str:
        return FIELDS[self.purpose]

    @property
    def search_name(self) -> str:
        return SEARCHES[self.purpose]

    @property
    def dom_id(self) -> str:
        return f"{self.purpose}-location-picker"

    @property
    def all_label(self) -> str | None:
        return "All locations" if self.purpose == FILTER else None

    @property
    def empty(self) -> bool:
        """No location at all to offer."""
        return not self.searchable and not self.options

    @property
    def limit(self) -> int:
        return PICK_MAX

    def choices(self) -> list[tuple[int, str]]:
        """The field's valid choices for the form's validation: every location of a small choice, else the one
        chosen (a posted id the scope does not offer is no choice, and is refused beside the field)."""
        if not self.searchable:
            return [(option.id, option.label) for option in self.options]
        return [(option.id, option.label) for option in self.options if option.id == self.chosen]

    def options_html(self) -> Markup:
        """A small choice's <option>s (the select of before), the chosen one selected."""
        return options_html([(option.id, option.label) for option in self.options], self.chosen)


def _detail(row) -> str:
    return " ".join(part for part in (row.city, row.postal_code) if part)


def build(scope: Scope, purpose: str, chosen_id: int | None = None, search: str = "",
          device_id: int | None = None, searchable: bool | None = None) -> Picker:
    """The picker of `purpose` over `scope`, with `chosen_id` chosen if the scope offers it and, for a big
    choice, the matches of `search`. `searchable` True: the search's matches whatever the size of the choice
    (what /locations/pick answers); None: as the size decides."""
    if searchable is None:
        searchable = not scope.small
    if not searchable:
        rows = scope.first()
        several = len({row.organization_id for row in rows}) > 1
        options = [Option(row.id, f"{row.name} ({row.organization})" if several else row.name, _detail(row))
                   for row in rows]
        chosen = chosen_id if any(option.id == chosen_id for option in options) else None
        return Picker(purpose, options, chosen, searchable=False, device_id=device_id)

    def option(row) -> Option:
        label = row.name if row.organization_id == scope.org.id else f"{row.name} ({row.organization})"
        return Option(row.id, label, _detail(row))

    chosen_row = scope.get(chosen_id)
    search = clean_search(search)
    matches = scope.matching(search) if search else []
    shown = [row for row in matches[:PICK_MAX] if chosen_row is None or row.id != chosen_row.id]
    options = [option(row) for row in ([chosen_row] if chosen_row is not None else []) + shown]
    return Picker(purpose, options, chosen_row.id if chosen_row is not None else None, searchable=True,
                  search=search, found=len(matches[:PICK_MAX]), more=len(matches) > PICK_MAX, device_id=device_id)
