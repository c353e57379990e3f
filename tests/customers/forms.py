"""Read a page's form as a browser would submit it: its fields (and those that name it with form=), the boxes
ticked, the options selected and the button pressed; nothing filled in that the page did not render."""

from __future__ import annotations

from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict


class _Fields(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.depth, self.fields, self.buttons, self.select = form_id, 0, [], [], None

    def _ours(self, attrs: dict) -> bool:
        return attrs.get("form") == self.form_id if "form" in attrs else self.depth > 0

    def handle_starttag(self, tag, attr_list):
        attrs = dict(attr_list)
        if tag == "form":
            if attrs.get("id") == self.form_id:
                self.depth = 1
            return
        if not self._ours(attrs):
            return
        if tag == "input" and "name" in attrs:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "image", "reset"):
                self.fields.append((attrs["name"], attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "button" and attrs.get("type", "submit") == "submit":
            self.buttons.append((attrs.get("name"), attrs.get("value", ""), attrs))
        elif tag == "select":
            self.select = [attrs.get("name"), None, None]  # name, first option, selected option
        elif tag == "option" and self.select is not None:
            self.select[1] = self.select[1] if self.select[1] is not None else attrs.get("value", "")
            if "selected" in attrs:
                self.select[2] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form" and self.depth:
            self.depth = 0
        elif tag == "select" and self.select is not None:
            name, first, chosen = self.select
            if name:
                self.fields.append((name, chosen if chosen is not None else first or ""))
            self.select = None


def form_fields(html: str, form_id: str) -> tuple[list[tuple[str, str]], list[tuple[str | None, str, dict]]]:
    """The (name, value) pairs the form with this id submits, and its submit buttons (name, value, attributes)."""
    parser = _Fields(form_id)
    parser.feed(html)
    return parser.fields, parser.buttons


def submitted(html: str, form_id: str, button: str | None = None, **changes) -> MultiDict:
    """What the form sends when `button` (a button's name, None for the first) is pressed after typing `changes`
    (a field's new value, replacing what the page held)."""
    fields, buttons = form_fields(html, form_id)
    data = [(name, value) for name, value in fields if name not in changes]
    data += [(name, value) for name, values in changes.items()
             for value in (values if isinstance(values, list) else [values])]
    pressed = next((b for b in buttons if b[0] == button), buttons[0] if button is None else None)
    assert pressed is not None, f"no button {button!r} in form {form_id!r}"
    if pressed[0]:
        data.append((pressed[0], pressed[1]))
    return MultiDict(data)
