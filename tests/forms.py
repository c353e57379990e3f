"""Forms as a browser submits them: the fields a page's form contains (its CSRF token among them, when it has
one), with the values a user types or chooses, posted to the form's action.

A test never adds a field the form does not have, so a form that lost its token (or any other field) fails its
test as it would fail in a browser (issue 17: "Add to cart" without JavaScript).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# Controls whose value a browser sends when they are filled in (a checkbox or radio only when checked; a button
# only when it is the one clicked).
_TEXT_LIKE = {"text", "hidden", "email", "password", "number", "search", "tel", "url", "date", "month", "time",
              "datetime-local", "week", "color", "range", ""}


@dataclass
class Control:
    tag: str  # input, select, textarea, button
    name: str
    type: str = ""
    value: str = ""
    checked: bool = False
    disabled: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # select: (value, selected)
    multiple: bool = False
    text: str = ""  # a button's label
    formaction: str | None = None
    formmethod: str | None = None
    attrs: dict = field(default_factory=dict)


@dataclass
class Form:
    action: str | None
    method: str
    id: str | None
    attrs: dict
    controls: list[Control] = field(default_factory=list)
    buttons: list[Control] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {c.name for c in self.controls if c.name} | {b.name for b in self.buttons if b.name}

    def successful(self) -> list[tuple[str, str]]:
        """What a browser would send before the user changes anything."""
        pairs = []
        for c in self.controls:
            if not c.name or c.disabled:
                continue
            if c.tag == "input" and c.type in ("checkbox", "radio"):
                if c.checked:
                    pairs.append((c.name, c.value or "on"))
            elif c.tag == "input" and c.type in ("submit", "image", "reset", "button", "file"):
                continue
            elif c.tag == "select":
                chosen = [v for v, selected in c.options if selected]
                if not chosen and c.options and not c.multiple:
                    chosen = [c.options[0][0]]
                pairs.extend((c.name, v) for v in chosen)
            else:
                pairs.append((c.name, c.value))
        return pairs

    def describe(self) -> str:
        labels = ", ".join(b.text or b.value or b.name for b in self.buttons) or "no button"
        return f"<form {self.method} {self.action or '(this page)'}> [{labels}]"


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self.orphans: list[tuple[str, Control]] = []  # controls outside a form, with form="id"
        self.body_attrs: dict = {}
        self._form: Form | None = None
        self._select: Control | None = None
        self._option: list | None = None
        self._textarea: Control | None = None
        self._button: Control | None = None

    def _owner(self, attrs: dict) -> Form | None:
        return self._form

    def _attach(self, control: Control, attrs: dict, bucket: str):
        target = attrs.get("form")
        if target:
            self.orphans.append((target, control, bucket))
        elif self._form is not None:
            getattr(self._form, bucket).append(control)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "body":
            self.body_attrs = a
        elif tag == "form":
            self._form = Form(action=a.get("action"), method=(a.get("method") or "get").lower(), id=a.get("id"),
                              attrs=a)
            self.forms.append(self._form)
            if a.get("id"):
                self.by_id[a["id"]] = self._form
        elif tag == "input":
            kind = a.get("type", "").lower()
            control = Control("input", a.get("name", ""), kind, a.get("value", ""), "checked" in a,
                              "disabled" in a, formaction=a.get("formaction"), formmethod=a.get("formmethod"),
                              attrs=a)
            self._attach(control, a, "buttons" if kind in ("submit", "image") else "controls")
        elif tag == "select":
            self._select = Control("select", a.get("name", ""), disabled="disabled" in a,
                                   multiple="multiple" in a, attrs=a)
            self._attach(self._select, a, "controls")
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, ""]
            self._select.options.append(None)  # filled at the end of the option
        elif tag == "textarea":
            self._textarea = Control("textarea", a.get("name", ""), disabled="disabled" in a, attrs=a)
            self._attach(self._textarea, a, "controls")
        elif tag == "button":
            kind = (a.get("type") or "submit").lower()
            self._button = Control("button", a.get("name", ""), kind, a.get("value", ""),
                                   disabled="disabled" in a, formaction=a.get("formaction"),
                                   formmethod=a.get("formmethod"), attrs=a)
            if kind == "submit":
                self._attach(self._button, a, "buttons")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._option is not None:
            self._option[2] += data
        elif self._textarea is not None:
            self._textarea.value += data
        elif self._button is not None:
            self._button.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option" and self._option is not None:
            value, selected, text = self._option
            self._select.options[-1] = (text.strip() if value is None else value, selected)
            self._option = None
        elif tag == "select":
            if self._option is not None:
                self.handle_endtag("option")
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None and self._textarea.value.startswith("\n"):
                self._textarea.value = self._textarea.value[1:]
            self._textarea = None
        elif tag == "button" and self._button is not None:
            self._button.text = " ".join(self._button.text.split())
            self._button = None

    def close(self):
        super().close()
        for target, control, bucket in self.orphans:
            if target in self.by_id:
                getattr(self.by_id[target], bucket).append(control)


@dataclass
class Page:
    url: str
    html: str
    forms: list[Form]
    body_attrs: dict

    @classmethod
    def parse(cls, url: str, html: str) -> Page:
        parser = _FormParser()
        parser.feed(html)
        parser.close()
        return cls(url, html, parser.forms, parser.body_attrs)

    def htmx_headers(self) -> dict:
        """The headers htmx adds to every request from this page (the body's hx-headers: the CSRF token)."""
        raw = self.body_attrs.get("hx-headers")
        return json.loads(raw) if raw else {}

    def find(self, action: str | None = None, button: str | None = None, fields=(),
             method: str | None = None) -> tuple[Form, Control | None]:
        """The one form that matches: its action (path, query ignored unless given), a button's label (or its
        value), the fields it must have. Page chrome (sign out, organization switch) is left out unless asked
        for by its action or its button."""
        candidates = []
        for form in self.forms:
            clicked = None
            if button is not None:
                clicked = next((b for b in form.buttons if button in (b.text, b.value, b.attrs.get("aria-label"))),
                               None)
                if clicked is None:
                    continue
            target = self.action_of(form, clicked)
            if action is not None and not _same_target(target, action):
                continue
            if action is None and button is None and _is_chrome(target):
                continue
            if method is not None and self.method_of(form, clicked) != method:
                continue
            if not set(fields) <= form.names:
                continue
            candidates.append((form, clicked))
        if len(candidates) != 1:
            found = "; ".join(f.describe() for f in self.forms) or "no form"
            raise AssertionError(f"{len(candidates)} forms on {self.url} match action={action!r} "
                                 f"button={button!r} fields={sorted(fields)}; the page has: {found}")
        return candidates[0]

    def action_of(self, form: Form, clicked: Control | None = None) -> str:
        action = (clicked.formaction if clicked is not None and clicked.formaction else None) or form.action
        return urljoin(self.url, action) if action else self.url

    def method_of(self, form: Form, clicked: Control | None = None) -> str:
        return ((clicked.formmethod if clicked is not None and clicked.formmethod else None) or form.method).lower()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _same_target(target: str, wanted: str) -> bool:
    return _path(target) == wanted if "?" in wanted else urlsplit(target).path == urlsplit(wanted).path


def _is_chrome(target: str) -> bool:
    return urlsplit(target).path in ("/logout", "/account/switch")


def fill(form: Form, clicked: Control | None, data: dict | None) -> list[tuple[str, str]]:
    """The form's fields with `data` typed or chosen in them (a list value for several checkboxes or a multiple
    select; None to untick or empty a field), plus the clicked button's own name and value."""
    data = dict(data or {})
    unknown = set(data) - form.names
    if unknown:
        raise AssertionError(f"{form.describe()} has no field {sorted(unknown)}; it has {sorted(form.names)}")
    pairs = [(name, value) for name, value in form.successful() if name not in data]
    for name, value in data.items():
        if value is None or value is False:  # an emptied field, an unticked box
            continue
        if value is True:  # a ticked box: its value, as a browser sends it
            box = next(c for c in form.controls if c.name == name)
            value = box.value or "on"
        if isinstance(value, tuple) and value and hasattr(value[0], "read"):  # a file: (stream, filename)
            values = [value]
        else:
            values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((name, v if isinstance(v, str | tuple) or hasattr(v, "read") else str(v)) for v in values)
    if clicked is not None and clicked.name:
        pairs.append((clicked.name, clicked.value))
    return pairs


def htmx_params(pairs: list[tuple[str, str]], form: Form, clicked: Control | None) -> list[tuple[str, str]]:
    """What htmx sends of the form's fields under `hx-params` (the clicked button's, else the form's): `*` all,
    `none` nothing, `not a,b` all but those, `a,b` only those."""
    rule = (clicked.attrs.get("hx-params") if clicked is not None else None) or form.attrs.get("hx-params") or "*"
    rule = rule.strip()
    if rule == "*":
        return pairs
    if rule == "none":
        return []
    if rule.startswith("not "):
        left_out = {name.strip() for name in rule[4:].split(",")}
        return [(name, value) for name, value in pairs if name not in left_out]
    kept = {name.strip() for name in rule.split(",")}
    return [(name, value) for name, value in pairs if name in kept]
