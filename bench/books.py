"""The benchmark's books: one generated database per book size (1k, 10k and 100k licenses by default), built
once and reused while nothing that made it has changed, and a throwaway copy of it for each timing run.

A book is the probe reseller grown to N licenses with everything else in proportion (`book_parameters`), among
a background population that stays the same for every size, so only the probe grows. It is stored as
`bench/data/book-<N>.db` on SQLite, or as its own PostgreSQL database (`<name>_1k`, `_10k`, `_100k` after the
name in --database-url), created if missing. A `bench_book` table in it (the benchmark's, not the app's schema)
keeps the book's fingerprint (the generator's parameters and seed, GENERATOR_VERSION and the migrations' head)
and what the pages need to know of the data (the probe's ids and emails, a license key…). A book whose
fingerprint differs, or every book with --rebuild, is built again from an empty database.

Pages are timed against a copy of the book (SQLite's backup API; PostgreSQL's CREATE DATABASE … TEMPLATE),
dropped afterwards: signing in, filling a cart and POST /checkout write to it, and the stored book must stay as
built so that the next run measures the same data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.app import copy_database, drop_database, ensure_database, migrated_app, prepare_database
from bench.generate import (
    GENERATOR_VERSION,
    Dataset,
    ProbeBook,
    ProbeFleet,
    ProbeStorefront,
    generate,
)
from portal.catalog.models import SubscriptionBasis
from portal.extensions import db

DATA = Path(__file__).resolve().parent / "data"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BOOK_SIZES = (1_000, 10_000, 100_000)
HISTORY_MONTHS = 36

# The background: resellers and their customers, the same for every book (only the probe reseller grows).
BACKGROUND = {"resellers": 20, "customers_per_reseller": 10, "users_per_org": 2, "audit_entries_per_org": 10,
              "orders_per_reseller": 3}


def label(size: int) -> str:
    """1000 -> "1k", 100000 -> "100k"."""
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def book_parameters(size: int, seed: int) -> dict:
    """generate()'s arguments for a book of `size` licenses: customers size/10, locations size/50, devices
    size/10, and 36 months of order history with about size × 0.36 order invoices (10 a month per 1,000
    licenses); the storefront stays as it is (its pages are informative)."""
    return {**BACKGROUND, "seed": seed, "probe_licenses": size, "probe_customers": max(size // 10, 1),
            "probe_locations": max(size // 50, 1), "probe_devices": size // 10,
            "probe_history_months": HISTORY_MONTHS, "probe_order_invoices": size * 36 // 100,
            "storefront_products": 500, "storefront_special_prices": 1_000, "storefront_rules": 150}


def alembic_head() -> str:
    """The newest migration: a book built on an older schema is rebuilt."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


def fingerprint(parameters: dict) -> str:
    """What a stored book must match to be reused."""
    made_of = {"parameters": parameters, "generator": GENERATOR_VERSION, "alembic_head": alembic_head()}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Book:
    """A stored book: its size, where it is, what is in it, and whether this run built it."""

    size: int
    url: str
    dataset: Dataset
    parameters: dict
    built: bool
    build_seconds: float | None  # when this run built it

    @property
    def label(self) -> str:
        return label(self.size)


def book_url(size: int, database_url: str = "") -> str:
    """Where the book of `size` licenses is kept: a SQLite file under bench/data, or a PostgreSQL database named
    after --database-url's with the size appended."""
    if not database_url:
        return f"sqlite:///{DATA / f'book-{size}.db'}"
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        stem = Path(url.database or "bench.db")
        return url.set(database=str(stem.with_name(f"{stem.stem}-{size}{stem.suffix or '.db'}"))).render_as_string(
            hide_password=False)
    return url.set(database=f"{url.database}_{label(size)}").render_as_string(hide_password=False)


def _dataset_json(dataset: Dataset) -> str:
    return json.dumps(dataclasses.asdict(dataset), default=str)


def _dataset(data: dict) -> Dataset:
    book, fleet, shop = data.pop("probe_book"), data.pop("probe_fleet"), data.pop("probe_storefront")
    fleet["plans"] = {SubscriptionBasis(k): tuple(v) for k, v in fleet["plans"].items()}
    return Dataset(**data, probe_book=ProbeBook(**book), probe_fleet=ProbeFleet(**fleet),
                   probe_storefront=ProbeStorefront(**shop))


def _stored(url: str) -> tuple[str, Dataset] | None:
    """The stored book's fingerprint and dataset, or None when there is none (or an unreadable one)."""
    if make_url(url).get_backend_name() == "sqlite" and not Path(make_url(url).database).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT fingerprint, dataset FROM bench_book")).one_or_none()
    except Exception:  # no bench_book table (an empty or foreign database): build it
        return None
    finally:
        engine.dispose()
    if row is None:
        return None
    try:
        return row.fingerprint, _dataset(json.loads(row.dataset))
    except (KeyError, TypeError, ValueError):
        return None


def _stamp(url: str, stamp: str, dataset: Dataset) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_book (fingerprint VARCHAR(64) NOT NULL, "
                              "built_at VARCHAR(32) NOT NULL, dataset TEXT NOT NULL)"))
            conn.execute(text("DELETE FROM bench_book"))
            conn.execute(text("INSERT INTO bench_book (fingerprint, built_at, dataset) VALUES (:f, :at, :d)"),
                         {"f": stamp, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                          "d": _dataset_json(dataset)})
    finally:
        engine.dispose()


def open_book(size: int, *, seed: int, workdir: Path, database_url: str = "", rebuild: bool = False,
              say: Callable[[str], None] = print) -> Book:
    """The book of `size` licenses: the stored one if its fingerprint matches (and not `rebuild`), else built."""
    url = book_url(size, database_url)
    parameters = book_parameters(size, seed)
    stamp = fingerprint(parameters)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if not sqlite:
        ensure_database(url)
    stored = None if rebuild else _stored(url)
    if stored is not None and stored[0] == stamp:
        say(f"Book {label(size)}: reusing {make_url(url).render_as_string(hide_password=True)}")
        return Book(size, url, stored[1], parameters, built=False, build_seconds=None)

    why = "--rebuild" if rebuild else "none stored" if stored is None else "its fingerprint changed"
    say(f"Book {label(size)}: building ({why}) in {make_url(url).render_as_string(hide_password=True)}…")
    started = time.perf_counter()
    if sqlite:
        path = Path(make_url(url).database)
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    prepare_database(url, reset=True)
    app = migrated_app(url, workdir / "mail")
    with app.app_context():
        dataset = generate(**parameters)
        db.session.remove()
        db.engine.dispose()
    _stamp(url, stamp, dataset)
    seconds = time.perf_counter() - started
    say(f"  {sum(dataset.rows.values()):,} rows in {dataset.seconds:.1f} s (with migrations {seconds:.1f} s)")
    return Book(size, url, dataset, parameters, built=True, build_seconds=seconds)


@contextmanager
def working_copy(book: Book, workdir: Path) -> Iterator[str]:
    """A throwaway copy of the book to time pages against (see the module docstring); its URL."""
    url = make_url(book.url)
    if url.get_backend_name() == "sqlite":
        copy = workdir / f"run-{book.size}.db"
        source, target = sqlite3.connect(url.database), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        yield f"sqlite:///{copy}"
        return
    copy_url = url.set(database=f"{url.database}_run").render_as_string(hide_password=False)
    copy_database(book.url, copy_url)
    try:
        yield copy_url
    finally:
        drop_database(copy_url)
