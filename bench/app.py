"""The benchmark's application: a test-like configuration over a fresh, migrated database."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import MetaData, create_engine, inspect, text

from portal import create_app
from portal.config import normalize_database_url
from portal.extensions import db


class DatabaseNotEmpty(RuntimeError):
    """BENCH_DATABASE_URL names a database that already has tables, and --reset was not given."""


def bench_config(database_url: str, mail_dir: Path, *, forbid_lazy_loads: bool = False) -> dict:
    """Like tests' test_config: cheap password hashing, no secure cookies, mail written to a folder.

    Lazy loads stay allowed by default so that an N+1 shows up as a statement count instead of an error page.
    """
    return {
        "TESTING": True,
        "DEBUG": False,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_URL": str(mail_dir),
        "MAIL_FROM": "Partner Portal <portal@vendor.example.com>",
        "PUBLIC_URL": "http://portal.bench",
        "RATELIMIT_STORAGE_URI": "memory://",
        "OUTBOX_SEND_AFTER_COMMIT": True,
        "SESSION_COOKIE_SECURE": False,
        "ARGON2_PROFILE": "test",
        "FORBID_LAZY_LOADS": forbid_lazy_loads,
    }


def prepare_database(url: str, *, reset: bool) -> str:
    """The SQLAlchemy URL to use; an existing database must be empty, or is emptied with `reset`."""
    url = normalize_database_url(url)
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
        if tables and not reset:
            raise DatabaseNotEmpty(
                f"the database already has {len(tables)} tables ({', '.join(sorted(tables)[:5])}…); "
                "pass --reset to drop them (everything in it is lost)"
            )
        if tables:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                else:
                    existing = MetaData()
                    existing.reflect(conn)
                    existing.drop_all(conn)
    finally:
        engine.dispose()
    return url


def migrated_app(database_url: str, mail_dir: Path, *, forbid_lazy_loads: bool = False) -> Flask:
    """Create the app and apply the migrations (the schema comes from them, as in production)."""
    app = create_app(bench_config(database_url, mail_dir, forbid_lazy_loads=forbid_lazy_loads))
    with app.app_context():
        upgrade()
        db.session.remove()
    return app
