"""Payment attempts (portal/payments/intents.py): each card charge is recorded, committed, before the gateway is
asked; it succeeds in the same commit as its order or invoice payment, or its charge is voided, by a retry of the
same purchase or by `flask --app wsgi payments reconcile` after the grace period, with an audit entry.
(tests/payments/test_killed_payments.py kills a real process between the charge and the commit.)"""

from __future__ import annotations

import threading
from datetime import timedelta

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
from portal.payments.charges import BuyerMustAct, CardChoice, charge_card
from portal.payments.gateway import CardGateway, ChargeStatus, gateway
from portal.payments.models import IntentStatus, PaymentIntent
from portal.payments.processor import IntentState, ProcessorError
from portal.receipts.paying import pay_by_card
from portal.sandbox_processor.models import SandboxIntent
from portal.sandbox_processor.processor import sandbox_processor
from tests.factories import actor, make_cart_item, make_invoice, processor_card
from tests.payments.sandbox_charges import amount_of, charges

VISA, MASTERCARD, DECLINED_VISA = "4242 4242 4242 4242", "5555 5555 5555 4444", "4000 0000 0000 0002"
THREE_D_SECURE = "4000 0027 6000 3184"
INVOICE_RETURN = "http://portal.test/invoices/pay/return"


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


def _card(number: str | None = VISA) -> PaymentChoice:
    """A card entered in the processor's hosted fields (a payment method id), or with None the processor's
    hosted page."""
    if number is None:
        return PaymentChoice(PaymentKind.CARD, CardChoice())
    return _method(processor_card(number))


def _method(payment_method_id: str) -> PaymentChoice:
    """The same card submitted again (a double click, a retry of the same form: the same payment method id)."""
    return PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=payment_method_id))


def _checkout(org, user, payment: PaymentChoice, card_gateway: CardGateway | None = None) -> Order:
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    return place_order(org, user, items, summary.signature, summary.quote.total_minor, payment,
                       BillingDetails.of(org), actor(user), card_gateway or gateway())


def _die_after_charging(org, user, payment: PaymentChoice) -> str:
    """What a process killed after the charge leaves: the payment taken, no order (the kill test does it for
    real). Returns the charge."""
    items = cart_items(user, org)
    summary = checkout_summary(org, items)
    _, taken = take_payment(org, user, items, summary.signature, summary.quote.total_minor, payment,
                            BillingDetails.of(org), gateway())
    db.session.rollback()
    return taken.charge_id


def _charges() -> dict[str, str]:
    return charges()


def _pay_invoice(invoice: Invoice, payment: PaymentChoice, user: User):
    return pay_by_card(invoice, payment.card, gateway(), actor(user))


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

    class WatchingGateway(CardGateway):
        def charge(self, payment_method_id, amount_minor, currency, idempotency_key, **kwargs):
            with db.engine.connect() as conn:  # another connection sees only what is committed
                seen_by_the_gateway.extend(conn.execute(select(PaymentIntent.status, PaymentIntent.amount_minor,
                                                               PaymentIntent.idempotency_key)))
            return super().charge(payment_method_id, amount_minor, currency, idempotency_key, **kwargs)

    order = _checkout(org, user, _card(), WatchingGateway(sandbox_processor()))

    [(status, amount, key)] = seen_by_the_gateway
    assert (status, amount) == (IntentStatus.PENDING, order.total_minor)
    assert _attempts() == [(IntentStatus.SUCCEEDED, order.gateway_charge_id)]
    assert _charges() == {order.gateway_charge_id: "approved"}
    assert db.session.get(SandboxIntent, order.gateway_charge_id).metadata_["idempotency_key"] == key


def test_a_declined_card_closes_its_attempt_and_another_card_pays(litware):
    org, user = litware
    with pytest.raises(RuleError, match="declined"):
        _checkout(org, user, _card(DECLINED_VISA))
    db.session.rollback()
    [(status, declined)] = _attempts()
    assert status is IntentStatus.DECLINED
    assert _charges() == {declined: "voided"}  # its intent is cancelled: it cannot be paid later on its own

    order = _checkout(org, user, _card(MASTERCARD))
    assert _attempts()[1] == (IntentStatus.SUCCEEDED, order.gateway_charge_id)
    assert _charges() == {declined: "voided", order.gateway_charge_id: "approved"}


def test_an_order_that_cannot_be_saved_voids_its_charge_and_the_same_card_can_pay_again(litware, monkeypatch):
    org, user = litware
    card = processor_card(VISA)
    monkeypatch.setattr("portal.orders.services._confirm_by_email", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        _checkout(org, user, _method(card))
    db.session.rollback()
    monkeypatch.undo()
    [(status, voided)] = _attempts()
    assert status is IntentStatus.VOIDED and _charges() == {voided: "voided"}
    assert [e.details["charge"] for e in _voided_entries()] == [voided]

    order = _checkout(org, user, _method(card))  # the voided attempt is not reused: a fresh charge

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
    card = processor_card(VISA)
    orphan = _die_after_charging(org, user, _method(card))
    again = _die_after_charging(org, user, _method(card))
    assert again == orphan and list(_charges()) == [orphan]

    order = _checkout(org, user, _card(MASTERCARD))

    assert _charges() == {orphan: "voided", order.gateway_charge_id: "approved"}
    assert [(e.details["charge"], e.details["reason"]) for e in _voided_entries()] == [
        (orphan, "replaced by a later payment attempt for the same purchase")]


def test_a_retry_at_another_total_is_charged_anew_and_the_old_charge_voided(litware):
    """The same card for the same cart, after the account's discount changed: the old charge (of the old total)
    must not be handed back for the new one."""
    org, user = litware
    card = processor_card(VISA)
    orphan = _die_after_charging(org, user, _method(card))
    org.partner_tier = PartnerTier.GOLD
    db.session.commit()

    order = _checkout(org, user, _method(card))

    assert order.gateway_charge_id != orphan
    assert _charges() == {orphan: "voided", order.gateway_charge_id: "approved"}
    assert amount_of(order.gateway_charge_id) == order.total_minor
    assert amount_of(orphan) > order.total_minor


# ---------------------------------------------------------------- paying an invoice


def test_paying_an_invoice_again_after_a_crash_voids_the_orphan_or_reuses_it(litware):
    org, user = litware
    first, second = make_invoice(org, total_minor=45_000), make_invoice(org, total_minor=12_000)
    db.session.commit()
    purchase = intents.Purchase(org.id, intents.Purpose.INVOICE, first.number)
    orphan = charge_card(_card(VISA).card, 45_000, "USD", purchase, gateway(), return_url=INVOICE_RETURN,
                         details={"flow": "invoice"}).charge_id

    payment = _pay_invoice(first, _card(MASTERCARD), user)

    assert _charges() == {orphan: "voided", payment.gateway_charge_id: "approved"}
    purchase = intents.Purchase(org.id, intents.Purpose.INVOICE, second.number)
    visa = _card(VISA)
    orphan = charge_card(visa.card, 12_000, "USD", purchase, gateway(), return_url=INVOICE_RETURN,
                         details={"flow": "invoice"}).charge_id
    assert _pay_invoice(second, visa, user).gateway_charge_id == orphan
    assert _charges()[orphan] == "approved" and len(_charges()) == 3


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
    payment = _pay_invoice(invoice, _card(), user)

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
    card = processor_card(VISA)
    answered = intents.begin(purchase, f"new-{card}", 5_000, "USD")
    charge = gateway().charge(card, 5_000, "USD", answered.idempotency_key)
    intents.begin(intents.Purchase(org.id, intents.Purpose.CHECKOUT, "another-cart"), f"new-{card}", 5_000,
                  "USD")  # killed before the gateway was asked
    assert [status for status, _ in _attempts()] == [IntentStatus.PENDING, IntentStatus.PENDING]

    intents.reconcile(gateway(), timedelta(minutes=15), now=utcnow() + timedelta(minutes=16))

    assert _charges() == {charge.charge_id: "voided"}
    assert _attempts() == [(IntentStatus.VOIDED, charge.charge_id), (IntentStatus.VOIDED, None)]
    assert [e.object_id for e in _voided_entries()] == [str(answered.id)]  # nothing was taken by the other


def test_an_attempt_that_charges_while_reconcile_looks_at_it_keeps_its_charge_and_its_order(app, litware):
    """reconcile finds no charge yet, and the attempt's process charges just then: the attempt is not closed
    behind its back (its order would be refused and its charge kept)."""
    org, user = litware
    card = processor_card(VISA)
    attempt = intents.begin(intents.Purchase(org.id, intents.Purpose.CHECKOUT, "a-cart"), f"new-{card}",
                            5_000, "USD")
    charged_meanwhile = []

    class ChargingMeanwhile(CardGateway):
        def find_charge(self, idempotency_key):
            found = super().find_charge(idempotency_key)
            if not charged_meanwhile:  # the owner's charge, between reconcile's look and its decision
                charged_meanwhile.append(gateway().charge(card, 5_000, "USD", idempotency_key))
                intents.record_answer(attempt, charged_meanwhile[0], gateway())
            return found

    intents.reconcile(ChargingMeanwhile(sandbox_processor()), timedelta(0))
    intents.succeed(attempt.id)  # the owner's order commits
    db.session.commit()

    assert _attempts() == [(IntentStatus.SUCCEEDED, charged_meanwhile[0].charge_id)]
    assert _charges() == {charged_meanwhile[0].charge_id: "approved"}


@pytest.mark.parametrize("number", [None, THREE_D_SECURE], ids=["hosted-page", "3-d-secure"])
def test_reconcile_cancels_an_attempt_left_waiting_for_the_buyer_so_that_it_cannot_be_paid_later(
        app, litware, number):
    """The buyer was sent to the processor (its hosted page, or 3-D Secure) and never came back: after the grace
    period the payment intent is cancelled, nothing having been taken, and the attempt voided."""
    org, user = litware
    with pytest.raises(BuyerMustAct) as sent:
        _checkout(org, user, _card(number))
    db.session.rollback()
    [(status, waiting)] = _attempts()
    assert status is IntentStatus.PENDING and waiting.startswith("pi_sandbox_")
    page = "pay" if number is None else "authenticate"
    assert sent.value.url == f"/sandbox-processor/{page}/{waiting}"
    assert "Nothing to reconcile" in _reconcile(app)  # within the grace period, the buyer may still pay

    output = _reconcile(app, "--grace-minutes", "0")

    assert "closed as voided: nothing was taken" in output and "0 charges voided" in output
    assert _attempts() == [(IntentStatus.VOIDED, waiting)]
    db.session.expire_all()
    intent = db.session.get(SandboxIntent, waiting)
    assert (intent.state, intent.amount_refunded_minor) == (IntentState.CANCELED, 0)
    assert [e.details["charge"] for e in _voided_entries()] == [waiting]
    if number is None:  # the buyer comes back to the hosted page too late: the processor refuses the card
        with pytest.raises(ProcessorError):
            sandbox_processor().confirm_payment_intent(waiting, processor_card(VISA), "too-late")
    else:  # or completes 3-D Secure too late: nothing is taken
        sandbox_processor().authenticate(waiting, completed=True)
    assert gateway().outcome(waiting).status is ChargeStatus.VOIDED
    assert _count(Order) == 0 and "Nothing to reconcile" in _reconcile(app, "--grace-minutes", "0")


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
