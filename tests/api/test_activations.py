"""The activation API (/api/v1), as an installation uses it: JSON in and out, no session, a license key as the
credential, one rate limit per client address. An assigned license is activated on one installation at a time
(the database refuses a second), activating again on the same installation changes nothing but clears
"reactivation required", and every refusal is JSON with a status that says why."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.licenses.models import Activation, License
from tests.factories import make_activation, make_license


@pytest.fixture
def licenses(app, demo):
    """Keys of a license Northwind resold to Contoso Retail and of one Northwind has not assigned yet."""
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        assigned = make_license(northwind, contoso, edition="Enterprise", quantity=50, addons=("antispam",),
                                ms_expires_on=date(2027, 5, 31))
        unassigned = make_license(northwind)
        db.session.commit()
        return {"assigned": assigned.key, "unassigned": unassigned.key}


def _activate(client, key: str, installation: str = "pos-01"):
    return client.post("/api/v1/activations", json={"license_key": key, "installation_id": installation})


def _deactivate(client, activation_id: int, key: str | None):
    return client.delete(f"/api/v1/activations/{activation_id}", headers={"X-License-Key": key} if key else {})


def _license(app, key: str) -> License:
    with app.app_context():
        license_ = db.session.scalars(select(License).where(License.key == key)).one()
        db.session.expunge_all()
        return license_


def _active(app, *keys: str) -> int:
    """Active activations of the licenses with these keys."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Activation).join(License).where(
            Activation.deactivated_at.is_(None), License.key.in_(keys)))


def test_an_assigned_license_is_activated_and_activating_again_there_changes_nothing(client, licenses):
    first = _activate(client, licenses["assigned"], "pos-01")
    assert first.status_code == 201 and first.is_json
    body = first.get_json()
    assert (body["license_key"], body["installation_id"], body["active"], body["deactivated_at"]) == (
        licenses["assigned"], "pos-01", True, None)

    again = _activate(client, licenses["assigned"].lower(), "pos-01")  # the key as typed: same license
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]


def test_an_unassigned_license_cannot_be_activated(app, client, licenses):
    response = _activate(client, licenses["unassigned"])
    assert response.status_code == 403
    assert "must be assigned to a customer first" in response.get_json()["error"]
    assert _active(app, licenses["unassigned"]) == 0


def test_a_license_active_elsewhere_is_refused_until_it_is_deactivated_there(app, client, licenses):
    key = licenses["assigned"]
    first = _activate(client, key, "pos-01").get_json()

    busy = _activate(client, key, "pos-02")
    assert busy.status_code == 409
    assert "active on another installation" in busy.get_json()["error"]
    assert busy.get_json()["activation"]["id"] == first["id"]

    ended = _deactivate(client, first["id"], key)
    assert ended.status_code == 200 and ended.get_json()["active"] is False
    moved = _activate(client, key, "pos-02")
    assert moved.status_code == 201 and moved.get_json()["id"] != first["id"]
    assert _active(app, key) == 1


def test_activating_again_after_a_modification_clears_reactivation_required(app, client, licenses):
    key = licenses["assigned"]
    activation_id = _activate(client, key, "pos-01").get_json()["id"]
    with app.app_context():  # an upgrade was bought (licenses.modify.apply_modification)
        db.session.scalars(select(License).where(License.key == key)).one().reactivation_required = True
        db.session.commit()
    assert client.get(f"/api/v1/licenses/{key}/status").get_json()["reactivation_required"] is True

    again = _activate(client, key, "pos-01")

    assert again.status_code == 200 and again.get_json()["id"] == activation_id
    assert again.get_json()["reactivation_required"] is False
    assert not _license(app, key).reactivation_required
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "license.reactivated")) == 1


def test_a_first_activation_after_a_modification_clears_it_too(app, client, licenses):
    key = licenses["assigned"]
    with app.app_context():
        db.session.scalars(select(License).where(License.key == key)).one().reactivation_required = True
        db.session.commit()
    assert _activate(client, key, "pos-07").get_json()["reactivation_required"] is False
    assert not _license(app, key).reactivation_required


def test_deactivating_needs_the_license_key(app, client, licenses):
    key = licenses["assigned"]
    activation_id = _activate(client, key).get_json()["id"]
    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        other_key = make_license(northwind, northwind).key
        db.session.commit()

    missing = _deactivate(client, activation_id, None)
    assert missing.status_code == 400 and "X-License-Key" in missing.get_json()["error"]
    wrong = _deactivate(client, activation_id, other_key)  # a real key, of another license
    assert wrong.status_code == 404
    assert wrong.get_json()["error"] == wrong.get_json()["detail"] == "No activation with that id for that license key."
    assert wrong.get_json()["type"].endswith("/api/docs/problems#not-found")
    assert wrong.mimetype == "application/problem+json"
    unknown = _deactivate(client, 999_999, key)
    assert unknown.status_code == 404 and unknown.get_json() == wrong.get_json()  # which part is wrong: not told
    typo = _deactivate(client, activation_id, key[:-1] + ("0" if key[-1] != "0" else "1"))
    assert typo.status_code == 400
    assert _active(app, key) == 1

    in_body = client.delete(f"/api/v1/activations/{activation_id}", json={"license_key": key})
    assert in_body.status_code == 200 and in_body.get_json()["active"] is False
    twice = _deactivate(client, activation_id, key)
    assert twice.status_code == 200 and twice.get_json()["deactivated_at"] == in_body.get_json()["deactivated_at"]
    assert _active(app, key) == 0


def test_the_status_tells_edition_quantity_add_ons_maintenance_and_activation(client, licenses):
    key = licenses["assigned"]
    before = client.get(f"/api/v1/licenses/{key}/status")
    assert before.status_code == 200
    assert before.get_json() == {
        "license_key": key, "product": "MailSuite Mail Server", "edition": "Enterprise", "quantity": 50,
        "unit": "mailboxes", "addons": [{"slug": "antispam", "name": "Advanced Anti-Spam"}],
        "ms_expires_on": "2027-05-31", "assigned": True, "activation": None, "activation_state": "not activated",
        "reactivation_required": False,
    }
    activation = _activate(client, key, "pos-01").get_json()
    after = client.get(f"/api/v1/licenses/{key.replace('-', '').lower()}/status").get_json()
    assert (after["activation_state"], after["activation"]) == ("active", activation)
    assert "price" not in str(after) and "Northwind" not in str(after)  # nothing of the reseller's books


def test_an_unknown_or_mistyped_key_is_not_found_or_explained(client, licenses):
    key = licenses["assigned"]
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert client.get(f"/api/v1/licenses/{typo}/status").status_code == 400
    assert "typing mistake" in client.get(f"/api/v1/licenses/{typo}/status").get_json()["error"]
    unknown = "00000-00000-00000-00000-00000"
    assert client.get(f"/api/v1/licenses/{unknown}/status").get_json()["error"] == "No license has that key."
    assert client.get(f"/api/v1/licenses/{unknown}/status").status_code == 404
    assert _activate(client, unknown).status_code == 404


@pytest.mark.parametrize(("request_kwargs", "message"), [
    ({"data": "{not json", "content_type": "application/json"}, "Send a JSON object"),
    ({"json": ["a", "list"]}, "Send a JSON object"),
    ({"data": {"license_key": "x"}}, "Send a JSON object"),  # a form, not JSON
    ({"json": {"installation_id": "pos-01"}}, "license_key is required"),
    ({"json": {"license_key": 42, "installation_id": "pos-01"}}, "license_key is required"),
    ({"json": {"license_key": "ABC", "installation_id": "pos-01"}}, "25 characters"),
    ({"json": {"license_key": "{key}"}}, "installation_id is required"),
    ({"json": {"license_key": "{key}", "installation_id": "   "}}, "installation_id is required"),
    ({"json": {"license_key": "{key}", "installation_id": "x" * 129}}, "at most 128"),
    ({"json": {"license_key": "{key}", "installation_id": "pos\n01"}}, "printable"),
])
def test_a_malformed_activation_request_is_a_400_that_says_what_is_wrong(app, client, licenses, request_kwargs,
                                                                          message):
    if "json" in request_kwargs and isinstance(request_kwargs["json"], dict):
        request_kwargs = {"json": {k: (licenses["assigned"] if v == "{key}" else v)
                                   for k, v in request_kwargs["json"].items()}}
    response = client.post("/api/v1/activations", **request_kwargs)
    assert response.status_code == 400 and response.is_json
    assert message in response.get_json()["error"]
    assert _active(app, *licenses.values()) == 0


def test_routing_errors_of_the_api_are_json_too(client, licenses):
    missing = client.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.is_json) == (404, True)
    wrong_method = client.get("/api/v1/activations")
    assert (wrong_method.status_code, wrong_method.is_json) == (405, True)
    assert "error" in wrong_method.get_json()
    assert not client.get("/no-such-page").is_json  # the site keeps its HTML error pages


def test_the_api_is_rate_limited_per_address_with_a_json_429(app, client, licenses, monkeypatch):
    monkeypatch.setitem(app.config, "API_LIMIT_PER_IP", "3 per minute")
    key = licenses["assigned"]
    statuses = [client.get(f"/api/v1/licenses/{key}/status").status_code for _ in range(2)]
    statuses.append(_activate(client, key).status_code)  # one limit for the whole API
    limited = client.get(f"/api/v1/licenses/{key}/status")
    assert statuses == [200, 200, 201]
    assert limited.status_code == 429 and "Too many requests" in limited.get_json()["error"]
    assert "Retry-After" in limited.headers


def test_the_api_needs_no_session_and_no_csrf_token(app, login, licenses):
    alice = login("alice")  # a browser session changes nothing: the key is what counts
    assert alice.post("/api/v1/activations",
                      json={"license_key": licenses["unassigned"], "installation_id": "pos-01"}).status_code == 403


def test_activations_are_in_the_audit_log_of_the_licenses_owner(app, client, licenses, demo):
    key = licenses["assigned"]
    activation_id = _activate(client, key).get_json()["id"]
    _deactivate(client, activation_id, key)
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("license."))
                                     .order_by(AuditEntry.id)).all()
        assert [(e.action, e.organization_id, e.actor_id, e.ip) for e in entries] == [
            ("license.activated", demo.orgs["Northwind IT"], None, "127.0.0.1"),
            ("license.deactivated", demo.orgs["Northwind IT"], None, "127.0.0.1"),
        ]


def test_the_database_refuses_a_second_active_activation_of_a_license(app, licenses):
    """The guarantee under the service's check: a partial unique index on the active activation."""
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        license_ = db.session.scalars(select(License).where(License.key == licenses["assigned"])).one()
        make_activation(license_, "pos-01")
        with pytest.raises(IntegrityError):
            make_activation(license_, "pos-02")
        db.session.rollback()


@pytest.mark.postgres_only
def test_twenty_installations_racing_for_one_license_activate_it_once(app, licenses):
    key = licenses["assigned"]
    clients = [app.test_client() for _ in range(20)]
    barrier, statuses, lock = threading.Barrier(len(clients)), [], threading.Lock()

    def activate(n: int, c) -> None:
        barrier.wait()
        response = _activate(c, key, f"pos-{n:02d}")
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=activate, args=(n, c)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 19, statuses
    assert _active(app, key) == 1
