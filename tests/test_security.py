"""The security baseline: CSRF on every POST (htmx included), headers, cookies, configuration refusals."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import DEV_SECRET, ConfigError, Settings
from tests.conftest import DEMO_PASSWORD


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(login, demo, mailbox):
    alice = login("alice")
    response = alice.post("/account/users", data={"kind": "login", "full_name": "Eve", "email": "eve@example.com",
                                                  "role": "manager"})
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)
    assert "eve@example.com" not in alice.get("/account/users").get_data(as_text=True)
    assert not mailbox.messages


def test_htmx_posts_carry_the_token_in_the_x_csrftoken_header(login, demo):
    alice = login("alice")
    headers = alice.page("/account/users").htmx_headers()  # the body's hx-headers, which htmx adds to requests
    assert list(headers) == ["X-CSRFToken"]
    response = alice.post("/account/users", headers={**headers, "HX-Request": "true"},
                          data={"kind": "contact", "full_name": "Hx", "email": "hx@example.com"})
    assert response.status_code == 302


def test_every_page_carries_the_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_scripts_or_styles(login, demo):
    html = login("alice").get("/account/users").get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and "<style" not in html


def test_htmx_is_served_from_our_static_folder(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'src="/static/vendor/htmx.min.js"' in html
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert '"includeIndicatorStyles": false' in html


def test_session_cookie_is_httponly_and_samesite_lax(client, demo):
    response = client.submit("/login", {"email": "bob@northwind.example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-real-production-secret-of-some-length")
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    assert Settings.from_environ().as_flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("secret", ["", DEV_SECRET])
def test_production_refuses_a_missing_or_development_secret(monkeypatch, secret):
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError):
        create_app()


def test_debug_runs_without_a_secret(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PORTAL_DEBUG", "1")
    config = Settings.from_environ().as_flask_config()
    assert config["SECRET_KEY"] == DEV_SECRET and config["SESSION_COOKIE_SECURE"] is False


def test_database_url_accepts_plain_postgresql_urls(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example.com/portal")
    assert Settings.from_environ().database_url == "postgresql+psycopg://u@db.example.com/portal"


def test_unknown_pages_answer_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)


def test_an_id_too_large_for_the_database_is_a_404_on_every_id_route(app, login, demo):
    """A number typed into a URL beyond what an id column holds is an unknown id (404), never a 500."""
    client = login("alice")
    huge = "99999999999999999999"
    tried = 0
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items() if converter.regex == r"\d+"]
        if not ints:
            continue
        path = rule.rule
        for name in ints:
            path = path.replace(f"<int:{name}>", huge)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 404, f"{method} {path} -> {response.status_code}"
        tried += 1
    assert tried >= 10
