"""Activations: where the working organization's licenses are installed, and ending an installation's
activation so that the license can be activated elsewhere (managers and Installation Partners; no prices).

The activation to end is looked up within the same scope as the list (the working organization and its
sub-chains), so another tenant's activation is a 404 and nothing changes. Registered on the `licenses` blueprint.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization, User
from portal.authz import Permission, active_organization, chain_ids, organization_ids_where, requires
from portal.extensions import db
from portal.licenses import activation as activation_service
from portal.licenses import bp
from portal.licenses.models import Activation, License
from portal.licenses.services import PER_PAGE
from portal.pagination import window
from portal.rendering import confirmation, render


def _installable(user: User, org: Organization | None = None) -> Select:
    """Activations of the licenses held as owner or customer by the organizations where `user` may activate
    (only `org` and its sub-chains among them, when `org` is given)."""
    chain = select(Organization.id).where(Organization.id.in_(organization_ids_where(user, Permission.ACTIVATE)))
    if org is not None:
        chain = chain.where(Organization.id.in_(chain_ids(org.id)))
    return (select(Activation).join(Activation.license)
            .where(or_(License.owner_id.in_(chain), License.customer_id.in_(chain)))
            .options(contains_eager(Activation.license).options(
                joinedload(License.product), joinedload(License.edition), joinedload(License.customer))))


@bp.route("/activations")
@requires(Permission.ACTIVATE)
def activations():
    """The installations your licenses are active on, newest first, each with a button to deactivate it."""
    org = active_organization()
    stmt = (_installable(current_user, org).where(Activation.deactivated_at.is_(None))
            .order_by(Activation.activated_at.desc(), Activation.id.desc()))
    page = window(stmt, request.args.get("page", 1, type=int), PER_PAGE)
    return render("activations/index.html", "activations/_activations.html", org=org, activations=page,
                  confirm_form=ConfirmForm())


@bp.route("/activations/<int:activation>/deactivate", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: an activation outside one's organizations is a 404
def deactivate(activation: int):
    """Deactivate a license on its installation, once asked, so that it can be activated on another one."""
    found = db.session.scalars(_installable(current_user).where(Activation.id == activation)).first()
    if found is None:
        abort(404)
    license_ = found.license
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Deactivate {license_.product.name} on {found.installation_id}?",
                            message=f"{license_.product.name} {license_.edition.name} stops working on "
                                    f"{found.installation_id}; it can then be activated on another installation.",
                            button="Deactivate", back=url_for("licenses.activations"))
    if found.deactivated_at is not None:
        flash(f"That activation of {license_.product.name} on {found.installation_id} had already ended.", "info")
        return redirect(url_for("licenses.activations"))
    activation_service.deactivate(found.id, license_.key, current_actor())
    db.session.commit()
    flash(f"{license_.product.name} {license_.edition.name} is no longer active on {found.installation_id}; "
          "it can now be activated on another installation.", "success")
    return redirect(url_for("licenses.activations"))
