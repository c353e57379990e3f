"""/account/api-keys: a main chain's API keys; create one (its secret shown once) and revoke one."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization
from portal.accounts.services import user_with_access
from portal.api_keys import services
from portal.api_keys.forms import WHOLE_CHAIN, CreateKeyForm
from portal.api_keys.models import ApiKey, Scope
from portal.authz import Permission, active_organization, requires, scoped
from portal.db_types import utcnow
from portal.extensions import db
from portal.pagination import window
from portal.rendering import confirmation, render, submit

bp = Blueprint("api_keys", __name__)

KEYS_PER_PAGE = 50
SUB_CHAIN_REFUSED = "Choose one of this chain's sub-chains, or the whole chain."
USED_FORMS = "api_key_forms_used"  # the create forms that made a key, in this browser's session


def _sub_chains(main_chain: Organization) -> list[Organization]:
    return list(db.session.scalars(select(Organization).where(Organization.parent_id == main_chain.id)
                                   .order_by(Organization.name, Organization.id)))


def _expiry(day) -> datetime | None:
    """The end of the chosen day in UTC: a key "expiring on" a date works through that date."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) if day else None


def _page(form: CreateKeyForm, main_chain: Organization, *, status: int = 200, created: ApiKey | None = None,
          token: str | None = None, already_created: bool = False):
    if request.method == "POST":
        # A commit or a refused change's rollback expired the session's objects, the signed-in user included:
        # read the user again with the memberships the page's header shows.
        user_with_access(current_user.id)
    keys = window(services.keys_of(main_chain), request.args.get("page", 1, type=int), KEYS_PER_PAGE)
    response = render("api_keys/index.html", "api_keys/_keys.html", status=status, org=main_chain, keys=keys, form=form,
                      created=created, token=token, already_created=already_created, now=utcnow(),
                      confirm_form=ConfirmForm(),
                      host=request.host_url.rstrip("/"))
    if token is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@bp.route("/account/api-keys", methods=["GET", "POST"])
@requires(Permission.MANAGE_API)
def index():
    """Your chain's API keys: who made them, what they may do, when they were last used; create one."""
    main_chain = active_organization()
    sub_chains = _sub_chains(main_chain)
    form = CreateKeyForm()
    form.sub_chain.choices = [(WHOLE_CHAIN, "Whole chain")] + [(str(o.id), o.name) for o in sub_chains]
    if not form.is_submitted():
        return _page(form, main_chain)
    used = session.get(USED_FORMS, [])
    if form.form_id.data and form.form_id.data in used:  # the page reloaded: the key exists, its secret was shown
        fresh = CreateKeyForm(formdata=None)
        fresh.sub_chain.choices = form.sub_chain.choices
        return _page(fresh, main_chain, already_created=True)
    by_id = {str(o.id): o for o in sub_chains}
    chosen = form.sub_chain.data or WHOLE_CHAIN
    if chosen != WHOLE_CHAIN and chosen not in by_id:
        form.validate()  # every field's own messages too, then this one beside the select
        form.sub_chain.errors = [*form.sub_chain.errors, SUB_CHAIN_REFUSED]
        return _page(form, main_chain, status=422)
    saved = submit(form, lambda: services.create_key(
        main_chain, current_user, form.name.data, [Scope(s) for s in form.scopes.data],
        sub_chain=by_id.get(chosen), expires_at=_expiry(form.expires_on.data), actor=current_actor()))
    if saved is None:
        return _page(form, main_chain, status=422)
    key, token = saved.value
    session[USED_FORMS] = [*used, form.form_id.data][-20:]
    # The secret is in this page only, never in a redirect's URL or a flashed message.
    fresh = CreateKeyForm(formdata=None)
    fresh.sub_chain.choices = form.sub_chain.choices
    return _page(fresh, main_chain, created=key, token=token)


def _key_or_404(key_id: int) -> ApiKey:
    """A key of a chain where the user manages the API (a sub-chain's key by its main chain); else a 404."""
    # MANAGE_API exists on main chains only, so a key limited to a sub-chain is scoped by its main chain.
    main_chain_id = func.coalesce(Organization.parent_id, Organization.id)
    key = db.session.scalars(
        scoped(select(ApiKey).join(ApiKey.organization).where(ApiKey.id == key_id), main_chain_id, current_user,
               Permission.MANAGE_API)
        .options(contains_eager(ApiKey.organization))
    ).first()
    if key is None:
        abort(404)
    return key


@bp.route("/account/api-keys/<int:key_id>/revoke", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's key is a 404
def revoke(key_id: int):
    """Revoke an API key, once asked: every request that carries it is refused from then on."""
    key = _key_or_404(key_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _confirm(form, key)
    services.revoke_key(key, current_actor())
    db.session.commit()
    flash(f"API key {key.name} ({key.prefix}) revoked.", "success")
    return redirect(url_for("api_keys.index"))


def _confirm(form: ConfirmForm, key: ApiKey):
    return confirmation(form, title=f"Revoke the API key {key.name}?",
                        message=f"Every request with the key {key.prefix}… is refused from now on, at once. "
                                "This cannot be undone: create a new key to give access again.",
                        button="Revoke the key", back=url_for("api_keys.index"))
