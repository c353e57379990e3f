"""The benchmark's application: a test-like configuration over a fresh, migrated database; creating and
dropping the load test's own PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import normalize_database_url
from portal.extensions import db


class DatabaseNotEmpty(RuntimeError):
    """BENCH_DATABASE_URL names a database that already has tables, and --reset was not given."""


class DatabaseExists(RuntimeError):
    """The load test's database already exists (left by an interrupted run?), and --drop-existing was not given."""


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
        # the per-key limit (600 a minute by default) would answer the timed API requests 429
        "API_KEY_LIMIT": "1000000 per minute",
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


def migrated_app(database_url: str, mail_dir: Path, *, forbid_lazy_loads: bool = False, **overrides) -> Flask:
    """Create the app and apply the migrations (the schema comes from them, as in production).
    `overrides` replace entries of bench_config (for example ARGON2_PROFILE="production")."""
    app = create_app({**bench_config(database_url, mail_dir, forbid_lazy_loads=forbid_lazy_loads), **overrides})
    with app.app_context():
        upgrade()
        db.session.remove()
    return app


def _server_engine(url: str):
    """An autocommit engine on the server's `postgres` database, for CREATE and DROP DATABASE."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"the load test needs a PostgreSQL URL, not {parsed.get_backend_name()}")
    return create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT"), parsed.database


def create_database(url: str, *, drop_existing: bool = False) -> None:
    """Create the (PostgreSQL) database `url` names; an existing one is refused unless `drop_existing`."""
    engine, name = _server_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if exists and not drop_existing:
                raise DatabaseExists(f"database {name} already exists; pass --drop-existing to drop it first "
                                     "(everything in it is lost)")
            if exists:
                conn.execute(text(f"DROP DATABASE {quoted} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    """Drop the database `url` names, closing whatever connections are still open on it."""
    engine, name = _server_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        engine.dispose()


def database_exists(url: str) -> bool:
    """Whether the (PostgreSQL) database `url` names exists."""
    engine, name = _server_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}))
    finally:
        engine.dispose()


def ensure_database(url: str) -> None:
    """Create the (PostgreSQL) database `url` names unless it exists (a stored book's, kept between runs)."""
    if not database_exists(url):
        create_database(url)


def copy_database(source_url: str, target_url: str) -> None:
    """Make the (PostgreSQL) database `target_url` names a fresh copy of `source_url`'s (CREATE DATABASE …
    TEMPLATE: a file copy, with no one connected to the source)."""
    engine, name = _server_engine(target_url)
    source = make_url(source_url).database
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(source)}"))
    finally:
        engine.dispose()
