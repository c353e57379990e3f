"""Spreadsheet downloads: cells a spreadsheet shows as text and never runs, amounts as plain decimals, and rows
streamed to the browser as they are read (an export never holds a whole book in memory)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from flask import Response, stream_with_context

from portal.money import plain_decimal

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); a leading quote stops it.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 32 * 1024  # characters written to the browser at a time (one chunk per ~250 rows, not one per row)


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


# An amount as a plain decimal in its currency's unit (12345 USD -> "123.45"), for a spreadsheet to sum: formatted
# from the integers, with no Money object or Decimal per cell (portal/money.py keeps the rule).
csv_amount = plain_decimal


def streamed_csv(filename: str, header: Sequence[str], rows: Iterable[Iterable[object]]) -> Response:
    """A CSV download of `rows` under `header`, every cell made safe, written to the browser as it is read.
    Pass a generator that runs its query when first asked for a row: the query then runs while the response
    streams, inside its request (a result opened in the view would outlive the view's session)."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        write = csv.writer(buffer).writerow
        write(header)
        for row in rows:
            write(map(csv_safe, row))
            if buffer.tell() > CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})
