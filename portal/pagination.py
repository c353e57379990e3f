"""Pagination by window: fetch one row more than a page to know whether there is a next page.

No COUNT(*): on a large table (the audit log) an exact total costs a scan on every request, and "Older" /
"Newer" is all a reader of a newest-first list needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select

from portal.extensions import db

# The last page a list shows: far beyond any real list, and its OFFSET stays inside what a database accepts (a
# page typed as ?page=99999999999999999999 shows this page, empty, rather than overflowing the query).
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Window:
    items: list
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def window(stmt: Select, page: int, per_page: int, rows: bool = False) -> Window:
    """Rows of page `page` (1-based; anything below 1 is page 1, anything beyond MAX_PAGE is MAX_PAGE) of an
    ordered query: its first column's values, or whole rows (tuples) with `rows=True`, for a query that selects an
    entity with aggregates."""
    page = min(max(page, 1), MAX_PAGE)
    paged = stmt.limit(per_page + 1).offset((page - 1) * per_page)
    fetched = list(db.session.execute(paged).all() if rows else db.session.scalars(paged).unique())
    return Window(items=fetched[:per_page], page=page, per_page=per_page, has_next=len(fetched) > per_page)
