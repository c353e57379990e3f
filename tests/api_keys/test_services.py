"""API key services: a token shown once and kept only as a hash, what makes a key usable, how often its use is
written, and which scopes a creator may give."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from portal.accounts.models import Role
from portal.api_keys import services
from portal.api_keys.models import ApiKey, Scope
from portal.audit.models import AuditEntry
from portal.authz import Permission
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from tests.factories import actor, make_api_key, make_member, make_org


@pytest.fixture
def chain(ctx):
    """A main chain with a sub-chain and a manager."""
    main = make_org("Keys Main")
    branch = make_org("Keys Branch", parent=main)
    manager = make_member(main, Role.MANAGER).user
    return main, branch, manager


def _create(chain, scopes=(Scope.CATALOG_READ,), sub_chain=None, expires_at=None):
    main, _, manager = chain
    return services.create_key(main, manager, "ERP", list(scopes), sub_chain=sub_chain, expires_at=expires_at,
                               actor=actor(manager))


def test_the_token_is_ppk_prefix_secret_and_only_its_hash_is_stored(chain):
    key, token = _create(chain, [Scope.CATALOG_READ, Scope.ORDERS_WRITE])
    db.session.commit()
    match = re.fullmatch(r"(ppk_[0-9a-f]{8})_([A-Za-z0-9_-]{43})", token)
    assert match, token
    assert key.prefix == match.group(1)
    assert key.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.scopes == ["catalog:read", "orders:write"]
    # the secret appears in no column of the key's row, nor in its audit entry
    row = db.session.execute(text("SELECT * FROM api_key WHERE id = :id"), {"id": key.id}).mappings().one()
    secret = match.group(2)
    assert not any(secret in str(value) for value in row.values())
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.created")).one()
    assert secret not in str(entry.details)
    assert entry.details["prefix"] == key.prefix and entry.details["scopes"] == key.scopes
    assert entry.organization_id == chain[0].id


def test_two_keys_have_different_prefixes_and_secrets(chain):
    (first, token1), (second, token2) = _create(chain), _create(chain)
    assert first.prefix != second.prefix and token1 != token2


def test_a_sub_chain_key_acts_for_the_sub_chain(chain):
    main, branch, _ = chain
    key, _ = _create(chain, [Scope.LICENSES_READ], sub_chain=branch)
    assert key.organization_id == branch.id
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.created")).one()
    assert entry.details["sub_chain"] == "Keys Branch" and entry.organization_id == main.id


def test_a_sub_chain_key_cannot_buy_or_read_invoices(chain):
    """A sub-chain has no buying or billing (DOMAIN §2): its key cannot have those scopes."""
    _, branch, _ = chain
    with pytest.raises(RuleError) as refused:
        _create(chain, [Scope.LICENSES_READ, Scope.ORDERS_WRITE, Scope.INVOICES_READ], sub_chain=branch)
    assert refused.value.field == "scopes" and "orders:write, invoices:read" in refused.value.message


def test_another_chains_sub_chain_is_refused(chain):
    stranger = make_org("Stranger Branch", parent=make_org("Stranger"))
    with pytest.raises(RuleError) as refused:
        _create(chain, sub_chain=stranger)
    assert refused.value.field == "sub_chain"


@pytest.mark.parametrize(("name", "scopes", "expiry", "field"), [
    ("", [Scope.CATALOG_READ], None, "name"),
    ("x" * 101, [Scope.CATALOG_READ], None, "name"),
    ("ERP", [], None, "scopes"),
    ("ERP", [Scope.CATALOG_READ], timedelta(days=-1), "expires_on"),
    ("ERP", [Scope.CATALOG_READ], timedelta(days=740), "expires_on"),
])
def test_bad_input_is_refused_beside_its_field(chain, name, scopes, expiry, field):
    main, _, manager = chain
    with pytest.raises(RuleError) as refused:
        services.create_key(main, manager, name, scopes, sub_chain=None,
                            expires_at=utcnow() + expiry if expiry else None, actor=actor(manager))
    assert refused.value.field == field
    assert db.session.scalar(select(ApiKey.id)) is None


def test_a_chain_has_at_most_50_active_keys(chain):
    main, branch, manager = chain
    for _ in range(48):
        make_api_key(main, manager)
    make_api_key(branch, manager)
    make_api_key(main, manager, revoked=True)  # revoked and expired keys do not count
    make_api_key(main, manager, expires_at=utcnow() - timedelta(days=1))
    _create(chain)
    with pytest.raises(RuleError, match="50 active API keys"):
        _create(chain)


def test_find_usable_key_refuses_revoked_expired_and_unknown_tokens(chain):
    main, _, manager = chain
    now = utcnow()
    key, token = _create(chain)
    revoked = make_api_key(main, manager, revoked=True)
    expired = make_api_key(main, manager, expires_at=now - timedelta(seconds=1))
    later = make_api_key(main, manager, expires_at=now + timedelta(days=1))
    db.session.commit()
    assert services.find_usable_key(token, now) is key
    assert services.find_usable_key(later.token, now) is later
    for refused in (revoked.token, expired.token, token + "x", token[:-1], "", "Bearer " + token, "ppk_" + "0" * 500):
        assert services.find_usable_key(refused, now) is None, refused
    assert services.find_usable_key(later.token, now + timedelta(days=2)) is None


def test_find_usable_key_loads_what_authorization_needs(app, chain):
    """The key's organization, its creator and the creator's memberships come with it (no lazy load later)."""
    main, _, manager = chain
    key = make_api_key(main, manager)
    token, email = key.token, manager.email
    db.session.commit()
    db.session.expunge_all()
    found = services.find_usable_key(token, utcnow())
    assert found.organization.name == "Keys Main" and found.created_by.email == email
    from portal.authz import can

    assert can(found.created_by, Permission.BUY, found.organization)


def test_revoking_is_immediate_and_idempotent(chain):
    key, token = _create(chain)
    services.revoke_key(key, actor(chain[2]))
    revoked_at = key.revoked_at
    services.revoke_key(key, actor(chain[2]))
    db.session.commit()
    assert key.revoked_at == revoked_at and key.revoked_by_id == chain[2].id
    assert services.find_usable_key(token, utcnow()) is None
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.revoked")).all()
    assert len(entries) == 1 and entries[0].details["prefix"] == key.prefix


def test_use_is_written_at_most_once_a_minute(chain):
    key, _ = _create(chain)
    now = utcnow()
    services.record_use(key, "192.0.2.10", now)
    assert (key.last_used_at, key.last_used_ip) == (now, "192.0.2.10")
    services.record_use(key, "192.0.2.11", now + timedelta(seconds=59))
    assert (key.last_used_at, key.last_used_ip) == (now, "192.0.2.10")
    services.record_use(key, "192.0.2.12", now + timedelta(seconds=61))
    assert (key.last_used_at, key.last_used_ip) == (now + timedelta(seconds=61), "192.0.2.12")


def test_keys_of_lists_the_chain_and_its_sub_chains_newest_first(chain):
    main, branch, manager = chain
    old = make_api_key(main, manager)
    old.created_at = utcnow() - timedelta(days=2)
    branch_key = make_api_key(branch, manager)
    branch_key.created_at = utcnow() - timedelta(days=1)
    new = make_api_key(main, manager)
    make_api_key(make_org("Elsewhere"))
    db.session.flush()
    assert list(db.session.scalars(services.keys_of(main))) == [new, branch_key, old]


def test_scope_mapping_covers_every_scope():
    assert set(services.SCOPE_PERMISSIONS) == set(Scope)
    assert services.SCOPE_PERMISSIONS[Scope.ORDERS_WRITE] is Permission.BUY
    assert services.SCOPE_PERMISSIONS[Scope.WEBHOOKS_WRITE] is Permission.MANAGE_API


@pytest.mark.parametrize(("role", "on_branch", "expected"), [
    (Role.MANAGER, False, set(Scope)),
    (Role.MEMBER, False, {Scope.CATALOG_READ, Scope.ORDERS_WRITE, Scope.LICENSES_READ, Scope.LICENSES_WRITE,
                          Scope.INVOICES_READ}),
    (Role.INSTALLER, False, set()),
    (Role.MANAGER, True, {Scope.CATALOG_READ, Scope.LICENSES_READ, Scope.LICENSES_WRITE}),
])
def test_scopes_creator_holds(chain, role, on_branch, expected):
    main, branch, _ = chain
    user = make_member(main, role).user
    assert set(services.scopes_creator_holds(user, branch if on_branch else main)) == expected
