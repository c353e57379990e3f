"""The files the portal stores: invoice and receipt PDFs, storefront logos, transfer authorizations, and the
attachments the outbox worker reads. All of them go through one interface, `storage()`:

- `put(key, data) -> key`, `get(key) -> bytes`, `exists(key)`, `delete(key)`, and `send(key, download_name,
  mimetype)` (a Flask response).
- A key is a relative path ("invoices/2026/INV-0001-1a2b3c4d5e6f.pdf"); rows keep it (`pdf_path`, `logo_path`,
  `authorization_path`), so rows written before the storage interface keep working with the filesystem backend.
- `STORAGE_BACKEND=filesystem` (the default): `FileStorage`, files under the instance folder, each written to a
  temporary name and renamed (a reader never sees half a file). One node only: another node's instance folder
  does not have them.
- `STORAGE_BACKEND=database`: `DatabaseStorage`, the `stored_file` table of the portal's own database, so every
  node sharing the database reads what any node stored. Its writes are part of the caller's transaction: a file
  stored for a row that is rolled back is rolled back too, and a deletion takes effect when the caller commits.

A document is rendered after the row it documents is committed (WeasyPrint takes far longer than a checkout), then
stored at <folder>/<stem>-<first 12 hex digits of its SHA-256>.pdf and recorded on its row (`pdf_path` and
`pdf_sha256`) by an UPDATE that only succeeds while the row has none: two first downloads at once (on one node or
two) may both render, but only the first to record its file keeps it, and every later reader is served that file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol

from flask import Response, current_app, send_file
from sqlalchemy import LargeBinary, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db

BACKENDS = ("filesystem", "database")


class StoredFile(db.Model):
    """A stored file's content, for `STORAGE_BACKEND=database` (files are small: PDFs, logos, uploads)."""

    __tablename__ = "stored_file"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def send(self, key: str, download_name: str, mimetype: str, *, etag: str | None = None,
             as_attachment: bool = True, max_age: int | None = None) -> Response: ...


def check_key(key: str) -> str:
    """A key is a relative path inside the storage: no absolute path, no "..", no backslash (ValueError)."""
    parts = PurePosixPath(key).parts
    if (not key or len(key) > 255 or "\\" in key or "\x00" in key or key.startswith("/")
            or any(part in ("..", ".") for part in parts) or PurePosixPath(*parts).as_posix() != key):
        raise ValueError(f"{key!r} is not a storage key")
    return key


class FileStorage:
    """Files under a folder (the instance folder): the default, for a single node."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> str:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # atomic: never half a file under its name
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()  # FileNotFoundError when missing

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def send(self, key: str, download_name: str, mimetype: str, *, etag: str | None = None,
             as_attachment: bool = True, max_age: int | None = None) -> Response:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return send_file(path, mimetype=mimetype, as_attachment=as_attachment, download_name=download_name,
                         etag=etag or True, conditional=True, max_age=max_age)


class DatabaseStorage:
    """Files in the `stored_file` table, written and deleted in the caller's transaction: every node sharing the
    database reads them."""

    def _insert(self):
        dialect = db.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the portal runs on PostgreSQL and SQLite only
            raise RuntimeError(f"DatabaseStorage does not support {dialect}")
        return insert(StoredFile)

    def put(self, key: str, data: bytes) -> str:
        check_key(key)
        values = {"content": data, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        stmt = self._insert().values(key=key, created_at=utcnow(), **values)
        # The same key again (two nodes storing the same rendering) replaces it: the last write wins, as a rename.
        db.session.execute(stmt.on_conflict_do_update(index_elements=[StoredFile.key], set_=values))
        return key

    def get(self, key: str) -> bytes:
        content = db.session.scalar(select(StoredFile.content).where(StoredFile.key == check_key(key)))
        if content is None:
            raise FileNotFoundError(key)
        return bytes(content)

    def exists(self, key: str) -> bool:
        return db.session.scalar(select(StoredFile.key).where(StoredFile.key == check_key(key))) is not None

    def delete(self, key: str) -> None:
        db.session.execute(delete(StoredFile).where(StoredFile.key == check_key(key)))

    def send(self, key: str, download_name: str, mimetype: str, *, etag: str | None = None,
             as_attachment: bool = True, max_age: int | None = None) -> Response:
        row = db.session.execute(select(StoredFile.content, StoredFile.sha256, StoredFile.created_at)
                                 .where(StoredFile.key == check_key(key))).first()
        if row is None:
            raise FileNotFoundError(key)
        return send_file(io.BytesIO(row.content), mimetype=mimetype, as_attachment=as_attachment,
                         download_name=download_name, etag=etag or row.sha256, conditional=True,
                         last_modified=row.created_at, max_age=max_age)


def storage() -> FileStorage | DatabaseStorage:
    """The storage STORAGE_BACKEND chooses: "filesystem" (the instance folder, the default) or "database"."""
    backend = current_app.config.get("STORAGE_BACKEND", "filesystem")
    if backend == "database":
        return DatabaseStorage()
    if backend != "filesystem":
        raise ValueError(f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return FileStorage(current_app.instance_path)


# ---------------------------------------------------------------- moving to the database backend

# The folders of the instance folder that hold stored files (keys start with them); the mail folder is not one.
STORED_FOLDERS = ("invoices", "receipts", "transfers", "storefront-logos", "branding")


def copy_files_to_database(root: Path | str) -> int:
    """Copy every stored file under `root` (an instance folder) into the stored_file table under its key, the path
    its row keeps, and commit; files already there are written again (idempotent). The number of files copied."""
    files, database = FileStorage(root), DatabaseStorage()
    copied = 0
    for folder in STORED_FOLDERS:
        for path in sorted((files.root / folder).rglob("*")):
            if path.is_file() and path.suffix != ".tmp":
                database.put(path.relative_to(files.root).as_posix(), path.read_bytes())
                copied += 1
        db.session.commit()
    return copied


def register_storage_cli(app) -> None:
    import click
    from flask.cli import AppGroup

    group = AppGroup("storage", help="Stored files (STORAGE_BACKEND).")

    @group.command("copy-to-database")
    def copy_command():
        """Copy the files stored under the instance folder into the database, before switching to
        STORAGE_BACKEND=database (run it again just before the switch: it copies everything again)."""
        copied = copy_files_to_database(current_app.instance_path)
        click.echo(f"{copied} file{'s' if copied != 1 else ''} copied to the database.")

    app.cli.add_command(group)


# ---------------------------------------------------------------- documents rendered once


class StoredDocument(Protocol):
    """A row with a stored rendering: an Invoice, a Receipt."""

    id: int
    pdf_path: str | None
    pdf_sha256: str | None


def stored_file(relative: str | None) -> Path | None:
    """Where the filesystem backend keeps a key: under the instance folder (None for none)."""
    return None if relative is None else Path(current_app.instance_path) / relative


def store_once(row: StoredDocument, folder: str, stem: str, render: Callable[[], bytes]) -> Path:
    """The row's stored document, rendered by `render` and stored now if it has none yet (flushes the row's
    `pdf_path` and `pdf_sha256`; the caller commits). Returns where the filesystem backend keeps it; read it on
    any backend with `storage().get(row.pdf_path)`."""
    if row.pdf_path is not None:
        return stored_file(row.pdf_path)
    data = render()
    digest = hashlib.sha256(data).hexdigest()
    relative = store_bytes(folder, stem, data, "pdf")
    model = type(row)
    claimed = db.session.execute(
        update(model).where(model.id == row.id, model.pdf_path.is_(None))
        .values(pdf_path=relative, pdf_sha256=digest).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(row, attribute_names=["pdf_path", "pdf_sha256"])
    if not claimed and row.pdf_path != relative:
        storage().delete(relative)  # another request stored its rendering first; that one is the row's
    return stored_file(row.pdf_path)


def store_bytes(folder: str, stem: str, data: bytes, suffix: str) -> str:
    """Store `data` as <folder>/<stem>-<first 12 hex digits of its SHA-256>.<suffix>; its key."""
    return storage().put(f"{folder}/{stem}-{hashlib.sha256(data).hexdigest()[:12]}.{suffix}", data)


def send_stored(row: StoredDocument, filename: str) -> Response:
    """A stored document as a download, revalidated by its SHA-256 (it never changes), cached privately only."""
    response = storage().send(row.pdf_path, filename, "application/pdf", etag=row.pdf_sha256)
    response.cache_control.private = True
    return response
