"""Transfer rules: the state machine, what a request must carry, and what an approval does, all at once or not."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import BillingMode, Membership, Organization, PartnerTier, Role, User
from portal.accounts.services import user_with_access
from portal.audit.models import AuditEntry
from portal.authz import Permission, can
from portal.billing.models import Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus, SeriesCounter
from portal.catalog.models import SubscriptionBasis
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.models import License
from portal.outbox.models import OutboxMessage
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import organization_usage
from portal.transfers import services
from portal.transfers.models import TransferRequest, TransferStatus
from tests.factories import actor, make_invoice, make_license, make_org, make_subscription, make_transfer
from tests.transfers.conftest import details, pdf, stored_files

S = TransferStatus
ALLOWED = {(S.REQUESTED, S.APPROVED), (S.REQUESTED, S.REJECTED), (S.REQUESTED, S.WITHDRAWN)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_only_a_waiting_request_can_be_decided_or_withdrawn(current, target):
    if (current, target) in ALLOWED:
        services.check_transition(current, target)
    else:
        with pytest.raises(services.TransitionRefused):
            services.check_transition(current, target)


def _org(demo, name: str) -> Organization:
    return db.session.get(Organization, demo.orgs[name])


def _user(demo, name: str) -> User:
    return db.session.get(User, demo.users[name])


@pytest.mark.parametrize("status", [S.APPROVED, S.REJECTED, S.WITHDRAWN])
@pytest.mark.parametrize("action", ["approve", "reject", "withdraw"])
def test_a_decided_request_refuses_every_further_change(ctx, demo, status, action):
    transfer = make_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"), status=status)
    db.session.commit()
    staff = actor(_user(demo, "ops"))
    change = {"approve": lambda: services.approve_transfer(transfer, None, staff),
              "reject": lambda: services.reject_transfer(transfer, "No.", staff),
              "withdraw": lambda: services.withdraw_transfer(transfer, actor(_user(demo, "alice")))}[action]
    with pytest.raises(services.TransitionRefused):
        change()
    db.session.rollback()
    assert db.session.get(TransferRequest, transfer.id).status is status
    assert _org(demo, "Contoso Retail").parent_id == demo.orgs["Northwind IT"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"legal_name": "  "}, "legal_name"),
    ({"address_line1": "P.O. Box 12"}, "address_line1"),
    ({"address_line1": "PO Box 12"}, "address_line1"),
    ({"address_line1": "Post Office Box 7"}, "address_line1"),
    ({"address_line1": "P O Box 7"}, "address_line1"),
    ({"address_line1": "POB 7"}, "address_line1"),
    ({"address_line1": "GPO Box 7"}, "address_line1"),
    ({"address_line1": "Locked Bag 7"}, "address_line1"),
    ({"address_line2": "Box 44"}, "address_line2"),
    ({"city": ""}, "city"),
    ({"postal_code": ""}, "postal_code"),
    ({"country": "USA"}, "country"),
    ({"invoice_email": "not an email"}, "invoice_email"),
    ({"manager_email": "carol@@contoso"}, "manager_email"),
    ({"phone": "555-01"}, "phone"),
    ({"phone": "+1 206 555 0100 ext. 12"}, "phone"),
    ({"phone": "1234567890123456"}, "phone"),
])
def test_each_bad_detail_is_refused_beside_its_field_and_nothing_is_stored(app, ctx, demo, changes, field):
    before = stored_files()
    with pytest.raises(RuleError) as refused:
        services.request_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"), details(**changes), pdf(),
                                  actor(_user(demo, "alice")))
    assert refused.value.field == field
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TransferRequest)) == 0
    assert stored_files() == before


@pytest.mark.parametrize(("upload", "message"), [
    (None, "Choose the signed authorization"),
    (pdf(b""), "empty"),
    (pdf(b"GIF89a not a pdf at all", "scan.pdf"), "not a PDF"),
    (pdf(b"PK\x03\x04 a zip renamed", "authorization.PDF"), "not a PDF"),
    (pdf(b"%PDF-1.7\n" + b"x" * 5000), "larger than"),
])
def test_the_authorization_must_be_a_pdf_within_the_limit(app, ctx, demo, upload, message):
    app.config["TRANSFER_MAX_UPLOAD_BYTES"] = 4096
    before = stored_files()
    try:
        with pytest.raises(RuleError) as refused:
            services.request_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"), details(), upload,
                                      actor(_user(demo, "alice")))
    finally:
        app.config["TRANSFER_MAX_UPLOAD_BYTES"] = 5 * 1024 * 1024
    assert refused.value.field == "authorization" and message in refused.value.message
    assert stored_files() == before


def test_only_ones_own_sub_chain_without_an_open_request_can_be_transferred(ctx, demo):
    northwind, alice = _org(demo, "Northwind IT"), actor(_user(demo, "alice"))
    for foreign in (_org(demo, "Fabrikam Stores"), make_org(parent=_org(demo, "Litware Solutions")), None):
        with pytest.raises(RuleError) as refused:
            services.request_transfer(northwind, foreign, details(), pdf(), alice)
        assert refused.value.field == "sub_chain_id"
    contoso = _org(demo, "Contoso Retail")
    transfer = services.request_transfer(northwind, contoso, details(), pdf(), alice)
    assert services.authorization_file(transfer).read_bytes().startswith(b"%PDF-")
    assert contoso not in services.transferable_sub_chains(northwind)
    with pytest.raises(RuleError, match="already waiting"):
        services.request_transfer(northwind, contoso, details(), pdf(), alice)
    services.withdraw_transfer(transfer, alice)
    assert contoso in services.transferable_sub_chains(northwind)


def _contoso_with_devices_plans_and_licenses(demo) -> dict:
    """Contoso: 2 locations, 5 devices of which 4 count (location plan: 2 needed); Northwind: a device plan of
    10 and a location plan of 5, two licenses assigned to Contoso and one unassigned."""
    northwind, contoso = _org(demo, "Northwind IT"), _org(demo, "Contoso Retail")
    store, office = Location(organization_id=contoso.id, name="Store"), Location(organization_id=contoso.id,
                                                                                   name="Office")
    db.session.add_all([store, office])
    db.session.flush()
    db.session.add_all(Device(organization_id=contoso.id, location_id=store.id, name=f"Till {n}", counts=n > 0)
                       for n in range(5))
    devices, locations = make_subscription(northwind, "device-protection", 10), make_subscription(
        northwind, "location-plan", 5)
    assigned = [make_license(northwind, customer=contoso).id, make_license(northwind, customer=contoso).id]
    unassigned = make_license(northwind).id
    make_invoice(northwind)  # an earlier order invoice: the service ticket takes the next number
    db.session.flush()
    return {"devices": devices.id, "locations": locations.id, "assigned": assigned, "unassigned": unassigned,
            "next_payment_on": devices.next_payment_on}


def test_approval_makes_the_sub_chain_a_main_chain_with_its_licenses_plans_and_manager(app, ctx, demo):
    setup = _contoso_with_devices_plans_and_licenses(demo)
    northwind, contoso = _org(demo, "Northwind IT"), _org(demo, "Contoso Retail")
    transfer = services.request_transfer(northwind, contoso, details(), pdf(), actor(_user(demo, "alice")))
    db.session.commit()
    usage = organization_usage(contoso.id)  # the demo's devices of Contoso, if any, and the 4 counting ones above
    assert usage[SubscriptionBasis.DEVICE] >= 4 and usage[SubscriptionBasis.LOCATION] >= 2
    last_number = db.session.scalar(select(SeriesCounter.last_number)
                                    .where(SeriesCounter.series == InvoiceSeries.ORDER))

    services.approve_transfer(transfer, 15_000, actor(_user(demo, "ops")))
    db.session.commit()
    db.session.expire_all()

    contoso = _org(demo, "Contoso Retail")
    assert contoso.is_main_chain
    assert (contoso.legal_name, contoso.address_line1, contoso.city, contoso.invoice_email, contoso.phone) == (
        "Contoso Retail Holdings Ltd", "77 Pike Street", "Seattle", "ap@contoso.example.com", "+1 (206) 555-0142")
    assert contoso.billing_mode is BillingMode.PAY_ON_ORDER and contoso.partner_tier is PartnerTier.NONE
    assert not contoso.tax_exempt
    # Licenses assigned to Contoso are its own now; Northwind keeps what it did not assign.
    assert all(db.session.get(License, key).owner_id == contoso.id for key in setup["assigned"])
    assert not db.session.scalars(select(License).where(License.customer_id == contoso.id,
                                                        License.owner_id != contoso.id)).all()
    assert db.session.get(License, setup["unassigned"]).owner_id == northwind.id
    # What Contoso's counting devices and locations use moves out of Northwind's plans into Contoso's own.
    used_devices, used_locations = usage[SubscriptionBasis.DEVICE], usage[SubscriptionBasis.LOCATION]
    assert db.session.get(Subscription, setup["devices"]).quantity == 10 - used_devices
    assert db.session.get(Subscription, setup["locations"]).quantity == 5 - used_locations
    moved = {s.product.slug: s for s in db.session.scalars(
        select(Subscription).where(Subscription.organization_id == contoso.id).options(selectinload(
            Subscription.product)))}
    assert {slug: s.quantity for slug, s in moved.items()} == {"device-protection": used_devices,
                                                               "location-plan": used_locations}
    assert moved["device-protection"].next_payment_on == setup["next_payment_on"]
    # Carol was a viewer of the sub-chain; she is its manager now and has its billing. Alice has no access.
    carol, alice = user_with_access(demo.users["carol"]), user_with_access(demo.users["alice"])
    assert db.session.get(Membership, demo.memberships["carol", "Contoso Retail"]).role is Role.MANAGER
    assert can(carol, Permission.MANAGE_SUBSCRIPTIONS, contoso)
    assert not can(alice, Permission.VIEW_ACCOUNT, contoso)
    assert not can(alice, Permission.VIEW_LICENSES, contoso)
    # The service ticket: Northwind's next order-series number, exempt as Northwind is, summarized monthly.
    transfer = db.session.get(TransferRequest, transfer.id)
    invoice = db.session.get(Invoice, transfer.service_invoice_id)
    assert invoice.organization_id == northwind.id and invoice.order_id is None
    assert invoice.sequence == last_number + 1 and invoice.number == f"INV-{last_number + 1:06d}"
    assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED and invoice.total_minor == 15_000
    [line] = db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
    assert line.description == "Account transfer service ticket — Contoso Retail" and line.tax_category == "E"
    assert transfer.status is S.APPROVED and transfer.decided_by_id == demo.users["ops"]
    # Audit entries on both organizations; emails to both sides.
    audited = set(db.session.execute(select(AuditEntry.action, AuditEntry.organization_id)
                                     .where(AuditEntry.action.startswith("transfer."))))
    assert {("transfer.requested", northwind.id), ("transfer.approved", northwind.id),
            ("transfer.approved", contoso.id)} <= audited
    kinds = {m.kind: m.to_addrs for m in db.session.scalars(select(OutboxMessage))}
    assert kinds["transfer_approved"] == ["alice@northwind.example.com"]
    assert sorted(kinds["transfer_completed"]) == ["ap@contoso.example.com", "carol@contoso.example.com"]


def test_a_service_ticket_to_a_reseller_paying_on_order_is_due_in_30_days_with_its_tax(ctx, demo):
    litware = _org(demo, "Litware Solutions")
    litware.tax_exempt = False
    customer = make_org("Adatum", parent=litware)
    transfer = make_transfer(litware, customer)
    services.approve_transfer(transfer, 10_000, actor(_user(demo, "ops")))
    invoice = db.session.get(Invoice, transfer.service_invoice_id)
    assert invoice.status is InvoiceStatus.UNPAID and (invoice.due_on - invoice.issued_on).days == 30
    assert invoice.total_minor == 10_000 + invoice.tax_minor


def test_a_new_manager_gets_a_login_and_the_email_to_set_a_password(ctx, demo):
    transfer = make_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"),
                             manager_email="owner@contoso.example.com")
    services.approve_transfer(transfer, None, actor(_user(demo, "ops")))
    owner = db.session.scalars(select(User).where(User.email == "owner@contoso.example.com")).one()
    membership = db.session.scalars(select(Membership).where(Membership.user_id == owner.id)).one()
    assert membership.role is Role.MANAGER and membership.organization_id == demo.orgs["Contoso Retail"]
    assert {"welcome", "transfer_completed"} <= {m.kind for m in db.session.scalars(select(OutboxMessage))}
    assert transfer.service_invoice_id is None


def test_an_approval_that_fails_midway_changes_nothing(ctx, demo, monkeypatch):
    setup = _contoso_with_devices_plans_and_licenses(demo)
    transfer = make_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"),
                             manager_email="carol@contoso.example.com")
    db.session.commit()
    counter = db.session.scalar(select(SeriesCounter.last_number).where(SeriesCounter.series == InvoiceSeries.ORDER))

    def broken(*args, **kwargs):
        raise RuntimeError("mail template missing")

    monkeypatch.setattr(services, "enqueue_email", broken)  # the last step, after the invoice is issued
    with pytest.raises(RuntimeError):
        services.approve_transfer(transfer, 15_000, actor(_user(demo, "ops")))
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(TransferRequest, transfer.id).status is S.REQUESTED
    assert _org(demo, "Contoso Retail").parent_id == demo.orgs["Northwind IT"]
    assert db.session.get(Subscription, setup["devices"]).quantity == 10
    assert all(db.session.get(License, key).owner_id == demo.orgs["Northwind IT"] for key in setup["assigned"])
    assert db.session.get(Membership, demo.memberships["carol", "Contoso Retail"]).role is Role.VIEWER
    assert db.session.scalar(select(SeriesCounter.last_number)
                             .where(SeriesCounter.series == InvoiceSeries.ORDER)) == counter
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1


@pytest.mark.parametrize("charge", [-1, 100_000_001])
def test_a_service_charge_out_of_range_is_refused_beside_its_field(ctx, demo, charge):
    transfer = make_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"))
    with pytest.raises(RuleError) as refused:
        services.approve_transfer(transfer, charge, actor(_user(demo, "ops")))
    assert refused.value.field == "service_charge"


def test_rejection_needs_a_reason_and_tells_the_requester(ctx, demo):
    transfer = make_transfer(_org(demo, "Northwind IT"), _org(demo, "Contoso Retail"))
    with pytest.raises(RuleError) as refused:
        services.reject_transfer(transfer, "   ", actor(_user(demo, "ops")))
    assert refused.value.field == "reason"
    services.reject_transfer(transfer, "The authorization is not signed.", actor(_user(demo, "ops")))
    assert transfer.status is S.REJECTED and transfer.rejection_reason == "The authorization is not signed."
    assert _org(demo, "Contoso Retail").parent_id == demo.orgs["Northwind IT"]
    [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "transfer_rejected")).all()
    assert "not signed" in message.body_text
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "transfer.rejected")).one()
