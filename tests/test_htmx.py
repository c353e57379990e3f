"""htmx done right (issue 17 item 5): Back never shows a bare fragment, a search as one types replaces the URL
instead of pushing an entry per pause, every request shows an indicator and disables its button, and all of it
with the strict CSP (no inline script or style: htmx is configured not to inject its indicator styles)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "portal" / "templates"

# Pages whose lists htmx swaps (one URL: the page, or for htmx its fragment), and who may open them.
FRAGMENT_PAGES = [("alice", "/licenses?section=unassigned&q=Mail"), ("alice", "/account/chains?q=Con"),
                  ("dave", "/devices?q=a"), ("dave", "/locations?q=a"), ("alice", "/renewals"),
                  ("ops", "/admin/organizations?q=North")]


@pytest.mark.parametrize(("user", "url"), FRAGMENT_PAGES)
def test_going_back_gets_the_whole_page_never_a_bare_fragment(demo, login, user, url):
    client = login(user)
    fragment = client.get(url, headers={"HX-Request": "true", "HX-Current-URL": f"http://localhost{url}"})
    assert fragment.status_code == 200 and "<!doctype html>" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    # htmx asks for the page again when its history cache misses (Back after a reload): the whole page
    restored = client.get(url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restored.status_code == 200
    page = restored.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and '<main id="main"' in page


class _Tags(HTMLParser):
    """Every start tag of a template, with its attributes (Jinja expressions are kept as text)."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(text)
    return parser.tags


def _pushes_per_keystroke(text: str) -> bool:
    return any(re.search(r"\b(input|keyup)\b", attrs.get("hx-trigger") or "") and attrs.get("hx-push-url") == "true"
               for _, attrs in _tags(text))


def test_the_live_search_check_can_fail():
    assert _pushes_per_keystroke('<form hx-get="/x" hx-push-url="true" hx-trigger="submit, input changed '
                                 'delay:300ms from:#q">')
    assert not _pushes_per_keystroke('<form hx-get="/x" hx-replace-url="true" hx-trigger="input changed">')


def test_a_search_as_one_types_replaces_the_url():
    offenders = [p.relative_to(TEMPLATES).as_posix() for p in sorted(TEMPLATES.rglob("*.html"))
                 if _pushes_per_keystroke(p.read_text())]
    assert not offenders, f"searches that push a history entry per pause (use hx-replace-url): {offenders}"
    searches = [p.name for p in TEMPLATES.rglob("*.html")
                if any(re.search(r"\binput\b", a.get("hx-trigger") or "") and a.get("hx-replace-url") == "true"
                       for _, a in _tags(p.read_text()))]
    assert {"locations.html", "chains.html", "lists.html"} <= set(searches)  # lists.html: every list's filters


def test_no_template_has_inline_script_or_style():
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.relative_to(TEMPLATES).parts[0] == "email":
            continue
        for tag, attrs in _tags(path.read_text()):
            assert "style" not in attrs, f"{path.name}: an inline style attribute (the CSP refuses it)"
            assert not (tag == "script" and not attrs.get("src")), f"{path.name}: an inline script"
            assert tag != "style", f"{path.name}: a <style> element"
            assert not any(name.startswith("on") for name in attrs), f"{path.name}: an inline event handler"


def test_every_htmx_request_shows_an_indicator_and_disables_its_button(demo, login):
    response = login("alice").get("/licenses")
    page = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1))
    assert config["includeIndicatorStyles"] is False  # htmx would otherwise inject a <style> the CSP refuses
    body = dict(next(attrs for tag, attrs in _tags(page) if tag == "body"))
    indicator = body["hx-indicator"]
    assert re.search(rf'<div id="{indicator[1:]}" class="htmx-indicator', page)
    assert body["hx-disabled-elt"].startswith("find button")
    scripts = [attrs for tag, attrs in _tags(page) if tag == "script"]
    assert {"/static/vendor/htmx.min.js", "/static/js/portal.js"} <= {a["src"] for a in scripts}
    assert all("defer" in a for a in scripts)


def test_the_portal_script_and_its_styles_are_served_from_our_origin(client):
    script = client.get("/static/js/portal.js")
    assert script.status_code == 200 and "showModal" in script.get_data(as_text=True)
    css = client.get("/static/css/portal.css").get_data(as_text=True)
    assert ".htmx-request.htmx-indicator" in css and "dialog.modal::backdrop" in css
