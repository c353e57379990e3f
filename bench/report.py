"""Presenting results: one table per book, the growth table across books, the JSON file, and --check.

--check holds every goal page (bench.measure.GOAL_PAGES) to issue 18's goals: at the largest book, p95 at most
GOAL_RATIO × the anonymous /help's p95 of the same run, and at most GOAL_GROWTH × its own p95 at the smallest
book. Every page must stay within its SQL statement budget on every book and send as many statements on each
book (a count that grows with the book is a query per row). An informative page with its own `max_ratio` must
keep p95 within it on every book, and a page compared with another (`versus`, such as an API order's idempotent
replay against a GET of that order) within `max_versus` × that page's p95 on every book. A page that did not answer
as expected fails the run by itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.measure import PageResult

GOAL_RATIO = 5.0  # a goal page's p95 at the largest book, at most this × /help's p95 in the same run
GOAL_GROWTH = 1.5  # and at most this × its own p95 at the smallest book


@dataclass(frozen=True)
class BookRun:
    """The pages timed on one book."""

    label: str  # "1k", "10k", "100k"
    licenses: int
    results: list[PageResult]

    @property
    def baseline(self) -> PageResult | None:
        """The anonymous /help (a template and no database)."""
        return next((r for r in self.results if r.page.baseline and r.samples_ms), None)

    def ratios(self, result: PageResult) -> tuple[float, float]:
        """`result`'s p50 and p95 over the baseline's p50 and p95."""
        base = self.baseline
        if base is None:
            return math.nan, math.nan
        return _div(result.p50, base.p50), _div(result.p95, base.p95)


def _div(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def _status(r: PageResult) -> str:
    return "ok" if r.ok else (r.error or "HTTP " + ",".join(str(s) for s in sorted(r.statuses)))


def _format(rows: list[tuple[str, ...]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells)).rstrip()

    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths), *(fmt(row) for row in rows[1:])])


def table(run: BookRun) -> str:
    """One book: page, who, goal or not, p50 and p95 ms with their ratios to /help's, SQL, KiB, status."""
    rows = [("page", "as", "goal", "p50 ms", "p50 × /help", "p95 ms", "p95 × /help", "SQL", "KiB", "status")]
    for r in run.results:
        r50, r95 = run.ratios(r)
        rows.append((r.page.name, r.page.who, "goal" if r.page.goal else "", f"{r.p50:.2f}", f"{r50:.1f}",
                     f"{r.p95:.2f}", f"{r95:.1f}", str(len(r.statements)) if r.ok else "-",
                     f"{r.body_bytes / 1024:.1f}", _status(r)))
    return _format(rows, {3, 4, 5, 6, 7, 8})


def _by_name(run: BookRun) -> dict[tuple[str, str], PageResult]:
    return {(r.page.name, r.page.who): r for r in run.results}


def growth_table(runs: Sequence[BookRun]) -> str:
    """Every page's p95 on each book, its growth from the smallest book to the largest, and its ratio to /help's
    p95 at the largest book."""
    first, last = runs[0], runs[-1]
    header = ("page", "as", "goal", *(f"p95 {run.label}" for run in runs), f"{last.label}/{first.label}",
              f"× /help {last.label}", "SQL")
    rows = [header]
    books = [_by_name(run) for run in runs]
    for r in last.results:
        key = (r.page.name, r.page.who)
        p95s = [book[key].p95 if key in book else math.nan for book in books]
        counts = sorted({len(book[key].statements) for book in books if key in book and book[key].ok})
        rows.append((r.page.name, r.page.who, "goal" if r.page.goal else "", *(f"{p:.2f}" for p in p95s),
                     f"{_div(p95s[-1], p95s[0]):.2f}", f"{last.ratios(r)[1]:.1f}",
                     "/".join(str(c) for c in counts) or "-"))
    return _format(rows, set(range(3, len(header))))


def pairs(run: BookRun) -> list[tuple[PageResult, PageResult]]:
    """The pages compared with another page of the run (`versus`), each with that page, both answered."""
    by_name = {r.page.name: r for r in run.results}
    found = []
    for r in run.results:
        other = by_name.get(r.page.versus) if r.page.versus else None
        if other is not None and r.ok and other.ok:
            found.append((r, other))
    return found


def pairs_table(runs: Sequence[BookRun]) -> str:
    """Each compared page on each book: its p50 and p95, the other page's, and the ratios (empty without any)."""
    rows = [("book", "page", "p50 ms", "p95 ms", "versus", "p50 ms", "p95 ms", "p50 ratio", "p95 ratio", "limit")]
    for run in runs:
        for r, other in pairs(run):
            rows.append((run.label, r.page.name, f"{r.p50:.2f}", f"{r.p95:.2f}", other.page.name, f"{other.p50:.2f}",
                         f"{other.p95:.2f}", f"{_div(r.p50, other.p50):.2f}", f"{_div(r.p95, other.p95):.2f}",
                         f"{r.page.max_versus:g}×" if r.page.max_versus else ""))
    return _format(rows, {2, 3, 5, 6, 7, 8}) if len(rows) > 1 else ""


def check(runs: Sequence[BookRun]) -> list[str]:
    """Every violation (see the module docstring), as sentences; empty when all pages pass."""
    problems = []
    first, last = runs[0], runs[-1]
    base = last.baseline
    smallest = _by_name(first)
    for r in last.results:
        if not r.ok or r.page.baseline:
            continue
        _, r95 = last.ratios(r)
        if r.page.goal:
            if r95 > GOAL_RATIO:
                problems.append(f"{r.page.name} as {r.page.who}: p95 {r.p95:.2f} ms at {last.label} is {r95:.1f}× "
                                f"/help's p95 ({base.p95:.2f} ms); the goal is {GOAL_RATIO:g}×")
            small = smallest.get((r.page.name, r.page.who))
            if len(runs) > 1 and small is not None and small.ok:
                growth = _div(r.p95, small.p95)
                if growth > GOAL_GROWTH:
                    problems.append(f"{r.page.name} as {r.page.who}: p95 {r.p95:.2f} ms at {last.label} is "
                                    f"{growth:.2f}× its p95 at {first.label} ({small.p95:.2f} ms); the goal is "
                                    f"{GOAL_GROWTH:g}×")
    for run in runs:
        for r in run.results:
            if not r.ok:
                continue
            if r.page.max_ratio is not None and run.ratios(r)[1] > r.page.max_ratio:
                problems.append(f"{r.page.name} as {r.page.who}: p95 {r.p95:.2f} ms at {run.label} is "
                                f"{run.ratios(r)[1]:.1f}× /help's p95; its limit is {r.page.max_ratio:g}×")
            if len(r.statements) > r.page.sql_budget:
                problems.append(f"{r.page.name} as {r.page.who}: {len(r.statements)} SQL statements per request "
                                f"at {run.label}; the budget is {r.page.sql_budget}")
    for run in runs:
        for r, other in pairs(run):
            ratio = _div(r.p95, other.p95)
            if r.page.max_versus is not None and ratio > r.page.max_versus:
                problems.append(f"{r.page.name} as {r.page.who}: p95 {r.p95:.2f} ms at {run.label} is {ratio:.2f}× "
                                f"the p95 of {other.page.name} ({other.p95:.2f} ms); its limit is "
                                f"{r.page.max_versus:g}×")
    books = [_by_name(run) for run in runs]
    for r in last.results:
        key = (r.page.name, r.page.who)
        counts = {run.label: len(book[key].statements) for run, book in zip(runs, books, strict=True)
                  if key in book and book[key].ok}
        if len(set(counts.values())) > 1:
            problems.append(f"{r.page.name} as {r.page.who}: the SQL statements differ between books ("
                            + ", ".join(f"{n} at {book}" for book, n in counts.items()) + ")")
    return problems


def as_json(run: BookRun) -> list[dict]:
    """The per-page part of one book's JSON report."""
    pages = []
    for r in run.results:
        r50, r95 = run.ratios(r)
        pages.append({
            "page": r.page.name, "method": r.page.method, "path": r.page.path, "as": r.page.who,
            "baseline": r.page.baseline, "goal": r.page.goal, "expected_status": r.page.expect,
            "ok": r.ok, "statuses": sorted(r.statuses), "error": r.error,
            "requests": len(r.samples_ms), "p50_ms": _num(r.p50), "p95_ms": _num(r.p95),
            "min_ms": _num(min(r.samples_ms, default=math.nan)), "max_ms": _num(max(r.samples_ms, default=math.nan)),
            "p50_ratio_to_baseline": _num(r50), "p95_ratio_to_baseline": _num(r95), "body_bytes": r.body_bytes,
            "sql_statements": len(r.statements), "sql_budget": r.page.sql_budget, "max_ratio": r.page.max_ratio,
            "versus": r.page.versus, "max_versus": r.page.max_versus,
            "sql": r.statements, "samples_ms": [round(s, 3) for s in r.samples_ms],
        })
    return pages


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
