"""Two nodes, one portal: two real app processes (`flask run`), each with its own instance folder, share one fresh
PostgreSQL database with STORAGE_BACKEND=database. A browser (urllib with a cookie jar, submitting what a page's
form holds) uses both; the jobs run on both at once."""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
from tests.factories import SAMPLE_PDF

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
FORM = {"legal_name": "Contoso Retail Holdings Ltd", "address_line1": "77 Pike Street", "city": "Seattle",
        "region": "WA", "postal_code": "98101", "country": "US", "invoice_email": "ap@contoso.example.com",
        "phone": "+1 (206) 555-0142", "manager_email": "carol@contoso.example.com"}


# ---------------------------------------------------------------- a browser


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Forms(HTMLParser):
    """The forms of a page: their action and the values a browser would send without the user typing."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._form: dict[str, str] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = self.forms.setdefault(a.get("action") or "", {})
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input" and a.get("type") not in ("file", "submit", "checkbox", "radio"):
            self._form[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a["name"]
        if tag == "option" and self._form is not None and self._select and (
                self._select not in self._form or "selected" in a):
            self._form[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test reads each redirect itself


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, (filename, data, content_type) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Browser:
    """One person's browser: its cookies go to both nodes (one host, two ports), as behind a load balancer."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def get(self, url: str) -> Answer:
        return self._open(urllib.request.Request(url))  # noqa: S310 - the nodes' http:// addresses

    def submit(self, page_url: str, action: str, typed: dict[str, str],
               files: dict[str, tuple[str, bytes, str]] | None = None) -> Answer:
        """Open the page, fill its form posting to `action` with what the user types, and send it."""
        page = self.get(page_url)
        assert page.status == 200, f"{page_url}: {page.status}"
        parser = _Forms()
        parser.feed(page.text)
        assert action in parser.forms, f"{page_url} has no form posting to {action}"
        fields = {**parser.forms[action], **typed}
        if files:
            body, content_type = _multipart(fields, files)
        else:
            body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        base = page_url.split("/", 3)
        request = urllib.request.Request(f"{base[0]}//{base[2]}{action}", data=body,  # noqa: S310 - http:// only
                                         headers={"Content-Type": content_type})
        return self._open(request)

    def _open(self, request: urllib.request.Request) -> Answer:
        try:
            with self.opener.open(request, timeout=60) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())


def sign_in(browser: Browser, node: str, email: str) -> None:
    answer = browser.submit(f"{node}/login", "/login", {"email": email, "password": DEMO_PASSWORD})
    assert answer.status == 302, f"{email} could not sign in ({answer.status})"
    if answer.headers["Location"].endswith("/login/two-step"):  # staff: the code of their authenticator app
        answer = browser.submit(f"{node}/login/two-step", "/login/two-step",
                                {"code": pyotp.TOTP(DEMO_TOTP_SECRET).now()})
        assert answer.status == 302 and "/login" not in answer.headers["Location"], "two-step sign-in failed"


# ---------------------------------------------------------------- the nodes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    url: str
    instance: Path
    mail: Path
    env: dict[str, str]
    started_with: list[Path] = field(default_factory=list)  # what the node wrote at start, before any test

    def flask(self, *args: str, timeout: float = 60) -> subprocess.Popen:
        """Start a CLI command (a job) as this node runs it."""
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def files(self) -> list[Path]:
        return sorted(path for path in self.instance.rglob("*") if path.is_file())

    def mails(self) -> dict[int, bytes]:
        """The emails this node's outbox worker delivered, by outbox id."""
        return {int(path.stem): path.read_bytes() for path in self.mail.glob("*.eml")} if self.mail.exists() else {}


@dataclass
class Portal:
    a: Node
    b: Node
    db: Engine


def _finish(process: subprocess.Popen, timeout: float = 90) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output.decode()
    return output.decode()


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[Portal]:
    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_nodes_{secrets.token_hex(4)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = url.set(database=name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp("nodes")
    shared = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "PORTAL_"))}
    shared.update(DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(32), PORTAL_DEBUG="1",
                  STORAGE_BACKEND="database", OUTBOX_SEND_AFTER_COMMIT="0", PUBLIC_URL="http://portal.test",
                  LOG_FORMAT="text")
    nodes, servers = [], []
    try:
        for label in ("a", "b"):
            port = _free_port()
            env = {**shared, "PORTAL_INSTANCE_PATH": str(root / f"instance-{label}"),
                   "MAIL_URL": str(root / f"mail-{label}")}
            nodes.append(Node(f"http://127.0.0.1:{port}", root / f"instance-{label}", root / f"mail-{label}", env))
        _finish(nodes[0].flask("db", "upgrade"))
        _finish(nodes[0].flask("seed-demo"))
        for node in nodes:
            port = node.url.rsplit(":", 1)[1]
            log = (root / f"{node.instance.name}.log").open("wb")
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", port,
                 "--no-reload", "--no-debugger"], cwd=ROOT, env=node.env, stdout=log, stderr=subprocess.STDOUT))
        for node, server in zip(nodes, servers, strict=True):
            _wait_until_up(node, server)
        for node in nodes:  # what the nodes made at start (nothing stored yet): only new files matter below
            node.started_with = node.files()
        engine = create_engine(database_url)
        yield Portal(nodes[0], nodes[1], engine)
        engine.dispose()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_until_up(node: Node, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the node at {node.url} stopped"
        try:
            with urllib.request.urlopen(f"{node.url}/login", timeout=5) as response:  # noqa: S310 - http://
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the node at {node.url} did not start")


def _stored_keys(portal: Portal, prefix: str) -> dict[str, str]:
    with portal.db.connect() as conn:
        rows = conn.execute(text("SELECT key, sha256 FROM stored_file WHERE key LIKE :p"), {"p": f"{prefix}%"})
        return {key: sha256 for key, sha256 in rows}


def _new_files(node: Node) -> list[Path]:
    return [path for path in node.files() if path not in node.started_with]


# ---------------------------------------------------------------- the tests


def test_an_invoice_pdf_rendered_by_one_node_is_downloaded_from_the_other_without_rendering_it_again(portal):
    alice = Browser()
    sign_in(alice, portal.a.url, "alice@northwind.example.com")
    listing = alice.get(f"{portal.a.url}/invoices").text
    with portal.db.connect() as conn:
        pending = set(conn.scalars(text("SELECT number FROM invoice WHERE pdf_path IS NULL")))
    number = next(n for n in re.findall(r'href="/invoices/([A-Z]+-\d+)\.pdf"', listing) if n in pending)

    first = alice.get(f"{portal.a.url}/invoices/{number}.pdf")
    assert first.status == 200 and first.body.startswith(b"%PDF")
    with portal.db.connect() as conn:
        path, sha256 = conn.execute(text("SELECT pdf_path, pdf_sha256 FROM invoice WHERE number = :n"),
                                    {"n": number}).one()
    assert sha256 == hashlib.sha256(first.body).hexdigest()

    # Node B: the same session (one portal), the same bytes, read from the database: B renders nothing.
    second = alice.get(f"{portal.b.url}/invoices/{number}.pdf")
    assert second.status == 200 and second.body == first.body
    assert second.headers["ETag"].strip('"') == sha256
    assert [key for key in _stored_keys(portal, f"invoices/{path.split('/')[1]}/{number}-")] == [path]
    with portal.db.connect() as conn:
        assert conn.scalar(text("SELECT pdf_path FROM invoice WHERE number = :n"), {"n": number}) == path
    assert _new_files(portal.a) == [] and _new_files(portal.b) == []  # neither instance folder holds it


def test_a_transfer_authorization_and_the_portal_logo_uploaded_to_one_node_are_read_on_the_other(portal):
    alice = Browser()
    sign_in(alice, portal.a.url, "alice@northwind.example.com")
    page = alice.get(f"{portal.a.url}/transfers").text
    contoso = re.search(r'<option value="(\d+)">Contoso Retail</option>', page).group(1)
    upload = SAMPLE_PDF + secrets.token_hex(8).encode()  # this test's own file
    sent = alice.submit(f"{portal.a.url}/transfers", "/transfers", {**FORM, "sub_chain_id": contoso},
                        files={"authorization": ("signed.pdf", upload, "application/pdf")})
    assert sent.status == 302, sent.text
    transfer_id = re.search(r"/transfers/(\d+)$", sent.headers["Location"]).group(1)
    assert alice.get(f"{portal.b.url}/transfers/{transfer_id}/authorization").body == upload  # her own, on B

    ops = Browser()
    sign_in(ops, portal.b.url, "ops@vendor.example.com")
    review = ops.get(f"{portal.b.url}/admin/transfers/{transfer_id}")
    assert review.status == 200 and "Contoso Retail Holdings Ltd" in review.text
    download = ops.get(f"{portal.b.url}/admin/transfers/{transfer_id}/authorization")
    assert download.status == 200 and download.body == upload
    assert download.headers["Content-Type"] == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]

    # The portal's logo, replaced by staff on B, is every visitor's logo on A.
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "#0a0").save(out, format="PNG")
    logo = out.getvalue()
    replaced = ops.submit(f"{portal.b.url}/admin/branding", "/admin/branding/logo", {},
                          files={"logo-image": ("logo.png", logo, "image/png")})
    assert replaced.status == 302, replaced.text
    shown = Browser().get(f"{portal.a.url}/branding/logo")
    assert shown.status == 200 and shown.body == logo and shown.headers["Content-Type"] == "image/png"
    assert _new_files(portal.a) == [] and _new_files(portal.b) == []


def test_the_jobs_run_on_both_nodes_at_once_render_each_pdf_once_and_deliver_each_email_once(portal):
    with portal.db.connect() as conn:
        due = set(conn.scalars(text("SELECT id FROM outbox_message WHERE status = 'pending'")))
        pending_pdfs = conn.scalar(text("SELECT count(*) FROM invoice WHERE pdf_path IS NULL"))
    assert len(due) >= 10 and pending_pdfs >= 4  # the demo queued emails with PDFs to render at delivery

    # Both nodes render the same oldest pending invoices at once: each keeps one file, the loser's is removed.
    _ = [_finish(job) for job in [node.flask("invoices", "render-pending", "--limit", "2")
                                  for node in (portal.a, portal.b)]]
    # Both nodes deliver the outbox at once: each email goes out once, with the PDF its row records.
    _ = [_finish(job) for job in [node.flask("outbox", "send") for node in (portal.a, portal.b)]]

    by_a, by_b = portal.a.mails(), portal.b.mails()
    assert not set(by_a) & set(by_b), "an email was delivered by both nodes"
    assert due <= set(by_a) | set(by_b)
    with portal.db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM outbox_message WHERE status = 'pending'")) == 0
        documents = {number: key for number, key in conn.execute(text(
            "SELECT number, pdf_path FROM invoice WHERE pdf_path IS NOT NULL "
            "UNION ALL SELECT number, pdf_path FROM receipt WHERE pdf_path IS NOT NULL"))}
        stored = {key: bytes(content) for key, content in conn.execute(text(
            "SELECT key, content FROM stored_file WHERE key LIKE 'invoices/%' OR key LIKE 'receipts/%'"))}
    assert set(stored) == set(documents.values()), "a document has a stray or a missing stored file"
    attachments = 0
    for raw in (*by_a.values(), *by_b.values()):
        for part in message_from_bytes(raw, policy=policy.default).iter_attachments():
            number = part.get_filename().removesuffix(".pdf")
            assert part.get_content() == stored[documents[number]]
            attachments += 1
    assert attachments >= 4
    assert _new_files(portal.a) == [] and _new_files(portal.b) == []
