"""Server-side sessions: a row per sign-in that the cookie names by a random key; sign-out ends it.

The cookie (Flask's signed session) carries only the key; the row says whether it still works. A copied cookie
stops working the moment its session ends: at sign-out, from the security page, at a password change or when the
user is deactivated (accounts.services.end_all_sessions), or after PERMANENT_SESSION_LIFETIME without a request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import Select, bindparam, exists, func, literal, or_, select, update

from portal.accounts.models import Membership, Organization, User
from portal.accounts.services import user_access_options
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.signin.models import TwoStepCredential, TwoStepRequirement, UserSession

# A request refreshes its session's "last seen" at most this often, so that reading a page is not a write.
TOUCH_EVERY = timedelta(minutes=1)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("CrOS", "ChromeOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def device_label(user_agent: str) -> str:
    """A short name for the device a User-Agent describes ("Firefox on Windows"), or "Unknown device"."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    program = re.match(r"[A-Za-z][\w.-]{0,40}", user_agent or "")
    return program.group() if program else "Unknown device"


def start_session(user: User, ip: str | None, user_agent: str) -> UserSession:
    """Record a new sign-in of `user` and name it on the user for Flask-Login's cookie (user.session_key)."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(user_id=user.id, key_hash=_key_hash(key), created_at=now, last_seen_at=now,
                      ip_address=(ip or "")[:64], device=device_label(user_agent or "")[:100])
    db.session.add(row)
    db.session.flush()
    user.session_key, user.login_session_id = key, row.id
    return row


def _two_step_enabled():
    return exists().where(TwoStepCredential.user_id == User.id, TwoStepCredential.confirmed_at.is_not(None))


def _two_step_required():
    """Staff always; a user with an active membership in a main chain (or its sub-chain) that requires it."""
    main_chain_id = func.coalesce(Organization.parent_id, Organization.id)
    by_chain = (select(literal(1)).select_from(Membership)
                .join(Organization, Organization.id == Membership.organization_id)
                .join(TwoStepRequirement, TwoStepRequirement.organization_id == main_chain_id)
                .where(Membership.user_id == User.id, Membership.active.is_(True)))
    return or_(User.is_staff.is_(True), by_chain.exists())


@lru_cache(maxsize=1)
def _live_user() -> Select:
    """load_user's statement, built once (building it cost more than running it): parameters key_hash and
    idle_since."""
    return (select(User, UserSession, _two_step_enabled().label("enabled"), _two_step_required().label("required"))
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.key_hash == bindparam("key_hash"), UserSession.ended_at.is_(None),
                   UserSession.last_seen_at > bindparam("idle_since", type_=UserSession.last_seen_at.type))
            .options(*user_access_options())
            .execution_options(populate_existing=True))


def load_user(key: str) -> User | None:
    """Flask-Login's loader: the user whose live session the cookie names, with what permission checks read and
    whether two-step sign-in is on and required (one statement, with the memberships' own)."""
    if not key or len(key) > 100:
        return None
    idle_since = utcnow() - current_app.permanent_session_lifetime
    row = db.session.execute(_live_user(), {"key_hash": _key_hash(key), "idle_since": idle_since}).unique().first()
    if row is None or not row.User.active:
        return None
    user, login = row.User, row.UserSession
    if utcnow() - login.last_seen_at > TOUCH_EVERY:
        # On a connection of its own: the request's transaction stays the view's, and this is not undone with it.
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == login.id).values(last_seen_at=utcnow()))
    user.session_key, user.login_session_id = key, login.id
    user.two_step_enabled, user.two_step_required = bool(row.enabled), bool(row.required)
    return user


def live_sessions(user: User) -> list[UserSession]:
    """The user's sessions that still work, most recently seen first."""
    idle_since = utcnow() - current_app.permanent_session_lifetime
    return list(db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.last_seen_at > idle_since)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ))


def live_session_of(user: User, session_id: int) -> UserSession | None:
    """One of the user's own live sessions by id; another user's (or an ended one) is None."""
    return db.session.scalars(
        select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id,
                                  UserSession.ended_at.is_(None))
    ).first()


def end_session(user: User, login: UserSession, actor: Actor) -> None:
    """Sign one session of the user out: its cookie stops working at its next request."""
    if login.ended_at is None:
        login.ended_at = utcnow()
        record(actor, "session.ended", login, None, email=user.email, device=login.device, ip=login.ip_address)


def end_current_session(user: User, actor: Actor) -> None:
    """Signing out ends the session the request came with."""
    login = live_session_of(user, getattr(user, "login_session_id", None) or 0)
    if login is not None:
        login.ended_at = utcnow()
        record(actor, "user.logout", user, None)


def end_other_sessions(user: User, actor: Actor) -> int:
    """Sign out every session of the user but this one; how many ended."""
    current = getattr(user, "login_session_id", None)
    if current is None:
        raise RuleError("This session is not signed in.")
    ended = db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.id != current)
        .values(ended_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    record(actor, "session.ended_others", user, None, count=ended)
    return ended
