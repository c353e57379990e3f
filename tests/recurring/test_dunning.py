"""Collecting renewals (issue 13 item 2): a saved default card is charged by the run and the payment receipted; a
declined card is retried on days 1, 3 and 7 after the first decline, the managers are told after the first decline
and when the plan becomes past due; nothing is suspended, and paying the invoice from /invoices clears it. A card
whose bank wants 3-D Secure is charged nothing off session (issue 21): the managers are emailed a link to pay, where
the bank asks them to approve."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.billing.models import Invoice, InvoiceStatus
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.payments.models import IntentStatus, PaymentIntent, PaymentMethod
from portal.payments.processor import IntentState
from portal.receipts.models import Receipt
from portal.recurring.collection import AUTHENTICATION_MESSAGE, RETRY_DAYS, next_attempt
from portal.recurring.models import CollectionMethod, CollectionState, RenewalCollection
from portal.recurring.run import renew
from portal.recurring.status import past_due_invoices
from portal.sandbox_processor.models import SandboxIntent
from portal.subscriptions.models import Subscription
from tests.recurring.conftest import APPROVED, DECLINED, chain, plan, saved_card

DAY = date(2027, 1, 15)
SECURE = "4000 0027 6000 3184"  # the bank asks the cardholder for 3-D Secure, off session too


def the_invoice(org_id: int) -> Invoice:
    return db.session.scalars(select(Invoice).where(Invoice.organization_id == org_id)).one()


def collection(invoice_id: int) -> RenewalCollection:
    db.session.expire_all()
    return db.session.get(RenewalCollection, invoice_id)


def emails(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                   .order_by(OutboxMessage.id)))


def pay_from_the_invoices_page(app, email: str, number: str, saved_card_id: int = 0,
                               page: str | None = None) -> tuple[str, int]:
    """What the manager does in a browser (a thread of its own, outside this test's application context): open Pay
    invoice (at `page`, the path of a link they were sent, or from /invoices), submit the form with a saved card
    or (0) a new one, and at the processor type the new card and complete 3-D Secure if the bank asks. Where the
    form sent the browser, and the portal's answer once back."""
    def browse() -> tuple[str, int]:
        client = app.test_client()
        client.login(email, "a-long-password")
        sent = client.submit(page or f"/invoices/{number}/pay", {"method": "card", "saved_card": str(saved_card_id)})
        return sent.headers.get("Location", ""), client.at_processor(sent, APPROVED).status_code

    db.session.commit()
    with ThreadPoolExecutor(1) as browser:
        return browser.submit(browse).result()


def test_the_schedule_is_days_1_3_and_7_after_the_first_decline():
    assert RETRY_DAYS == (1, 3, 7)
    assert [next_attempt(DAY, n) for n in (1, 2, 3, 4)] == [DAY + timedelta(days=1), DAY + timedelta(days=3),
                                                            DAY + timedelta(days=7), None]


def test_a_card_account_is_charged_and_receipted(catalog):
    org = chain()
    card = saved_card(org)
    plan(org, next_payment_on=DAY)
    db.session.commit()

    result = renew(DAY)

    invoice = the_invoice(org.id)
    assert invoice.status is InvoiceStatus.PAID and invoice.due_on == DAY
    assert f"charged to {card.label}" in invoice.note
    state = collection(invoice.id)
    assert (state.method, state.state, state.attempts) == (CollectionMethod.CARD, CollectionState.PAID, 1)
    assert result.collection.charged == 1 and result.amounts[("card", "USD")] == invoice.total_minor
    receipt = db.session.scalars(select(Receipt).where(Receipt.organization_id == org.id)).one()
    assert receipt.amount_minor == invoice.total_minor
    assert [m.kind for m in emails("receipt")] == ["receipt"]
    assert emails("renewal_invoice") == [] and emails("renewal_payment_failed") == []
    assert renew(DAY).collection.charged == 0  # nothing charged twice


def test_a_declined_card_is_retried_on_days_1_3_and_7_then_the_plan_is_past_due_until_the_invoice_is_paid(
        catalog, app):
    org = chain()
    saved_card(org, DECLINED)
    subscription = plan(org, next_payment_on=DAY)
    db.session.commit()
    manager = f"manager-{org.id}@chain{org.id}.example.com"

    first = renew(DAY)
    invoice = the_invoice(org.id)
    assert invoice.status is InvoiceStatus.UNPAID and first.collection.declined == 1
    state = collection(invoice.id)
    assert (state.state, state.attempts, state.next_attempt_on) == (CollectionState.CHARGING, 1,
                                                                    DAY + timedelta(days=1))
    assert "declined" in state.last_message
    [failed] = emails("renewal_payment_failed")
    assert failed.to_addrs == [manager]
    assert failed.subject == f"Your renewal payment failed: invoice {invoice.number}"
    assert "declined by its bank" in failed.body_text and (DAY + timedelta(days=1)).isoformat() in failed.body_text
    assert f"/invoices/{invoice.number}/pay" in failed.body_text

    assert renew(DAY + timedelta(days=1)).collection.declined == 1
    assert collection(invoice.id).next_attempt_on == DAY + timedelta(days=3)
    assert renew(DAY + timedelta(days=2)).collection.declined == 0  # not due: nothing tried
    assert renew(DAY + timedelta(days=4)).collection.declined == 1  # a day late: the schedule does not shift
    assert collection(invoice.id).next_attempt_on == DAY + timedelta(days=7)
    assert past_due_invoices([subscription.id]) == {}
    assert len(emails("renewal_payment_failed")) == 1  # told once, at the first decline

    last = renew(DAY + timedelta(days=7))
    state = collection(invoice.id)
    assert (state.state, state.attempts, state.past_due_on, state.next_attempt_on) == (
        CollectionState.PAST_DUE, 4, DAY + timedelta(days=7), None)
    assert last.collection.past_due_plans == 1
    [past_due] = emails("renewal_past_due")
    assert past_due.to_addrs == [manager] and "Nothing is suspended or deleted" in past_due.body_text
    assert past_due_invoices([subscription.id])[subscription.id].id == invoice.id
    db.session.refresh(subscription)
    assert subscription.quantity == 7  # nothing suspended
    assert renew(DAY + timedelta(days=30)).collection.declined == 0  # never tried again

    # The manager pays it from /invoices with another card: the plan is no longer past due.
    sent_to, answer = pay_from_the_invoices_page(app, manager, invoice.number)
    assert "/sandbox-processor/pay/" in sent_to and answer == 302
    db.session.expire_all()
    assert the_invoice(org.id).status is InvoiceStatus.PAID
    assert past_due_invoices([subscription.id]) == {}
    renew(DAY + timedelta(days=31))
    assert collection(invoice.id).state is CollectionState.PAID


def test_an_invoice_paid_before_its_retry_is_not_charged_again(catalog):
    from portal.billing.models import PaymentMethodKind
    from portal.receipts.paying import record_transfer
    from tests.factories import actor

    org = chain()
    saved_card(org, DECLINED)
    plan(org, next_payment_on=DAY)
    db.session.commit()
    renew(DAY)
    invoice = the_invoice(org.id)
    record_transfer(invoice, PaymentMethodKind.WIRE, invoice.total_minor, "WIRE-1", actor())
    db.session.commit()

    result = renew(DAY + timedelta(days=1))

    assert result.collection.declined == 0
    assert collection(invoice.id).state is CollectionState.PAID


def test_an_account_that_removed_its_card_gets_the_invoice_to_pay(catalog):
    org = chain()
    card = saved_card(org, DECLINED)
    plan(org, next_payment_on=DAY)
    db.session.commit()
    renew(DAY)
    invoice = the_invoice(org.id)
    db.session.delete(db.session.get(PaymentMethod, card.id))
    db.session.commit()

    result = renew(DAY + timedelta(days=1))

    state = collection(invoice.id)
    assert (state.state, state.next_attempt_on) == (CollectionState.AWAITING_PAYMENT, None)
    assert result.collection.without_card == 1
    [sent] = emails("renewal_invoice")
    assert "No default card is saved any more" in sent.body_text


def test_a_zero_total_renewal_is_paid_at_once(catalog):
    from tests.factories import demo_product

    demo_product("device-protection").unit_price_minor = 0
    org = chain()
    saved_card(org)
    plan(org, next_payment_on=DAY)
    db.session.commit()

    renew(DAY)

    invoice = the_invoice(org.id)
    assert invoice.status is InvoiceStatus.PAID and collection(invoice.id).state is CollectionState.PAID
    assert db.session.scalars(select(Subscription.next_payment_on)).one() == date(2027, 2, 15)


def test_credit_notes_pay_the_renewal_first_and_the_card_is_charged_what_is_left(catalog):
    from portal.credits.issuing import issue_credit_note
    from tests.factories import actor, make_invoice

    org = chain()
    saved_card(org)
    plan(org, quantity=7, next_payment_on=DAY)
    paid = make_invoice(org, status=InvoiceStatus.PAID, total_minor=1_000)
    note = issue_credit_note(paid, 1_000, "Goodwill", actor())
    db.session.commit()

    renew(DAY)

    invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == org.id, Invoice.id != paid.id,
                                                       Invoice.id != note.id)).one()
    assert (invoice.prepaid_minor, invoice.credit_applied_minor) == (1_000, 1_000)
    assert invoice.status is InvoiceStatus.PAID and collection(invoice.id).state is CollectionState.PAID
    receipt = db.session.scalars(select(Receipt).where(Receipt.organization_id == org.id)).one()
    assert receipt.amount_minor == invoice.total_minor - 1_000


def test_a_renewal_the_credit_covers_is_paid_without_a_charge(catalog):
    from portal.credits.issuing import issue_credit_note
    from tests.factories import actor, make_invoice

    org = chain()
    saved_card(org, DECLINED)
    plan(org, quantity=1, next_payment_on=DAY)
    paid = make_invoice(org, status=InvoiceStatus.PAID, total_minor=10_000)
    issue_credit_note(paid, 10_000, "Goodwill", actor())
    db.session.commit()

    result = renew(DAY)

    assert result.collection.declined == 0 and result.collection.charged == 0
    renewal = db.session.get(Invoice, db.session.scalars(select(RenewalCollection.invoice_id)).one())
    assert renewal.status is InvoiceStatus.PAID and renewal.credit_applied_minor == renewal.total_minor


def test_an_announced_wire_stops_the_card_retries(catalog):
    from portal.billing.models import PaymentMethodKind
    from portal.receipts.paying import announce_transfer
    from tests.factories import actor

    org = chain(grandfathered_payment_methods=False)
    saved_card(org, DECLINED)
    plan(org, next_payment_on=DAY)
    db.session.commit()
    renew(DAY)
    invoice = the_invoice(org.id)
    org.grandfathered_payment_methods = True  # wire, ACH and check offered whatever the amount
    announce_transfer(invoice, PaymentMethodKind.WIRE, org, actor())
    db.session.commit()

    result = renew(DAY + timedelta(days=1))

    assert result.collection.declined == 0
    state = collection(invoice.id)
    assert (state.state, state.next_attempt_on) == (CollectionState.AWAITING_PAYMENT, None)


def test_a_renewal_whose_card_needs_3d_secure_takes_nothing_and_emails_the_managers_a_link_to_pay(catalog, app):
    org = chain()
    card = saved_card(org, SECURE)
    subscription = plan(org, next_payment_on=DAY)
    db.session.commit()
    manager = f"manager-{org.id}@chain{org.id}.example.com"

    result = renew(DAY)  # off session: nobody is there to authenticate

    invoice = the_invoice(org.id)
    assert invoice.status is InvoiceStatus.UNPAID and result.collection.charged == 0
    state = collection(invoice.id)
    assert (state.state, state.attempts, state.next_attempt_on, state.last_message) == (
        CollectionState.AWAITING_PAYMENT, 1, None, AUTHENTICATION_MESSAGE)
    [tried] = db.session.execute(select(SandboxIntent.state, SandboxIntent.off_session, SandboxIntent.amount_minor,
                                        SandboxIntent.amount_refunded_minor, SandboxIntent.payment_method_id)).all()
    assert tried == (IntentState.CANCELED, True, invoice.total_minor, 0, card.gateway_token)  # nothing taken
    assert db.session.scalars(select(PaymentIntent.status)).all() == [IntentStatus.VOIDED]
    assert emails("receipt") == [] and emails("renewal_payment_failed") == []
    [asked] = emails("renewal_authentication_needed")
    assert asked.to_addrs == [manager]
    assert asked.subject == f"Your bank asks you to approve a renewal payment: invoice {invoice.number}"
    link = re.search(r"https?://\S+", asked.body_text).group(0)
    assert urlsplit(link).path == f"/invoices/{invoice.number}/pay"
    assert renew(DAY + timedelta(days=1)).collection.declined == 0  # not tried again by the portal
    assert len(emails("renewal_authentication_needed")) == 1 and past_due_invoices([subscription.id]) == {}

    # The manager follows the link, pays with the saved card and approves the payment at the bank.
    sent_to, answer = pay_from_the_invoices_page(app, manager, invoice.number, card.id, page=urlsplit(link).path)
    assert "/sandbox-processor/authenticate/" in sent_to and answer == 302
    db.session.expire_all()
    assert the_invoice(org.id).status is InvoiceStatus.PAID
    paid = db.session.scalars(select(SandboxIntent).where(SandboxIntent.state == IntentState.SUCCEEDED)).one()
    assert (paid.off_session, paid.amount_minor, paid.payment_method_id) == (False, invoice.total_minor,
                                                                           card.gateway_token)
    assert [m.kind for m in emails("receipt")] == ["receipt"]
    renew(DAY + timedelta(days=2))
    assert collection(invoice.id).state is CollectionState.PAID
