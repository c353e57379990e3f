"""Words that depend on a number: "1 site", "2 sites"; "1 mailbox", "25 mailboxes".

One helper for every user-visible plural, in code and templates (the Jinja globals `plural` and `units`):
Flask-Babel's `ngettext`, which chooses the text by the number and the language's plural rules, then formats it
with the number as `%(num)d` (and any other named values). No caller builds a plural by adding an "s"; when the
French catalog lands (issue 19) every caller is translated at once.
"""

from __future__ import annotations

from flask import has_app_context
from flask_babel import ngettext


def plural(n: int, singular: str, plural_: str, **values) -> str:
    """`singular` when n is 1, else `plural_`, formatted with num=n and `values`: plural(2, "%(num)d site",
    "%(num)d sites") == "2 sites"."""
    if not has_app_context():  # a script or a test without the app: English, as ngettext would choose
        return (singular if n == 1 else plural_) % {"num": n, **values}
    return ngettext(singular, plural_, n, **values)


def units(n: int, label: str) -> str:
    """A quantity of a product's unit, whose label is stored in the plural: units(1, "mailboxes") == "1 mailbox",
    units(25, "mailboxes") == "25 mailboxes"."""
    from portal.catalog.models import singular_unit

    return plural(n, "%(num)d %(unit)s", "%(num)d %(unit)s", unit=singular_unit(label) if n == 1 else label)


def init_app(app) -> None:
    """Make `plural` and `units` available to every template."""
    app.jinja_env.globals.update(plural=plural, units=units)
