"""Headers (issue 12 item 7): HSTS outside debug, and nothing a signed-in user or an API client receives is kept
by a browser or proxy cache (Cache-Control: no-store), while static files stay cacheable."""

from __future__ import annotations

import re

import pytest

from portal.config import Settings
from portal.demo import seed_demo
from portal.extensions import db


@pytest.fixture
def history(app, demo):
    """The demo with its invoice history: invoices with their PDFs, and receipts of card-paid ones."""
    with app.app_context():
        seed_demo(history=True)
        db.session.commit()
    return demo


def _hrefs(page: str, pattern: str) -> list[str]:
    return sorted(set(re.findall(rf'href="({pattern})"', page)))


def test_hsts_is_sent_with_the_configured_max_age(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HSTS_MAX_AGE", 600)
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    assert client.get("/static/vendor/htmx.min.js").headers["Strict-Transport-Security"].startswith("max-age=600")


def test_no_hsts_unless_configured_as_in_the_test_suite(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, 31536000),  # production: a year
    ({"HSTS_MAX_AGE": "86400"}, 86400),
    ({"PORTAL_DEBUG": "1"}, 0),  # a local debug server over plain HTTP sends none
    ({"PORTAL_DEBUG": "1", "HSTS_MAX_AGE": "300"}, 300),  # unless asked
    ({"HSTS_MAX_AGE": "0"}, 0),
])
def test_hsts_max_age_comes_from_the_environment(monkeypatch, environ, expected):
    monkeypatch.setenv("SECRET_KEY", "a-real-production-secret-of-some-length")
    for name in ("PORTAL_DEBUG", "FLASK_DEBUG", "HSTS_MAX_AGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_environ().as_flask_config()["HSTS_MAX_AGE"] == expected


def test_every_signed_in_page_is_no_store(login, demo):
    alice = login("alice")
    for path in ("/account", "/account/users", "/licenses", "/invoices", "/payments", "/customers", "/shop"):
        response = alice.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_invoice_pdfs_and_csv_exports_are_no_store(login, history):
    dave = login("dave")
    page = dave.get("/invoices").get_data(as_text=True)
    pdfs = _hrefs(page, r"/invoices/[^\"]+\.pdf")
    assert pdfs, "Fabrikam's invoices page links no PDF"
    downloads = [pdfs[0], "/invoices.csv", pdfs[0].replace(".pdf", ".csv")]
    alice = login("alice")
    downloads_alice = ["/customers.csv", "/payments.csv"]
    for client, path in [(dave, p) for p in downloads] + [(alice, p) for p in downloads_alice]:
        response = client.get(path)
        assert response.status_code == 200 and response.get_data(), path  # a streamed export, read to its end
        assert response.headers["Cache-Control"] == "no-store", path


def test_receipt_pages_and_pdfs_are_no_store(login, history):
    frank = login("frank")
    receipts = _hrefs(frank.get("/payments").get_data(as_text=True), r"/payments/RCP-[^\"./]+")
    assert receipts, "Litware's payments page links no receipt"
    for path in (receipts[0], receipts[0] + ".pdf"):
        response = frank.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_api_answers_are_no_store(client):
    answers = [client.get("/api/v1/licenses/AAAAA-AAAAA-AAAAA-AAAAA-AAAAA/status"),
               client.post("/api/v1/activations", json={"license_key": "nope"})]
    for response in answers:
        assert response.mimetype == "application/problem+json"  # both are errors: RFC 9457 problems
        assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable_when_signed_in(login, demo):
    response = login("alice").get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
