"""Sign-in security pages: the second step of signing in, your sessions and two-step sign-in at /account/security,
and the guard that sends a user who must use two-step sign-in to set it up before anything else."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import User
from portal.accounts.services import user_with_access
from portal.authz import Permission, active_organization, can
from portal.errors import RuleError
from portal.extensions import db, limiter
from portal.rendering import confirmation, render, show_rule_error, submit
from portal.signin import sessions, two_step
from portal.signin.forms import ChainRequirementForm, CodeForm, ConfirmSetupForm, DisableForm
from portal.words import plural

bp = Blueprint("signin", __name__)

PENDING_KEY = "two_step_pending"
PENDING_SECONDS = 300  # between the password and the code
# What a user who must set up two-step sign-in can reach before they have.
SETUP_ENDPOINTS = frozenset({"signin.two_step_setup", "signin.start_two_step", "accounts.logout", "static"})
CODES_LIMITED = "Too many codes were tried. Wait a minute before trying again."


def new_session_here(user: User) -> None:
    """Start a session for this browser (its address and device) and name it in the cookie."""
    sessions.start_session(user, request.remote_addr, request.user_agent.string)


def _complete_sign_in(user: User, target: str):
    session.clear()  # a fresh session: nothing from before sign-in carries over
    new_session_here(user)
    db.session.commit()
    login_user(user)
    flash(f"Welcome, {user.display_name}.", "success")
    return redirect(target)


def sign_in(user: User, target: str):
    """After the password: sign in, or first ask for the second step when the user has two-step sign-in on.
    Until that step, nothing is signed in: the browser's session only names whom it is for, for a few minutes."""
    if not two_step.is_enabled(user):
        return _complete_sign_in(user, target)
    session.clear()
    session[PENDING_KEY] = {"user_id": user.id, "until": time.time() + PENDING_SECONDS, "next": target}
    return redirect(url_for("signin.second_step"))


def sign_out() -> None:
    """Sign the current user out: the session ends on the server (a copy of the cookie stops working, committed)
    and in this browser. The portal's and the storefronts' sign-out pages both end here."""
    if current_user.is_authenticated:
        sessions.end_current_session(current_user, current_actor())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "success")


def _pending_user_id() -> int | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    return pending.get("user_id")


def _code_attempts_key() -> str:
    return f"two-step:{_pending_user_id() or (current_user.id if current_user.is_authenticated else '')}"


def _limit_code_attempts(view):
    """Codes are guessed no faster than passwords: per address and per account, as the sign-in form."""
    view = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
                         key_func=_code_attempts_key, scope="two-step-account", error_message=CODES_LIMITED)(view)
    return limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], scope="two-step-ip",
                         error_message=CODES_LIMITED)(view)


@bp.route("/login/two-step", methods=["GET", "POST"])
@_limit_code_attempts
def second_step():
    """Second step of signing in: a code from your authenticator app, or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    user_id = _pending_user_id()
    user = user_with_access(user_id) if user_id else None
    if user is None or not user.active:
        session.pop(PENDING_KEY, None)
        flash("Sign in again: the code must follow the password within a few minutes.", "info")
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            two_step.check_code(user, form.code.data, current_actor())
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            return _complete_sign_in(user, session[PENDING_KEY]["next"])
    return render("signin/second_step.html", form=form, status=422 if form.errors else 200)


def _security_page(disable_form: DisableForm | None = None, status: int = 200):
    org = active_organization()
    manages_chain = org is not None and org.is_main_chain and can(current_user, Permission.MANAGE_USERS, org)
    credential = two_step.credential_of(current_user)
    enabled = credential is not None and credential.confirmed_at is not None
    return render(
        "signin/security.html", status=status, sessions=sessions.live_sessions(current_user),
        this_session=current_user.login_session_id, confirm_form=ConfirmForm(), enabled=enabled,
        codes_left=len(two_step.unused_recovery_codes(current_user)) if enabled else 0,
        disable_form=disable_form or DisableForm(), org=org if manages_chain else None,
        chain_form=ChainRequirementForm(required=manages_chain and two_step.chain_requires(org)),
    )


@bp.route("/account/security")
@login_required
def security():
    """Your sessions (device, address, last seen) and two-step sign-in."""
    return _security_page()


@bp.route("/account/security/sessions/<int:session_id>/end", methods=["GET", "POST"])
@login_required  # the lookup below finds only your own sessions: another user's is a 404
def end_session(session_id: int):
    """Sign out one of your sessions (another browser or device), once asked."""
    login = sessions.live_session_of(current_user, session_id)
    if login is None:
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        here = login.id == current_user.login_session_id
        return confirmation(form, title="Sign out here?" if here else f"Sign out {login.device}?",
                            message="You will sign in again on this browser." if here else
                            f"{login.device} ({login.ip_address}) must sign in again.",
                            button="Sign out", back=url_for("signin.security"))
    sessions.end_session(current_user, login, current_actor())
    db.session.commit()
    if login.id == current_user.login_session_id:
        session.clear()
        flash("You are signed out.", "success")
        return redirect(url_for("accounts.login"))
    flash(f"{login.device} ({login.ip_address}) is signed out.", "success")
    return redirect(url_for("signin.security"))


@bp.route("/account/security/sessions/end-others", methods=["GET", "POST"])
@login_required
def sign_out_everywhere_else():
    """Sign out everywhere but here, once asked."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title="Sign out every other session?",
                            message="Every other browser and device signed in as you must sign in again.",
                            button="Sign out everywhere else", back=url_for("signin.security"))
    ended = sessions.end_other_sessions(current_user, current_actor())
    db.session.commit()
    flash(plural(ended, "Signed out everywhere else (%(num)d session).",
                 "Signed out everywhere else (%(num)d sessions)."), "success")
    return redirect(url_for("signin.security"))


@bp.route("/account/security/two-step/start", methods=["POST"])
@login_required
def start_two_step():
    """Make a new authenticator secret to scan (replacing one not confirmed yet)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        two_step.start_setup(current_user)
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("signin.security"))
    db.session.commit()
    return redirect(url_for("signin.two_step_setup"))


@bp.route("/account/security/two-step", methods=["GET", "POST"])
@login_required
@_limit_code_attempts
def two_step_setup():
    """Set up two-step sign-in: scan the QR code, confirm with a code, keep the recovery codes."""
    credential = two_step.credential_of(current_user)
    if credential is not None and credential.confirmed_at is not None:
        return redirect(url_for("signin.security"))
    form = ConfirmSetupForm()
    if credential is not None and (saved := submit(form, lambda: two_step.confirm_setup(
            current_user, form.code.data, current_actor()))):
        return render("signin/recovery_codes.html", codes=saved.value, just_enabled=True)
    secret = two_step.secret_of(credential) if credential is not None else None
    uri = two_step.provisioning_uri(current_user, secret) if secret else None
    return render("signin/setup.html", form=form, confirm_form=ConfirmForm(), secret=secret,
                  qr=two_step.qr_svg(uri) if uri else None, required=getattr(current_user, "two_step_required", False),
                  status=422 if form.errors else 200)


@bp.route("/account/security/two-step/disable", methods=["POST"])
@login_required
@_limit_code_attempts
def disable_two_step():
    """Turn two-step sign-in off (a current code or your password proves it is you)."""
    form = DisableForm()
    if submit(form, lambda: two_step.disable(current_user, form.credential.data,
                                             getattr(current_user, "two_step_required", False),
                                             current_actor())):
        flash("Two-step sign-in is off. Your password alone signs you in.", "success")
        return redirect(url_for("signin.security"))
    return _security_page(disable_form=form, status=422)


@bp.route("/account/security/recovery-codes", methods=["GET", "POST"])
@login_required
def recovery_codes():
    """Ten new recovery codes, shown once, once asked; the old ones stop working."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title="Make new recovery codes?",
                            message="The recovery codes you have now stop working; keep the new ones safe.",
                            button="Make new recovery codes", back=url_for("signin.security"))
    try:
        codes = two_step.regenerate_recovery_codes(current_user, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("signin.security"))
    db.session.commit()
    return render("signin/recovery_codes.html", codes=codes, just_enabled=False)


@bp.route("/account/security/chain", methods=["POST"])
@login_required
def chain_requirement():
    """A main chain's Chain & User Managers require two-step sign-in of all its users, or stop requiring it."""
    org = active_organization()
    if org is None or not org.is_main_chain or not can(current_user, Permission.MANAGE_USERS, org):
        abort(403)
    form = ChainRequirementForm()
    if not form.validate_on_submit():
        abort(400)
    changed = two_step.set_chain_requirement(org, bool(form.required.data), current_actor())
    db.session.commit()
    if changed:
        flash(f"Two-step sign-in is now required for every user of {org.name}." if form.required.data else
              f"Two-step sign-in is now optional in {org.name}.", "success")
    return redirect(url_for("signin.security"))


def _send_to_two_step_setup():
    """A user for whom two-step sign-in is required (staff; users of a chain that requires it) sets it up before
    anything else."""
    if request.endpoint in SETUP_ENDPOINTS or not current_user.is_authenticated:
        return None
    if getattr(current_user, "two_step_required", False) and not getattr(current_user, "two_step_enabled", True):
        return redirect(url_for("signin.two_step_setup"))
    return None


def init_app(app: Flask) -> None:
    app.before_request(_send_to_two_step_setup)
    app.register_blueprint(bp)
