"""The automation API's resources, one module each; every blueprint comes from portal.api.blueprints."""

from __future__ import annotations

BLUEPRINTS: list = []
