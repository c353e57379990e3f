"""The portal's favicon and logo (issue 17 item 9): defaults served from our origin and linked from every page;
vendor staff replace either at /admin/branding with a PNG or SVG (an ICO too for the favicon), sniffed from its
bytes and within its limits, audited; anything else is refused beside the field and changes nothing."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#c00"/></svg>'


def _png(side: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), "#0a0").save(out, format="PNG")
    return out.getvalue()


def _ico() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (32, 32), "#00a").save(out, format="ICO", sizes=[(32, 32)])
    return out.getvalue()


@pytest.fixture(autouse=True)
def _default_branding(app):
    """Each test starts (and leaves the suite) with the default favicon and logo."""
    folder = Path(app.instance_path) / "branding"
    shutil.rmtree(folder, ignore_errors=True)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def _upload(client, kind: str, data: bytes, filename: str):
    """Send the page's upload form for `kind` with the file, as a browser would (its own CSRF token)."""
    page = client.page("/admin/branding")
    form, _ = page.find(action=f"/admin/branding/{kind}")
    assert form.attrs.get("enctype") == "multipart/form-data"
    return client.submit(page, {f"{kind}-image": (io.BytesIO(data), filename)}, action=f"/admin/branding/{kind}")


def _audit(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def test_every_page_links_the_default_favicon_and_logo_from_our_origin(client, demo):
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/branding/favicon">' in page
    assert 'class="brand-logo" src="/branding/logo" alt="Partner Portal"' in page
    for url in ("/branding/favicon", "/branding/logo", "/favicon.ico"):
        served = client.get(url)
        assert served.status_code == 200 and served.mimetype == "image/svg+xml"
        assert served.get_data().startswith(b"<svg") and "sandbox" in served.headers["Content-Security-Policy"]


def test_staff_replace_the_favicon_with_a_png_and_every_page_serves_it(app, login, demo):
    ops = login("ops")
    png = _png()

    answer = _upload(ops, "favicon", png, "icon.png")

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/branding")
    served = login("carol").get("/branding/favicon")
    assert (served.status_code, served.mimetype, served.get_data()) == (200, "image/png", png)
    assert login("carol").get("/branding/logo").mimetype == "image/svg+xml"  # the logo is still the default
    [entry] = _audit(app, "branding.favicon_replaced")
    assert entry.details == {"format": "png", "bytes": len(png)}


def test_staff_replace_the_logo_with_an_svg_then_go_back_to_the_default(app, login, demo, client):
    ops = login("ops")
    assert _upload(ops, "logo", SVG, "logo.svg").status_code == 302
    assert client.get("/branding/logo").get_data() == SVG

    answer = ops.submit("/admin/branding", {}, action="/admin/branding/logo/default")

    assert answer.status_code == 302
    assert b"Partner Portal" in client.get("/branding/logo").get_data()  # the default's wordmark
    assert len(_audit(app, "branding.logo_replaced")) == len(_audit(app, "branding.logo_restored")) == 1


def test_an_ico_is_a_favicon_but_never_a_logo(login, demo, client):
    ops = login("ops")
    assert _upload(ops, "favicon", _ico(), "favicon.ico").status_code == 302
    assert client.get("/branding/favicon").mimetype == "image/vnd.microsoft.icon"
    refused = _upload(ops, "logo", _ico(), "logo.ico")
    assert refused.status_code == 422 and "not an image this field accepts" in refused.get_data(as_text=True)


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"%PDF-1.7 not an image", "logo.png", "not an image this field accepts"),
    (b"", "empty.png", "That file is empty."),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png", "damaged or too large to decode"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg", "&lt;script&gt; element"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.svg", "event handler (onload)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
     b'<image x:href="https://evil.example/a.png"/></svg>', "x.svg", "outside itself"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
     "x.svg", "DOCTYPE or entities"),
    (b"<svg oops", "x.svg", "not well-formed"),
])
def test_a_bad_file_is_refused_beside_the_field_and_changes_nothing(app, login, demo, client, data, filename,
                                                                     message):
    refused = _upload(login("ops"), "favicon", data, filename)

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert message in page and 'id="favicon-image-error"' in page
    assert client.get("/branding/favicon").mimetype == "image/svg+xml"  # still the default
    assert not _audit(app, "branding.favicon_replaced")


def test_a_png_beyond_the_pixel_or_byte_limit_is_refused(login, demo, client):
    ops = login("ops")
    too_wide = _upload(ops, "favicon", _png(600), "big.png")
    assert too_wide.status_code == 422 and "600 × 600 pixels: at most 512 × 512" in too_wide.get_data(as_text=True)
    too_heavy = _upload(ops, "favicon", SVG[:-6] + b"<!--" + b"x" * 110_000 + b"--></svg>", "heavy.svg")
    assert too_heavy.status_code == 422 and "larger than 100 KB" in too_heavy.get_data(as_text=True)


def test_no_file_chosen_is_asked_for(login, demo):
    ops = login("ops")
    answer = ops.submit("/admin/branding", {}, action="/admin/branding/logo")  # no file chosen
    assert answer.status_code == 422 and "Choose a file." in answer.get_data(as_text=True)


def test_only_staff_reach_the_branding_page(login, demo):
    assert login("alice").get("/admin/branding").status_code in (403, 404)
    alice = login("alice")  # no page offers her the form: a forged request, with the session's token
    assert alice.post("/admin/branding/favicon", data={"csrf_token": alice.csrf_token()}).status_code in (403, 404)
