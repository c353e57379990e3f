"""License pages: the reselling page, license detail, assignment, modification, customers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_required

from portal.accounts.context import current_actor
from portal.accounts.models import Organization
from portal.authz import Permission, active_organization, can, requires
from portal.csv_export import streamed_csv
from portal.customers import picker
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db, htmx
from portal.licenses import bp, lists, services
from portal.licenses.forms import AssignForm
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License
from portal.list_options import list_args, read_list, show
from portal.recurring import autorenew
from portal.rendering import render, show_rule_error, submit
from portal.words import plural

PER_PAGE = services.PER_PAGE
# The reselling page's sections, each searched and paged on its own, and the partial htmx swaps for each.
SECTIONS = {"unassigned": "licenses/_unassigned.html", "customers": "licenses/_reseller_customers.html",
            "resold": "licenses/_resold.html", "personal": "licenses/_personal.html"}


@bp.route("/licenses")
@requires(Permission.VIEW_LICENSES)
def index():
    """A reseller's licenses (to assign, resold, personal) and customers; an end customer's entitlements."""
    org = active_organization()
    if can(current_user, Permission.ASSIGN_LICENSES, org):
        return _reselling_page(org)
    return _entitlements_page(org)


def _reselling_page(org: Organization, status: int = 200, selected: frozenset[str] = frozenset(),
                    auto_renew_error: str | None = None):
    section = request.args.get("section", "")
    section = section if section in SECTIONS else ""
    # An htmx request for one section (search, sort, next page) computes only that one.
    wanted = [section] if section and htmx and not htmx.boosted and not htmx.history_restore_request else SECTIONS
    queries = {"unassigned": services.unassigned_licenses, "customers": services.customers,
               "resold": services.resold_licenses, "personal": services.personal_licenses}
    context: dict = {name: None for name in SECTIONS}
    for name in wanted:
        state = read_list(lists.SECTION_SPECS[name], list_args(name), "licenses.index")
        # resold and personal licenses show where each is active, read with the rows
        context[name] = show(state, queries[name](current_user, org), rows=name == "customers",
                             annotate=services.active_installation() if name in ("resold", "personal") else None)
    activations = {**(context["resold"].notes if context["resold"] else {}),
                   **(context["personal"].notes if context["personal"] else {})}
    response = render("licenses/index.html", SECTIONS.get(section), status=status, org=org,
                      activations=activations, **context,
                      # the licenses whose automatic M&S renewal is set from this list: those it bought
                      can_set_auto_renew=can(current_user, Permission.BUY, org), selected=selected,
                      auto_renew_error=auto_renew_error, max_selection=autorenew.MAX_SELECTION)
    if len(wanted) == 1:  # the address names every section's state, not only what the link or form carried
        response.headers["HX-Replace-Url"] = context[section].state.address()
    return response


@bp.route("/licenses.csv")
@requires(Permission.VIEW_LICENSES)
def export():
    """A list of licenses as a spreadsheet, with its search, filters and order: a section of the reselling page
    (`section`), or an end customer's entitlements (streamed)."""
    org = active_organization()
    if can(current_user, Permission.ASSIGN_LICENSES, org):
        section = request.args.get("section", "resold")
        if section not in lists.LICENSE_SECTIONS:
            abort(404)
        spec, stmt = lists.SECTION_SPECS[section], lists.LICENSE_SECTIONS[section](current_user, org)
    else:
        section, spec, stmt = "licenses", lists.ENTITLEMENTS, services.entitlements(current_user, org)
    state = read_list(spec, request.args, "licenses.index")
    return streamed_csv(f"{section}-{utcnow().date().isoformat()}.csv", services.LICENSE_CSV_HEADER,
                        services.license_csv_rows(state.apply(stmt)))


@bp.route("/licenses/auto-renew", methods=["POST"])
@requires(Permission.BUY)
def bulk_auto_renew():
    """Turn automatic M&S renewal on or off for the licenses selected in the list: all of them or, when one may
    not be changed, none (the list comes back with the selection and the reason)."""
    org = active_organization()
    turn = request.form.get("auto_renew")
    if turn not in ("on", "off"):
        abort(400)
    values = [v for v in request.form.getlist("licenses") if v.strip()]
    selected = frozenset(v.strip() for v in values[:autorenew.MAX_SELECTION])
    try:
        found = autorenew.selected_licenses(current_user, org, values)
        changed = autorenew.set_auto_renew(found, turn == "on", utcnow().date(), current_actor())
    except RuleError as error:
        db.session.rollback()
        return _reselling_page(org, status=422, selected=selected, auto_renew_error=error.message)
    db.session.commit()
    flash(_auto_renew_message(turn == "on", len(changed), len(found)), "success")
    return redirect(url_for("licenses.index"), 303)


def _auto_renew_message(on: bool, changed: int, selected: int) -> str:
    state = "on" if on else "off"
    message = plural(changed, "Automatic renewal turned %(state)s for %(num)d license.",
                     "Automatic renewal turned %(state)s for %(num)d licenses.", state=state)
    if changed < selected:
        message += " " + plural(selected - changed, "It was already %(state)s for %(num)d %(which)s license.",
                                "It was already %(state)s for %(num)d %(which)s licenses.", state=state,
                                which="other" if changed else "selected")
    return message


def _entitlements_page(org: Organization):
    licenses = show(read_list(lists.ENTITLEMENTS, request.args, "licenses.index"),
                    services.entitlements(current_user, org), annotate=services.active_installation())
    return render("licenses/entitlements.html", "licenses/_entitlements.html", org=org, licenses=licenses,
                  activations=licenses.notes)


@bp.route("/licenses/<key>")
@login_required  # the scoped lookup decides: another tenant's license is a 404
def detail(key: str):
    """One license: what it entitles to, its M&S and activation; to whom it is assigned (for its reseller)."""
    try:
        canonical = normalize_key(key)
    except InvalidKey as error:
        return render("errors/error.html", status=404, title="License not found",
                      message=f"{error} Find your licenses on the Licenses page.")
    license_ = services.find_license(current_user, canonical)
    if license_ is None:
        abort(404)
    if key != license_.key:  # typed in lower case, without hyphens, with O for 0
        return redirect(url_for("licenses.detail", key=license_.key), 301)
    return detail_page(license_)


def detail_page(license_: License, status: int = 200, auto_renew_error: str | None = None):
    """The license page; with a refusal of the automatic-renewal form beside it (`auto_renew_error`)."""
    # Who may modify or renew the license (its owner's buyers) sets its automatic renewal and sees its price.
    owner = db.session.get(Organization, license_.owner_id)
    buyer = can(current_user, Permission.BUY, owner)
    today = utcnow().date()
    return render("licenses/detail.html", status=status, license=license_,
                  seller_view=can(current_user, Permission.VIEW_LICENSES, owner),
                  # its customer's page is the owner's, opened while working there
                  customer_page=owner.id == getattr(active_organization(), "id", None)
                  and can(current_user, Permission.VIEW_CUSTOMERS, owner),
                  can_assign=license_.customer_id is None and can(current_user, Permission.ASSIGN_LICENSES, owner),
                  activation=services.active_activations([license_.id]).get(license_.id),
                  can_set_auto_renew=buyer, renewal=autorenew.maintenance_renewal(license_, today) if buyer else None,
                  lapsed=license_.ms_expires_on < today, renews_on=license_.ms_expires_on + timedelta(days=1),
                  auto_renew_error=auto_renew_error)


def _keys(values: list[str]) -> list[str]:
    try:
        return sorted({normalize_key(v) for v in values if v.strip()})
    except InvalidKey:
        abort(404)


def _assign_customer(org: Organization, customer_id: int | None) -> Organization | None:
    """Whom the assignment is for: nobody yet, the reseller itself ("Use myself") or one of its customers; anyone
    else's organization is a 404."""
    if customer_id is None:
        return None
    if customer_id == org.id:
        return org
    customer = services.customer_of(current_user, org, customer_id)
    if customer is None:
        abort(404)
    return customer


@bp.route("/licenses/assign", methods=["GET", "POST"])
@requires(Permission.ASSIGN_LICENSES)
def assign():
    """Assign licenses to a customer's email: pick them (searched and paged), name the person, then confirm who
    receives them (never re-assigned).

    Reached from an unassigned license (?license=KEY), a customer (?customer=ID, the reseller's own id to use
    them itself) or the page itself; htmx loads the same view's fragment into a dialog."""
    org = active_organization()
    posted = request.method == "POST"
    form = AssignForm() if posted else AssignForm(formdata=None, customer=request.args.get("customer", ""))
    keys = _keys(request.form.getlist("licenses") if posted else request.args.getlist("license"))
    customer = _assign_customer(org, form.customer_id())
    chosen = services.licenses_by_keys(current_user, org, keys)
    if not posted and len(chosen) != len(keys):
        abort(404)  # a key that is not one of this reseller's licenses
    form.offer(chosen, first_visit=not posted)
    email = current_user.email if customer is org else (form.email.data or "")
    step = (request.form.get("step") or "review") if posted else ""
    if step == "assign":
        saved = submit(form, lambda: services.assign_licenses(
            services.licenses_to_assign(org, keys, chosen), email, current_actor(), customer=customer,
            customer_name=form.customer_name.data or ""))
        if saved is not None:
            return _assigned(saved.value)
    review = _review(form, org, keys, chosen, email, customer) if step == "review" else None
    failed = step == "assign" or (step == "review" and review is None)
    return _assign_page(org, form, customer, chosen, review, status=422 if failed else 200)


def _review(form: AssignForm, org: Organization, keys: list[str], chosen: list[License], email: str,
            customer: Organization | None) -> services.Review | None:
    """The confirmation step's review of the posted choice; None when refused (the form then says why)."""
    if not form.validate_on_submit():
        return None
    try:
        return services.review_assignment(services.licenses_to_assign(org, keys, chosen), email, current_actor(),
                                          customer=customer, customer_name=form.customer_name.data or "")
    except RuleError as error:
        show_rule_error(form, error)
        return None


def _assign_page(org: Organization, form: AssignForm, customer: Organization | None, chosen: list[License],
                 review: services.Review | None, status: int):
    """Step 1 (the picker, the person) or, with a review, step 2 (the confirmation)."""
    selected = [lic for lic in chosen if lic.key in (form.licenses.data or [])]
    # A sub-chain's users are the reseller's to know; another partner's customer's are not.
    ours = customer is not None and customer.parent_id == org.id
    suggestions = services.customer_users([customer.id]).get(customer.id, []) if ours else []
    if request.method == "GET" and suggestions:
        form.email.data = suggestions[0]
    search = found = products = None
    if review is None:  # choosing: the picker's search of the unassigned licenses, and its lists
        search = picker.parse_search(request.args)
        found = picker.unassigned_page(current_user, org, search, leave_out=[lic.key for lic in selected])
        products = picker.license_products()
    return render("licenses/assign.html", "licenses/_assign.html", status=status, form=form, org=org,
                  customer=customer, myself=customer is org, selected=selected, review=review,
                  suggestions=suggestions, search=search, found=found, products=products, as_dialog=_in_dialog())


def _in_dialog() -> bool:
    """Whether htmx asks from another page, into the dialog it opens there, rather than from the assign page (whose
    picker swaps itself and replaces the page's URL)."""
    if not htmx or htmx.boosted or htmx.history_restore_request:
        return False
    return urlsplit(htmx.current_url or "").path != url_for("licenses.assign")


def _assigned(assignment: services.Assignment):
    keys = ", ".join(lic.key for lic in assignment.licenses)
    noun = plural(len(assignment.licenses), "License", "Licenses")
    if assignment.new_account:
        flash(f"{noun} {keys} assigned to {assignment.recipient.email}. We created the customer account "
              f"{assignment.customer.name} and emailed them the keys and how to sign in.", "success")
    else:
        flash(f"{noun} {keys} assigned to {assignment.customer.name}. We emailed the keys to "
              f"{assignment.recipient.email}.", "success")
    target = (url_for("licenses.detail", key=assignment.licenses[0].key) if len(assignment.licenses) == 1
              else url_for("licenses.index"))
    if htmx:  # leave the dialog for the page that shows the result
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.route("/customers")
@requires(Permission.VIEW_CUSTOMERS)
def customers():
    """The customers you resold to (and your sub-chains), with how many of your licenses each holds and, for a
    reseller's billing roles, what each costs it per month in the vendor's fees."""
    org = active_organization()
    rows = show(read_list(lists.CUSTOMERS, request.args, "licenses.customers"), services.customers(current_user, org),
                rows=True)
    # What each account costs the reseller in the vendor's fees: for its billing roles only (never a viewer's).
    fees = (services.customer_fees(org, [c.id for c, _ in rows.items], utcnow().date())
            if can(current_user, Permission.VIEW_RESELLER_FEES, org) else None)
    return render("licenses/customers.html", "licenses/_customers_table.html", org=org, customers=rows,
                  users=services.customer_users([c.id for c, _ in rows.items if c.parent_id == org.id]), fees=fees)


CSV_HEADER = ("Customer", "License key", "Product", "Edition", "Quantity", "Unit", "Add-ons", "M&S until",
              "Assigned on")


@bp.route("/customers.csv")
@requires(Permission.VIEW_CUSTOMERS)
def customers_csv():
    """Download your customers and the licenses each holds from you (CSV, streamed)."""
    org = active_organization()
    stmt = services.customer_licenses(current_user, org)
    no_license = ("",) * (len(CSV_HEADER) - 1)

    def rows():
        # two streams in the same order, read 1,000 rows at a time: the licenses, and the add-ons of those that
        # have some (merged as they come, so memory stays flat however many licenses)
        addons = db.session.execute(services.customer_license_addons(stmt).execution_options(yield_per=1000))
        pending = next(addons, None)
        for customer, license_id, key, product, edition, quantity, unit, ms_until, assigned_at in (
                db.session.execute(stmt.execution_options(yield_per=1000))):
            if license_id is None:
                yield (customer, *no_license)
                continue
            names = []
            while pending is not None and pending[0] == license_id:
                names.append(pending[1])
                pending = next(addons, None)
            yield (customer, key, product, edition, quantity, unit, "; ".join(names), ms_until.isoformat(),
                   assigned_at.date().isoformat() if assigned_at else "")

    return streamed_csv("customers.csv", CSV_HEADER, rows())
