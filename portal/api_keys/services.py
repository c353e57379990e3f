"""API keys: create one (its secret shown once, only its hash kept), revoke it, find the key a request carries,
note its use, and list a chain's keys. Services flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.api_keys.models import ApiKey, Scope
from portal.audit.services import Actor, record
from portal.authz import Permission, can, chain_ids
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db

# The permission a scope stands for: a key may hold a scope only where its creator holds the permission, and an
# API call with it is allowed only while the creator still does (the one home of this mapping).
SCOPE_PERMISSIONS: dict[Scope, Permission] = {
    Scope.CATALOG_READ: Permission.VIEW_PRICES,
    Scope.ORDERS_WRITE: Permission.BUY,
    Scope.LICENSES_READ: Permission.VIEW_LICENSES,
    Scope.LICENSES_WRITE: Permission.ASSIGN_LICENSES,
    Scope.INVOICES_READ: Permission.VIEW_INVOICES,
    Scope.SUBSCRIPTIONS_READ: Permission.MANAGE_SUBSCRIPTIONS,
    Scope.SUBSCRIPTIONS_WRITE: Permission.MANAGE_SUBSCRIPTIONS,
    Scope.WEBHOOKS_WRITE: Permission.MANAGE_API,
}

TOKEN_PREFIX = "ppk_"  # noqa: S105 - the public start of every token, no secret
MAX_ACTIVE_KEYS = 50  # per main chain (its sub-chains' keys included)
MAX_LIFETIME = timedelta(days=731)  # two years, a leap day included
MAX_NAME = 100
# A token longer than this is no key of ours: refused before hashing whatever a client sends.
MAX_TOKEN_LENGTH = 200
# "Last used" is written at most this often per key, so that a busy client's reads do not each write a row.
USE_RECORD_INTERVAL = timedelta(seconds=60)


def token_hash(token: str) -> str:
    """The SHA-256 of a full token, as stored in ApiKey.secret_hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def scopes_creator_holds(user: User, org: Organization) -> list[Scope]:
    """The scopes a key acting for `org` may be given by `user`: those whose permission the user holds there."""
    return [scope for scope in Scope if can(user, SCOPE_PERMISSIONS[scope], org)]


def active_key_count(main_chain: Organization, now: datetime) -> int:
    """How many keys of the chain (its sub-chains' included) are neither revoked nor expired."""
    return db.session.scalar(
        select(func.count()).select_from(ApiKey).where(
            ApiKey.organization_id.in_(chain_ids(main_chain.id)), ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)))


def _new_prefix() -> str:
    """An unused `ppk_<8 hex>` (a clash among 4 billion is rare; the unique index is the last word)."""
    for _ in range(5):
        prefix = TOKEN_PREFIX + secrets.token_hex(4)
        if db.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix
    raise RuntimeError("no free API key prefix after 5 tries")


def create_key(main_chain: Organization, creator: User, name: str, scopes: list[Scope], *,
               sub_chain: Organization | None, expires_at: datetime | None, actor: Actor) -> tuple[ApiKey, str]:
    """Create a key for the chain (or one of its sub-chains); returns it with its full token, shown only once."""
    now = utcnow()
    name = (name or "").strip()
    if not name:
        raise RuleError("Give the key a name, such as the system that will use it.", "name")
    if len(name) > MAX_NAME:
        raise RuleError(f"Use at most {MAX_NAME} characters.", "name")
    if not main_chain.is_main_chain:
        raise RuleError("API keys belong to a main chain.", "sub_chain")
    if sub_chain is not None and sub_chain.parent_id != main_chain.id:
        raise RuleError("Choose one of this chain's sub-chains, or the whole chain.", "sub_chain")
    acting_for = sub_chain or main_chain
    wanted = list(dict.fromkeys(Scope(s) for s in scopes))
    if not wanted:
        raise RuleError("Choose at least one scope.", "scopes")
    allowed = set(scopes_creator_holds(creator, acting_for))
    refused = [s.value for s in wanted if s not in allowed]
    if refused:
        raise RuleError(f"A key for {acting_for.name} cannot have {', '.join(refused)}: you may not do that there "
                        "yourself (a sub-chain has no buying, invoices or subscriptions).", "scopes")
    if expires_at is not None:
        if expires_at <= now:
            raise RuleError("Choose a date in the future, or leave it empty for a key that does not expire.",
                            "expires_on")
        if expires_at > now + MAX_LIFETIME:
            raise RuleError("Choose a date within two years.", "expires_on")
    if active_key_count(main_chain, now) >= MAX_ACTIVE_KEYS:
        raise RuleError(f"{main_chain.name} already has {MAX_ACTIVE_KEYS} active API keys, the most a chain may "
                        "have: revoke one you no longer use first.")
    prefix = _new_prefix()
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(organization_id=acting_for.id, created_by_id=creator.id, name=name, prefix=prefix,
                 secret_hash=token_hash(token), scopes=[s.value for s in wanted], created_at=now,
                 expires_at=expires_at)
    db.session.add(key)
    record(actor, "api_key.created", key, main_chain.id, name=name, prefix=prefix, scopes=key.scopes,
           sub_chain=sub_chain.name if sub_chain is not None else None,
           expires_at=expires_at.isoformat() if expires_at else None)
    return key, token


def revoke_key(key: ApiKey, actor: Actor) -> None:
    """Revoke a key at once: every request that carries it is refused from now on (a second revoke does nothing)."""
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    key.revoked_by_id = actor.user_id
    org = db.session.get(Organization, key.organization_id)  # from the identity map when already loaded
    record(actor, "api_key.revoked", key, org.main_chain_id, name=key.name, prefix=key.prefix)


@lru_cache(maxsize=1)
def _key_by_hash() -> Select:
    """find_usable_key's statement, built once (building it costs more than running it): parameter secret_hash.
    The creator's memberships come in the same statement: a call is allowed only while the creator may do the
    same (authz.can)."""
    return (select(ApiKey).where(ApiKey.secret_hash == bindparam("secret_hash"))
            .options(joinedload(ApiKey.organization), joinedload(ApiKey.created_by).joinedload(User.memberships)))


def find_usable_key(token: str, now: datetime) -> ApiKey | None:
    """The key a request's bearer token names, with its organization and creator, if it is neither revoked nor
    expired; None for anything else (an unknown token, a malformed one)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    key = db.session.scalars(_key_by_hash(), {"secret_hash": token_hash(token)}).unique().first()
    return key if key is not None and key.usable(now) else None


def record_use(key: ApiKey, ip: str | None, now: datetime) -> None:
    """Note when and from where the key was last used (at most once a minute per key)."""
    if key.last_used_at is not None and now - key.last_used_at < USE_RECORD_INTERVAL:
        return
    key.last_used_at = now
    key.last_used_ip = ip[:45] if ip else None


def keys_of(main_chain: Organization) -> Select:
    """The keys of the chain and of its sub-chains, newest first, with their organization and creator."""
    return (select(ApiKey).where(ApiKey.organization_id.in_(chain_ids(main_chain.id)))
            .options(joinedload(ApiKey.organization), joinedload(ApiKey.created_by))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))

