"""Counting SQL statements (tests and benchmarks) and forbidding lazy loads (the N+1 guard used in tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, raiseload


@dataclass
class StatementCount:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementCount]:
    """Count every SQL statement sent to `engine` inside the block (all threads)."""
    counted = StatementCount()

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        counted.statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _forbid_lazy_loads(state: ORMExecuteState) -> None:
    if state.is_select and not state.is_relationship_load and not state.is_column_load:
        # A relationship not loaded up front raises instead of issuing one query per row.
        state.statement = state.statement.options(raiseload("*", sql_only=True))


def forbid_lazy_loads(session_class: type[Session]) -> None:
    if not event.contains(session_class, "do_orm_execute", _forbid_lazy_loads):
        event.listen(session_class, "do_orm_execute", _forbid_lazy_loads)
