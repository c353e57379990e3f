"""Documents the portal renders once and keeps: invoice and receipt PDFs under the instance folder.

A document is rendered after the row it documents is committed (WeasyPrint takes far longer than a checkout), then
stored at <folder>/<stem>-<first 12 hex digits of its SHA-256>.pdf and recorded on its row (`pdf_path`, relative to
the instance folder, and `pdf_sha256`) by an UPDATE that only succeeds while the row has none: two first downloads
at once may both render, but only the first to record its file keeps it, and every later reader is served that
file. The file is written to a temporary name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from flask import Response, current_app, send_file
from sqlalchemy import update

from portal.extensions import db


class StoredDocument(Protocol):
    """A row with a stored rendering: an Invoice, a Receipt."""

    id: int
    pdf_path: str | None
    pdf_sha256: str | None


def stored_file(relative: str | None) -> Path | None:
    """The absolute path of a file stored under the instance folder (None for none)."""
    return None if relative is None else Path(current_app.instance_path) / relative


def store_once(row: StoredDocument, folder: str, stem: str, render: Callable[[], bytes]) -> Path:
    """The row's stored document, rendered by `render` and stored now if it has none yet (flushes the row's
    `pdf_path` and `pdf_sha256`; the caller commits)."""
    if row.pdf_path is not None:
        return stored_file(row.pdf_path)
    data = render()
    digest = hashlib.sha256(data).hexdigest()
    relative = store_bytes(folder, stem, data, "pdf")
    path = stored_file(relative)
    model = type(row)
    claimed = db.session.execute(
        update(model).where(model.id == row.id, model.pdf_path.is_(None))
        .values(pdf_path=relative, pdf_sha256=digest).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(row, attribute_names=["pdf_path", "pdf_sha256"])
    if not claimed and row.pdf_path != relative:
        path.unlink(missing_ok=True)  # another request stored its rendering first; that one is the row's
    return stored_file(row.pdf_path)


def store_bytes(folder: str, stem: str, data: bytes, suffix: str) -> str:
    """Write `data` to <folder>/<stem>-<first 12 hex digits of its SHA-256>.<suffix> under the instance folder
    (atomically: a reader never sees half a file); its path relative to the instance folder."""
    relative = f"{folder}/{stem}-{hashlib.sha256(data).hexdigest()[:12]}.{suffix}"
    path = stored_file(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return relative


def send_stored(row: StoredDocument, path: Path, filename: str) -> Response:
    """A stored document as a download, revalidated by its SHA-256 (it never changes), cached privately only."""
    response = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=filename,
                         etag=row.pdf_sha256, conditional=True)
    response.cache_control.private = True
    return response
