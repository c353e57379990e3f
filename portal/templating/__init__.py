"""What the templates share beyond macros: Jinja filters that shape rendered HTML for every page."""

from __future__ import annotations

from flask import Flask

from portal.templating.tables import column_labels


def init_app(app: Flask) -> None:
    """Register the filters (`{% filter column_labels %}<table>…</table>{% endfilter %}`)."""
    app.jinja_env.filters["column_labels"] = column_labels
