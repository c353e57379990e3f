"""Every operation of the automation API, with every kind of key: none (401), one without the operation's scope
(403 insufficient-scope), and one whose creator's role no longer holds the permission the scope stands for (403
forbidden). The operations are read from the app's URL map, so a new one is covered, and one that declares no
scope fails by name."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from werkzeug.routing.converters import NumberConverter

from portal.accounts.models import Membership, Organization, Role, User
from portal.api_keys.models import Scope
from portal.api_keys.services import SCOPE_PERMISSIONS
from portal.authz import ROLE_PERMISSIONS
from portal.extensions import db
from tests.access import key_authenticated
from tests.factories import DEMO_EMAILS

SAMPLE = {"int": 1, "default": "sample"}


def operations(app) -> list[tuple[str, str, str, Scope | None]]:
    """(endpoint, method, a URL, the scope it requires) for every key-authenticated operation."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not key_authenticated(app, rule.endpoint):
            continue
        view = app.view_functions[rule.endpoint]
        values = {name: SAMPLE["int"] if isinstance(conv, NumberConverter) else SAMPLE["default"]
                  for name, conv in rule._converters.items()}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            handler = getattr(getattr(view, "view_class", None), method.lower(), None) or view
            found.append((rule.endpoint, method, url, getattr(handler, "required_scope", None)))
    return found


def _send(client, method: str, url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in {"POST", "PATCH", "PUT"} else None
    return client.open(url, method=method, json=body, headers=headers)


def test_every_operation_names_its_scope(app):
    unscoped = [f"{method} {url} ({endpoint})" for endpoint, method, url, scope in operations(app) if scope is None]
    assert not unscoped, f"operations without @requires_scope: {unscoped}"
    assert len(operations(app)) >= 20


def test_no_key_is_a_401_everywhere(app, demo, client):
    answers = {(method, url): _send(client, method, url, None) for _, method, url, _ in operations(app)}
    wrong = {k: a.status_code for k, a in answers.items()
             if a.status_code != 401 or a.mimetype != "application/problem+json"}
    assert not wrong


def test_a_key_without_the_scope_is_refused_everywhere(app, api):
    keys = {scope: api("alice", scopes=[s for s in Scope if s is not scope]) for scope in Scope}
    for endpoint, method, url, scope in operations(app):
        answer = _send(keys[scope].client, method, url, keys[scope].token)
        assert answer.status_code == 403, (endpoint, method, answer.status_code)
        assert answer.get_json()["type"].endswith("#insufficient-scope"), endpoint


@pytest.mark.parametrize("role", [Role.MEMBER, Role.INSTALLER, Role.VIEWER])
def test_a_key_never_does_more_than_its_creator_may(app, api, role):
    client = api("alice")  # every scope, made while alice manages Northwind
    with app.app_context():
        alice = db.session.scalars(select(User).where(User.email == DEMO_EMAILS["alice"])).one()
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        db.session.execute(update(Membership).where(Membership.user_id == alice.id,
                                                    Membership.organization_id == northwind.id).values(role=role))
        db.session.commit()
    for endpoint, method, url, scope in operations(app):
        if SCOPE_PERMISSIONS[scope] in ROLE_PERMISSIONS[role]:
            continue
        answer = _send(client.client, method, url, client.token)
        assert answer.status_code == 403, (role, endpoint, method, answer.status_code)
        assert answer.get_json()["type"].endswith("#forbidden"), endpoint
