"""URL converters: `<int:…>` only matches what an id column can hold, so an absurdly large number typed into a URL
is a 404 like any other unknown id, not a database overflow (a 500); `id_value` does the same for ids posted in
forms."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # INTEGER on PostgreSQL; SQLite's is larger, so this bound suits both


def id_value(text: str) -> int:
    """An id read from a form or query string (`request.form.get(name, type=id_value)`): ValueError, so the
    default, for anything no id column holds, as the `<int:…>` converter does for URLs."""
    number = int(text)
    if not 0 < number <= MAX_ID:
        raise ValueError(f"{number} is not an id")
    return number


class IdConverter(IntegerConverter):
    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,  # noqa: A002
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)


def init_app(app: Flask) -> None:
    """Before any blueprint registers a rule: rules bind their converters when they are added."""
    app.url_map.converters["int"] = IdConverter
