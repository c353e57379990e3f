"""Presenting results: the printed table, the JSON file, and the --check thresholds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.measure import PageResult


@dataclass(frozen=True)
class Thresholds:
    """What --check enforces: a page's p50 at most `max_ratio` × the baseline's (or the page's own max_ratio),
    and SQL statements within each page's budget."""

    max_ratio: float = 50.0


def baseline_p50(results: list[PageResult]) -> float:
    """The p50 of the baseline page (/help, anonymous: a template and no database)."""
    base = next((r for r in results if r.page.baseline), None)
    return base.p50 if base is not None and base.samples_ms else float("nan")


def ratio(result: PageResult, base: float) -> float:
    return result.p50 / base if base and not math.isnan(base) else float("nan")


def table(results: list[PageResult]) -> str:
    """A fixed-width table: page, who, p50 ms, p95 ms, p50 / baseline p50, SQL statements, status."""
    base = baseline_p50(results)
    header = ("page", "as", "p50 ms", "p95 ms", "× /help", "SQL", "KiB", "status")
    rows = [header]
    for r in results:
        status = "ok" if r.ok else (r.error or "HTTP " + ",".join(str(s) for s in sorted(r.statuses)))
        rows.append((
            r.page.name, r.page.who, f"{r.p50:.2f}", f"{r.p95:.2f}", f"{ratio(r, base):.1f}",
            str(len(r.statements)) if r.ok else "-", f"{r.body_bytes / 1024:.1f}", status,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells)).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in rows[1:]]
    return "\n".join(lines)


def check(results: list[PageResult], thresholds: Thresholds) -> list[str]:
    """Every violation of the thresholds, as sentences (empty when all pages pass)."""
    base = baseline_p50(results)
    problems = []
    for r in results:
        if not r.ok:
            continue  # already a failure of its own
        limit = r.page.max_ratio if r.page.max_ratio is not None else thresholds.max_ratio
        if not r.page.baseline and ratio(r, base) > limit:
            problems.append(f"{r.page.name}: p50 {r.p50:.2f} ms is {ratio(r, base):.1f}× the /help baseline "
                            f"({base:.2f} ms); the limit is {limit:g}×")
        if len(r.statements) > r.page.sql_budget:
            problems.append(f"{r.page.name}: {len(r.statements)} SQL statements per request; the budget is "
                            f"{r.page.sql_budget}")
    return problems


def as_json(results: list[PageResult]) -> list[dict]:
    """The per-page part of the JSON report."""
    base = baseline_p50(results)
    return [
        {
            "page": r.page.name, "method": r.page.method, "path": r.page.path, "as": r.page.who,
            "baseline": r.page.baseline, "expected_status": r.page.expect,
            "ok": r.ok, "statuses": sorted(r.statuses), "error": r.error,
            "requests": len(r.samples_ms), "p50_ms": _num(r.p50), "p95_ms": _num(r.p95),
            "min_ms": _num(min(r.samples_ms, default=math.nan)), "max_ms": _num(max(r.samples_ms, default=math.nan)),
            "ratio_to_baseline": _num(ratio(r, base)), "body_bytes": r.body_bytes,
            "sql_statements": len(r.statements), "sql_budget": r.page.sql_budget, "sql": r.statements,
        }
        for r in results
    ]


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
