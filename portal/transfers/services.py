"""Account transfers (DOMAIN §2, Scenario 3): a reseller asks, vendor staff approve or reject, the sub-chain becomes
the end customer's own main chain.

A request moves through one state machine (`ALLOWED_TRANSITIONS`): requested -> approved, rejected or withdrawn,
and nothing else. Every change locks the request row first, so two staff approving at once, or a withdrawal racing
an approval, change it once. Services flush, never commit: the view commits once, so an approval (the chain, its
licenses, its subscriptions, its manager, the service invoice, the emails, the audit entries) happens whole or not
at all.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.utils import secure_filename

from portal.accounts.addresses import refuse_po_box
from portal.accounts.models import BillingMode, Membership, Organization, PartnerTier, Role, User
from portal.accounts.services import add_login, find_user_by_email, managers_emails, normalize_email
from portal.audit.services import Actor, record
from portal.billing.service_charges import check_service_charge, issue_service_invoice
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.services import BillingDetails
from portal.outbox.services import enqueue_email, external_url
from portal.storage import storage, stored_file
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import organization_usage
from portal.transfers.models import TransferRequest, TransferStatus

UPLOAD_FOLDER = "transfers"  # under the instance folder, never under static: only the views serve these files
PDF_MAGIC = b"%PDF-"
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15  # E.164 numbers have at most 15 digits
_PHONE = re.compile(r"\+?[0-9 ()\-]+")
_COUNTRY = re.compile(r"[A-Z]{2}")

ALLOWED_TRANSITIONS: dict[TransferStatus, frozenset[TransferStatus]] = {
    TransferStatus.REQUESTED: frozenset({TransferStatus.APPROVED, TransferStatus.REJECTED, TransferStatus.WITHDRAWN}),
    TransferStatus.APPROVED: frozenset(),
    TransferStatus.REJECTED: frozenset(),
    TransferStatus.WITHDRAWN: frozenset(),
}
_VERBS = {TransferStatus.APPROVED: "approved", TransferStatus.REJECTED: "rejected",
          TransferStatus.WITHDRAWN: "withdrawn", TransferStatus.REQUESTED: "requested again"}


class TransitionRefused(RuleError):
    """A transfer request cannot move from its state to the one asked for."""


def check_transition(current: TransferStatus, target: TransferStatus) -> None:
    """Raise TransitionRefused unless a request in `current` may become `target`."""
    if target not in ALLOWED_TRANSITIONS[current]:
        raise TransitionRefused(f"This transfer request is {current.label.lower()}; it cannot be "
                                f"{_VERBS[target]} any more.")


# ---------------------------------------------------------------- what a request carries


@dataclass(frozen=True)
class TransferDetails(BillingDetails):
    """The new entity's billing details (as an order is billed), and who becomes its Chain & User Manager."""

    manager_email: str


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the service reads it: the name the browser gave and its content."""

    filename: str
    stream: BinaryIO


def normalize_phone(raw: str, field: str = "phone") -> str:
    """A phone number as typed, trimmed, if it is one: digits, spaces, a leading +, hyphens and parentheses, with
    7 to 15 digits. RuleError (naming `field`) otherwise."""
    phone = " ".join((raw or "").split())
    if not phone:
        raise RuleError("Enter a phone number.", field)
    digits = sum(ch.isdigit() for ch in phone)
    if not _PHONE.fullmatch(phone) or not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        raise RuleError("Enter a phone number of 7 to 15 digits, such as +1 206 555 0100; only digits, spaces, "
                        "a leading +, hyphens and parentheses.", field)
    return phone


def _email(raw: str, field: str) -> str:
    try:
        return normalize_email(raw or "")
    except RuleError as error:
        raise RuleError(error.message, field) from error


def _required(value: str, field: str, what: str, max_length: int) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise RuleError(f"Enter the {what}.", field)
    if len(value) > max_length:
        raise RuleError(f"Use at most {max_length} characters.", field)
    return value


def clean_details(details: TransferDetails) -> TransferDetails:
    """The details as they will be stored, or RuleError beside the first field that is wrong."""
    legal_name = _required(details.legal_name, "legal_name", "new entity's legal name", 200)
    line1 = _required(details.address_line1, "address_line1", "street address", 200)
    line2 = " ".join((details.address_line2 or "").split())[:200]
    refuse_po_box(line1, "address_line1")
    refuse_po_box(line2, "address_line2")
    city = _required(details.city, "city", "city", 100)
    region = " ".join((details.region or "").split())[:100]
    postal_code = _required(details.postal_code, "postal_code", "postal code", 20)
    country = (details.country or "").strip().upper()
    if not _COUNTRY.fullmatch(country):
        raise RuleError("Enter the country as its 2-letter code, such as US or DE.", "country")
    return TransferDetails(
        legal_name=legal_name, address_line1=line1, address_line2=line2, city=city, region=region,
        postal_code=postal_code, country=country, invoice_email=_email(details.invoice_email, "invoice_email"),
        phone=normalize_phone(details.phone), manager_email=_email(details.manager_email, "manager_email"),
    )


# ---------------------------------------------------------------- the uploaded authorization


def max_upload_bytes() -> int:
    return current_app.config["TRANSFER_MAX_UPLOAD_BYTES"]


def _read_authorization(upload: Upload | None) -> bytes:
    """The uploaded authorization's content if it is a PDF within the size limit; RuleError otherwise."""
    if upload is None or not upload.filename:
        raise RuleError("Choose the signed authorization to upload (a PDF).", "authorization")
    limit = max_upload_bytes()
    data = upload.stream.read(limit + 1)
    if not data:
        raise RuleError("That file is empty. Upload the signed authorization as a PDF.", "authorization")
    if len(data) > limit:
        raise RuleError(f"The file is larger than {limit // (1024 * 1024) or 1} MB. Upload a smaller PDF, for "
                        "example scanned at a lower resolution.", "authorization")
    # The content decides, not the name or the type the browser sent: a renamed file is not a PDF.
    if not data.startswith(PDF_MAGIC):
        raise RuleError("That file is not a PDF. Upload the signed authorization as a PDF.", "authorization")
    return data


def _store_authorization(data: bytes) -> str:
    """Store the PDF (portal/storage.py) under a random name; its storage key."""
    return storage().put(f"{UPLOAD_FOLDER}/{secrets.token_hex(16)}.pdf", data)


def authorization_key(transfer: TransferRequest) -> str | None:
    """The storage key of a request's authorization, or None if it is not one of the stored authorizations."""
    key = transfer.authorization_path or ""
    return key if re.fullmatch(rf"{UPLOAD_FOLDER}/[0-9a-f]+\.pdf", key) else None


def authorization_file(transfer: TransferRequest) -> Path | None:
    """Where the filesystem backend keeps a request's authorization, or None if the file is missing there."""
    key = authorization_key(transfer)
    path = None if key is None else stored_file(key)
    return path if path is not None and path.is_file() else None


def _download_name(filename: str) -> str:
    name = secure_filename(filename or "")[:200]
    if not name.lower().endswith(".pdf"):
        name = (name.rsplit(".", 1)[0] if "." in name else name) or "authorization"
        name += ".pdf"
    return name


# ---------------------------------------------------------------- the requester's side


def open_request_ids() -> Select:
    """SELECT of the sub-chain ids with a request waiting for review."""
    return select(TransferRequest.sub_chain_id).where(TransferRequest.status == TransferStatus.REQUESTED)


def transferable_sub_chains(org: Organization) -> list[Organization]:
    """The sub-chains of `org` it may ask to transfer: those without a request waiting for review."""
    return list(db.session.scalars(
        select(Organization).where(Organization.parent_id == org.id, Organization.id.not_in(open_request_ids()))
        .order_by(Organization.name, Organization.id)
    ))


def requests_of(org: Organization) -> Select:
    """The transfer requests `org` made, newest first (views add the user's scope)."""
    return (select(TransferRequest).where(TransferRequest.requester_id == org.id)
            .options(joinedload(TransferRequest.sub_chain))
            .order_by(TransferRequest.created_at.desc(), TransferRequest.id.desc()))


def request_transfer(requester: Organization, sub_chain: Organization | None, details: TransferDetails,
                     authorization: Upload | None, actor: Actor) -> TransferRequest:
    """Ask vendor staff to make one of your sub-chains the customer's own account, with the customer's signed
    authorization and the details it will be billed under."""
    if sub_chain is None or sub_chain.parent_id != requester.id:
        raise RuleError("Choose one of your sub-chains.", "sub_chain_id")
    # Locking the sub-chain's row makes two requests for it at once queue here, so only one finds it free.
    db.session.scalars(select(Organization.id).where(Organization.id == sub_chain.id).with_for_update()).first()
    if db.session.scalar(open_request_ids().where(TransferRequest.sub_chain_id == sub_chain.id).limit(1)):
        raise RuleError(f"A transfer of {sub_chain.name} is already waiting for review.", "sub_chain_id")
    clean = clean_details(details)
    data = _read_authorization(authorization)
    # Every check is done: only now is the file written, so a refused request leaves nothing behind.
    transfer = TransferRequest(
        requester_id=requester.id, sub_chain_id=sub_chain.id, requested_by_id=actor.user_id,
        status=TransferStatus.REQUESTED, **clean.as_dict(), authorization_path=_store_authorization(data),
        authorization_filename=_download_name(authorization.filename), authorization_size=len(data),
    )
    db.session.add(transfer)
    record(actor, "transfer.requested", transfer, requester.id, sub_chain=sub_chain.name,
           legal_name=clean.legal_name, manager_email=clean.manager_email)
    recipients = managers_emails(requester)
    if recipients:
        enqueue_email(recipients, "transfer_requested", transfer=transfer, requester=requester, sub_chain=sub_chain,
                      link=external_url("transfers.detail", transfer_id=transfer.id))
    return transfer


def _locked(transfer: TransferRequest) -> TransferRequest:
    """The request re-read under a row lock: whoever comes second sees the first one's decision."""
    return db.session.scalars(
        select(TransferRequest).where(TransferRequest.id == transfer.id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _move(transfer: TransferRequest, target: TransferStatus) -> TransferRequest:
    transfer = _locked(transfer)
    check_transition(transfer.status, target)
    transfer.status = target
    return transfer


def withdraw_transfer(transfer: TransferRequest, actor: Actor) -> TransferRequest:
    """Take a request back before vendor staff decide on it."""
    transfer = _move(transfer, TransferStatus.WITHDRAWN)
    record(actor, "transfer.withdrawn", transfer, transfer.requester_id, sub_chain_id=transfer.sub_chain_id)
    return transfer


# ---------------------------------------------------------------- vendor staff


def staff_requests(status: TransferStatus | None) -> Select:
    """Every transfer request (of one status), those waiting longest first, then the newest decided."""
    stmt = select(TransferRequest).options(joinedload(TransferRequest.requester),
                                           joinedload(TransferRequest.sub_chain))
    if status is not None:
        stmt = stmt.where(TransferRequest.status == status)
    return stmt.order_by((TransferRequest.status == TransferStatus.REQUESTED).desc(),
                         TransferRequest.created_at.desc(), TransferRequest.id.desc())


def reject_transfer(transfer: TransferRequest, reason: str, actor: Actor) -> TransferRequest:
    """Refuse a request, with the reason the requester will read."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("Say why the request is rejected; the requester reads it.", "reason")
    if len(reason) > 2000:
        raise RuleError("Use at most 2,000 characters.", "reason")
    transfer = _move(transfer, TransferStatus.REJECTED)
    transfer.rejection_reason = reason
    transfer.decided_by_id, transfer.decided_at = actor.user_id, utcnow()
    requester = db.session.get(Organization, transfer.requester_id)
    sub_chain = db.session.get(Organization, transfer.sub_chain_id)
    record(actor, "transfer.rejected", transfer, transfer.requester_id, sub_chain=sub_chain.name, reason=reason)
    recipients = managers_emails(requester)
    if recipients:
        enqueue_email(recipients, "transfer_rejected", transfer=transfer, requester=requester, sub_chain=sub_chain,
                      link=external_url("transfers.detail", transfer_id=transfer.id))
    return transfer


@dataclass(frozen=True)
class MovedPlan:
    """Quantity of one of the reseller's plans that went with the transferred chain."""

    product_name: str
    quantity: int


def _move_licenses(sub_chain: Organization) -> int:
    """The licenses assigned to the chain become its own, so the reseller no longer lists them."""
    return db.session.execute(
        update(License).where(License.customer_id == sub_chain.id, License.owner_id != sub_chain.id)
        .values(owner_id=sub_chain.id).execution_options(synchronize_session="fetch")
    ).rowcount


def _move_subscriptions(requester: Organization, sub_chain: Organization) -> list[MovedPlan]:
    """Carve out of each of the reseller's plans what the chain's own devices and locations use (never more than
    the plan has), into a plan of the chain that keeps the reseller's next payment and expiry dates."""
    remaining = dict(organization_usage(sub_chain.id))
    plans = db.session.scalars(
        select(Subscription).where(Subscription.organization_id == requester.id)
        .options(selectinload(Subscription.product)).order_by(Subscription.id).with_for_update()
    ).all()
    moved = []
    for plan in plans:
        basis = plan.product.basis
        take = min(remaining.get(basis, 0), plan.quantity)
        if take <= 0:
            continue
        remaining[basis] -= take
        plan.quantity -= take
        db.session.add(Subscription(organization_id=sub_chain.id, product_id=plan.product_id, quantity=take,
                                    started_on=utcnow().date(), next_payment_on=plan.next_payment_on,
                                    expires_on=plan.expires_on))
        moved.append(MovedPlan(plan.product.name, take))
    return moved


def _appoint_manager(org: Organization, email: str, actor: Actor) -> User:
    """The named person becomes a Chain & User Manager of the chain: a current member's role changes, anyone else
    gets a login (a new user the email to set a password)."""
    user = find_user_by_email(email)
    membership = None if user is None else db.session.scalars(
        select(Membership).where(Membership.user_id == user.id, Membership.organization_id == org.id)).first()
    if membership is not None and membership.active:
        if membership.role is not Role.MANAGER:
            record(actor, "membership.role_changed", membership, org.id, email=email,
                   before=membership.role.value, after=Role.MANAGER.value)
            membership.role = Role.MANAGER
        return user
    membership = add_login(org, email, "", Role.MANAGER, actor)
    return db.session.get(User, membership.user_id)


def _become_main_chain(org: Organization, transfer: TransferRequest) -> None:
    org.parent_id = None
    for name in ("legal_name", "address_line1", "address_line2", "city", "region", "postal_code", "country",
                 "invoice_email", "phone"):
        setattr(org, name, getattr(transfer, name))
    # The customer's own terms start plain: it pays on order, and neither the reseller's tier, nor its resale
    # exemption, nor its pre-2019 payment methods come with it.
    org.billing_mode, org.partner_tier = BillingMode.PAY_ON_ORDER, PartnerTier.NONE
    org.tax_exempt, org.grandfathered_payment_methods = False, False


def service_ticket_description(sub_chain_name: str) -> str:
    return f"Account transfer service ticket — {sub_chain_name}"


def approve_transfer(transfer: TransferRequest, service_charge_minor: int | None, actor: Actor) -> TransferRequest:
    """Make the sub-chain the customer's own main chain, with its licenses, its share of the reseller's plans and
    its named manager; invoice the reseller the service ticket, if staff set one; tell both sides."""
    if service_charge_minor is not None:
        check_service_charge(service_charge_minor, "service_charge")
    transfer = _move(transfer, TransferStatus.APPROVED)
    requester = db.session.get(Organization, transfer.requester_id)
    sub_chain = db.session.scalars(select(Organization).where(Organization.id == transfer.sub_chain_id)
                                   .with_for_update()).one()
    if sub_chain.parent_id != requester.id:
        raise RuleError(f"{sub_chain.name} is no longer a sub-chain of {requester.name}.")
    former_name = sub_chain.name
    _become_main_chain(sub_chain, transfer)
    licenses = _move_licenses(sub_chain)
    plans = _move_subscriptions(requester, sub_chain)
    manager = _appoint_manager(sub_chain, transfer.manager_email, actor)
    invoice = None
    if service_charge_minor:
        invoice = issue_service_invoice(requester, service_ticket_description(former_name), service_charge_minor)
        db.session.flush()
    transfer.service_charge_minor = service_charge_minor
    transfer.service_invoice_id = invoice.id if invoice is not None else None
    transfer.decided_by_id, transfer.decided_at = actor.user_id, utcnow()
    db.session.flush()
    db.session.expire(sub_chain, ["parent"])
    details = {"sub_chain": former_name, "licenses_moved": licenses,
               "subscriptions_moved": {plan.product_name: plan.quantity for plan in plans} or None,
               "manager_email": manager.email, "service_invoice": invoice.number if invoice else None}
    record(actor, "transfer.approved", transfer, requester.id, **details)
    record(actor, "transfer.approved", transfer, sub_chain.id, requester=requester.name, **details)
    context = {"transfer": transfer, "requester": requester, "org": sub_chain, "licenses": licenses,
               "plans": plans, "invoice": invoice, "manager": manager}
    recipients = managers_emails(requester)
    if recipients:
        enqueue_email(recipients, "transfer_approved", **context,
                      link=external_url("transfers.detail", transfer_id=transfer.id))
    enqueue_email([manager.email, sub_chain.invoice_email], "transfer_completed", **context,
                  link=external_url("accounts.login"), partners_link=external_url("partners.index"))
    return transfer
