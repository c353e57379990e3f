"""Account pages: sign in and out, passwords, contact information, users, sub-chains."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts import services
from portal.accounts.context import choose_organization, current_actor
from portal.accounts.forms import (
    AddUserForm,
    ChangePasswordForm,
    ChangeRoleForm,
    ConfirmForm,
    ContactInformationForm,
    ForgotPasswordForm,
    LoginForm,
    SetPasswordForm,
    SubChainForm,
    SubChainUserForm,
    SwitchOrganizationForm,
)
from portal.accounts.models import Contact, Membership, Organization, Role, User
from portal.audit.views import audit_page
from portal.authz import (
    Permission,
    active_organization,
    get_in_scope_or_404,
    get_organization_or_404,
    organization_ids_where,
    require,
    requires,
    scoped,
)
from portal.errors import RuleError
from portal.extensions import db, limiter
from portal.pagination import window
from portal.rendering import confirmation, render, show_rule_error, submit
from portal.signin.views import new_session_here, sign_in, sign_out

bp = Blueprint("accounts", __name__)


def _login_account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()


def _safe_next(target: str | None) -> str:
    """Only a path on this site may follow sign-in (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("core.home")


SIGN_IN_LIMITED = ("Too many sign-in attempts were made. Wait a minute before trying again, or reset your password "
                   "from the sign-in page.")
RESET_LIMITED = "Too many password reset requests were made from here. Wait a minute before asking again."


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], scope="login-ip",
               error_message=SIGN_IN_LIMITED)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
               key_func=_login_account_key, scope="login-account", error_message=SIGN_IN_LIMITED)
def login():
    """Sign in with email and password; a new session starts."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data, current_actor())
        if user is None:
            db.session.rollback()
            form.password.errors = ["That email and password do not match an active account."]
        else:
            db.session.commit()
            return sign_in(user, _safe_next(form.next.data))  # or first the second step (portal/signin)
    return render("accounts/login.html", form=form, status=200 if request.method == "GET" or
                  not form.errors else 422)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Sign out (POST); GET shows the button, since GET must not change state."""
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        sign_out()
        return redirect(url_for("accounts.login"))
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return render("accounts/logout.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], scope="password-forgot",
               error_message=RESET_LIMITED)
def forgot_password():
    """Ask for a password reset link by email."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data, current_actor())
        db.session.commit()
        flash("If an account uses that address, a link to reset the password is on its way.", "success")
        return redirect(url_for("accounts.login"))
    return render("accounts/forgot_password.html", form=form)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """Choose a password from an emailed link (single use, expires)."""
    form = SetPasswordForm()
    valid = services.find_valid_token(token)
    if valid is None:
        return render("accounts/set_password.html", form=None, status=410)
    if form.validate_on_submit():
        try:
            user = services.set_password_with_token(token, form.password.data, current_actor())
        except RuleError as error:
            db.session.rollback()
            show_rule_error(form, error)
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your password is set. Sign in with it now.", "success")
            return redirect(url_for("accounts.login", email=user.email))
    return render("accounts/set_password.html", form=form, user=valid.user, status=422 if form.errors else 200)


@bp.route("/account/switch", methods=["POST"])
@login_required
def switch_organization():
    """Work in another of your organizations."""
    form = SwitchOrganizationForm()
    if not form.validate_on_submit():
        flash("Choose one of your organizations.", "error")
    elif not choose_organization(form.org_id.data):
        abort(404)
    return redirect(url_for("accounts.account"))


@bp.route("/account", methods=["GET", "POST"])
@requires(Permission.VIEW_ACCOUNT)
def account():
    """Contact information of the organization you work in; managers edit it."""
    org = active_organization()
    form = ContactInformationForm(obj=org)
    if request.method == "POST":
        require(Permission.EDIT_ACCOUNT)
        if submit(form, lambda: services.update_contact_information(org, form.changes(), current_actor())):
            flash("Contact information saved.", "success")
            return redirect(url_for("accounts.account"))
    return render("accounts/account.html", form=form, org=org, status=422 if form.errors else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change your own password; every other session of yours ends."""
    form = ChangePasswordForm()
    user = current_user._get_current_object()

    def change():
        services.change_password(user, form.current.data, form.password.data, current_actor())
        new_session_here(user)  # every session ended: this browser goes on in a new one

    if submit(form, change):
        login_user(user)
        flash("Password changed. Your other sessions are signed out.", "success")
        return redirect(url_for("core.home"))
    return render("accounts/password.html", form=form, status=422 if form.errors else 200)


def _users_page(org: Organization, add_form: AddUserForm, status: int = 200):
    return render("accounts/users.html", "accounts/_users_table.html", status=status, org=org,
                  people=services.chain_users(org), add_form=add_form, role_form=ChangeRoleForm(),
                  confirm_form=ConfirmForm(), Role=Role)


@bp.route("/account/users", methods=["GET", "POST"])
@requires(Permission.MANAGE_USERS)
def users():
    """Users and additional contacts of your organization; add one."""
    org = active_organization()
    form = AddUserForm()

    def add():
        if form.kind.data == "contact":
            services.add_contact(org, form.email.data, form.full_name.data, form.phone.data or "", current_actor())
            return f"{form.email.data} added as a contact."
        services.add_login(org, form.email.data, form.full_name.data, Role(form.role.data), current_actor())
        return f"{form.email.data} can now sign in to {org.name}; we emailed them."

    if saved := submit(form, add):
        flash(saved.value, "success")
        return redirect(url_for("accounts.users"))
    return _users_page(org, form, status=422 if form.errors else 200)


def _membership_in_scope(membership_id: int) -> Membership:
    return get_in_scope_or_404(Membership, membership_id, Membership.organization_id, current_user,
                               Permission.MANAGE_USERS,
                               selectinload(Membership.user).selectinload(User.memberships),
                               selectinload(Membership.organization))


def _back_to(org: Organization) -> str:
    if org.id == active_organization().id:
        return url_for("accounts.users")
    return url_for("accounts.chain", org_id=org.id)


@bp.route("/account/users/<int:membership_id>/role", methods=["POST"])
@login_required  # the scoped lookup below decides: another tenant's object is a 404
def change_role(membership_id: int):
    """Change a user's role."""
    membership = _membership_in_scope(membership_id)
    form = ChangeRoleForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(_back_to(membership.organization))
    try:
        services.change_role(membership, Role(form.role.data), current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{membership.user.email} is now {membership.role.label}.", "success")
    return redirect(_back_to(membership.organization))


@bp.route("/account/users/<int:membership_id>/deactivate", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's object is a 404
def deactivate(membership_id: int):
    """Remove a user's access to the organization, once asked."""
    membership = _membership_in_scope(membership_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        email, name = membership.user.email, membership.organization.name
        return confirmation(form, title=f"Remove {email} from {name}?",
                            message=f"{email} can no longer sign in to {name}; add them again to give access back.",
                            button="Deactivate", back=_back_to(membership.organization))
    try:
        services.deactivate_membership(membership, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{membership.user.email} no longer has access to {membership.organization.name}.", "success")
    return redirect(_back_to(membership.organization))


@bp.route("/account/contacts/<int:contact_id>/remove", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's object is a 404
def remove_contact(contact_id: int):
    """Remove an additional contact, once asked."""
    contact = get_in_scope_or_404(Contact, contact_id, Contact.organization_id, current_user,
                                  Permission.MANAGE_USERS)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Remove {contact.email} from the contacts?",
                            message=f"{contact.email} no longer receives the emails sent to the contacts.",
                            button="Remove the contact", back=url_for("accounts.users"))
    services.remove_contact(contact, current_actor())
    db.session.commit()
    flash(f"{contact.email} removed from the contacts.", "success")
    return redirect(url_for("accounts.users"))


CHAINS_PER_PAGE = 50


def _sub_chains_window(parent: Organization, search: str, page: int):
    stmt = scoped(select(Organization).where(Organization.parent_id == parent.id), Organization.id,
                  current_user, Permission.MANAGE_USERS)
    if search:
        stmt = stmt.where(Organization.name.icontains(search, autoescape=True))
    return window(stmt.order_by(Organization.name, Organization.id), page, CHAINS_PER_PAGE)


@bp.route("/account/chains", methods=["GET", "POST"])
@requires(Permission.MANAGE_SUB_CHAINS)
def chains():
    """Your sub-chains (end customers, brands); create one with its first user (Scenario 1)."""
    org = active_organization()
    form = SubChainForm()
    if saved := submit(form, lambda: services.create_sub_chain(org, form.name.data, form.email.data,
                                                               form.full_name.data, Role(form.role.data),
                                                               current_actor())):
        flash(f"Sub-chain {saved.value.name} created; {form.email.data} was emailed a sign-in link.", "success")
        return redirect(url_for("accounts.chain", org_id=saved.value.id))
    search = request.args.get("q", "").strip()[:100]
    sub_chains = _sub_chains_window(org, search, request.args.get("page", 1, type=int))
    return render("accounts/chains.html", "accounts/_chains_table.html", org=org, sub_chains=sub_chains,
                  search=search, form=form, status=422 if form.errors else 200)


@bp.route("/account/chains/<int:org_id>", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's object is a 404
def chain(org_id: int):
    """One sub-chain: its users; add one."""
    sub = get_organization_or_404(current_user, Permission.MANAGE_USERS, org_id)
    if sub.is_main_chain:
        abort(404)
    form = SubChainUserForm()
    if submit(form, lambda: services.add_login(sub, form.email.data, form.full_name.data, Role(form.role.data),
                                               current_actor())):
        flash(f"{form.email.data} can now sign in to {sub.name}.", "success")
        return redirect(url_for("accounts.chain", org_id=sub.id))
    return render("accounts/chain.html", sub=sub, people=services.chain_users(sub), form=form,
                  role_form=ChangeRoleForm(), confirm_form=ConfirmForm(), status=422 if form.errors else 200)


@bp.route("/account/audit")
@requires(Permission.VIEW_AUDIT)
def audit():
    """What happened in your chain and its sub-chains."""
    return audit_page(organization_ids_where(current_user, Permission.VIEW_AUDIT), "accounts.audit")
