"""Account transfers: a reseller's manager asks for one of its sub-chains to become the customer's own account."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.accounts.forms import ConfirmForm
from portal.accounts.models import Organization
from portal.authz import Permission, active_organization, get_in_scope_or_404, requires, scoped
from portal.billing.models import Invoice
from portal.errors import RuleError
from portal.extensions import db
from portal.pagination import window
from portal.rendering import confirmation, render, submit
from portal.storage import storage
from portal.transfers import services
from portal.transfers.forms import TransferRequestForm
from portal.transfers.models import TransferRequest, TransferStatus

bp = Blueprint("transfers", __name__)

PER_PAGE = 50


def _requests_page(org: Organization, form: TransferRequestForm, status: int = 200):
    stmt = scoped(services.requests_of(org), TransferRequest.requester_id, current_user,
                  Permission.MANAGE_SUB_CHAINS)
    found = window(stmt, request.args.get("page", 1, type=int), PER_PAGE)
    return render("transfers/index.html", "transfers/_requests.html", status=status, org=org, found=found,
                  form=form, max_mb=services.max_upload_bytes() // (1024 * 1024) or 1)


@bp.route("/transfers", methods=["GET", "POST"])
@requires(Permission.MANAGE_SUB_CHAINS)
def index():
    """Your transfer requests and their state; ask for a sub-chain to become the customer's own account."""
    org = active_organization()
    form = TransferRequestForm()
    choices = services.transferable_sub_chains(org)
    form.sub_chain_id.choices = [(0, "Choose…")] + [(sub.id, sub.name) for sub in choices]
    if request.method == "GET" and request.args.get("sub_chain", type=int):
        form.sub_chain_id.data = request.args.get("sub_chain", type=int)
    chosen = next((sub for sub in choices if sub.id == form.sub_chain_id.data), None)
    saved = submit(form, lambda: services.request_transfer(org, chosen, form.details(), form.upload(),
                                                           current_actor()))
    if saved:
        flash(f"Your request to transfer {chosen.name} is waiting for review by the vendor. We will email you the "
              "decision.", "success")
        return redirect(url_for("transfers.detail", transfer_id=saved.value.id))
    return _requests_page(org, form, status=422 if form.errors or form.form_errors else 200)


def _transfer_in_scope(transfer_id: int) -> TransferRequest:
    return get_in_scope_or_404(TransferRequest, transfer_id, TransferRequest.requester_id, current_user,
                               Permission.MANAGE_SUB_CHAINS, joinedload(TransferRequest.sub_chain),
                               joinedload(TransferRequest.requester), joinedload(TransferRequest.requested_by),
                               joinedload(TransferRequest.decided_by))


def service_invoice(transfer: TransferRequest) -> Invoice | None:
    return db.session.get(Invoice, transfer.service_invoice_id) if transfer.service_invoice_id else None


@bp.route("/transfers/<int:transfer_id>")
@login_required  # the scoped lookup decides: another tenant's request is a 404
def detail(transfer_id: int):
    """One transfer request: its state, the details the new account gets, the authorization; withdraw it."""
    transfer = _transfer_in_scope(transfer_id)
    return render("transfers/detail.html", transfer=transfer, invoice=service_invoice(transfer),
                  confirm_form=ConfirmForm(), Status=TransferStatus)


@bp.route("/transfers/<int:transfer_id>/withdraw", methods=["GET", "POST"])
@login_required  # the scoped lookup decides: another tenant's request is a 404
def withdraw(transfer_id: int):
    """Take your request back before the vendor decides, once asked."""
    transfer = _transfer_in_scope(transfer_id)
    name = transfer.sub_chain.name
    form = ConfirmForm()
    if not form.validate_on_submit():
        return confirmation(form, title=f"Withdraw the request to transfer {name}?",
                            message=f"The vendor no longer reviews it and {name} stays your sub-chain; "
                                    "to transfer it later, make a new request.",
                            button="Withdraw the request", back=url_for("transfers.detail", transfer_id=transfer_id))
    try:
        services.withdraw_transfer(transfer, current_actor())
    except RuleError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"Your request to transfer {name} is withdrawn.", "success")
    return redirect(url_for("transfers.detail", transfer_id=transfer_id))


def send_authorization(transfer: TransferRequest):
    """The stored authorization PDF as a download (never shown inline: it is a file a user uploaded)."""
    key = services.authorization_key(transfer)
    if key is None:
        abort(404)
    try:
        response = storage().send(key, transfer.authorization_filename, "application/pdf")
    except FileNotFoundError:
        abort(404)
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.route("/transfers/<int:transfer_id>/authorization")
@login_required  # the scoped lookup decides: another tenant's request is a 404
def authorization(transfer_id: int):
    """Download the written authorization you uploaded."""
    return send_authorization(_transfer_in_scope(transfer_id))
