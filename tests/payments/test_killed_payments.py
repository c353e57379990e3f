"""No charge without an order (issue 11 item 1), with a real process killed between the card charge and the commit
(tests/payments/dying_payer.py, on this session's database: SQLite, or PostgreSQL with TEST_DATABASE_URL). Then
the buyer tries again as a user would, with the same card or with another one, or nobody comes back and the
`payments reconcile` job runs; every charge the processor approved must end up behind an order (or an invoice
payment), and every other one voided (its payment intent cancelled, or refunded whole)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, User
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus
from portal.cart.services import cart_items
from portal.extensions import db
from portal.orders.checkout import place_order
from portal.orders.models import Order, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary
from portal.payments.charges import CardChoice
from portal.payments.gateway import gateway
from portal.receipts.paying import pay_by_card
from tests.factories import actor, make_cart_item, make_invoice, processor_card
from tests.payments.sandbox_charges import charges

ROOT = Path(__file__).resolve().parents[2]
FIRST_CARD, OTHER_CARD = "4242 4242 4242 4242", "5555 5555 5555 4444"


@pytest.fixture
def litware(app, demo):
    """Litware Solutions (pays on order) and frank, its buyer, with an application context."""
    with app.app_context():
        yield db.session.get(Organization, demo.orgs["Litware Solutions"]), db.session.get(User, demo.users["frank"])
        db.session.rollback()


def _retry_card(retry_with: str, first_card: str) -> CardChoice:
    """The buyer's card on the retry: the same submission again (the same payment method id the dead process
    charged), or another card entered in the processor's hosted fields."""
    return CardChoice(payment_method_id=first_card if retry_with == FIRST_CARD else processor_card(retry_with))


def _killed_while_paying(database_url: str, instance: Path, purpose: str, kill_at: str, org: Organization,
                         user: User, invoice: Invoice | None = None) -> str:
    """Run the dying payer in its own process with a card entered in the processor's hosted fields, and check
    that it died by SIGKILL, having charged and committed nothing. Returns the card's payment method id."""
    first_card = processor_card(FIRST_CARD)
    run = subprocess.run(
        [sys.executable, "-m", "tests.payments.dying_payer", database_url, str(instance), purpose, kill_at,
         str(org.id), str(user.id), str(invoice.id if invoice else 0), first_card],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr
    db.session.expire_all()
    assert _charges() == {_only_charge(): "approved"}  # the money was taken ...
    assert _committed_charges() == set()  # ... and nothing recorded it
    return first_card


def _charges() -> dict[str, str]:
    return charges()


def _only_charge() -> str:
    [charge_id] = _charges()
    return charge_id


def _committed_charges() -> set[str]:
    orders = db.session.scalars(select(Order.gateway_charge_id).where(Order.gateway_charge_id.is_not(None)))
    payments = db.session.scalars(select(InvoicePayment.gateway_charge_id)
                                  .where(InvoicePayment.gateway_charge_id.is_not(None)))
    return set(orders) | set(payments)


def _assert_every_charge_is_behind_a_purchase_or_voided() -> None:
    charges = _charges()
    approved = {charge_id for charge_id, status in charges.items() if status == "approved"}
    assert approved == _committed_charges()
    assert {status for charge_id, status in charges.items() if charge_id not in approved} <= {"voided"}


def _reconcile(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["payments", "reconcile", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _voided_audit_entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.voided")))


@pytest.mark.parametrize("kill_at", ["answered", "recording"])
@pytest.mark.parametrize("retry_with", [FIRST_CARD, OTHER_CARD, None], ids=["same-card", "other-card", "no-retry"])
def test_a_checkout_killed_between_charge_and_commit_leaves_no_charge_without_an_order(
        app, litware, database_url, tmp_path, kill_at, retry_with):
    org, user = litware
    make_cart_item(org, user, "webstats")
    db.session.commit()
    first_card = _killed_while_paying(database_url, tmp_path, "checkout", kill_at, org, user)
    orphan = _only_charge()

    if retry_with is not None:  # the buyer places the same cart again
        items = cart_items(user, org)
        summary = checkout_summary(org, items)
        order = place_order(org, user, items, summary.signature, summary.quote.total_minor,
                            PaymentChoice(PaymentKind.CARD, _retry_card(retry_with, first_card)),
                            BillingDetails.of(org), actor(user), gateway())
        if retry_with == FIRST_CARD:  # the same card reuses the charge the dead process took
            assert order.gateway_charge_id == orphan and list(_charges()) == [orphan]
        else:  # another card voids it before the order commits
            assert order.gateway_charge_id != orphan and _charges()[orphan] == "voided"
        _assert_every_charge_is_behind_a_purchase_or_voided()
        assert "Nothing to reconcile" in _reconcile(app, "--grace-minutes", "0")
    else:
        assert "Nothing to reconcile" in _reconcile(app)  # within the grace period, the charge is left alone
        assert _charges() == {orphan: "approved"}
        assert f"charge {orphan} voided" in _reconcile(app, "--grace-minutes", "0")
        [entry] = _voided_audit_entries()
        assert (entry.actor_id, entry.organization_id, entry.details["charge"]) == (None, org.id, orphan)
    _assert_every_charge_is_behind_a_purchase_or_voided()
    assert db.session.scalar(select(func.count()).select_from(Order)) == (0 if retry_with is None else 1)


@pytest.mark.parametrize("retry_with", [FIRST_CARD, OTHER_CARD], ids=["same-card", "other-card"])
def test_an_invoice_payment_killed_before_its_commit_leaves_no_charge_without_a_payment(
        app, litware, database_url, tmp_path, retry_with):
    org, user = litware
    invoice = make_invoice(org, total_minor=45_000)
    db.session.commit()
    first_card = _killed_while_paying(database_url, tmp_path, "invoice", "recording", org, user, invoice)
    orphan = _only_charge()
    assert db.session.get(Invoice, invoice.id).status is InvoiceStatus.UNPAID

    payment = pay_by_card(db.session.get(Invoice, invoice.id), _retry_card(retry_with, first_card), gateway(),
                          actor(user))

    assert (payment.gateway_charge_id == orphan) is (retry_with == FIRST_CARD)
    assert _charges()[orphan] == ("approved" if retry_with == FIRST_CARD else "voided")
    assert "Nothing to reconcile" in _reconcile(app, "--grace-minutes", "0")
    _assert_every_charge_is_behind_a_purchase_or_voided()
    assert db.session.get(Invoice, invoice.id).status is InvoiceStatus.PAID
