"""/api/docs and /api/docs/problems without JavaScript: public pages that name the OpenAPI document and every
problem type at the address its `type` URI points to."""

from __future__ import annotations

import re

from portal.api.problems import PROBLEM_TYPES


def test_anyone_opens_the_api_reference_and_finds_the_openapi_document(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assert 'href="/api/v1/openapi.json"' in html  # readable without JavaScript too
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/js/api-docs.js" in html


def test_the_reference_page_has_no_inline_script_and_keeps_the_portals_policy(client):
    response = client.get("/api/docs")
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline scripts break the CSP"
    assert "cdn" not in html.lower()
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


def test_every_problem_type_has_its_anchor_status_and_title(client):
    response = client.get("/api/docs/problems")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for slug, (status, title) in PROBLEM_TYPES.items():
        row = re.search(rf'<tr id="{re.escape(slug)}">(.*?)</tr>', html, re.S)
        assert row, f"no row with id={slug}"
        assert f"<td>{status}</td>" in row.group(1)
        assert title.replace("'", "&#39;") in row.group(1)


def test_a_problem_type_uri_leads_to_its_row(app, client):
    with app.test_request_context():
        from portal.api.problems import type_uri

        uri = type_uri("precondition-failed")
    path, _, fragment = uri.partition("#")
    assert path.endswith("/api/docs/problems") and fragment == "precondition-failed"
    assert f'id="{fragment}"' in client.get("/api/docs/problems").get_data(as_text=True)
