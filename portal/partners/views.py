"""/account/partners: grants a customer gave and a partner holds; grant, request, approve, decline, withdraw,
revoke, and choose which partner users exercise a grant."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.authz import Permission, active_organization, can, organization_ids_where, requires
from portal.errors import RuleError
from portal.extensions import db
from portal.partners import services
from portal.partners.forms import AssignForm, GrantForm, RequestForm
from portal.partners.models import GrantState, PartnerAssignment, PartnerGrant
from portal.partners.services import Side
from portal.rendering import confirmation, render, submit

bp = Blueprint("partners", __name__)

NO_ENUMERATION_GRANT = ("If that partner ID is right, the partner organization has access now and its managers "
                        "were told.")
NO_ENUMERATION_REQUEST = ("Your request was recorded. If that address belongs to a Chain & User Manager of a "
                          "customer, they were asked to approve it.")


def _page(grant_form: GrantForm | None = None, request_form: RequestForm | None = None, status: int = 200):
    org = active_organization()
    grants = services.partner_page(org)
    return render("partners/index.html", status=status, org=org, partner_id=services.partner_id_code(org),
                  given=grants.given, held=grants.held,
                  assignable=services.assignable_users(org), grant_form=grant_form or GrantForm(prefix="grant"),
                  request_form=request_form or RequestForm(prefix="request"), assign_form=AssignForm(),
                  confirm_form=ConfirmForm(),
                  GrantState=GrantState)


@bp.route("/account/partners")
@requires(Permission.MANAGE_PARTNERS)
def index():
    """Installation partners: the grants your chain gave and those it holds, with their dates."""
    return _page()


@bp.route("/account/partners/grant", methods=["POST"])
@requires(Permission.MANAGE_PARTNERS)
def grant():
    """Give a partner organization Installation Partner access at once, by its partner ID."""
    org = active_organization()
    form = GrantForm(prefix="grant")
    if submit(form, lambda: services.grant_directly(org, form.partner_code.data, current_actor(),
                                                    expires_on=form.expires_on.data)):
        flash(NO_ENUMERATION_GRANT, "success")
        return redirect(url_for("partners.index"))
    return _page(grant_form=form, status=422)


@bp.route("/account/partners/request", methods=["POST"])
@requires(Permission.MANAGE_PARTNERS)
def request_access():
    """Ask a customer, by one of its managers' addresses, for Installation Partner access."""
    org = active_organization()
    form = RequestForm(prefix="request")
    if submit(form, lambda: services.request_access(org, form.email.data, current_actor(),
                                                    expires_on=form.expires_on.data)):
        flash(NO_ENUMERATION_REQUEST, "success")
        return redirect(url_for("partners.index"))
    return _page(request_form=form, status=422)


def _grant_in_scope(grant_id: int) -> PartnerGrant:
    """A grant whose customer or partner the user manages partners of; anything else is a 404."""
    manageable = organization_ids_where(current_user, Permission.MANAGE_PARTNERS)
    grant = db.session.scalars(
        select(PartnerGrant).where(PartnerGrant.id == grant_id, or_(PartnerGrant.customer_id.in_(manageable),
                                                                    PartnerGrant.partner_id.in_(manageable)))
        .options(joinedload(PartnerGrant.customer), joinedload(PartnerGrant.partner),
                 selectinload(PartnerGrant.assignments).joinedload(PartnerAssignment.user))
    ).first()
    if grant is None:
        abort(404)
    return grant


def _side(grant: PartnerGrant, *sides: Side) -> Side:
    """The side the user acts for on this grant, among `sides` (403 when they manage neither)."""
    for side in sides:
        org = grant.customer if side is Side.CUSTOMER else grant.partner
        if org is not None and can(current_user, Permission.MANAGE_PARTNERS, org):
            return side
    abort(403)


def _move(grant_id: int, to: GrantState, sides: tuple[Side, ...], done: str, ask=None):
    """Move a grant to `to` for the side the user acts for; `ask(grant, side)` gives the (title, message, button)
    of the question a destructive move asks first (its GET is that page)."""
    grant = _grant_in_scope(grant_id)
    side = _side(grant, *sides)
    form = ConfirmForm()
    if ask is not None and not form.validate_on_submit():
        title, message, button = ask(grant, side)
        return confirmation(form, title=title, message=message, button=button, back=url_for("partners.index"))
    if not form.validate_on_submit():
        abort(400)
    try:
        services.move(grant, to, side, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("partners.index"))


@bp.route("/account/partners/<int:grant_id>/approve", methods=["POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def approve(grant_id: int):
    """Approve a partner's request: its assigned users may install and support your chain until the end date."""
    return _move(grant_id, GrantState.ACTIVE, (Side.CUSTOMER,), "Request approved: the partner has access now.")


@bp.route("/account/partners/<int:grant_id>/decline", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def decline(grant_id: int):
    """Decline a partner's request, once asked."""
    return _move(grant_id, GrantState.DECLINED, (Side.CUSTOMER,), "Request declined.", ask=lambda grant, side: (
        f"Decline the request of {grant.partner.name}?",
        f"{grant.partner.name} gets no access to your chain; it may ask again.", "Decline the request"))


@bp.route("/account/partners/<int:grant_id>/withdraw", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def withdraw(grant_id: int):
    """Withdraw a request your chain made, once asked."""
    return _move(grant_id, GrantState.WITHDRAWN, (Side.PARTNER,), "Request withdrawn.", ask=lambda grant, side: (
        "Withdraw your request for access?", "The customer can no longer approve it; you may ask again.",
        "Withdraw the request"))


@bp.route("/account/partners/<int:grant_id>/revoke", methods=["GET", "POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def revoke(grant_id: int):
    """End a grant, once asked, as its customer or as the partner giving it up; access ends for every user at
    once."""
    return _move(grant_id, GrantState.REVOKED, (Side.CUSTOMER, Side.PARTNER), "Access revoked.", ask=_ask_revoke)


def _ask_revoke(grant: PartnerGrant, side: Side) -> tuple[str, str, str]:
    """The question before a grant ends: the customer revokes the partner's access, the partner gives it up."""
    if side is Side.CUSTOMER:
        return (f"End the access of {grant.partner.name} now?",
                f"Every user of {grant.partner.name} loses access to your chain at once. To give it again, "
                "grant access anew.", f"Revoke the access of {grant.partner.name}")
    return ("Give up this access now?", "Every user you assigned loses access to the customer's chain at once.",
            "Give up the access")


def _assignment(grant_id: int, change) -> object:
    grant = _grant_in_scope(grant_id)
    _side(grant, Side.PARTNER)
    form = AssignForm()
    if not form.validate_on_submit():
        flash("Choose one of your users.", "error")
        return redirect(url_for("partners.index"))
    try:
        message = change(grant, form.user_id.data, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("partners.index", _anchor=f"grant-{grant.id}"))


@bp.route("/account/partners/<int:grant_id>/assign", methods=["POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def assign(grant_id: int):
    """Let one of your users exercise a grant your chain holds."""
    return _assignment(grant_id, lambda grant, user_id, actor: (
        f"{services.assign(grant, user_id, actor).user.email} now exercises this grant."))


@bp.route("/account/partners/<int:grant_id>/unassign", methods=["POST"])
@login_required  # the scoped lookup below decides: another tenant's grant is a 404
def unassign(grant_id: int):
    """Stop one of your users exercising a grant."""
    def change(grant, user_id, actor):
        services.unassign(grant, user_id, actor)
        return "That user no longer exercises this grant."

    return _assignment(grant_id, change)
