"""/healthz says the process is up; /readyz says the portal can serve: the database answers and its schema is at
the migrations' head. Both answer anonymously, set no cookie and are never rate-limited."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from flask_migrate import stamp

from portal.extensions import db


def test_healthz_answers_ok_without_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert "Set-Cookie" not in response.headers


def test_readyz_answers_ok_when_the_database_is_migrated_to_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"database": "ok", "migrations": "head"}
    assert "Set-Cookie" not in response.headers


def test_readyz_answers_many_times_in_a_row_without_a_rate_limit(client):
    assert {client.get("/readyz").status_code for _ in range(80)} == {200}


def test_readyz_answers_503_while_the_database_is_behind_the_migrations_head(make_app, tmp_path):
    """A database stamped at the revision before the head (a deploy whose `db upgrade` has not run yet) is not
    ready; stamped at the head, it is."""
    app = make_app(f"sqlite:///{tmp_path / 'behind.db'}")
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        (head,) = script.get_heads()
        previous = script.get_revision(head).down_revision
        stamp(revision=previous)
    client = app.test_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"database": "ok", "migrations": "not at head"}

    with app.app_context():
        stamp(revision=head)
    assert client.get("/readyz").json == {"database": "ok", "migrations": "head"}
    with app.app_context():
        db.engine.dispose()


def test_readyz_answers_503_for_a_database_never_migrated(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["migrations"] == "not at head"


def test_readyz_answers_503_when_the_database_is_unreachable(make_app, tmp_path):
    """The database cannot be opened (here a file in a folder that does not exist): not ready, and it says which
    check failed; /healthz, which does not touch the database, still answers."""
    app = make_app(f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.db'}")
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"database": "unreachable", "migrations": "unknown"}
    assert client.get("/healthz").status_code == 200
