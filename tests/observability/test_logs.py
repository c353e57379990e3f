"""Request ids and log lines: every answer carries an id (the caller's, when it is a plain token), every log line
written meanwhile carries it too, LOG_FORMAT=json writes one JSON object per line, and a command-line job's lines
carry an id of its own ("job-…")."""

from __future__ import annotations

import logging
import re

import pytest

from tests.observability.conftest import json_lines

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_a_plain_request_id_from_the_caller_is_echoed(client):
    response = client.get("/help", headers={"X-Request-ID": "lb-2026.12_07-abc"})
    assert response.headers["X-Request-ID"] == "lb-2026.12_07-abc"


def test_a_request_without_an_id_gets_a_new_one(client):
    first, second = client.get("/help"), client.get("/help")
    assert NEW_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("incoming", ["a" * 65, "two words", "id;drop", "ünïcode", "line\\nbreak", ""])
def test_an_unusable_request_id_is_replaced_by_a_new_one(client, incoming):
    response = client.get("/help", headers={"X-Request-ID": incoming})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


def test_errors_and_missing_pages_carry_the_request_id_too(client):
    response = client.get("/no-such-page", headers={"X-Request-ID": "missing-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "missing-1"


@pytest.fixture
def json_app(make_app, database_url):
    """An app of its own on the suite's database, logging JSON, with two routes of the test's: one that logs, one
    that fails (answered with the error page, as in production, rather than raised into the test)."""
    app = make_app(database_url, LOG_FORMAT="json", PROPAGATE_EXCEPTIONS=False)

    def logs():
        logging.getLogger("portal.test").warning("something to say about %s", "this request")
        return "said"

    def fails():
        raise ZeroDivisionError("the test's failure")

    app.add_url_rule("/test-logs", "test_logs", logs)
    app.add_url_rule("/test-fails", "test_fails", fails)
    return app


def test_json_logs_write_one_object_per_line_with_the_request_id(json_app, capsys):
    response = json_app.test_client().get("/test-logs?x=1", headers={"X-Request-ID": "trace-json-1"})
    assert response.status_code == 200

    lines = [line for line in json_lines(capsys.readouterr().err) if line["request_id"] == "trace-json-1"]
    said = next(line for line in lines if line["logger"] == "portal.test")
    assert said["message"] == "something to say about this request"
    assert said["level"] == "WARNING"
    assert said["method"] == "GET" and said["path"] == "/test-logs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", said["time"])
    access = next(line for line in lines if line["logger"] == "portal.access")
    assert access["status"] == 200 and access["path"] == "/test-logs" and access["endpoint"] == "test_logs"
    assert access["duration_ms"] >= 0


def test_a_failing_request_logs_its_traceback_as_text_in_one_json_line(json_app, capsys):
    response = json_app.test_client().get("/test-fails", headers={"X-Request-ID": "trace-json-2"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "trace-json-2"

    lines = [line for line in json_lines(capsys.readouterr().err) if line["request_id"] == "trace-json-2"]
    failure = next(line for line in lines if line["level"] == "ERROR")
    assert "ZeroDivisionError: the test's failure" in failure["exc_info"]
    assert "Traceback" in failure["exc_info"]
    assert next(line for line in lines if line["logger"] == "portal.access")["status"] == 500


def test_text_logs_carry_the_request_id_too(make_app, database_url, capsys):
    """LOG_FORMAT=text (the development default) writes the id in brackets on each line."""
    app = make_app(database_url, LOG_FORMAT="text")
    app.extensions["migration_heads"] = frozenset({"not-the-real-head"})  # so that /readyz warns
    assert app.test_client().get("/readyz", headers={"X-Request-ID": "text-2"}).status_code == 503
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "readiness" in line]
    assert " WARNING portal.observability.views [text-2] readiness: the database is at " in line


def test_a_job_logs_with_an_id_of_its_own_on_every_line(json_app, monkeypatch):
    """`flask --app wsgi outbox send`: its lines, the job's own included, carry one "job-…" id per run."""
    import portal.outbox.worker

    def deliver():
        logging.getLogger("portal.outbox.worker").info("delivering")
        return 0, 0

    monkeypatch.setattr(portal.outbox.worker, "deliver", deliver)
    runner = json_app.test_cli_runner()

    first = runner.invoke(args=["outbox", "send"])
    assert first.exit_code == 0, first.output
    lines = json_lines(first.stderr)
    assert [line["message"] for line in lines] == ["job outbox send started", "delivering",
                                                   "job outbox send finished: ok"]
    (job_id,) = {line["request_id"] for line in lines}
    assert re.fullmatch(r"job-[0-9a-f]{32}", job_id)
    assert lines[-1]["outcome"] == "ok" and lines[-1]["job"] == "outbox send"

    second = runner.invoke(args=["outbox", "send"])
    assert {line["request_id"] for line in json_lines(second.stderr)} != {job_id}


def test_a_failing_job_logs_its_traceback_and_outcome(json_app, monkeypatch):
    import portal.outbox.worker

    def deliver():
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(portal.outbox.worker, "deliver", deliver)
    result = json_app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code != 0
    lines = json_lines(result.stderr)
    failed = next(line for line in lines if line["message"] == "job outbox send failed")
    assert "ConnectionRefusedError: the mail server is down" in failed["exc_info"]
    assert lines[-1]["outcome"] == "error"
    assert len({line["request_id"] for line in lines}) == 1


def test_a_set_password_token_never_reaches_the_logs(json_app, capsys):
    """The token of a set-password link is a password in waiting: its line says `[token]`."""
    token = "Zq7-secret-reset-token-9b1c"
    json_app.test_client().get(f"/password/set/{token}", headers={"X-Request-ID": "trace-token"})
    written = capsys.readouterr().err
    access = next(line for line in json_lines(written)
                  if line["request_id"] == "trace-token" and line["logger"] == "portal.access")
    assert access["path"] == "/password/set/[token]"
    assert token not in written
