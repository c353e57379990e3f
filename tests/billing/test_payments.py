"""Paying invoices (issue 5 item 4, DOMAIN §6): by saved or new card through the gateway, once; wire, ACH or check
from USD 1,000.00 or for grandfathered accounts, "payment pending" until staff record the money; an order
invoice waiting for its summary is paid through the summary."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select

from portal.accounts.models import Organization, User
from portal.billing.models import Invoice, InvoicePayment, InvoiceStatus, PaymentMethodKind
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.payments.charges import CardChoice
from portal.payments.gateway import CardGateway, gateway, processor
from portal.payments.processor import IntentState
from portal.receipts.methods import payment_options
from portal.receipts.paying import announce_transfer, pay_by_card, record_transfer
from portal.sandbox_processor.models import SandboxIntent
from tests.factories import actor, make_invoice, make_payment_method, processor_card

WIRE, ACH, CHECK, CARD = (PaymentMethodKind.WIRE, PaymentMethodKind.ACH, PaymentMethodKind.CHECK,
                          PaymentMethodKind.CARD)


def _card(number: str = "4242 4242 4242 4242") -> CardChoice:
    """A new card, entered in the processor's hosted fields."""
    return CardChoice(payment_method_id=processor_card(number, "Frank Fischer"))


def _charges(outcome: str | None = None) -> int:
    """Payment intents at the sandbox processor; `outcome` "approved" (the money is kept) or "voided" (cancelled
    before anything was taken, or refunded whole)."""
    rows = db.session.execute(select(SandboxIntent.state, SandboxIntent.amount_minor,
                                     SandboxIntent.amount_refunded_minor)
                              .where(SandboxIntent.kind == "payment")).all()

    def outcome_of(state, amount: int, refunded: int) -> str:
        if state is IntentState.CANCELED or (state is IntentState.SUCCEEDED and refunded == amount):
            return "voided"
        return "approved" if state is IntentState.SUCCEEDED else str(state)

    return sum(1 for row in rows if outcome is None or outcome_of(*row) == outcome)


def _org(billing, name: str = "Litware Solutions") -> Organization:
    return db.session.get(Organization, billing.orgs[name])


def _frank(billing) -> User:
    return db.session.get(User, billing.users["frank"])


def test_an_unpaid_invoice_is_paid_by_a_new_card_once(billing):
    invoice = make_invoice(_org(billing), total_minor=45_000)
    db.session.commit()

    payment = pay_by_card(invoice, _card(), gateway(), actor(_frank(billing)))

    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, payment.amount_minor, payment.method, payment.reference) == (
        InvoiceStatus.PAID, 45_000, CARD, "Visa ending 4242")
    charge = db.session.get(SandboxIntent, payment.gateway_charge_id)
    assert (charge.state, charge.amount_minor, charge.amount_refunded_minor) == (IntentState.SUCCEEDED, 45_000, 0)
    with pytest.raises(RuleError, match="already paid"):
        pay_by_card(invoice, _card("5555 5555 5555 4444"), gateway(), actor())
    assert _charges() == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "receipt")) == 1


def test_a_saved_card_pays_too(billing):
    org = _org(billing)
    invoice, saved = make_invoice(org), make_payment_method(org)
    db.session.commit()
    saved.gateway_token = processor_card()  # the card saved at the processor, which approves it
    db.session.commit()
    payment = pay_by_card(invoice, CardChoice(saved_card=saved), gateway(), actor())
    assert payment.reference == "Visa ending 4242"
    assert db.session.get(SandboxIntent, payment.gateway_charge_id).payment_method_id == saved.gateway_token


def test_a_declined_card_leaves_the_invoice_unpaid(billing):
    invoice = make_invoice(_org(billing))
    db.session.commit()
    with pytest.raises(RuleError, match="declined") as refused:
        pay_by_card(invoice, _card("4000 0000 0000 0002"), gateway(), actor())
    assert refused.value.field == "saved_card"  # shown beside the card the buyer chose
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status is InvoiceStatus.UNPAID
    assert db.session.scalar(select(func.count()).select_from(InvoicePayment)) == 0


def test_a_card_payment_racing_another_payment_is_voided(billing):
    """Staff record a wire for the invoice while the card is being charged: the database keeps one payment and
    the card charge is given back."""
    invoice = make_invoice(_org(billing))
    db.session.commit()

    class RacingGateway(CardGateway):
        def charge(self, *args, **kwargs):
            result = super().charge(*args, **kwargs)
            with db.engine.begin() as conn:
                conn.execute(insert(InvoicePayment).values(invoice_id=invoice.id, amount_minor=invoice.total_minor,
                                                           method="wire", reference="FED-1", received_at=func.now()))
            return result

    with pytest.raises(RuleError, match="already paid"):
        pay_by_card(invoice, _card(), RacingGateway(processor()), actor())
    assert _charges("voided") == 1 and _charges("approved") == 0
    assert db.session.scalar(select(func.count()).select_from(InvoicePayment)) == 1


def test_an_order_invoice_waiting_for_its_summary_is_not_paid_on_its_own(billing):
    part = make_invoice(_org(billing, "Northwind IT"), status=InvoiceStatus.TO_BE_SUMMARIZED)
    db.session.commit()
    with pytest.raises(RuleError, match="monthly summary"):
        pay_by_card(part, _card(), gateway(), actor())
    assert _charges() == 0


def test_other_methods_are_offered_from_usd_1000_or_to_grandfathered_accounts(billing):
    org = _org(billing)
    small, large = make_invoice(org, total_minor=99_999), make_invoice(org, total_minor=100_000)
    assert payment_options(small, org) == [CARD]
    assert payment_options(large, org) == [CARD, WIRE, ACH, CHECK]
    org.grandfathered_payment_methods = True
    assert payment_options(small, org) == [CARD, WIRE, ACH, CHECK]


def test_a_wire_is_pending_until_staff_record_it(billing):
    org = _org(billing, "Fabrikam Stores")
    invoice = make_invoice(org, total_minor=124_500)
    announce_transfer(invoice, WIRE, org, actor())
    assert invoice.status is InvoiceStatus.PAYMENT_PENDING
    with pytest.raises(RuleError) as partial:
        record_transfer(invoice, WIRE, 100_000, "FED-20261102-1", actor())
    assert partial.value.field == "amount"
    staff = db.session.get(User, billing.users["ops"])
    payment = record_transfer(invoice, WIRE, 124_500, "FED-20261102-1", actor(staff))
    assert (invoice.status, payment.reference, payment.recorded_by_id) == (InvoiceStatus.PAID, "FED-20261102-1",
                                                                           staff.id)
    with pytest.raises(RuleError, match="already paid"):
        record_transfer(invoice, CHECK, 124_500, "Check 1001", actor(staff))


def test_a_wire_is_refused_below_usd_1000(billing):
    org = _org(billing)
    invoice = make_invoice(org, total_minor=50_000)
    with pytest.raises(RuleError) as refused:
        announce_transfer(invoice, WIRE, org, actor())
    assert refused.value.field == "method" and invoice.status is InvoiceStatus.UNPAID


@pytest.mark.postgres_only
def test_six_cards_paying_one_invoice_at_once_make_one_payment(app, demo):
    with app.app_context():
        invoice = make_invoice(db.session.get(Organization, demo.orgs["Litware Solutions"]), total_minor=77_700)
        db.session.commit()
        invoice_id = invoice.id
    numbers = ["4242 4242 4242 4242", "5555 5555 5555 4444", "3782 822463 10005", "4012 8888 8888 1881",
               "5105 1051 0510 5100", "4111 1111 1111 1111"]
    barrier, outcomes = threading.Barrier(len(numbers)), []

    def pay(number: str) -> None:
        with app.app_context():
            invoice, card = db.session.get(Invoice, invoice_id), _card(number)
            barrier.wait()
            try:
                pay_by_card(invoice, card, gateway(), actor())
                outcomes.append("paid")
            except RuleError as error:
                outcomes.append(error.message)
            db.session.remove()

    threads = [threading.Thread(target=pay, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("paid") == 1, outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InvoicePayment)) == 1
        assert _charges("approved") == 1
