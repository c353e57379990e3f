"""Which optional emails a user receives: their choices, the signed links that unsubscribe in one click, and the
filter every optional email passes through before it is written to the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import delete, select

from portal.accounts.models import User
from portal.audit.services import Actor, record
from portal.extensions import db
from portal.notifications.models import EmailCategory, EmailOptOut

TOKEN_SALT = "portal.unsubscribe"  # noqa: S105 - separates these signatures from others made with the key


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def unsubscribe_token(user_id: int, category: EmailCategory) -> str:
    """The secret part of a user's unsubscribe link for one category (signed with the app's secret key)."""
    return _serializer().dumps([user_id, category.value])


@dataclass(frozen=True)
class UnsubscribeRequest:
    """Whom an unsubscribe link is for, and from what."""

    user: User
    category: EmailCategory


def read_unsubscribe_token(token: str) -> UnsubscribeRequest | None:
    """The user and category a link names, or None for a token that is forged, damaged or names nobody."""
    try:
        user_id, category = _serializer().loads(token)
        category = EmailCategory(category)
    except (BadData, ValueError, TypeError):
        return None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    return UnsubscribeRequest(user, category)


def receiving(user: User) -> set[EmailCategory]:
    """The optional emails the user receives (every category they did not opt out of)."""
    opted_out = set(db.session.scalars(select(EmailOptOut.category).where(EmailOptOut.user_id == user.id)))
    return set(EmailCategory) - opted_out


def recipients_receiving(addresses: Iterable[str], category: EmailCategory) -> list[tuple[str, int | None]]:
    """Of `addresses`, those that receive `category`, each with its user's id (None: an address without an
    account, which has no preferences to honour)."""
    addresses = sorted(set(addresses))
    users = dict(db.session.execute(select(User.email, User.id).where(User.email.in_(addresses))).all())
    opted_out = set(db.session.scalars(select(EmailOptOut.user_id).where(
        EmailOptOut.category == category, EmailOptOut.user_id.in_(list(users.values())))))
    return [(address, users.get(address)) for address in addresses if users.get(address) not in opted_out]


def set_receiving(user: User, wanted: set[EmailCategory], actor: Actor) -> None:
    """Save which optional emails the user receives; the change is audited."""
    before = receiving(user)
    stopped, resumed = before - wanted, wanted - before
    for category in stopped:
        db.session.add(EmailOptOut(user_id=user.id, category=category))
    if resumed:
        db.session.execute(delete(EmailOptOut).where(EmailOptOut.user_id == user.id,
                                                     EmailOptOut.category.in_(list(resumed))))
    if stopped or resumed:
        record(actor, "notifications.updated", user, None, stopped=sorted(c.value for c in stopped) or None,
               resumed=sorted(c.value for c in resumed) or None)


def unsubscribe(user: User, category: EmailCategory, actor: Actor) -> None:
    """Stop one category of optional email for the user (from an unsubscribe link); repeating it changes nothing."""
    if category in receiving(user):
        db.session.add(EmailOptOut(user_id=user.id, category=category))
        record(actor, "notifications.unsubscribed", user, None, category=category.value)
