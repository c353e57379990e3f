"""What every operation of the automation API shares, tested on a probe resource registered on an app of its own:
API-key authentication (the creator's permissions, the key's scopes), RFC 9457 problems, Idempotency-Key with
Stripe's semantics, per-key rate limits, cursor pagination and ETag/If-Match. The resources' own tests
(tests/api/test_<resource>.py) rely on these."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import marshmallow as ma
import pytest
from flask import g, jsonify
from flask_login import current_user
from sqlalchemy import func, select, update

from portal import create_app
from portal.accounts.context import current_actor
from portal.accounts.models import Membership, Organization, Role, User
from portal.api.blueprints import key_blueprint
from portal.api.conditional import check_if_match, resource_response
from portal.api.pagination import Order, PageQuery, page_json, paginate
from portal.api.problems import ApiProblem, not_found
from portal.api_keys.models import ApiKey, IdempotentRequest, Scope
from portal.api_keys.services import revoke_key
from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.authz import active_organization
from portal.db_types import utcnow
from portal.extensions import db, limiter
from tests.api.conftest import ApiClient, new_key
from tests.conftest import test_config
from tests.factories import DEMO_EMAILS

probe = key_blueprint("api_probe", __name__, url_prefix="/probe", description="A probe of the foundation.")


class NoteIn(ma.Schema):
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))


class NotesQuery(PageQuery):
    pass


def _note_json(entry: AuditEntry) -> dict:
    return {"id": entry.id, "text": entry.details.get("text"), "api_key_id": entry.api_key_id}


@probe.route("/notes", methods=["POST"])
@probe.arguments(NoteIn)
def write_note(body):
    """A change: an audit entry in the key's organization, written as a view writes (no commit)."""
    if body["text"] == "fail":
        raise ApiProblem("refused", "This note is refused.", field="text")
    if body["text"] == "crash":
        raise RuntimeError("a bug")
    org = active_organization()
    entry = record(current_actor(), "probe.note", org, org.id, text=body["text"])
    db.session.flush()
    return resource_response(_note_json(entry), 201)


@probe.route("/notes")
@probe.arguments(NotesQuery, location="query")
def list_notes(query):
    org = active_organization()
    stmt = select(AuditEntry).where(AuditEntry.organization_id == org.id, AuditEntry.action == "probe.note")
    page = paginate(db.session, stmt, Order((AuditEntry.id,)), limit=query["limit"], cursor=query["cursor"],
                    key=lambda e: (e.id,))
    return jsonify(page_json(page, _note_json))


@probe.route("/notes/<int:note_id>", methods=["GET", "PATCH"])
def note(note_id: int):
    from flask import request

    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.id == note_id, AuditEntry.organization_id == active_organization().id)).first()
    if entry is None:
        raise not_found()
    if request.method == "PATCH":
        check_if_match(_note_json(entry))
        entry.details = {**entry.details, "text": request.get_json()["text"]}
    return resource_response(_note_json(entry))


@probe.route("/whoami")
def whoami():
    from portal.api.auth import requires_scope  # noqa: F401 - the scope check is tested on /scoped

    return jsonify({"user": current_user.email, "organization": g.organization.name})


@probe.route("/scoped")
def scoped():
    return _scoped()


def _scoped_view():
    return jsonify({"ok": True})


from portal.api.auth import requires_scope  # noqa: E402

_scoped = requires_scope(Scope.INVOICES_READ)(_scoped_view)


@pytest.fixture(scope="module")
def probe_app(app, database_url, smtp_server, tmp_path_factory):
    """An app like the portal's with the probe registered (its rate limit low enough to reach)."""
    probe_app = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}",
                                       INSTANCE_PATH=str(tmp_path_factory.mktemp("probe-instance")),
                                       API_KEY_LIMIT="1000 per minute", API_IDEMPOTENCY_WAIT=20.0))
    probe_app.extensions["portal-api"].register_blueprint(probe)
    return probe_app


@pytest.fixture
def probe_api(probe_app, demo):
    def make(user="alice", org="Northwind IT", scopes=tuple(Scope), **kwargs) -> ApiClient:
        with probe_app.app_context():
            token = new_key(user, org, scopes, **kwargs)
            db.session.remove()
        return ApiClient(probe_app.test_client(), token)

    return make


def _count_notes(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "probe.note"))


# ---------------------------------------------------------------- authentication and scopes

def test_a_key_acts_for_its_organization_as_its_creator(probe_api):
    answer = probe_api("alice").get("/api/v1/probe/whoami")
    assert answer.status_code == 200
    assert answer.get_json() == {"user": DEMO_EMAILS["alice"], "organization": "Northwind IT"}
    assert "Set-Cookie" not in answer.headers  # no session: every request carries its key


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer ppk_00000000_nope",
                                    "Bearer " + "x" * 5000])
def test_a_request_without_a_valid_key_is_a_401_problem(probe_app, demo, header):
    headers = {"Authorization": header} if header is not None else {}
    answer = probe_app.test_client().get("/api/v1/probe/whoami", headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert problem["type"].endswith("/api/docs/problems#unauthenticated") and problem["status"] == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_keys_and_closed_creators_are_refused(probe_app, probe_api):
    revoked, expired, closed = probe_api("alice"), probe_api("alice"), probe_api("dave", "Fabrikam Stores")
    for client in (revoked, expired, closed):
        assert client.get("/api/v1/probe/whoami").status_code == 200
    with probe_app.app_context():
        key = db.session.scalars(select(ApiKey).where(ApiKey.prefix == revoked.token[:12])).one()
        revoke_key(key, Actor(user_id=key.created_by_id))
        db.session.execute(update(ApiKey).where(ApiKey.prefix == expired.token[:12])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.execute(update(User).where(User.email == DEMO_EMAILS["dave"]).values(active=False))
        db.session.commit()
    for client in (revoked, expired, closed):
        assert client.get("/api/v1/probe/whoami").status_code == 401


def test_a_key_needs_the_scope_and_its_creator_the_permission(probe_app, probe_api):
    narrow = probe_api("alice", scopes=[Scope.LICENSES_READ])
    refused = narrow.get("/api/v1/probe/scoped")
    assert refused.status_code == 403
    assert refused.get_json()["type"].endswith("#insufficient-scope")
    assert refused.get_json()["required_scope"] == "invoices:read"
    wide = probe_api("alice")
    assert wide.get("/api/v1/probe/scoped").status_code == 200
    with probe_app.app_context():  # alice becomes a viewer of Northwind: her keys may no longer read invoices
        alice = db.session.scalars(select(User).where(User.email == DEMO_EMAILS["alice"])).one()
        db.session.execute(update(Membership).where(Membership.user_id == alice.id).values(role=Role.VIEWER))
        db.session.commit()
    demoted = wide.get("/api/v1/probe/scoped")
    assert demoted.status_code == 403 and demoted.get_json()["type"].endswith("#forbidden")


def test_use_is_recorded_and_changes_are_audited_under_the_key(probe_app, probe_api):
    client = probe_api("alice")
    written = client.post("/api/v1/probe/notes", json={"text": "hello"})
    assert written.status_code == 201
    with probe_app.app_context():
        key = db.session.scalars(select(ApiKey).where(ApiKey.prefix == client.token[:12])).one()
        entry = db.session.get(AuditEntry, written.get_json()["id"])
        assert key.last_used_at is not None and key.last_used_ip == "127.0.0.1"
        assert entry.api_key_id == key.id and entry.actor_id == key.created_by_id


# ---------------------------------------------------------------- problems

def test_errors_are_problems_that_name_the_field(probe_api):
    client = probe_api("alice")
    invalid = client.post("/api/v1/probe/notes", json={"text": ""})
    assert invalid.status_code == 422 and invalid.mimetype == "application/problem+json"
    problem = invalid.get_json()
    assert problem["type"].endswith("#validation-error") and problem["field"] == "text"
    assert problem["errors"][0]["field"] == "text"
    unknown = client.post("/api/v1/probe/notes", json={"text": "a", "colour": "red"})
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "colour"
    refused = client.post("/api/v1/probe/notes", json={"text": "fail"})
    assert refused.status_code == 422 and refused.get_json()["type"].endswith("#refused")
    not_json = client.post("/api/v1/probe/notes", data="{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code in {400, 422} and not_json.mimetype == "application/problem+json"
    missing = client.get("/api/v1/probe/notes/999999")
    assert missing.status_code == 404 and missing.get_json()["type"].endswith("#not-found")
    wrong_method = client.put("/api/v1/probe/notes")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/problem+json"
    nowhere = client.get("/api/v1/no-such-resource")
    assert nowhere.status_code == 404 and nowhere.mimetype == "application/problem+json"


def test_a_failing_request_keeps_nothing(probe_app, probe_api):
    client = probe_api("alice")
    probe_app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        crashed = client.post("/api/v1/probe/notes", json={"text": "crash"}, headers={"Idempotency-Key": "k-crash"})
    finally:
        probe_app.config["PROPAGATE_EXCEPTIONS"] = None
    assert crashed.status_code == 500
    assert _count_notes(probe_app) == 0
    with probe_app.app_context():  # a server error keeps no answer: the same key can be retried at once
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0


# ---------------------------------------------------------------- idempotency

def test_the_same_key_replays_the_first_answer(probe_app, probe_api):
    client = probe_api("alice")
    first = client.post("/api/v1/probe/notes", json={"text": "once"}, headers={"Idempotency-Key": "order-42"})
    again = client.post("/api/v1/probe/notes", json={"text": "once"}, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert _count_notes(probe_app) == 1
    spelled_differently = client.post("/api/v1/probe/notes", data='{ "text" : "once" }',
                                      headers={"Idempotency-Key": "order-42", "Content-Type": "application/json"})
    assert spelled_differently.get_json() == first.get_json()


def test_errors_are_replayed_too_and_other_parameters_are_a_422(probe_app, probe_api):
    client = probe_api("alice")
    refused = client.post("/api/v1/probe/notes", json={"text": "fail"}, headers={"Idempotency-Key": "k1"})
    replayed = client.post("/api/v1/probe/notes", json={"text": "fail"}, headers={"Idempotency-Key": "k1"})
    assert refused.status_code == replayed.status_code == 422
    assert replayed.get_json() == refused.get_json() and replayed.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/probe/notes", json={"text": "other"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422 and other.get_json()["type"].endswith("#idempotency-key-reused")
    assert _count_notes(probe_app) == 0


def test_keys_are_per_api_key_and_kept_for_a_day(probe_app, probe_api):
    first, second = probe_api("alice"), probe_api("alice")
    assert first.post("/api/v1/probe/notes", json={"text": "a"}, headers={"Idempotency-Key": "same"}).status_code \
        == second.post("/api/v1/probe/notes", json={"text": "a"}, headers={"Idempotency-Key": "same"}).status_code \
        == 201
    assert _count_notes(probe_app) == 2  # two API keys: two requests
    with probe_app.app_context():
        db.session.execute(update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    later = first.post("/api/v1/probe/notes", json={"text": "a"}, headers={"Idempotency-Key": "same"})
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert _count_notes(probe_app) == 3


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "tab\there"])
def test_a_malformed_idempotency_key_is_refused(probe_api, value):
    answer = probe_api("alice").post("/api/v1/probe/notes", json={"text": "a"}, headers={"Idempotency-Key": value})
    assert answer.status_code == 400 and answer.get_json()["field"] == "Idempotency-Key"


@pytest.mark.postgres_only
def test_twenty_concurrent_requests_with_one_key_get_one_result(probe_app, probe_api):
    token = probe_api("alice").token
    answers, start = [], threading.Barrier(20)

    def send():
        client = ApiClient(probe_app.test_client(), token)
        start.wait()
        answer = client.post("/api/v1/probe/notes", json={"text": "race"}, headers={"Idempotency-Key": "race-1"})
        answers.append((answer.status_code, answer.get_json()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 20
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
    assert _count_notes(probe_app) == 1


# ---------------------------------------------------------------- rate limits

def test_rate_limits_are_per_key_and_announced(probe_app, probe_api):
    probe_app.config["API_KEY_LIMIT"] = "3 per minute"
    try:
        limited, other = probe_api("alice"), probe_api("alice")
        answers = [limited.get("/api/v1/probe/whoami") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        assert 0 < int(answers[0].headers["RateLimit-Reset"]) <= 60
        over = answers[3]
        assert over.mimetype == "application/problem+json" and over.get_json()["type"].endswith("#rate-limited")
        assert 0 < int(over.headers["Retry-After"]) <= 60
        assert other.get("/api/v1/probe/whoami").status_code == 200  # another key has its own count
    finally:
        probe_app.config["API_KEY_LIMIT"] = "1000 per minute"
        limiter.reset()


# ---------------------------------------------------------------- pagination and conditional requests

def test_cursor_pages_are_stable_under_inserts(probe_app, probe_api):
    client = probe_api("alice")
    ids = [client.post("/api/v1/probe/notes", json={"text": f"n{i}"}).get_json()["id"] for i in range(5)]
    first = client.get("/api/v1/probe/notes?limit=2").get_json()
    assert [n["id"] for n in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    client.post("/api/v1/probe/notes", json={"text": "newer"})  # a new note does not shift the next pages
    second = client.get(f"/api/v1/probe/notes?limit=2&cursor={first['next_cursor']}").get_json()
    third = client.get(f"/api/v1/probe/notes?limit=2&cursor={second['next_cursor']}").get_json()
    assert [n["id"] for n in second["data"] + third["data"]] == ids[::-1][2:]
    assert third["has_more"] is False and third["next_cursor"] is None
    tampered = client.get(f"/api/v1/probe/notes?limit=2&cursor={first['next_cursor'][:-2]}xx")
    assert tampered.status_code == 422 and tampered.get_json()["field"] == "cursor"
    for bad in ("0", "101", "x"):
        assert client.get(f"/api/v1/probe/notes?limit={bad}").get_json()["field"] == "limit"


def test_etags_and_if_match(probe_api):
    client = probe_api("alice")
    note_id = client.post("/api/v1/probe/notes", json={"text": "v1"}).get_json()["id"]
    read = client.get(f"/api/v1/probe/notes/{note_id}")
    etag = read.headers["ETag"]
    assert client.get(f"/api/v1/probe/notes/{note_id}", headers={"If-None-Match": etag}).status_code == 304
    changed = client.patch(f"/api/v1/probe/notes/{note_id}", json={"text": "v2"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/probe/notes/{note_id}", json={"text": "v3"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.get_json()["type"].endswith("#precondition-failed")
    assert client.get(f"/api/v1/probe/notes/{note_id}").get_json()["text"] == "v2"


def test_another_tenants_object_is_a_404(probe_api):
    note_id = probe_api("alice").post("/api/v1/probe/notes", json={"text": "mine"}).get_json()["id"]
    assert probe_api("frank", "Litware Solutions").get(f"/api/v1/probe/notes/{note_id}").status_code == 404


def test_the_document_is_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "/api/v1/activations" in document["paths"]


_ = (Organization, datetime)


def test_a_nul_character_anywhere_in_the_body_is_refused_by_name(probe_api):
    client = probe_api("alice")
    answer = client.post("/api/v1/probe/notes", json={"text": "a\x00b"})
    assert answer.status_code == 422 and answer.get_json()["field"] == "text"
    nested = client.post("/api/v1/probe/notes", json={"text": "ok", "extra": [{"x": "\x00"}]})
    assert nested.status_code == 422 and nested.get_json()["field"] == "extra.0.x"


def test_stored_answers_are_encrypted(probe_app, probe_api):
    client = probe_api("alice")
    first = client.post("/api/v1/probe/notes", json={"text": "secret-ish"}, headers={"Idempotency-Key": "enc"})
    with probe_app.app_context():
        stored = db.session.scalars(select(IdempotentRequest.response_body)).one()
    assert "secret-ish" not in stored
    again = client.post("/api/v1/probe/notes", json={"text": "secret-ish"}, headers={"Idempotency-Key": "enc"})
    assert again.get_json() == first.get_json()
