"""The schema comes from Alembic migrations; the models must describe exactly that schema."""

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from portal.extensions import db

# Indexes on expressions, which Alembic cannot reflect: each is checked by name instead.
EXPRESSION_INDEXES = {"storefront_price": "uq_storefront_price_rule"}


def test_models_and_migrations_agree(app):
    """A model change without its migration (or the reverse) fails here: run `flask db migrate`."""
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, db.metadata)
        catalog = ("SELECT name FROM sqlite_master WHERE type = 'index'" if conn.dialect.name == "sqlite"
                   else "SELECT indexname FROM pg_indexes")
        indexes = set(conn.scalars(text(catalog)))
    assert set(EXPRESSION_INDEXES.values()) <= indexes
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_are_at_head(app):
    """The test database was built by running every migration (as `make run` and production do)."""
    from alembic.script import ScriptDirectory

    with app.app_context(), db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, "migrations have branched: merge them"
    assert set(current) == set(heads)
