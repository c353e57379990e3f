"""Modify a License (the partner guide): from the cart, choose one of your personal licenses or find a resold one
by its key, then upgrade it or renew its Maintenance & Support; each change shows its price before it goes into
the cart. Registered on the `licenses` blueprint."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import choose_organization, current_actor
from portal.accounts.models import Organization
from portal.authz import Permission, active_organization, requires
from portal.cart.services import add_modification
from portal.catalog.models import PurchaseKind
from portal.catalog.services import products_by_id
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import bp, modify
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License
from portal.licenses.modify_forms import FindLicenseForm, MaintenanceForm, UpgradeForm
from portal.licenses.views import detail_page
from portal.pagination import window
from portal.recurring import autorenew
from portal.rendering import render, show_rule_error, submit

LICENSES_PER_PAGE = 25
SHOW = ("resold", "personal")


@bp.route("/licenses/modify")
@requires(Permission.BUY)
def modify_choose():
    """Choose the license to modify: one of your personal licenses, or a resold one found by its key."""
    org = active_organization()
    show = request.args.get("show", "resold")
    show = show if show in SHOW else "resold"
    maintenance = request.args.get("want") == "maintenance"
    form = FindLicenseForm(request.args, meta={"csrf": False})
    found, personal, status = None, None, 200
    if show == "resold" and request.args.get("key") is not None:
        try:
            found = modify.license_by_key(current_user, org, form.key.data)
        except RuleError as error:
            show_rule_error(form, error)
            status = 422
    if show == "personal":
        personal = window(modify.personal_licenses(current_user, org), request.args.get("page", 1, type=int),
                          LICENSES_PER_PAGE)
    return render("licenses/modify_choose.html", status=status, form=form, show=show, maintenance=maintenance,
                  found=found, personal=personal)


def _license_or_404(key: str) -> License:
    """A license the user may modify (owned by an organization where they may buy); anything else is a 404."""
    try:
        key = normalize_key(key)
    except InvalidKey:
        abort(404)
    license_ = db.session.scalars(modify.modifiable_licenses(current_user).where(License.key == key)
                                  .options(*modify.license_options())).first()
    if license_ is None:
        abort(404)
    return license_


@bp.app_template_global("ms_lapsed")
def ms_lapsed(license_: License) -> bool:
    """Whether the license's M&S has lapsed today: every list of licenses marks it "Lapsed"."""
    return modify.is_lapsed(license_, utcnow().date())


_MAINTENANCE = (PurchaseKind.RENEWAL.value, PurchaseKind.REINSTATEMENT.value)
_UPGRADE_CHOICES = ("edition", "quantity", "addons")


@bp.route("/licenses/<key>/modify", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another reseller's license is a 404
def modify_license(key: str):
    """Upgrade a license or renew its M&S: the price of each change is shown before it goes into the cart."""
    license_ = _license_or_404(key)
    if request.method == "GET" and key != license_.key:  # typed in lower case or without hyphens
        return redirect(url_for("licenses.modify_license", key=license_.key), 301)
    product = products_by_id({license_.product_id})[license_.product_id]
    owner = db.session.get(Organization, license_.owner_id)
    today = utcnow().date()
    upgraded = modify.upgrade_in_cart(current_user, owner, license_, product, today)  # M&S is priced on it
    posted = request.form.get("purchase") if request.method == "POST" else None
    if request.method == "POST" and posted not in (PurchaseKind.UPGRADE.value, *_MAINTENANCE):
        abort(400)
    posted_upgrade = posted == PurchaseKind.UPGRADE.value
    showing = posted_upgrade and "show_price" in request.form  # "Show price" without JavaScript: nothing added
    asked = posted_upgrade or any(name in request.args for name in _UPGRADE_CHOICES)
    upgrade_form = UpgradeForm(request.form if posted_upgrade else request.args if asked else None,
                               meta={"csrf": posted_upgrade})
    upgrade_form.offer(license_, product, {a.id for a in license_.addons})
    maintenance_form = MaintenanceForm(request.form if posted in _MAINTENANCE else None,
                                       meta={"csrf": posted in _MAINTENANCE})

    def upgrade_quote() -> modify.Modification:
        return modify.quote_upgrade(license_, product, upgrade_form.edition.data, upgrade_form.quantity.data,
                                    list(upgrade_form.addons.data or []))

    status = 200
    if posted and not showing:
        form = upgrade_form if posted_upgrade else maintenance_form

        def add_to_cart() -> modify.Modification:
            change = upgrade_quote() if posted_upgrade else \
                modify.quote_maintenance(license_, product, PurchaseKind(posted), today, upgraded)
            add_modification(current_user, owner, change, form.quoted.data, current_actor())
            return change

        saved = submit(form, add_to_cart)
        if saved is not None:
            working = active_organization()
            if working is None or working.id != owner.id:
                choose_organization(owner.id)  # the change waits in this organization's cart
            flash(f"Added to your cart: {saved.value.description}.", "success")
            return redirect(url_for("cart.show"))
        status = 422
    upgrade, refusal = None, None
    if asked:
        try:
            upgrade = upgrade_quote()
        except RuleError as error:
            # a refused "Add upgrade to cart" shows it beside its field
            refusal = None if posted_upgrade and not showing else error.message
            status = 422
    maintenance = modify.maintenance_offer(license_, product, today, upgraded)
    return render("licenses/modify.html", "licenses/_upgrade_price.html", status=status, license=license_,
                  product=product, owner=owner,
                  upgrade_form=upgrade_form, upgrade=upgrade, refusal=refusal, maintenance_form=maintenance_form,
                  maintenance=maintenance, lapsed=modify.is_lapsed(license_, today), PurchaseKind=PurchaseKind,
                  contact_the_vendor=modify.CONTACT_THE_VENDOR)



@bp.route("/licenses/<key>/auto-renew", methods=["POST"])
@login_required  # the scoped lookup decides: only whoever may modify or renew the license sets it
def set_auto_renew(key: str):
    """Turn the license's automatic M&S renewal on or off (from its page)."""
    license_ = _license_or_404(key)
    turn = request.form.get("auto_renew")
    if turn not in ("on", "off"):
        abort(400)
    try:
        changed = autorenew.set_auto_renew([license_], turn == "on", utcnow().date(), current_actor())
    except RuleError as error:
        db.session.rollback()
        return detail_page(_license_or_404(key), status=422, auto_renew_error=error.message)
    db.session.commit()
    if changed:
        flash(f"Automatic M&S renewal of license {license_.key} turned {turn}.", "success")
    return redirect(url_for("licenses.detail", key=license_.key), 303)
