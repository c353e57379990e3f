"""What a list was asked to show: its search and filters, sort, page size and page, read from the query string.

A list declares its filters and sorts once (`ListSpec`); `read_list` reads the request under the list's own prefix
(`unassigned-q`, `unassigned-sort` …), so several lists on one page each keep their own when another one pages or
sorts, and links and forms carry every list's state. A value that cannot be one (a quantity of "abc", a date of
31 February) is explained beside its field and left out of the search; it is never an error page.

Filters are conditions on the listed entity (subqueries rather than joins), so a list's query keeps its own joins and
a filter never multiplies its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qsl, urlsplit

from flask import request, url_for
from sqlalchemy import Select, func, literal, select

from portal.pagination import Window, window
from portal.routing import MAX_ID

PAGE_SIZES = (25, 50, 100)
# A list counts its rows up to this many and says "more than" beyond: counting a whole book of 100,000 licenses on
# every request would cost more than the page's rows (issue 18: a page's cost must not grow with the book).
COUNT_LIMIT = 1000
MAX_SEARCH = 100
MAX_QUANTITY = 10**9


@dataclass(frozen=True)
class Choice:
    """A select: one of `options` (value, label), or all."""

    name: str
    label: str
    options: Callable[[], Sequence[tuple[str, str]]]
    condition: Callable[[str], object]
    kind: str = "choice"


@dataclass(frozen=True)
class Range:
    """Two fields, `<name>_from` and `<name>_to` (either may be blank): whole numbers or dates, both inclusive."""

    name: str
    label: str
    column: object
    values: str = "number"  # "date" for a date column, "day" for a timestamp column filtered by whole days (UTC)
    kind: str = "range"


@dataclass(frozen=True)
class Text:
    """A text field whose condition matches part of something a row shows (a user's email …)."""

    name: str
    label: str
    condition: Callable[[str], object]
    kind: str = "text"


@dataclass(frozen=True)
class Month:
    """A month field (YYYY-MM): `condition(first_day, last_day)` narrows the list to it."""

    name: str
    label: str
    condition: Callable[[date, date], object]
    kind: str = "month"


Filter = Choice | Range | Text | Month


@dataclass(frozen=True)
class Sort:
    label: str
    columns: tuple  # ORDER BY expressions, ascending; "-key" reverses every one of them


@dataclass(frozen=True)
class ListSpec:
    prefix: str  # "" for a page with one list
    search: Callable[[str], object] | None  # the search box's condition, if the list has one
    filters: tuple[Filter, ...]
    sorts: dict[str, Sort]
    default_sort: str  # a key of `sorts`, with "-" for descending
    tie_breaker: object  # the column that makes the order total (an id)
    search_label: str = "Search"
    primary: tuple[str, ...] = ()  # the filters shown beside the search; the rest sit under "More filters"

    def arg(self, name: str) -> str:
        return f"{self.prefix}-{name}" if self.prefix else name


@dataclass
class ListState:
    spec: ListSpec
    endpoint: str
    args: dict[str, str]  # every list's parameters in the request (to keep the others' in links and forms)
    search: str = ""
    values: dict[str, str] = field(default_factory=dict)  # what each filter field holds, as typed
    conditions: list = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    sort: str = ""
    per_page: int = PAGE_SIZES[0]
    page: int = 1
    url_values: dict = field(default_factory=dict)  # the endpoint's own URL parameters (an id in the path …)
    options: dict[str, Sequence[tuple[str, str]]] = field(default_factory=dict)  # each Choice's, read once

    # ------------------------------------------------------------------ queries

    def apply(self, stmt: Select) -> Select:
        """`stmt` narrowed by the search and filters, in the chosen order (ending with the tie-breaker)."""
        for condition in self.conditions:
            stmt = stmt.where(condition)
        return stmt.order_by(None).order_by(*self.order_by())

    def order_by(self, sort: str | None = None) -> list:
        """The ORDER BY of the chosen sort (or of `sort`), ending with the tie-breaker."""
        sort = self.sort if sort is None else sort
        key = sort.lstrip("-")
        descending = sort.startswith("-")
        columns = [*self.spec.sorts[key].columns, self.spec.tie_breaker]
        return [column.desc() if descending else column.asc() for column in columns]

    count_limit = COUNT_LIMIT

    def count(self, stmt: Select) -> Select:
        """How many rows the filtered list holds (what the list's header says), as a query: at most
        COUNT_LIMIT + 1, which the header reads as "more than COUNT_LIMIT", so the count reads a bounded number of
        rows whatever the size of the list."""
        narrowed = stmt
        for condition in self.conditions:
            narrowed = narrowed.where(condition)
        # Only a constant per row: what the rows show (correlated counts, loaded relations) is not counted. Read in
        # the list's default order, which an index gives (tests/test_query_plans.py), so the count stops after its
        # limit instead of collecting every matching row first, whatever order the page was asked for.
        rows = (narrowed.with_only_columns(literal(1), maintain_column_froms=True)
                .order_by(None).order_by(*self.order_by(self.spec.default_sort)))
        return select(func.count()).select_from(rows.limit(self.count_limit + 1).subquery())

    @property
    def filtered(self) -> bool:
        return bool(self.conditions)

    @property
    def primary_filters(self) -> list:
        return [f for f in self.spec.filters if f.name in self.spec.primary]

    @property
    def more_filters(self) -> list:
        return [f for f in self.spec.filters if f.name not in self.spec.primary]

    @property
    def more_filters_open(self) -> bool:
        """Whether "More filters" shows open: one of its filters is set or in error."""
        names = {n for f in self.more_filters for n in ((f"{f.name}_from", f"{f.name}_to") if isinstance(f, Range)
                                                         else (f.name,))}
        return any(self.values.get(n) or self.errors.get(n) for n in names)

    # ------------------------------------------------------------------ links and forms

    def url(self, **changes) -> str:
        """This page's URL with every list's state, and `changes` (unprefixed names) to this list's."""
        args = dict(self.args)
        for name, value in changes.items():
            key = self.spec.arg(name)
            if value in (None, ""):
                args.pop(key, None)
            else:
                args[key] = str(value)
        if self.spec.prefix:
            args["section"] = self.spec.prefix
        return url_for(self.endpoint, **self.url_values, **args)

    def address(self) -> str:
        """The page's address with every list's state (for the browser's address bar after an htmx swap)."""
        return url_for(self.endpoint, **self.url_values, **{k: v for k, v in self.args.items() if k != "section"})

    def cleared_url(self) -> str:
        """This list without its search and filters (its sort and page size kept)."""
        return self.url(q=None, page=None, **{name: None for name in self.values})

    @property
    def page_sizes(self) -> tuple[int, ...]:
        return PAGE_SIZES

    def page_url(self, page: int) -> str:
        return self.url(page=page if page > 1 else None)

    def sort_url(self, key: str) -> str:
        """The link of a column heading: that column ascending, or descending when it is already ascending."""
        return self.url(sort=f"-{key}" if self.sort == key else key, page=None)

    def aria_sort(self, key: str) -> str:
        if self.sort.lstrip("-") != key:
            return "none"
        return "descending" if self.sort.startswith("-") else "ascending"

    def kept(self) -> list[tuple[str, str]]:
        """The other lists' parameters, as hidden fields of this list's filter form."""
        own = self.spec.prefix + "-" if self.spec.prefix else None
        return [(name, value) for name, value in self.args.items()
                if name != "section" and own is not None and not name.startswith(own)]

    def name(self, field_name: str) -> str:
        return self.spec.arg(field_name)

    def csv_args(self) -> dict[str, str]:
        """This list's search, filters and sort, for its CSV download."""
        own = [self.spec.arg(n) for n in ("q", "sort")] + [self.spec.arg(n) for n in self.values]
        args = {name: self.args[name] for name in own if self.args.get(name)}
        if self.spec.prefix:
            args["section"] = self.spec.prefix
        return args


def _whole_number(text: str, limit: int) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > limit:
        raise ValueError
    return int(text)


def _range_bound(spec: Range, name: str, text: str):
    label = f"{spec.label} {'from' if name.endswith('_from') else 'to'}"
    if spec.values in ("date", "day"):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{label}: enter a date as YYYY-MM-DD.") from None
    try:
        return _whole_number(text, MAX_QUANTITY)
    except ValueError:
        raise ValueError(f"{label}: enter a whole number.") from None


def list_args(prefix: str) -> dict[str, str]:
    """The query string a list reads. An htmx request for one list (`section`) brings that list's parameters; the
    other lists' come from the page's current URL (HX-Current-URL), which htmx keeps up to date as lists are
    searched and paged, so a link rendered before another list changed never brings back that list's old state."""
    args = dict(request.args.items())
    current = request.headers.get("HX-Current-URL") if request.headers.get("HX-Request") else None
    if not (prefix and current and args.get("section") == prefix):
        return args
    own = f"{prefix}-"
    merged = {name: value for name, value in parse_qsl(urlsplit(current).query)
              if not name.startswith(own) and name != "section"}
    merged.update({name: value for name, value in args.items() if name.startswith(own) or name in ("section",)})
    if not any(name.startswith(own) for name in args):  # an older link: plain q and page
        merged.update({name: args[name] for name in ("q", "page") if name in args})
    return merged


def _month(label: str, text: str) -> tuple[date, date]:
    """The first and last day of a month typed as YYYY-MM."""
    try:
        year, month = (int(part) for part in text.strip()[:7].split("-"))
        first = date(year, month, 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    except (ValueError, OverflowError):
        raise ValueError(f"{label}: give the month as YYYY-MM, such as 2026-10.") from None
    return first, last


def read_list(spec: ListSpec, args: Mapping[str, str], endpoint: str, **url_values) -> ListState:
    """The list's state from the query string `args` (`list_args(prefix)`, or request.args)."""
    kept = {name: value for name, value in args.items()
            if value != "" and len(value) <= MAX_SEARCH and name != "section"
            and not (spec.prefix and name in ("q", "page"))}
    state = ListState(spec=spec, endpoint=endpoint, args=kept, url_values=url_values)
    # An older link names the list with `section` and uses plain `q` and `page`: still understood.
    legacy = spec.prefix and args.get("section") == spec.prefix

    def raw(name: str) -> str:
        value = args.get(spec.arg(name))
        if value is None and legacy and name in ("q", "page"):
            value = args.get(name)
        return (value or "").strip()

    state.search = raw("q")[:MAX_SEARCH]
    if legacy and state.search and spec.arg("q") not in kept:  # an older link's search, kept under its new name
        kept[spec.arg("q")] = state.search
    if state.search and spec.search is not None:
        state.conditions.append(spec.search(state.search))
    for filter_ in spec.filters:
        if isinstance(filter_, Choice):
            state.options[filter_.name] = list(filter_.options())
        names = ([f"{filter_.name}_from", f"{filter_.name}_to"] if isinstance(filter_, Range) else [filter_.name])
        for name in names:
            text = raw(name)[:MAX_SEARCH]
            state.values[name] = text
            if not text:
                continue
            try:
                state.conditions.append(_condition(filter_, name, text, state.options.get(filter_.name, ())))
            except ValueError as error:
                state.errors[name] = str(error)
    sort = raw("sort")
    state.sort = sort if sort.lstrip("-") in spec.sorts else spec.default_sort
    try:
        per_page = _whole_number(raw("per") or str(PAGE_SIZES[0]), MAX_ID)
    except ValueError:
        per_page = PAGE_SIZES[0]
    state.per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
    try:
        state.page = max(_whole_number(raw("page") or "1", MAX_ID), 1)
    except ValueError:
        state.page = 1
    return state


def _condition(filter_: Filter, name: str, text: str, options: Sequence[tuple[str, str]]):
    if isinstance(filter_, Choice):
        if text not in {value for value, _ in options}:
            raise ValueError(f"{filter_.label}: choose one from the list.")
        return filter_.condition(text)
    if isinstance(filter_, Text):
        return filter_.condition(text)
    if isinstance(filter_, Month):
        return filter_.condition(*_month(filter_.label, text))
    bound = _range_bound(filter_, name, text)
    if filter_.values == "day":  # whole days of a timestamp: from the first instant, to before the next day's
        start = datetime.combine(bound, time.min, tzinfo=UTC)
        return filter_.column >= start if name.endswith("_from") else filter_.column < start + timedelta(days=1)
    return filter_.column >= bound if name.endswith("_from") else filter_.column <= bound


@dataclass(frozen=True)
class Listing:
    """A page of a list, how many rows the whole list holds with its filters, and what was asked."""

    state: ListState
    window: Window
    total: int | None  # None on a page past the end of the list (its rows carry the total)
    notes: dict = field(default_factory=dict)  # what `annotate` read for each row, by the row's id

    @property
    def items(self) -> list:
        return self.window.items


def show(state: ListState, stmt: Select, rows: bool = False, annotate=None) -> Listing:
    """The page `state` asks for of `stmt` (filtered and sorted), with the filtered list's total. The total comes
    with the page's rows (an uncorrelated subquery, computed once), so a list costs one statement; a page past the
    end has no rows to carry it and says so instead. `annotate`, a scalar subquery correlated to the listed entity,
    is read with the rows too (`notes`, by the entity's id): something each row shows from another table."""
    total = state.count(stmt).scalar_subquery().label("list_total")
    extra = (annotate,) if annotate is not None else ()
    fetched = window(state.apply(stmt).add_columns(*extra, total), state.page, state.per_page, rows=True)
    width = 1 + len(extra)
    items = [tuple(row[:-width]) if rows else row[0] for row in fetched.items]
    notes = {row[0].id: row[-2] for row in fetched.items} if extra else {}
    count = fetched.items[0][-1] if fetched.items else (0 if state.page == 1 else None)
    return Listing(state, Window(items, fetched.page, fetched.per_page, fetched.has_next), count, notes)
