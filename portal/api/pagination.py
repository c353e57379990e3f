"""Cursor pagination (`?limit=&cursor=`): keyset on the list's order, so pages are stable under inserts and cost
the same on the first page and the thousandth. The cursor is opaque to clients: the last row's sort key, signed
so that a tampered cursor is refused rather than read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import marshmallow as ma
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.orm import InstrumentedAttribute

from portal.api.problems import ApiProblem

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class PageQuery(ma.Schema):
    """`limit` and `cursor`, shared by every list operation (its own filters are added by subclassing)."""

    limit = ma.fields.Integer(load_default=DEFAULT_LIMIT, validate=ma.validate.Range(min=1, max=MAX_LIMIT),
                              metadata={"description": f"How many items to return (1 to {MAX_LIMIT})."})
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500),
                              metadata={"description": "`next_cursor` of the previous page; omit for the first."})


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of one page of `item_schema` objects: {"data": [...], "has_more", "next_cursor"}."""
    return ma.Schema.from_dict({
        "data": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "has_more": ma.fields.Boolean(required=True),
        "next_cursor": ma.fields.String(required=True, allow_none=True,
                                        metadata={"description": "Pass as `cursor` for the next page."}),
    }, name=name)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="api-cursor")


def encode_cursor(values: Sequence) -> str:
    return _serializer().dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])


def decode_cursor(cursor: str, size: int) -> list:
    try:
        values = _serializer().loads(cursor)
    except (BadSignature, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise ApiProblem("validation-error", "This cursor is not one this list returned. Start again without a "
                         "cursor.", field="cursor")
    return values


@dataclass(frozen=True)
class Order:
    """A list's order: columns (all NOT NULL, the last one unique) and whether it is newest/largest first.
    `parse` turns a cursor's JSON value back into the column's type."""

    columns: tuple[InstrumentedAttribute, ...]
    descending: bool = True
    parse: tuple[Callable, ...] = ()

    def after(self, values: list):
        """WHERE (c1, c2, …) comes after `values` in this order (expanded, so every database uses the index)."""
        return self._beyond(self._parsed(values))

    def after_bound(self):
        """after() over bound parameters `cursor_0`, `cursor_1`, … (cursor_params gives their values), for a
        statement built once and reused; the first column is bounded too, so that every database starts the index
        range at the cursor (the expanded OR alone may be read as a filter over the whole range)."""
        bounds = [bindparam(f"cursor_{i}") for i in range(len(self.columns))]
        first = self.columns[0] <= bounds[0] if self.descending else self.columns[0] >= bounds[0]
        return and_(first, self._beyond(bounds))

    def cursor_params(self, cursor: str) -> dict:
        """The values of after_bound()'s parameters for a cursor of this list; a problem if it is not one."""
        try:
            values = self._parsed(decode_cursor(cursor, len(self.columns)))
        except (TypeError, ValueError):
            raise ApiProblem("validation-error", "This cursor is not one this list returned. Start again without a "
                             "cursor.", field="cursor") from None
        return {f"cursor_{i}": value for i, value in enumerate(values)}

    def _parsed(self, values: list) -> list:
        return [p(v) for p, v in zip(self.parse, values, strict=False)] + values[len(self.parse):]

    def _beyond(self, values: list):
        clauses = []
        for i, column in enumerate(self.columns):
            beyond = column < values[i] if self.descending else column > values[i]
            clauses.append(and_(*(c == values[j] for j, c in enumerate(self.columns[:i])), beyond))
        return or_(*clauses)

    def order_by(self):
        return [c.desc() if self.descending else c.asc() for c in self.columns]


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def paginate(session, stmt: Select, order: Order, *, limit: int, cursor: str | None,
             key: Callable[[object], Sequence]) -> Page:
    """One page of `stmt` in `order`; `key(row)` gives a row's values of the order's columns."""
    if cursor:
        stmt = stmt.where(order.after(decode_cursor(cursor, len(order.columns))))
    return page_of(list(session.scalars(stmt.order_by(*order.order_by()).limit(limit + 1)).unique()), limit, key)


def page_of(rows: list, limit: int, key: Callable[[object], Sequence]) -> Page:
    """The page of up to `limit` rows read with one more (whose presence says there is a next page)."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(key(rows[-1])) if more and rows else None)


def page_json(page: Page, serialize: Callable[[object], dict]) -> dict:
    return {"data": [serialize(item) for item in page.items], "has_more": page.has_more,
            "next_cursor": page.next_cursor}



