"""Tables that stack on phones: each body cell carries its column's name (data-label) so that a narrow screen,
which hides the header row and shows one cell a line, can print the name beside the value (portal.css).

The labels come from the header the template already renders, so they can never disagree with it: a template
wraps its table in `{% filter column_labels %}` and writes no label itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

from markupsafe import Markup, escape

# A start or end tag of a table's structure (the cells' own content is skipped: on a page of 100 rows it is most
# of the tags); quoted attribute values may hold '>' (an hx-vals JSON, say).
_TAG = re.compile(r"""<(/?)(table|thead|tbody|tfoot|tr|th|td)\b((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.I)
_HIDDEN = re.compile(r"""<(\w+)[^>]*\bclass="[^"]*\bvisually-hidden\b[^"]*"[^>]*>.*?</\1>""", re.S)
_MARKUP = re.compile(r"<[^>]*>")
_COLSPAN = re.compile(r"""\bcolspan\s*=\s*["']?(\d+)""", re.I)
_SECTIONS = frozenset({"thead", "tbody", "tfoot"})


@dataclass
class _Table:
    headers: list[str] = field(default_factory=list)
    section: str | None = None
    in_header_row: bool = False
    column: int = 0
    header_start: int | None = None  # where the text of the header cell being read starts
    header_span: int = 1


def _header_text(html: str) -> str:
    """What a sighted user reads in a header cell (text a screen reader alone hears is left out)."""
    return " ".join(unescape(_MARKUP.sub(" ", _HIDDEN.sub(" ", html))).split())


def _span(attributes: str) -> int:
    found = _COLSPAN.search(attributes)
    return max(1, int(found.group(1))) if found else 1


def column_labels(html: str) -> Markup:
    """Give every body cell of the tables in `html` a data-label naming its column (from the table's <thead>);
    cells spanning several columns, cells under an empty header and cells already labelled are left as they are."""
    html = str(html)
    insertions: list[tuple[int, str]] = []
    tables: list[_Table] = []

    def end_header(table: _Table, at: int) -> None:
        if table.header_start is not None:
            table.headers.extend([_header_text(html[table.header_start:at])] * table.header_span)
            table.header_start = None

    for tag in _TAG.finditer(html):
        closing, name, attributes = tag.group(1), tag.group(2).lower(), tag.group(3)
        if name == "table":
            if closing and tables:
                tables.pop()
            elif not closing:
                tables.append(_Table())
            continue
        if not tables:
            continue
        table = tables[-1]
        if name in _SECTIONS:
            end_header(table, tag.start())
            table.section = None if closing else name
        elif name == "tr":
            end_header(table, tag.start())
            if not closing:
                table.in_header_row, table.column = table.section == "thead", 0
                if table.in_header_row:
                    table.headers = []  # of several header rows, the last names the columns
        elif name in ("th", "td"):
            end_header(table, tag.start())
            if closing:
                continue
            span = _span(attributes)
            if table.in_header_row:
                table.header_start, table.header_span = tag.end(), span
                continue
            label = table.headers[table.column] if table.column < len(table.headers) else ""
            if span == 1 and label and "data-label" not in attributes:
                insertions.append((tag.start() + 1 + len(name), f' data-label="{escape(label)}"'))
            table.column += span

    # `html` is the template's own output, already escaped; the labels inserted are escaped above.
    if not insertions:
        return Markup(html)  # noqa: S704
    parts, last = [], 0
    for at, text in insertions:
        parts.extend((html[last:at], text))
        last = at
    parts.append(html[last:])
    return Markup("".join(parts))  # noqa: S704
