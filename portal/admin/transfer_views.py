"""Staff review of account transfer requests: approve (with an optional service-ticket charge) or reject."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.context import current_actor
from portal.accounts.services import user_with_access
from portal.admin import bp
from portal.admin.organization_views import not_found_unless_staff
from portal.authz import Permission, requires
from portal.extensions import db
from portal.money import parse_amount
from portal.pagination import window
from portal.rendering import render, submit
from portal.transfers import services
from portal.transfers.forms import ApproveTransferForm, RejectTransferForm
from portal.transfers.models import TransferRequest, TransferStatus
from portal.transfers.views import send_authorization, service_invoice

PER_PAGE = 50
STATUS_FILTERS = {"all": None, **{status.value: status for status in TransferStatus}}


@bp.route("/transfers")
@requires(Permission.STAFF)
def transfers():
    """Every account transfer request, those waiting for review first; filtered by state."""
    chosen = request.args.get("status", TransferStatus.REQUESTED.value)
    if chosen not in STATUS_FILTERS:
        chosen = TransferStatus.REQUESTED.value
    found = window(services.staff_requests(STATUS_FILTERS[chosen]), request.args.get("page", 1, type=int), PER_PAGE)
    return render("admin/transfers.html", "admin/_transfers_table.html", found=found, chosen=chosen,
                  filters=STATUS_FILTERS)


def _transfer_or_404(transfer_id: int) -> TransferRequest:
    transfer = db.session.scalars(
        select(TransferRequest).where(TransferRequest.id == transfer_id)
        .options(joinedload(TransferRequest.requester), joinedload(TransferRequest.sub_chain),
                 joinedload(TransferRequest.requested_by), joinedload(TransferRequest.decided_by))
    ).first()
    if transfer is None:
        abort(404)
    return transfer


def _review_page(transfer_id: int, approve_form: ApproveTransferForm | None = None,
                 reject_form: RejectTransferForm | None = None, status: int = 200):
    if status != 200:
        # A refused decision was rolled back, which expired everything read before, the signed-in user included:
        # read the user again with the memberships the page header shows, before the request loads its users.
        user_with_access(current_user.id)
    transfer = _transfer_or_404(transfer_id)
    return render("admin/transfer.html", transfer=transfer, invoice=service_invoice(transfer),
                  approve_form=approve_form or ApproveTransferForm(formdata=None),
                  reject_form=reject_form or RejectTransferForm(formdata=None), Status=TransferStatus,
                  status=status)


@bp.route("/transfers/<int:transfer_id>")
@not_found_unless_staff
@requires(Permission.STAFF)
def transfer(transfer_id: int):
    """Review one request: the new entity's details and the authorization; approve or reject it."""
    return _review_page(transfer_id)


@bp.route("/transfers/<int:transfer_id>/approve", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def approve_transfer(transfer_id: int):
    """Approve: the sub-chain becomes the customer's main chain; the service ticket, if any, is invoiced."""
    transfer = _transfer_or_404(transfer_id)
    currency = transfer.requester.currency
    form = ApproveTransferForm()

    def approve():
        text = (form.service_charge.data or "").strip()
        charge = parse_amount(text, currency, field="service_charge") if text else None
        return services.approve_transfer(transfer, charge, current_actor())

    name = transfer.sub_chain.name
    if submit(form, approve):
        flash(f"Transfer approved: {name} is now a main chain of its own; both sides were emailed.", "success")
        return redirect(url_for("admin.transfer", transfer_id=transfer_id))
    return _review_page(transfer_id, approve_form=form, status=422)


@bp.route("/transfers/<int:transfer_id>/reject", methods=["POST"])
@not_found_unless_staff
@requires(Permission.STAFF)
def reject_transfer(transfer_id: int):
    """Reject with a reason the requester reads."""
    transfer = _transfer_or_404(transfer_id)
    form = RejectTransferForm()
    if submit(form, lambda: services.reject_transfer(transfer, form.reason.data, current_actor())):
        flash("Transfer rejected; the requester was emailed the reason.", "success")
        return redirect(url_for("admin.transfer", transfer_id=transfer_id))
    return _review_page(transfer_id, reject_form=form, status=422)


@bp.route("/transfers/<int:transfer_id>/authorization")
@not_found_unless_staff
@requires(Permission.STAFF)
def transfer_authorization(transfer_id: int):
    """Download the request's written authorization."""
    return send_authorization(_transfer_or_404(transfer_id))
