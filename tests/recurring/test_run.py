"""The renewal run (issue 13 item 1) as the story of a billing day: what is due is billed once, each period its own
line with its service period, quantity, the price in force and the tax checkout would charge; the next payment date
moves by the interval; scheduled changes take effect first; each account is collected its own way."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal import pricing
from portal.accounts.models import BillingMode, PartnerTier
from portal.audit.models import AuditEntry
from portal.billing.jobs import run_monthly_summary
from portal.billing.models import Invoice, InvoiceLine, InvoiceStatus
from portal.billing.services import Period
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.outbox.worker import deliver
from portal.recurring import run as run_module
from portal.recurring.models import CollectionMethod, CollectionState, Renewal, RenewalCollection
from portal.recurring.run import renew
from portal.subscriptions.models import Subscription
from tests.factories import demo_product, make_license, make_org
from tests.recurring.conftest import annual_twin, chain, plan, saved_card

DAY = date(2027, 1, 15)


def invoices_of(org_id: int) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.organization_id == org_id).order_by(Invoice.id)))


def lines_of(invoice: Invoice) -> list[InvoiceLine]:
    return list(db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                                   .order_by(InvoiceLine.position)))


def collection_of(invoice: Invoice) -> RenewalCollection:
    return db.session.get(RenewalCollection, invoice.id)


def emails(kind: str, address: str) -> list[OutboxMessage]:
    return [m for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
            if address in m.to_addrs]


def manager_of(org) -> str:
    return f"manager-{org.id}@chain{org.id}.example.com"


def test_a_due_plan_is_billed_one_line_with_its_period_quantity_price_in_force_and_checkouts_tax(catalog):
    org = chain(tier=PartnerTier.SILVER)  # 10 % tier discount, Washington 6.5 % tax
    subscription = plan(org, quantity=7, next_payment_on=DAY)
    product = demo_product("device-protection")
    product.unit_price_minor = 450  # the price in force on the renewal day, not the one the plan was bought at
    db.session.commit()

    result = renew(DAY)

    [invoice] = invoices_of(org.id)
    [line] = lines_of(invoice)
    assert line.description == ("Renewal: Device Protection, 7 devices (monthly) · service period 2027-01-15 to "
                                "2027-02-14")
    assert (line.quantity, line.unit_price_minor, line.list_minor) == (7, 450, 3150)
    assert (line.service_start, line.service_end) == (date(2027, 1, 15), date(2027, 2, 14))
    expected = pricing.quote([pricing.LineInput("1", 3150)], discount_bp=1000, tax_bp=650).lines[0]
    assert (line.discount_minor, line.tax_minor, line.total_minor) == (
        expected.discount_minor, expected.tax_minor, expected.total_minor)
    assert (line.tax_category, line.tax_rate_bp) == ("S", 650)
    assert invoice.number.startswith("INV-") and invoice.order_id is None
    assert invoice.total_minor == expected.total_minor and invoice.issued_on == DAY
    assert invoice.buyer["legal_name"] == org.legal_name
    db.session.refresh(subscription)
    assert subscription.next_payment_on == date(2027, 2, 15)
    [renewal] = db.session.scalars(select(Renewal).where(Renewal.subscription_id == subscription.id))
    assert (renewal.period_start, renewal.period_end, renewal.quantity, renewal.invoice_id, renewal.position) == (
        date(2027, 1, 15), date(2027, 2, 14), 7, invoice.id, 1)
    assert (result.invoices, result.plans, result.licenses) == (1, 1, 0)
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "renewal.invoiced",
                                                        AuditEntry.organization_id == org.id)).one()
    assert audit.details["number"] == invoice.number and audit.details["lines"] == 1


def test_a_plan_not_due_yet_an_expired_plan_a_cancelled_plan_and_a_sub_chains_plan_are_not_billed(catalog):
    org = chain()
    plan(org, next_payment_on=DAY + timedelta(days=1))
    expired = chain()
    plan(expired, next_payment_on=DAY, expires_on=DAY - timedelta(days=1))
    ended = chain()
    plan(ended, next_payment_on=DAY, quantity=0)
    sub_chain = make_org(parent=org)
    plan(sub_chain, next_payment_on=DAY)
    db.session.commit()

    assert renew(DAY).invoices == 0
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_a_plan_two_periods_behind_bills_two_periods_each_its_own_line(catalog):
    org = chain()
    subscription = plan(org, quantity=3, next_payment_on=date(2027, 1, 31), anchor_day=31)
    db.session.commit()

    renew(date(2027, 3, 1))

    [invoice] = invoices_of(org.id)
    periods = [(line.service_start, line.service_end) for line in lines_of(invoice)]
    assert periods == [(date(2027, 1, 31), date(2027, 2, 27)), (date(2027, 2, 28), date(2027, 3, 30))]
    db.session.refresh(subscription)
    assert subscription.next_payment_on == date(2027, 3, 31)  # back on the anchor day


def test_running_twice_bills_each_period_once(catalog):
    org = chain()
    plan(org, next_payment_on=DAY)
    db.session.commit()

    first, second = renew(DAY), renew(DAY)

    assert (first.invoices, second.invoices) == (1, 0)
    assert len(invoices_of(org.id)) == 1


def test_a_run_killed_halfway_keeps_its_committed_batch_and_the_next_run_does_the_rest(catalog, monkeypatch):
    orgs = [chain() for _ in range(3)]
    for org in orgs:
        plan(org, next_payment_on=DAY)
    db.session.commit()
    orgs = [org.id for org in orgs]
    real = run_module._renew_organization
    seen = []

    def dies_on_the_second(org, *args, **kwargs):
        seen.append(org.id)
        if len(seen) == 2:
            raise KeyboardInterrupt("killed")
        return real(org, *args, **kwargs)

    monkeypatch.setattr(run_module, "_renew_organization", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        renew(DAY, batch=1)
    db.session.remove()
    assert [len(invoices_of(org)) for org in orgs] == [1, 0, 0]

    monkeypatch.setattr(run_module, "_renew_organization", real)
    result = renew(DAY, batch=1)
    assert result.invoices == 2
    assert [len(invoices_of(org)) for org in orgs] == [1, 1, 1]
    numbers = sorted(invoice.number for org in orgs for invoice in invoices_of(org))
    assert numbers == ["INV-000001", "INV-000002", "INV-000003"]  # gapless: the killed batch gave its number back


def test_a_scheduled_decrease_takes_effect_at_the_renewal(catalog):
    org = chain()
    subscription = plan(org, quantity=7, next_payment_on=DAY, scheduled_quantity=5)
    db.session.commit()

    renew(DAY)

    [line] = lines_of(invoices_of(org.id)[0])
    assert line.quantity == 5 and line.description.startswith("Renewal: Device Protection, 5 devices")
    db.session.refresh(subscription)
    assert (subscription.quantity, subscription.scheduled_quantity, subscription.has_scheduled_change) == (5, None,
                                                                                                          False)
    assert db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "subscription.decreased")) == {
        "before": 7, "quantity": 5}


def test_a_scheduled_cancellation_ends_the_plan_the_day_before_and_bills_nothing(catalog):
    org = chain()
    subscription = plan(org, quantity=7, next_payment_on=DAY, scheduled_quantity=0)
    db.session.commit()

    result = renew(DAY)

    assert invoices_of(org.id) == [] and result.cancelled == 1
    db.session.refresh(subscription)
    assert (subscription.quantity, subscription.ended_on, subscription.scheduled_quantity) == (
        0, DAY - timedelta(days=1), None)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "subscription.cancelled")) == 1
    assert renew(date(2027, 6, 1)).invoices == 0


def test_a_scheduled_switch_to_annual_bills_a_year_of_the_annual_product(catalog):
    org = chain()
    annual = annual_twin()
    subscription = plan(org, quantity=4, next_payment_on=DAY, scheduled_product_id=annual.id)
    db.session.commit()

    renew(DAY)

    [line] = lines_of(invoices_of(org.id)[0])
    assert line.description == ("Renewal: Device Protection (annual), 4 devices (annual) · service period "
                                "2027-01-15 to 2028-01-14")
    assert line.unit_price_minor == annual.unit_price_minor
    db.session.refresh(subscription)
    assert (subscription.product_id, subscription.next_payment_on) == (annual.id, date(2028, 1, 15))


def test_a_switch_to_a_product_the_chain_already_has_a_plan_of_is_skipped_and_audited(catalog):
    org = chain()
    annual = annual_twin()
    plan(org, slug="device-protection-annual", quantity=2, next_payment_on=date(2027, 6, 1))
    subscription = plan(org, quantity=4, next_payment_on=DAY, scheduled_product_id=annual.id)
    db.session.commit()

    renew(DAY)

    [line] = lines_of(invoices_of(org.id)[0])
    assert "(monthly)" in line.description
    db.session.refresh(subscription)
    assert subscription.product_id == demo_product("device-protection").id
    assert subscription.scheduled_product_id is None
    reason = db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "subscription.switch_skipped"))
    assert "already has a plan" in reason["reason"]


def test_auto_renewing_ms_is_billed_a_year_priced_as_a_manual_renewal_naming_the_customer(catalog):
    from portal.catalog.models import PurchaseKind
    from portal.licenses.modify import quote_maintenance

    org = chain()
    customer = make_org("Tailspin Toys", parent=org)
    license_ = make_license(org, customer, ms_expires_on=DAY - timedelta(days=3))
    license_.auto_renew = True
    manual = make_license(org, ms_expires_on=DAY - timedelta(days=3))  # not auto-renewing
    lapsed_long_ago = make_license(org, ms_expires_on=DAY - timedelta(days=31))
    lapsed_long_ago.auto_renew = True
    expected = quote_maintenance(license_, demo_product("mailsuite"), PurchaseKind.RENEWAL, license_.ms_expires_on)
    db.session.commit()

    result = renew(DAY)

    [line] = lines_of(invoices_of(org.id)[0])
    assert line.list_minor == expected.list_minor
    assert f"license {license_.key}" in line.description and "for Tailspin Toys" in line.description
    assert (line.service_start, line.service_end) == (DAY - timedelta(days=2), date(2028, 1, 12))
    db.session.refresh(license_)
    db.session.refresh(manual)
    assert license_.ms_expires_on == date(2028, 1, 12) and manual.ms_expires_on == DAY - timedelta(days=3)
    assert result.licenses == 1
    assert renew(DAY).invoices == 0


def test_a_monthly_invoiced_accounts_renewal_waits_for_and_joins_the_monthly_summary(catalog):
    org = chain(billing_mode=BillingMode.MONTHLY_INVOICE)
    plan(org, next_payment_on=DAY)
    db.session.commit()

    renew(DAY)

    [invoice] = invoices_of(org.id)
    assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED and invoice.due_on is None
    assert collection_of(invoice).method is CollectionMethod.SUMMARY
    assert collection_of(invoice).state is CollectionState.SUMMARIZED
    assert emails("renewal_invoice", manager_of(org)) == []  # the summary announces it

    made = run_monthly_summary(Period.of(DAY), today=date(2027, 2, 1))
    db.session.refresh(invoice)
    assert [m.invoices for m in made] == [1]
    assert invoice.status is InvoiceStatus.SUMMARIZED and invoice.summary_id is not None


def test_an_account_without_a_saved_card_gets_the_invoice_due_in_30_days_by_email(catalog, mailbox):
    org = chain()
    plan(org, next_payment_on=DAY)
    db.session.commit()

    result = renew(DAY)

    [invoice] = invoices_of(org.id)
    assert invoice.status is InvoiceStatus.UNPAID and invoice.due_on == DAY + timedelta(days=30)
    assert invoice.number in invoice.note
    collection = collection_of(invoice)
    assert (collection.method, collection.state) == (CollectionMethod.INVOICE, CollectionState.AWAITING_PAYMENT)
    assert result.invoices_sent == 1
    assert deliver() == (1, 0)  # the outbox worker (`flask outbox send`) delivers what a job queued
    [message] = mailbox.to(manager_of(org))
    assert message["Subject"].startswith(f"Renewal invoice {invoice.number}")
    body = message.get_body(("plain",)).get_content()
    assert f"/invoices/{invoice.number}/pay" in body and "Device Protection, 7 devices" in body
    assert [part.get_filename() for part in message.iter_attachments()] == [f"{invoice.number}.pdf"]


def test_a_grandfathered_account_paying_by_wire_is_invoiced_not_charged(catalog):
    org = chain(grandfathered_payment_methods=True)
    saved_card(org)
    plan(org, next_payment_on=DAY)
    db.session.commit()

    renew(DAY)

    [invoice] = invoices_of(org.id)
    assert invoice.status is InvoiceStatus.UNPAID and "wire transfer" in invoice.note
    assert collection_of(invoice).method is CollectionMethod.INVOICE


def test_one_invoice_per_chain_gathers_its_plans_and_ms(catalog):
    org = chain()
    plan(org, quantity=3, next_payment_on=DAY)
    plan(org, slug="location-plan", quantity=2, next_payment_on=DAY - timedelta(days=4))
    license_ = make_license(org, ms_expires_on=DAY - timedelta(days=1))
    license_.auto_renew = True
    db.session.commit()

    renew(DAY)

    [invoice] = invoices_of(org.id)
    descriptions = [line.description for line in lines_of(invoice)]
    assert len(descriptions) == 3
    assert descriptions[1].startswith("Renewal: Location Plan, 2 locations (annual) · service period 2027-01-11 to "
                                      "2028-01-10")
    assert descriptions[2].startswith("M&S renewal: MailSuite Mail Server Professional")
    assert db.session.scalar(select(func.count()).select_from(Subscription)
                             .where(Subscription.organization_id == org.id,
                                    Subscription.next_payment_on <= DAY)) == 0


def test_the_renewal_invoice_page_shows_each_lines_service_period(catalog, app):
    from concurrent.futures import ThreadPoolExecutor

    org = chain()
    plan(org, quantity=7, next_payment_on=DAY)
    db.session.commit()
    renew(DAY)
    number, manager = invoices_of(org.id)[0].number, manager_of(org)
    db.session.commit()

    def browse() -> str:  # a browser: a thread of its own, outside this test's application context
        client = app.test_client()
        client.login(manager, "a-long-password")
        return client.get(f"/invoices/{number}").get_data(as_text=True)

    with ThreadPoolExecutor(1) as browser:
        page = browser.submit(browse).result()
    assert "Renewal: Device Protection, 7 devices (monthly) · service period 2027-01-15 to 2027-02-14" in page
