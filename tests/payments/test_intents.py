"""Payment attempts (portal/payments/intents.py): each card charge is recorded, committed, before the gateway is
asked; it succeeds in the same commit as its order or invoice payment, or its charge is voided, by a retry of the
same purchase or by `flask --app wsgi payments reconcile` after the grace period, with an audit entry.
(tests/payments/test_killed_payments.py kills a real process between the charge and the commit.)"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from portal.accounts.models import Organization, PartnerTier, User
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice
from portal.cart.services import cart_items
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.orders import services
from portal.orders.checkout import place_order
from portal.orders.models import Order, PaymentKind
from portal.orders.services import BillingDetails, PaymentChoice, checkout_summary, take_payment
from portal.payments import intents
from portal.payments.cards import check_card
from portal.payments.charges import charge_card
from portal.payments.gateway import SandboxGateway
from portal.payments.models import IntentStatus, PaymentIntent, SandboxCharge
from portal.receipts.paying import pay_by_card
from tests.factories import actor, make_cart_item, make_invoice

VISA, MASTERCARD, DECLINED_VISA = "4242 4242 4242 4242", "5555 5555 5555 4444", "4000 0000 0000 0002"


@pytest.fixture
def litware(app, demo):
    """Litware Solutions (pays on order) and frank, its buyer, with one item in the cart."""
    with app.app_context():
        org = db.session.get(Organization, demo.orgs["Litware Solutions"])
        user = db.session.get(User, demo.users["frank"])
        make_cart_item(org, user, "webstats")
        db.session.commit()
        yield org, user
        db.session.rollback()


def _card(number: str = VISA) -> PaymentChoice:
    return PaymentChoice(PaymentKind.CARD, new_card=check_card(number, 12, date.today().year + 2, "Card Holder"))


def _checkout(org, user, payment: PaymentChoice, gateway=None) -> Order:
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    return place_order(org, user, items, summary.signature, summary.quote.total_minor, payment,
                       BillingDetails.of(org), actor(user), gateway or SandboxGateway())


def _die_after_charging(org, user, payment: PaymentChoice) -> str:
    """What a process killed after the charge leaves: the payment taken, no order (the kill test does it for
    real). Returns the charge."""
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    _, taken = take_payment(org, items, summary.signature, summary.quote.total_minor, payment,
                            BillingDetails.of(org), SandboxGateway())
    db.session.rollback()
    return taken.charge_id


def _charges() -> dict[str, str]:
    db.session.expire_all()  # the gateway and the attempts are written on their own connections
    return {c.id: c.status for c in db.session.scalars(select(SandboxCharge))}


def _attempts() -> list[tuple[IntentStatus, str | None]]:
    db.session.expire_all()
    intents_ = db.session.scalars(select(PaymentIntent).order_by(PaymentIntent.id))
    return [(i.status, i.gateway_charge_id) for i in intents_]


def _voided_entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.voided")))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _reconcile(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["payments", "reconcile", *args])
    assert result.exit_code == 0, result.output
    return result.output


# ---------------------------------------------------------------- the attempt's states


def test_the_attempt_is_committed_before_the_gateway_is_asked_and_succeeds_with_the_order(litware):
    org, user = litware
    seen_by_the_gateway = []

    class WatchingGateway(SandboxGateway):
        def charge(self, token, amount_minor, currency, idempotency_key):
            with db.engine.connect() as conn:  # another connection sees only what is committed
                seen_by_the_gateway.extend(conn.execute(select(PaymentIntent.status, PaymentIntent.amount_minor,
                                                               PaymentIntent.idempotency_key)))
            return super().charge(token, amount_minor, currency, idempotency_key)

    order = _checkout(org, user, _card(), WatchingGateway())

    [(status, amount, key)] = seen_by_the_gateway
    assert (status, amount) == (IntentStatus.PENDING, order.total_minor)
    assert _attempts() == [(IntentStatus.SUCCEEDED, order.gateway_charge_id)]
    assert db.session.scalars(select(SandboxCharge.idempotency_key)).one() == key


def test_a_declined_card_closes_its_attempt_and_another_card_pays(litware):
    org, user = litware
    with pytest.raises(RuleError, match="declined"):
        _checkout(org, user, _card(DECLINED_VISA))
    db.session.rollback()
    assert [status for status, _ in _attempts()] == [IntentStatus.DECLINED]

    order = _checkout(org, user, _card(MASTERCARD))
    assert _attempts()[1] == (IntentStatus.SUCCEEDED, order.gateway_charge_id)


def test_an_order_that_cannot_be_saved_voids_its_charge_and_the_same_card_can_pay_again(litware, monkeypatch):
    org, user = litware
    monkeypatch.setattr("portal.orders.services._confirm_by_email", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        _checkout(org, user, _card())
    db.session.rollback()
    monkeypatch.undo()
    [(status, voided)] = _attempts()
    assert status is IntentStatus.VOIDED and _charges() == {voided: "voided"}
    assert [e.details["charge"] for e in _voided_entries()] == [voided]

    order = _checkout(org, user, _card())  # the voided attempt is not reused: a fresh charge, not a "decline"

    assert _charges() == {voided: "voided", order.gateway_charge_id: "approved"}


def test_an_order_never_commits_on_a_charge_that_was_voided_meanwhile(app, litware, monkeypatch):
    """reconcile (or a later attempt) voids the charge while the order is being written: the order is refused."""
    org, user = litware
    record_order = services.record_order

    def record_after_reconcile(*args, **kwargs):
        _reconcile(app, "--grace-minutes", "0")
        return record_order(*args, **kwargs)

    monkeypatch.setattr("portal.orders.services.record_order", record_after_reconcile)
    with pytest.raises(intents.PaymentCancelled):
        _checkout(org, user, _card())
    db.session.rollback()

    assert _count(Order) == 0
    assert list(_charges().values()) == ["voided"]
    assert [status for status, _ in _attempts()] == [IntentStatus.VOIDED]
    assert len(_voided_entries()) == 1


def test_the_same_card_after_a_crash_reuses_the_charge_and_another_card_voids_it(litware):
    org, user = litware
    orphan = _die_after_charging(org, user, _card(VISA))
    again = _die_after_charging(org, user, _card(VISA))
    assert again == orphan and list(_charges()) == [orphan]

    order = _checkout(org, user, _card(MASTERCARD))

    assert _charges() == {orphan: "voided", order.gateway_charge_id: "approved"}
    assert [(e.details["charge"], e.details["reason"]) for e in _voided_entries()] == [
        (orphan, "replaced by a later payment attempt for the same purchase")]


def test_a_retry_at_another_total_is_charged_anew_and_the_old_charge_voided(litware):
    """The same card for the same cart, after the account's discount changed: the old charge (of the old total)
    must not be handed back for the new one."""
    org, user = litware
    orphan = _die_after_charging(org, user, _card())
    org.partner_tier = PartnerTier.GOLD
    db.session.commit()

    order = _checkout(org, user, _card())

    assert order.gateway_charge_id != orphan
    assert _charges() == {orphan: "voided", order.gateway_charge_id: "approved"}
    assert db.session.get(SandboxCharge, order.gateway_charge_id).amount_minor == order.total_minor
    assert db.session.get(SandboxCharge, orphan).amount_minor > order.total_minor


# ---------------------------------------------------------------- paying an invoice


def test_paying_an_invoice_again_after_a_crash_voids_the_orphan_or_reuses_it(litware):
    org, user = litware
    first, second = make_invoice(org, total_minor=45_000), make_invoice(org, total_minor=12_000)
    db.session.commit()
    purchase = intents.Purchase(org.id, intents.Purpose.INVOICE, first.number)
    orphan = charge_card(None, _card(VISA).new_card, 45_000, "USD", purchase, SandboxGateway()).charge_id

    payment = pay_by_card(first, None, _card(MASTERCARD).new_card, SandboxGateway(), actor(user))

    assert _charges() == {orphan: "voided", payment.gateway_charge_id: "approved"}
    purchase = intents.Purchase(org.id, intents.Purpose.INVOICE, second.number)
    orphan = charge_card(None, _card(VISA).new_card, 12_000, "USD", purchase, SandboxGateway()).charge_id
    assert pay_by_card(second, None, _card(VISA).new_card, SandboxGateway(), actor(user)).gateway_charge_id == orphan


# ---------------------------------------------------------------- the reconcile job


def test_reconcile_voids_an_orphan_charge_after_the_grace_period_not_before_and_only_once(app, litware, monkeypatch):
    org, user = litware
    orphan = _die_after_charging(org, user, _card())

    assert "Nothing to reconcile: no payment attempt open for 15 minutes" in _reconcile(app)
    assert _charges() == {orphan: "approved"}

    monkeypatch.setitem(app.config, "PAYMENT_RECONCILE_GRACE_MINUTES", 0)  # PAYMENT_RECONCILE_GRACE_MINUTES=0
    output = _reconcile(app)

    assert f"charge {orphan} voided" in output and "1 charge voided" in output
    assert _charges() == {orphan: "voided"}
    assert _attempts() == [(IntentStatus.VOIDED, orphan)]
    [entry] = _voided_entries()
    assert (entry.actor_id, entry.organization_id, entry.object_type) == (None, org.id, "PaymentIntent")
    assert entry.details["amount_minor"] == checkout_summary(org, cart_items(user, org)).quote.total_minor
    assert "Nothing to reconcile" in _reconcile(app)
    assert len(_voided_entries()) == 1


def test_reconcile_leaves_the_charges_of_orders_and_invoice_payments_alone(app, litware):
    org, user = litware
    order = _checkout(org, user, _card())
    invoice = make_invoice(org)
    db.session.commit()
    payment = pay_by_card(invoice, None, _card().new_card, SandboxGateway(), actor(user))

    assert "Nothing to reconcile" in _reconcile(app, "--grace-minutes", "0")
    assert _charges() == {order.gateway_charge_id: "approved", payment.gateway_charge_id: "approved"}


def test_reconcile_marks_succeeded_an_open_attempt_whose_order_did_commit(app, litware):
    """An attempt still `charged` whose order committed (as orders placed before attempts were recorded)."""
    org, user = litware
    order = _checkout(org, user, _card())
    db.session.execute(update(PaymentIntent).values(status=IntentStatus.CHARGED))
    db.session.commit()

    output = _reconcile(app, "--grace-minutes", "0")

    assert f"charge {order.gateway_charge_id} kept: its order committed" in output
    assert _attempts() == [(IntentStatus.SUCCEEDED, order.gateway_charge_id)]
    assert _charges() == {order.gateway_charge_id: "approved"} and not _voided_entries()


def test_reconcile_asks_the_gateway_about_an_attempt_whose_answer_was_lost(app, litware):
    """Killed after the gateway approved but before the answer was recorded: the attempt is still pending."""
    org, user = litware
    purchase = intents.Purchase(org.id, intents.Purpose.CHECKOUT, "a-cart")
    answered = intents.begin(purchase, "visa-4242-122099", 5_000, "USD")
    sandbox = SandboxGateway()
    charge = sandbox.charge(sandbox.tokenize(_card().new_card), 5_000, "USD", answered.idempotency_key)
    intents.begin(intents.Purchase(org.id, intents.Purpose.CHECKOUT, "another-cart"), "visa-4242-122099", 5_000,
                  "USD")  # killed before the gateway was asked
    assert [status for status, _ in _attempts()] == [IntentStatus.PENDING, IntentStatus.PENDING]

    intents.reconcile(sandbox, timedelta(minutes=15), now=utcnow() + timedelta(minutes=16))

    assert _charges() == {charge.charge_id: "voided"}
    assert _attempts() == [(IntentStatus.VOIDED, charge.charge_id), (IntentStatus.VOIDED, None)]
    assert [e.object_id for e in _voided_entries()] == [str(answered.id)]  # nothing was taken by the other


def test_an_attempt_that_charges_while_reconcile_looks_at_it_keeps_its_charge_and_its_order(app, litware):
    """reconcile finds no charge yet, and the attempt's process charges just then: the attempt is not closed
    behind its back (its order would be refused and its charge kept)."""
    org, user = litware
    attempt = intents.begin(intents.Purchase(org.id, intents.Purpose.CHECKOUT, "a-cart"), "visa-4242-122099",
                            5_000, "USD")
    token, charged_meanwhile = SandboxGateway().tokenize(_card().new_card), []

    class ChargingMeanwhile(SandboxGateway):
        def find_charge(self, idempotency_key):
            found = super().find_charge(idempotency_key)
            if not charged_meanwhile:  # the owner's charge, between reconcile's look and its decision
                charged_meanwhile.append(SandboxGateway().charge(token, 5_000, "USD", idempotency_key))
                intents.record_answer(attempt, charged_meanwhile[0], SandboxGateway())
            return found

    intents.reconcile(ChargingMeanwhile(), timedelta(0))
    intents.succeed(attempt.id)  # the owner's order commits
    db.session.commit()

    assert _attempts() == [(IntentStatus.SUCCEEDED, charged_meanwhile[0].charge_id)]
    assert _charges() == {charged_meanwhile[0].charge_id: "approved"}


def test_the_gateway_finds_a_charge_by_its_key(ctx):
    sandbox = SandboxGateway()
    assert sandbox.find_charge("never-charged") is None
    charge = sandbox.charge(sandbox.tokenize(_card().new_card), 1_000, "USD", "k-1")
    assert sandbox.find_charge("k-1") == charge and charge.approved
    sandbox.void(charge.charge_id)
    found = sandbox.find_charge("k-1")
    assert (found.approved, found.voided, found.charge_id) == (False, True, charge.charge_id)


# ---------------------------------------------------------------- two tabs at once


@pytest.mark.postgres_only
def test_two_tabs_paying_one_cart_with_different_cards_at_once_make_one_order_and_keep_one_charge(app, demo):
    with app.app_context():
        org = db.session.get(Organization, demo.orgs["Litware Solutions"])
        make_cart_item(org, db.session.get(User, demo.users["frank"]), "webstats")
        db.session.commit()
    numbers = [VISA, MASTERCARD, "3782 822463 10005", "4111 1111 1111 1111"]
    barrier, outcomes = threading.Barrier(len(numbers)), []

    def pay(number: str) -> None:
        with app.app_context():
            org = db.session.get(Organization, demo.orgs["Litware Solutions"])
            user = db.session.get(User, demo.users["frank"])
            barrier.wait()
            try:
                _checkout(org, user, _card(number))
                outcomes.append("placed")
            except (RuleError, services.AlreadyPlaced) as refused:
                outcomes.append(type(refused).__name__)
            db.session.remove()

    threads = [threading.Thread(target=pay, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("placed") == 1, outcomes
    with app.app_context():
        assert _count(Order) == 1
        order = db.session.scalars(select(Order)).one()
        approved = [c for c, status in _charges().items() if status == "approved"]
        assert approved == [order.gateway_charge_id]
        assert _count(Invoice) == 1
