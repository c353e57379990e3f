"""Column types and helpers shared by the models of every feature."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Enum, TypeDecorator, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only clock the models use)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC that always comes back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """A Python enum stored by value as a portable VARCHAR with a CHECK constraint (same on SQLite and PostgreSQL)."""
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=24,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


def among(column, name: str, dialect: str):
    """`column IN (:name)` for a list of ids sent as one parameter. On PostgreSQL `column = ANY(:name)` with one
    array: the statement's text is the same whatever the list's length, so the driver caches and prepares it (an
    expanded IN of 100 ids is 100 placeholders, a new text to parse each time). Elsewhere an expanding IN."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))
    return column.in_(bindparam(name, expanding=True))
