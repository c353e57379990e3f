"""The storage interface (portal/storage.py) behaves the same on both backends: the instance folder and the
database's stored_file table."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select, text

from portal import config
from portal.billing import documents
from portal.billing.models import Invoice
from portal.extensions import db
from portal.outbox.services import Attachment, enqueue_email
from portal.outbox.worker import deliver
from portal.storage import DatabaseStorage, FileStorage, StoredFile, copy_files_to_database, storage, stored_file
from tests.factories import make_invoice, make_org, make_user

PDF = b"%PDF-1.4 a small document\n%%EOF\n"


@pytest.fixture(params=["filesystem", "database"])
def backend(request, app, ctx, monkeypatch):
    """The storage STORAGE_BACKEND chooses, set for this test (the files it puts under tests/ removed after)."""
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", request.param)
    yield storage()
    shutil.rmtree(Path(app.instance_path) / "tests", ignore_errors=True)


def _files_under_instance() -> set[Path]:
    return {path for path in Path(current_app.instance_path).rglob("*") if path.is_file()}


def test_storage_backend_chooses_the_folder_by_default_and_the_database_when_asked(app, ctx, monkeypatch):
    assert isinstance(storage(), FileStorage)
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "database")
    assert isinstance(storage(), DatabaseStorage)
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    with pytest.raises(ValueError, match="STORAGE_BACKEND"):
        storage()


def test_the_environment_sets_the_backend_and_refuses_an_unknown_one(monkeypatch):
    monkeypatch.setenv("PORTAL_DEBUG", "1")
    monkeypatch.delenv("STORAGE_BACKEND", raising=False)
    assert config.Settings.from_environ().as_flask_config()["STORAGE_BACKEND"] == "filesystem"
    monkeypatch.setenv("STORAGE_BACKEND", " Database ")
    assert config.Settings.from_environ().as_flask_config()["STORAGE_BACKEND"] == "database"
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    with pytest.raises(config.ConfigError, match="STORAGE_BACKEND must be one of filesystem, database"):
        config.Settings.from_environ()


def test_a_file_put_is_read_back_until_it_is_deleted(backend):
    key = "tests/2026/doc-1.pdf"
    assert not backend.exists(key)
    with pytest.raises(FileNotFoundError):
        backend.get(key)
    assert backend.put(key, PDF) == key
    db.session.commit()
    assert backend.exists(key) and backend.get(key) == PDF
    backend.delete(key)
    db.session.commit()
    assert not backend.exists(key)
    with pytest.raises(FileNotFoundError):
        backend.get(key)
    backend.delete(key)  # deleting what is gone is no error


def test_putting_the_same_key_again_keeps_one_file_with_the_last_content(backend):
    key = "tests/same.pdf"
    backend.put(key, PDF)
    backend.put(key, PDF)  # two nodes storing the same rendering
    db.session.commit()
    assert backend.get(key) == PDF
    backend.put(key, PDF + b"v2")
    db.session.commit()
    assert backend.get(key) == PDF + b"v2"
    if isinstance(backend, DatabaseStorage):
        row = db.session.get(StoredFile, key)
        assert (row.size, row.sha256) == (len(PDF) + 2, hashlib.sha256(PDF + b"v2").hexdigest())
        assert db.session.scalar(select(db.func.count()).select_from(StoredFile)) == 1
    else:
        assert sorted(p.name for p in backend.path(key).parent.iterdir()) == ["same.pdf"]


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../portal.db", "tests/../../x", "tests//x", "tests/./x",
                                 "tests\\x", "./x", "a\x00b"])
def test_a_key_outside_the_storage_is_refused(backend, key):
    for call in (lambda: backend.put(key, PDF), lambda: backend.get(key), lambda: backend.exists(key),
                 lambda: backend.delete(key)):
        with pytest.raises(ValueError, match="not a storage key"):
            call()


def test_a_write_that_fails_halfway_leaves_the_previous_file_whole_and_no_temporary_file(app, ctx, tmp_path,
                                                                                         monkeypatch):
    files = FileStorage(tmp_path)
    files.put("tests/doc.pdf", PDF)

    def power_cut(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(OSError, match="disk full"):
        files.put("tests/doc.pdf", b"%PDF half of a new")
    assert files.get("tests/doc.pdf") == PDF
    assert [p.name for p in (tmp_path / "tests").iterdir()] == ["doc.pdf"]


def test_a_database_file_is_stored_with_its_transaction_and_seen_by_every_connection(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "database")
    before = _files_under_instance()
    files = storage()
    files.put("tests/rolled-back.pdf", PDF)
    db.session.rollback()  # the row it belonged to was not saved: neither is the file
    assert not files.exists("tests/rolled-back.pdf")
    files.put("tests/kept.pdf", PDF)
    db.session.commit()
    with db.engine.connect() as other_node:
        assert bytes(other_node.scalar(text("SELECT content FROM stored_file WHERE key = 'tests/kept.pdf'"))) == PDF
    assert _files_under_instance() == before


def test_a_stored_file_is_sent_as_a_download_revalidated_by_its_etag(backend, app):
    backend.put("tests/send.pdf", PDF)
    db.session.commit()
    etag = hashlib.sha256(PDF).hexdigest()
    with app.test_request_context():
        response = backend.send("tests/send.pdf", "INV-1.pdf", "application/pdf", etag=etag)
        response.direct_passthrough = False
        assert response.status_code == 200 and response.get_data() == PDF
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"] == "attachment; filename=INV-1.pdf"
        assert response.headers["ETag"] == f'"{etag}"'
    with app.test_request_context(headers={"If-None-Match": f'"{etag}"'}):
        assert backend.send("tests/send.pdf", "INV-1.pdf", "application/pdf", etag=etag).status_code == 304
    with app.test_request_context(), pytest.raises(FileNotFoundError):
        backend.send("tests/missing.pdf", "x.pdf", "application/pdf")


def test_an_invoice_pdf_with_the_database_backend_is_stored_in_the_database_not_the_instance_folder(
        app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "database")
    monkeypatch.setattr(documents, "_render", lambda doc: PDF)
    before = _files_under_instance()
    invoice = make_invoice(make_org())
    db.session.commit()
    documents.store_pdf(invoice)
    db.session.commit()
    assert storage().get(invoice.pdf_path) == PDF and invoice.pdf_sha256 == hashlib.sha256(PDF).hexdigest()
    assert not stored_file(invoice.pdf_path).exists() and _files_under_instance() == before


def test_of_two_nodes_rendering_one_invoice_at_once_the_first_to_record_its_file_keeps_it(backend, monkeypatch):
    """The other node records its rendering while this one renders: this one's file is removed, the row keeps
    the first, and this node answers with it."""
    invoice = make_invoice(make_org())
    db.session.commit()
    theirs = f"invoices/{invoice.issued_on:%Y}/{invoice.number}-000000000000.pdf"

    def render(doc):
        if isinstance(backend, FileStorage):
            backend.put(theirs, b"%PDF theirs")
        with db.engine.begin() as other_node:
            if isinstance(backend, DatabaseStorage):
                other_node.execute(text("INSERT INTO stored_file (key, content, sha256, size, created_at) "
                                        "VALUES (:k, :c, 'theirs', 11, CURRENT_TIMESTAMP)"),
                                   {"k": theirs, "c": b"%PDF theirs"})
            other_node.execute(text("UPDATE invoice SET pdf_path = :k, pdf_sha256 = 'theirs' WHERE id = :i"),
                               {"k": theirs, "i": invoice.id})
        return PDF

    monkeypatch.setattr(documents, "_render", render)
    documents.store_pdf(invoice)
    db.session.commit()
    ours = f"invoices/{invoice.issued_on:%Y}/{invoice.number}-{hashlib.sha256(PDF).hexdigest()[:12]}.pdf"
    assert db.session.get(Invoice, invoice.id).pdf_path == theirs
    assert backend.exists(theirs) and not backend.exists(ours)


def test_the_outbox_worker_attaches_a_file_stored_in_the_database(app, ctx, monkeypatch, mailbox):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "database")
    monkeypatch.setitem(app.config, "OUTBOX_SEND_AFTER_COMMIT", False)
    key = storage().put("tests/note.pdf", PDF)
    user = make_user(email="attached@example.com")
    enqueue_email(user.email, "password_reset", user=user, link="http://portal.test/x", hours=48,
                  attachments=[Attachment(key, "note.pdf")])
    db.session.commit()
    assert deliver() == (1, 0)
    [mail] = mailbox.to("attached@example.com")
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content() == PDF and attachment.get_filename() == "note.pdf"


def test_the_files_stored_under_the_instance_folder_are_copied_to_the_database_under_their_keys(app, ctx, tmp_path):
    folder = FileStorage(tmp_path)
    folder.put("invoices/2026/INV-000001-0123456789ab.pdf", PDF)
    folder.put("transfers/0f0f.pdf", PDF + b"signed")
    folder.put("mail/00000001.eml", b"not a stored file")
    (tmp_path / "receipts").mkdir()
    (tmp_path / "receipts" / "half.tmp").write_bytes(b"%PDF half")
    assert copy_files_to_database(tmp_path) == 2
    assert copy_files_to_database(tmp_path) == 2  # again: the same two, still one row each
    database = DatabaseStorage()
    assert database.get("invoices/2026/INV-000001-0123456789ab.pdf") == PDF
    assert database.get("transfers/0f0f.pdf") == PDF + b"signed"
    assert db.session.scalars(select(StoredFile.key).order_by(StoredFile.key)).all() == [
        "invoices/2026/INV-000001-0123456789ab.pdf", "transfers/0f0f.pdf"]


def test_the_copy_command_says_how_many_files_it_copied(app, ctx):
    FileStorage(app.instance_path).put("branding/logo.svg", b"<svg/>")
    try:
        result = app.test_cli_runner().invoke(args=["storage", "copy-to-database"])
        assert result.exit_code == 0 and re.search(r"^\d+ files? copied to the database\.$", result.output, re.M)
        assert DatabaseStorage().get("branding/logo.svg") == b"<svg/>"
    finally:
        FileStorage(app.instance_path).delete("branding/logo.svg")
