"""SQLite, the embedded default, made to behave like the production database where it matters.

- Foreign keys are enforced (SQLite leaves them off by default).
- WAL journal: readers do not block the writer, so pages stay responsive while an order is being written.
- A writer waits up to 5 s for another to finish instead of failing at once.

Transactions keep the sqlite3 driver's own handling: a transaction begins at the first data change, so reads
made before a payment (which the sandbox gateway records on its own connection) hold no snapshot that would
stop the order from being written afterwards. The one consequence to keep in mind: a SAVEPOINT
(`begin_nested`) must not be a transaction's first statement, or its RELEASE commits at once.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or getattr(engine, "_portal_sqlite", False):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 5000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    engine._portal_sqlite = True
