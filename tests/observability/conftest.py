"""Apps of their own for these tests: JSON logs, a database behind the migrations' head or out of reach."""

from __future__ import annotations

import json
import logging

import pytest

from portal import create_app
from tests.conftest import PortalClient, test_config


@pytest.fixture
def make_app(tmp_path):
    """make_app(database_url, **config) -> a Flask app of its own (not the suite's), with a mail folder. Making an
    app replaces the root logger's handler (LOG_FORMAT): the suite's comes back afterwards."""
    root = logging.getLogger()
    handlers = root.handlers[:]

    def _make(database_url: str, **overrides):
        app = create_app(test_config(database_url, str(tmp_path / "mail"), INSTANCE_PATH=str(tmp_path / "instance"),
                                     **overrides))
        app.test_client_class = PortalClient
        return app

    yield _make
    root.handlers[:] = handlers


def json_lines(text: str) -> list[dict]:
    """The JSON log lines among what was written (click's output and other lines are not JSON)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines
