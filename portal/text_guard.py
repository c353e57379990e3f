"""Text no field accepts: a NUL character (PostgreSQL refuses it in text), checked once per request."""

from __future__ import annotations

from flask import request

NUL_MESSAGE = "The request contains a NUL character (\\0), which no field accepts. Remove it and send it again."


def holds_nul_characters() -> bool:
    """Whether a query parameter, a form field or an uploaded file's name holds a NUL character."""
    texts = [*request.args.items(multi=True), *request.form.items(multi=True)]
    texts += [(name, upload.filename or "") for name, upload in request.files.items(multi=True)]
    return any("\x00" in name or "\x00" in value for name, value in texts)
