"""API test helpers: a key made for a demo user (as the keys page makes it: tests/api_keys tests that page), and
a client that sends it as a partner's system does, `Authorization: Bearer <key>`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, User
from portal.api_keys.models import Scope
from portal.api_keys.services import create_key
from portal.audit.services import Actor
from portal.extensions import db
from tests.factories import DEMO_EMAILS

ALL_SCOPES = tuple(Scope)


@dataclass
class ApiClient:
    """A test client that sends an API key with every request (and nothing a browser would: no cookie jar)."""

    client: FlaskClient
    token: str

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, headers: dict | None = None, **kwargs):
        return self.client.get(path, headers=self._headers(headers), **kwargs)

    def post(self, path: str, json=None, headers: dict | None = None, **kwargs):
        return self.client.post(path, json=json, headers=self._headers(headers), **kwargs)

    def patch(self, path: str, json=None, headers: dict | None = None, **kwargs):
        return self.client.patch(path, json=json, headers=self._headers(headers), **kwargs)

    def put(self, path: str, json=None, headers: dict | None = None, **kwargs):
        return self.client.put(path, json=json, headers=self._headers(headers), **kwargs)

    def delete(self, path: str, headers: dict | None = None, **kwargs):
        return self.client.delete(path, headers=self._headers(headers), **kwargs)


def new_key(user: str = "alice", org: str = "Northwind IT", scopes=ALL_SCOPES, sub_chain: str | None = None,
            expires_at=None) -> str:
    """A key created by a demo user (by its short name) for a main chain it manages, inside an app context."""
    creator = db.session.scalars(select(User).where(User.email == DEMO_EMAILS[user])
                                 .options(selectinload(User.memberships))).one()
    main = db.session.scalars(select(Organization).where(Organization.name == org)).one()
    sub = db.session.scalars(select(Organization).where(Organization.name == sub_chain)).one() if sub_chain else None
    _, token = create_key(main, creator, f"{user}'s test key", list(scopes), sub_chain=sub, expires_at=expires_at,
                          actor=Actor(user_id=creator.id))
    db.session.commit()
    return token


@pytest.fixture
def api(app, demo, client):
    """api(user="alice", org="Northwind IT", scopes=…) -> an ApiClient with a fresh key of that user."""

    def make(user: str = "alice", org: str = "Northwind IT", scopes=ALL_SCOPES, sub_chain: str | None = None,
             expires_at=None) -> ApiClient:
        with app.app_context():
            token = new_key(user, org, scopes, sub_chain, expires_at)
            db.session.remove()
        return ApiClient(app.test_client(), token)

    return make
