"""Two-step sign-in: an authenticator app's codes (TOTP, RFC 6238) after the password, or a recovery code.

The TOTP secret is stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY
by HKDF-SHA256 (info "portal two-step secret"): changing SECRET_KEY makes every stored secret unreadable, and the
users concerned set two-step sign-in up again. Recovery codes are random (50 bits) and stored as SHA-256.
A code is accepted once: the time step of the last one used is kept, and no code of that step or before passes.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time

import pyotp
import segno
from markupsafe import Markup
from sqlalchemy import delete, or_, select, update

from portal import encryption
from portal.accounts.models import Organization, User
from portal.accounts.passwords import verify_password
from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.signin.models import RecoveryCode, TwoStepCredential, TwoStepRequirement

ISSUER = "Partner Portal"
STEP_SECONDS = 30
RECOVERY_CODES = 10
WRONG_CODE = "That code is not right. Enter the 6-digit code your app shows now, or a recovery code."


PURPOSE = b"portal two-step secret"


def _encrypt(secret: str) -> str:
    return encryption.encrypt(secret, PURPOSE)


def secret_of(credential: TwoStepCredential) -> str | None:
    """The credential's TOTP secret, or None when SECRET_KEY changed since it was stored."""
    return encryption.decrypt(credential.secret_encrypted, PURPOSE)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalized(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def credential_of(user: User) -> TwoStepCredential | None:
    return db.session.get(TwoStepCredential, user.id)


def is_enabled(user: User) -> bool:
    credential = credential_of(user)
    return credential is not None and credential.confirmed_at is not None


def start_setup(user: User, secret: str | None = None) -> TwoStepCredential:
    """A new secret waiting for its first code (replacing one not confirmed yet); refused while one is in use."""
    credential = credential_of(user)
    if credential is not None and credential.confirmed_at is not None:
        raise RuleError("Two-step sign-in is already on. Turn it off first to use another authenticator.")
    if credential is None:
        credential = TwoStepCredential(user_id=user.id, secret_encrypted="")
        db.session.add(credential)
    credential.secret_encrypted = _encrypt(secret or pyotp.random_base32())
    credential.last_counter = None
    db.session.flush()
    return credential


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The QR code of `uri` as inline SVG: drawn with attributes only, so the CSP (no inline style) allows it."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=2,
                                    dark="#000", light="#fff", title="QR code for your authenticator app")
    return Markup(out.getvalue().decode())  # noqa: S704 - segno's own SVG from our URI, no user markup


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (this one, or one either side for clock drift) whose code is `code`."""
    now = int(time.time()) // STEP_SECONDS
    totp = pyotp.TOTP(secret)
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept_totp(credential: TwoStepCredential, code: str) -> bool:
    secret = secret_of(credential)
    if secret is None or not (len(code) == 6 and code.isdigit()):
        return False
    step = _matching_step(secret, code)
    if step is None:
        return False
    # Conditional write: a code (or an older one) already used is refused, even by two requests at once.
    taken = db.session.execute(
        update(TwoStepCredential)
        .where(TwoStepCredential.user_id == credential.user_id,
               or_(TwoStepCredential.last_counter.is_(None), TwoStepCredential.last_counter < step))
        .values(last_counter=step)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def _accept_recovery_code(user: User, code: str) -> bool:
    spent = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code), RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def check_code(user: User, code: str, actor: Actor) -> None:
    """Accept an authenticator code or an unused recovery code of the user's, once; RuleError otherwise."""
    credential = credential_of(user)
    code = _normalized(code)
    if credential is None or credential.confirmed_at is None or not code:
        raise RuleError(WRONG_CODE, field="code")
    if _accept_totp(credential, code):
        return
    if _accept_recovery_code(user, code):
        record(actor, "user.recovery_code_used", user, None, left=len(unused_recovery_codes(user)))
        return
    raise RuleError(WRONG_CODE, field="code")


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    db.session.flush()
    return codes


def unused_recovery_codes(user: User) -> list[RecoveryCode]:
    return list(db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ))


def confirm_setup(user: User, code: str, actor: Actor) -> list[str]:
    """Turn two-step sign-in on with the first code of the new secret; the recovery codes, shown once."""
    credential = credential_of(user)
    if credential is None or credential.confirmed_at is not None:
        raise RuleError("Start the setup again: no authenticator is waiting for its first code.")
    if not _accept_totp(credential, _normalized(code)):
        raise RuleError("That code is not right. Enter the 6-digit code your app shows for the portal now.",
                        field="code")
    credential.confirmed_at = utcnow()
    record(actor, "user.two_step_enabled", user, None)
    return _new_recovery_codes(user)


def regenerate_recovery_codes(user: User, actor: Actor) -> list[str]:
    """Ten new recovery codes (shown once); the previous ones stop working."""
    if not is_enabled(user):
        raise RuleError("Turn two-step sign-in on first.")
    record(actor, "user.recovery_codes_regenerated", user, None)
    return _new_recovery_codes(user)


def disable(user: User, code_or_password: str, required: bool, actor: Actor) -> None:
    """Turn two-step sign-in off, proven with a current code or the password; not where it is required."""
    if required:
        raise RuleError("Two-step sign-in is required for your account, so it stays on.", field="credential")
    credential = credential_of(user)
    if credential is None or credential.confirmed_at is None:
        raise RuleError("Two-step sign-in is not on.")
    proof = code_or_password or ""
    if not (_accept_totp(credential, _normalized(proof)) or verify_password(user.password_hash, proof)):
        raise RuleError("That is neither a current code from your app nor your password.", field="credential")
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.delete(credential)
    record(actor, "user.two_step_disabled", user, None)


def chain_requires(org: Organization) -> bool:
    return db.session.get(TwoStepRequirement, org.main_chain_id) is not None


def set_chain_requirement(org: Organization, required: bool, actor: Actor) -> bool:
    """A main chain's managers require two-step sign-in of all its users (and its sub-chains'), or stop; whether
    anything changed."""
    if not org.is_main_chain:
        raise RuleError("Two-step sign-in is required by a main chain, for its sub-chains too.")
    current = db.session.get(TwoStepRequirement, org.id)
    if required == (current is not None):
        return False
    if required:
        db.session.add(TwoStepRequirement(organization_id=org.id, required_by_id=actor.user_id))
    else:
        db.session.delete(current)
    record(actor, "organization.two_step_required" if required else "organization.two_step_optional", org, org.id)
    return True
