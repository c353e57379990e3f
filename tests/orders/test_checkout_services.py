"""Checkout (DOMAIN §3, §4, §6), told with the demo: Northwind IT (Gold, 20 %, invoiced monthly), Litware Solutions
(Silver, 10 %, pays on order) and Fabrikam Stores (no tier). Placing an order creates, in one transaction, the
order, its licenses or subscription quantities, its invoice, the audit entry and the confirmation email; a refusal
creates none of it and takes no money. `orders.checkout.place_order` is the unit of work the checkout view calls:
it commits, or rolls back and gives the money back."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import BillingMode, Organization, User
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice, InvoiceStatus
from portal.cart.models import CartItem
from portal.cart.services import add_to_cart, cart_count, cart_items
from portal.catalog.models import BillingInterval, Edition, Product, ProductKind, TierDiscount
from portal.catalog.services import configure, product_by_slug
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.keys import normalize_key
from portal.licenses.models import License
from portal.orders.checkout import complete_order, place_order
from portal.orders.models import ImmutableRecord, Order, OrderLine, PaymentKind
from portal.orders.services import (
    AlreadyPlaced,
    BillingDetails,
    PaymentChoice,
    checkout_summary,
    find_order,
    payment_options,
)
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.outbox.worker import deliver
from portal.payments.charges import BuyerMustAct, CardChoice
from portal.payments.gateway import gateway
from portal.payments.models import CardBrand, IntentStatus, PaymentIntent, PaymentMethod
from portal.payments.processor import IntentState
from portal.sandbox_processor.models import SandboxIntent, SandboxPaymentMethod
from portal.sandbox_processor.processor import sandbox_processor
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import add_months
from tests.factories import DEMO_EMAILS, actor, processor_card

SUMMARIZED_NOTE = ("This invoice will be summarized in the monthly summarized invoice and does not need to be "
                   "paid immediately.")  # DOMAIN §6, word for word
BUYERS = {"Northwind IT": "alice", "Litware Solutions": "frank", "Fabrikam Stores": "dave"}
AUTHENTICATE = "4000 0027 6000 3184"  # the sandbox's card that needs 3-D Secure


@pytest.fixture
def shop(app, demo):
    """The demo organizations, users and catalog, with an application context to call the services in."""
    with app.app_context():
        yield demo
        db.session.rollback()


# ---------------------------------------------------------------- helpers


def _buyer(demo, org_name: str) -> tuple[Organization, User]:
    return db.session.get(Organization, demo.orgs[org_name]), db.session.get(User, demo.users[BUYERS[org_name]])


def _add(org: Organization, user: User, slug: str, edition: str | None = None, quantity: int = 1,
         addons: tuple[str, ...] = (), copies: int = 1) -> CartItem:
    """Put a demo product in the cart, as the product page does, and commit as its view would."""
    product = product_by_slug(slug)
    edition_id = next(e.id for e in product.editions if e.name == edition) if edition else None
    config = configure(product, edition_id, quantity, [a.id for a in product.addons if a.slug in addons])
    item = add_to_cart(user, org, config, copies, actor(user))
    db.session.commit()
    return item


def _card(number: str = "4242 4242 4242 4242", save: bool = False) -> PaymentChoice:
    """A new card entered in the processor's hosted fields: the checkout gets its payment method id only."""
    return PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=processor_card(number), save=save))


def _pay(kind: PaymentKind) -> PaymentChoice:
    return _card() if kind is PaymentKind.CARD else PaymentChoice(kind)


def _place(org: Organization, user: User, payment: PaymentChoice, *, items: list[CartItem] | None = None,
           signature: str | None = None, expected_total: int | None = None,
           billing: BillingDetails | None = None) -> Order:
    """Place the order the checkout page shows: its cart signature and total, the org's billing details."""
    items = cart_items(user, org) if items is None else items
    summary = checkout_summary(org, items)
    return place_order(org, user, items, summary.signature if signature is None else signature,
                       summary.quote.total_minor if expected_total is None else expected_total,
                       payment, billing or BillingDetails.of(org), actor(user), gateway())


def _buy(org: Organization, user: User, payment: PaymentChoice, **kwargs) -> Order:
    order = _place(org, user, payment, **kwargs)
    db.session.commit()  # as the checkout view does
    return order


def _lines(order: Order) -> list[OrderLine]:
    return list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                                   .order_by(OrderLine.position)))


def _invoice(order: Order) -> Invoice:
    return db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()


BOUGHT = License.order_line_id.is_not(None)  # the demo has licenses of its own (portal/licenses/demo.py)


def _count(model, *where) -> int:
    db.session.expire_all()  # the gateway writes on its own connection
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


PAYMENTS = SandboxIntent.kind == "payment"  # the processor's payment intents (not its setup intents)


def _charge(charge_id: str) -> SandboxIntent:
    db.session.expire_all()  # the processor writes on a connection of its own
    return db.session.get(SandboxIntent, charge_id)


def _taken(intent: SandboxIntent) -> str:
    """What a payment intent took: "approved" (succeeded, nothing given back), "voided" (cancelled before anything
    was taken, or refunded whole), or its state while nothing is taken."""
    if intent.state is IntentState.CANCELED:
        return "voided"
    if intent.state is IntentState.SUCCEEDED:
        return "approved" if intent.amount_refunded_minor == 0 else (
            "voided" if intent.amount_refunded_minor == intent.amount_minor else "partly refunded")
    return intent.state.value


def _today() -> date:
    return utcnow().date()  # the services' clock


def _a_year_after(day: date) -> date:
    return date(day.year + 1, day.month, 28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year + 1)


# ---------------------------------------------------------------- prices and the discount


@pytest.mark.parametrize(("org_name", "discount_bp"), [
    ("Northwind IT", 2000),       # Gold
    ("Litware Solutions", 1000),  # Silver
    ("Fabrikam Stores", 0),       # no tier, no discount
])
def test_the_tier_discount_is_its_own_figure_at_the_tiers_rate(shop, org_name, discount_bp):
    org, user = _buyer(shop, org_name)
    _add(org, user, "mailsuite", "Professional", 25, addons=("antispam",), copies=2)  # 2 x (25 x 4.00 + 150.00)

    order = _buy(org, user, _card())

    tier_rate = db.session.scalar(select(TierDiscount.discount_bp).where(TierDiscount.tier == org.partner_tier))
    assert order.discount_bp == discount_bp == (tier_rate or 0)
    assert order.subtotal_minor == 50_000
    assert order.discount_minor == 50_000 * discount_bp // 10_000
    assert order.tax_minor == 0
    assert order.total_minor == order.subtotal_minor - order.discount_minor
    [line] = _lines(order)
    assert (line.list_minor, line.discount_minor, line.total_minor) == (
        order.subtotal_minor, order.discount_minor, order.total_minor)


def test_the_order_totals_are_the_sums_of_its_lines(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 5, addons=("data-export",))
    _add(org, user, "livedesk", "Professional", 3, copies=2)
    _add(org, user, "device-protection", quantity=7)

    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    lines = _lines(order)
    assert [line.position for line in lines] == [1, 2, 3]
    assert order.subtotal_minor == sum(line.list_minor for line in lines)
    assert order.discount_minor == sum(line.discount_minor for line in lines)
    assert order.tax_minor == sum(line.tax_minor for line in lines)
    assert order.total_minor == sum(line.total_minor for line in lines)


# ---------------------------------------------------------------- what an order records


def test_an_order_line_is_a_snapshot_of_what_was_bought(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "mailsuite", "Enterprise", 50, addons=("archiving", "antispam"), copies=2)
    _add(org, user, "device-protection", quantity=5)

    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    mailsuite = product_by_slug("mailsuite")
    addon_ids = {a.slug: a.id for a in mailsuite.addons}
    license_line, plan_line = _lines(order)
    assert (license_line.kind, license_line.product_id, license_line.product_name, license_line.edition_name,
            license_line.unit_label, license_line.interval, license_line.quantity, license_line.copies) == (
        ProductKind.LICENSE, mailsuite.id, "MailSuite Mail Server", "Enterprise", "mailboxes", None, 50, 2)
    assert license_line.addons == [
        {"id": addon_ids["antispam"], "name": "Advanced Anti-Spam", "price_minor": 15_000},
        {"id": addon_ids["archiving"], "name": "Compliance Archiving", "price_minor": 30_000},
    ]
    assert (license_line.unit_list_minor, license_line.list_minor, license_line.discount_minor,
            license_line.tax_minor, license_line.total_minor) == (80_000, 160_000, 32_000, 0, 128_000)
    assert (plan_line.kind, plan_line.product_name, plan_line.edition_id, plan_line.edition_name,
            plan_line.unit_label, plan_line.interval, plan_line.quantity, plan_line.copies, plan_line.addons) == (
        ProductKind.SUBSCRIPTION, "Device Protection", None, None, "devices", BillingInterval.MONTHLY, 5, 1, [])
    assert (plan_line.unit_list_minor, plan_line.list_minor, plan_line.discount_minor, plan_line.total_minor) == (
        2_000, 2_000, 400, 1_600)
    assert order.billing == BillingDetails.of(org).as_dict()
    assert (order.placed_by_id, order.organization_id, order.currency) == (user.id, org.id, "USD")


def test_an_order_keeps_its_prices_and_names_when_the_catalog_changes_later(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "mailsuite", "Enterprise", 50)
    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))
    before = [(line.product_name, line.edition_name, line.unit_list_minor, line.total_minor) for line in _lines(order)]

    mailsuite = product_by_slug("mailsuite")
    mailsuite.name = "MailSuite 2"
    next(e for e in mailsuite.editions if e.name == "Enterprise").unit_price_minor = 900
    db.session.commit()
    db.session.expire_all()

    assert [(line.product_name, line.edition_name, line.unit_list_minor, line.total_minor)
            for line in _lines(order)] == before == [("MailSuite Mail Server", "Enterprise", 35_000, 28_000)]


def test_an_order_cannot_be_changed_once_placed(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 1)
    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    order.total_minor = 1
    with pytest.raises(ImmutableRecord):
        db.session.commit()
    db.session.rollback()

    [line] = _lines(order)
    line.discount_minor = 0
    with pytest.raises(ImmutableRecord):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(Order, order.id).total_minor == 14_900 - 2_980


# ---------------------------------------------------------------- what an order delivers


def test_each_copy_bought_is_an_unassigned_license_with_its_own_valid_key(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "livedesk", "Professional", 3, addons=("sms",), copies=3)

    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    [line] = _lines(order)
    licenses = list(db.session.scalars(select(License).where(License.order_line_id == line.id)
                                       .options(selectinload(License.addons))))
    assert len(licenses) == 3
    keys = [lic.key for lic in licenses]
    assert len(set(keys)) == 3
    assert all(normalize_key(key) == key for key in keys)
    for lic in licenses:
        assert (lic.owner_id, lic.customer_id, lic.assigned_at) == (org.id, None, None)  # unassigned
        assert (lic.product_id, lic.edition_id, lic.quantity) == (line.product_id, line.edition_id, 3)
        assert [a.slug for a in lic.addons] == ["sms"]
        assert lic.ms_expires_on == _a_year_after(_today())  # a year of Maintenance & Support
        assert not lic.reactivation_required


def test_subscriptions_add_quantity_to_the_main_chains_plan(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "device-protection", quantity=5)
    _buy(org, user, PaymentChoice(PaymentKind.INVOICE))
    device_plans = select(Subscription).where(Subscription.organization_id == org.id,  # not its reseller plan
                                              Subscription.product_id == product_by_slug("device-protection").id)
    plan = db.session.scalars(device_plans).one()
    assert (plan.quantity, plan.started_on, plan.next_payment_on, plan.expires_on) == (
        5, _today(), add_months(_today(), 1), None)  # monthly

    _add(org, user, "device-protection", quantity=3)
    _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    db.session.expire_all()
    [grown] = db.session.scalars(device_plans).all()
    assert (grown.id, grown.quantity, grown.started_on) == (plan.id, 8, _today())
    assert _count(License, BOUGHT) == 0


def test_an_annual_plan_next_renews_a_year_after_it_starts(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "location-plan", quantity=2)

    _buy(org, user, _card())

    plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == org.id)).one()
    assert plan.product_id == product_by_slug("location-plan").id
    assert (plan.quantity, plan.next_payment_on) == (2, add_months(_today(), 12))


# ---------------------------------------------------------------- the order invoice


def test_an_order_paid_by_card_has_a_paid_invoice(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)

    order = _buy(org, user, _card("4242 4242 4242 4242"))

    invoice = _invoice(order)
    assert (invoice.status, invoice.due_on, invoice.note) == (InvoiceStatus.PAID, None, "Paid by Visa ending 4242.")
    assert invoice.paid_at is not None
    assert (invoice.organization_id, invoice.issued_on, invoice.currency) == (org.id, _today(), "USD")
    assert (invoice.subtotal_minor, invoice.discount_minor, invoice.tax_minor, invoice.total_minor) == (
        order.subtotal_minor, order.discount_minor, order.tax_minor, order.total_minor) == (34_900, 3_490, 0, 31_410)
    assert (order.payment_kind, order.card_label) == (PaymentKind.CARD, "Visa ending 4242")
    charge = _charge(order.gateway_charge_id)
    assert (charge.state, charge.amount_minor, charge.amount_refunded_minor, charge.currency) == (
        IntentState.SUCCEEDED, 31_410, 0, "USD")


def test_an_invoiced_order_waits_for_the_monthly_summary_invoice(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Enterprise", 10)

    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    invoice = _invoice(order)
    assert invoice.status is InvoiceStatus.TO_BE_SUMMARIZED
    assert invoice.note == SUMMARIZED_NOTE
    assert (invoice.due_on, invoice.paid_at, invoice.total_minor) == (None, None, order.total_minor)
    assert (order.gateway_charge_id, order.card_label) == (None, None)
    assert _count(SandboxIntent) == 0


@pytest.mark.parametrize("kind", [PaymentKind.WIRE, PaymentKind.ACH, PaymentKind.CHECK])
def test_an_order_paid_by_wire_ach_or_check_has_an_unpaid_invoice_due_in_30_days(shop, kind):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "livedesk", "Enterprise", 10)  # USD 2,490.00 less 10 %

    order = _buy(org, user, PaymentChoice(kind))

    invoice = _invoice(order)
    assert (order.payment_kind, order.total_minor) == (kind, 224_100)
    assert (invoice.status, invoice.paid_at) == (InvoiceStatus.UNPAID, None)
    assert invoice.due_on == invoice.issued_on + timedelta(days=30)
    assert invoice.number in invoice.note
    assert _count(SandboxIntent) == 0


def test_invoice_numbers_are_consecutive_across_buyers(shop):
    numbers = []
    for org_name, payment in [("Northwind IT", PaymentChoice(PaymentKind.INVOICE)),
                              ("Litware Solutions", _card()), ("Fabrikam Stores", _card()),
                              ("Northwind IT", _card())]:
        org, user = _buyer(shop, org_name)
        _add(org, user, "webstats", "Standard", 1)
        numbers.append(_invoice(_buy(org, user, payment)).number)
    assert numbers == ["INV-000001", "INV-000002", "INV-000003", "INV-000004"]


# ---------------------------------------------------------------- what else happens with the order


def test_placing_an_order_empties_the_cart(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 1)
    _add(org, user, "device-protection", quantity=2)

    _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    assert cart_items(user, org) == []
    assert cart_count(user, org) == 0


def test_placing_an_order_is_audited(shop):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 1)

    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))

    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "order.placed")).one()
    assert (entry.actor_id, entry.organization_id, entry.object_type, entry.object_id) == (
        user.id, org.id, "Order", str(order.id))
    assert entry.details == {"number": order.number, "total_minor": order.total_minor, "payment": "invoice",
                             "invoice": "INV-000001"}


def test_the_confirmation_email_is_written_with_the_order_and_delivered_after_commit(shop, mailbox):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 1)

    order = _place(org, user, PaymentChoice(PaymentKind.INVOICE))

    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "order_confirmation")).one()
    assert message.to_addrs == sorted([DEMO_EMAILS["alice"], "billing@northwind.example.com"])
    assert message.status is OutboxStatus.PENDING
    assert not mailbox.messages  # nothing leaves before the order is committed

    db.session.commit()
    assert deliver() == (1, 0)

    [mail] = mailbox.to(DEMO_EMAILS["alice"])
    assert "billing@northwind.example.com" in mail["To"]
    assert order.number in mail["Subject"]
    assert "INV-000001" in mail.get_body(("plain",)).get_content()
    [attachment] = list(mail.iter_attachments())  # the invoice's PDF, made when the email left
    assert attachment.get_filename() == "INV-000001.pdf" and attachment.get_content().startswith(b"%PDF")


def test_a_new_card_is_saved_as_brand_last_four_expiry_and_token_only(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)
    payment_method_id = processor_card("5555 5555 5555 4444")  # the hosted fields' answer

    _buy(org, user, PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=payment_method_id, save=True)))

    method = db.session.scalars(select(PaymentMethod).where(PaymentMethod.organization_id == org.id)).one()
    assert (method.brand, method.last4, method.exp_month, method.is_default) == (CardBrand.MASTERCARD, "4444", 12, True)
    assert method.gateway_token == payment_method_id and payment_method_id.startswith("pm_sandbox_")
    assert db.session.get(SandboxPaymentMethod, method.gateway_token).last4 == "4444"
    stored = [str(getattr(method, column.key)) for column in PaymentMethod.__table__.columns]
    assert not any("5555555555554444" in value or "5555 5555 5555 4444" in value for value in stored)


# ---------------------------------------------------------------- how a buyer may pay


def _org_paying(mode: BillingMode, grandfathered: bool = False) -> Organization:
    return Organization(name="Buyer", billing_mode=mode, grandfathered_payment_methods=grandfathered)


CARD, INVOICE, WIRE, ACH, CHECK = (PaymentKind.CARD, PaymentKind.INVOICE, PaymentKind.WIRE, PaymentKind.ACH,
                                   PaymentKind.CHECK)


@pytest.mark.parametrize(("mode", "grandfathered", "total_minor", "expected"), [
    (BillingMode.PAY_ON_ORDER, False, 99_999, [CARD]),
    (BillingMode.PAY_ON_ORDER, False, 100_000, [CARD, WIRE, ACH, CHECK]),  # USD 1,000.00 and over
    (BillingMode.MONTHLY_INVOICE, False, 99_999, [CARD, INVOICE]),
    (BillingMode.MONTHLY_INVOICE, False, 250_000, [CARD, INVOICE, WIRE, ACH, CHECK]),
    (BillingMode.PAY_ON_ORDER, True, 100, [CARD, WIRE, ACH, CHECK]),  # kept their methods from before April 2019
    (BillingMode.MONTHLY_INVOICE, True, 0, [CARD, INVOICE, WIRE, ACH, CHECK]),
])
def test_payment_options_follow_billing_mode_amount_and_grandfathering(mode, grandfathered, total_minor, expected):
    assert payment_options(_org_paying(mode, grandfathered), total_minor) == expected


def test_an_organization_paying_on_order_cannot_ask_to_be_invoiced(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "livedesk", "Enterprise", 10)

    with pytest.raises(RuleError) as refused:
        _place(org, user, PaymentChoice(PaymentKind.INVOICE))
    assert refused.value.field == "payment_kind"


def test_wire_transfer_is_refused_below_usd_1000_unless_grandfathered(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)
    with pytest.raises(RuleError) as refused:
        _place(org, user, PaymentChoice(PaymentKind.WIRE))
    assert refused.value.field == "payment_kind"
    db.session.rollback()

    org.grandfathered_payment_methods = True  # set by staff
    db.session.commit()
    order = _buy(org, user, PaymentChoice(PaymentKind.WIRE))
    assert _invoice(order).status is InvoiceStatus.UNPAID


# ---------------------------------------------------------------- refusals: nothing created, no money taken


def _standard_plan_id() -> int | None:
    return db.session.scalar(select(Product.id).where(Product.slug == "reseller-standard"))


def _assert_nothing_was_bought(org: Organization, user: User, cart_size: int) -> None:
    assert _count(Order) == _count(OrderLine) == _count(License, BOUGHT) == _count(Invoice) == 0
    assert _count(Subscription, Subscription.organization_id == org.id,  # the demo gives Fabrikam a plan,
                  Subscription.product_id != _standard_plan_id()) == 0  # and Northwind its Standard reseller plan
    assert _count(OutboxMessage) == 0
    assert _count(AuditEntry, AuditEntry.action == "order.placed") == 0
    assert len(cart_items(user, org)) == cart_size


def test_a_declined_card_buys_nothing(shop, mailbox):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    _add(org, user, "location-plan", quantity=1)

    with pytest.raises(RuleError) as refused:
        _place(org, user, _card("4000 0000 0000 0002"))
    db.session.rollback()  # as the checkout view does

    assert refused.value.field == "saved_card"  # the portal's card field (it has no card number field)
    assert "declined" in refused.value.message
    _assert_nothing_was_bought(org, user, cart_size=2)
    [charge] = db.session.scalars(select(SandboxIntent).where(PAYMENTS)).all()
    assert charge.state is IntentState.CANCELED and "declined" in charge.decline_message  # never payable later
    assert db.session.scalars(select(PaymentIntent.status)).all() == [IntentStatus.DECLINED]
    assert deliver() == (0, 0)
    assert not mailbox.messages


def test_after_a_declined_card_another_card_pays_for_the_same_cart(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    with pytest.raises(RuleError):
        _place(org, user, _card("4000 0000 0000 0002"))
    db.session.rollback()

    order = _buy(org, user, _card("5555 5555 5555 4444"))  # "Use another card", says the decline

    assert _invoice(order).status is InvoiceStatus.PAID
    assert order.card_label == "Mastercard ending 4444"
    db.session.expire_all()
    states = {c.id: c.state for c in db.session.scalars(select(SandboxIntent).where(PAYMENTS))}
    assert states.pop(order.gateway_charge_id) is IntentState.SUCCEEDED
    assert list(states.values()) == [IntentState.CANCELED]  # the declined card's payment, never taken


def test_a_price_changed_after_adding_to_the_cart_is_refused_before_any_charge(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    items = cart_items(user, org)
    seen = checkout_summary(org, items)  # the checkout page as the buyer opened it

    edition = db.session.scalars(select(Edition).join(Product).where(Product.slug == "webstats",
                                                                     Edition.name == "Standard")).one()
    edition.unit_price_minor += 100  # staff change the price
    db.session.commit()

    with pytest.raises(RuleError, match="Prices changed"):
        _place(org, user, _card(), signature=seen.signature, expected_total=seen.quote.total_minor)
    db.session.rollback()

    assert _count(SandboxIntent) == _count(PaymentIntent) == 0  # the processor was never asked to charge
    _assert_nothing_was_bought(org, user, cart_size=1)
    now = checkout_summary(org, cart_items(user, org))
    assert [line.price_changed for line in now.lines] == [True]
    assert now.quote.total_minor == seen.quote.total_minor + 450  # 5 sites x USD 1.00 more, less 10 %


def test_the_same_checkout_submitted_again_is_already_placed_and_charges_nothing_more(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    items = cart_items(user, org)  # a second tab holds the same cart
    signature = checkout_summary(org, items).signature
    first = _buy(org, user, _card(), items=items, signature=signature)

    with pytest.raises(AlreadyPlaced) as placed:
        _place(org, user, _card(), items=items, signature=signature)
    db.session.rollback()

    assert find_order(org, placed.value.order_key).id == first.id
    assert _count(SandboxIntent) == 1
    assert _count(Order) == _count(Invoice) == 1
    assert _count(License, BOUGHT) == 1


def test_a_double_click_after_the_order_committed_is_already_placed(shop):
    """The second request finds the cart already emptied, and posts the signature of the page it came from."""
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    signature = checkout_summary(org, cart_items(user, org)).signature
    first = _buy(org, user, _card())

    with pytest.raises(AlreadyPlaced) as placed:
        _place(org, user, _card(), items=cart_items(user, org), signature=signature)
    db.session.rollback()

    assert find_order(org, placed.value.order_key).id == first.id
    assert _count(SandboxIntent) == 1


def _submit_in_a_second_tab_that_looked_before_the_first_committed(org, user, items, signature, payment,
                                                                  monkeypatch) -> AlreadyPlaced:
    """The second tab's first look (before paying) misses the first order, which commits just then."""
    real_find_order = find_order
    looks = []

    def find_order_late(org, key):
        looks.append(key)
        return None if len(looks) == 1 else real_find_order(org, key)

    monkeypatch.setattr("portal.orders.services.find_order", find_order_late)
    with pytest.raises(AlreadyPlaced) as placed:
        _place(org, user, payment, items=items, signature=signature)
    monkeypatch.undo()
    return placed.value


def _charge_statuses() -> dict[str, str]:
    db.session.expire_all()
    return {charge.id: _taken(charge) for charge in db.session.scalars(select(SandboxIntent).where(PAYMENTS))}


def test_a_racing_duplicate_paid_with_another_card_gives_its_charge_back(shop, monkeypatch):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    items = cart_items(user, org)
    signature = checkout_summary(org, items).signature
    first = _buy(org, user, _card("4242 4242 4242 4242"), items=items, signature=signature)

    placed = _submit_in_a_second_tab_that_looked_before_the_first_committed(
        org, user, items, signature, _card("5555 5555 5555 4444"), monkeypatch)

    assert find_order(org, placed.order_key).id == first.id
    statuses = _charge_statuses()
    assert statuses.pop(first.gateway_charge_id) == "approved"
    assert list(statuses.values()) == ["voided"]  # the second card's charge was given back
    assert _count(Order) == _count(Invoice) == _count(License, BOUGHT) == 1


def test_a_racing_duplicate_paid_with_the_same_card_shares_the_first_charge(shop, monkeypatch):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    items = cart_items(user, org)
    signature = checkout_summary(org, items).signature
    card = _card()  # one card: the same payment method id posted by both tabs
    first = _buy(org, user, card, items=items, signature=signature)

    _submit_in_a_second_tab_that_looked_before_the_first_committed(org, user, items, signature, card, monkeypatch)

    assert _charge_statuses() == {first.gateway_charge_id: "approved"}  # the gateway's idempotency: one charge


@pytest.mark.parametrize(("field", "line"), [
    ("address_line1", "P.O. Box 123"),
    ("address_line1", "PO Box 4567"),
    ("address_line2", "Post Office Box 89"),
])
def test_a_po_box_billing_address_is_refused(shop, field, line):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)
    billing = dataclasses.replace(BillingDetails.of(org), **{field: line})

    with pytest.raises(RuleError) as refused:
        _place(org, user, _card(), billing=billing)
    db.session.rollback()

    assert refused.value.field == field
    assert _count(SandboxIntent) == 0
    _assert_nothing_was_bought(org, user, cart_size=1)


def test_an_empty_cart_cannot_be_checked_out(shop):
    org, user = _buyer(shop, "Northwind IT")
    with pytest.raises(RuleError, match="cart is empty"):
        _place(org, user, PaymentChoice(PaymentKind.INVOICE))


def test_a_card_payment_without_a_card_sends_the_buyer_to_the_processors_page_and_places_nothing(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)
    with pytest.raises(BuyerMustAct) as sent:  # no card chosen nor entered: the buyer types it at the processor
        _place(org, user, PaymentChoice(PaymentKind.CARD))
    db.session.rollback()

    [waiting] = db.session.scalars(select(SandboxIntent).where(PAYMENTS)).all()
    assert sent.value.url.endswith(f"/sandbox-processor/pay/{waiting.id}")
    assert waiting.state is IntentState.REQUIRES_PAYMENT_METHOD and waiting.payment_method_id is None
    _assert_nothing_was_bought(org, user, cart_size=1)


def _fail_after_the_invoice_is_numbered(*args, **kwargs):
    raise RuntimeError("the confirmation could not be written")


def test_an_order_that_fails_part_way_leaves_nothing_behind_and_can_be_placed_again(shop, monkeypatch):
    org, user = _buyer(shop, "Northwind IT")
    _add(org, user, "webstats", "Standard", 1)

    monkeypatch.setattr("portal.orders.services._confirm_by_email", _fail_after_the_invoice_is_numbered)
    with pytest.raises(RuntimeError, match="could not be written"):
        _place(org, user, PaymentChoice(PaymentKind.INVOICE))
    db.session.rollback()  # as the checkout view does
    monkeypatch.undo()

    _assert_nothing_was_bought(org, user, cart_size=1)
    order = _buy(org, user, PaymentChoice(PaymentKind.INVOICE))
    assert _invoice(order).number == "INV-000001"  # the failed order's number was given back
    assert len(_lines(order)) == 1


def test_a_charge_whose_order_cannot_be_saved_is_voided(shop, monkeypatch):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)

    monkeypatch.setattr("portal.orders.services._confirm_by_email", _fail_after_the_invoice_is_numbered)
    with pytest.raises(RuntimeError, match="could not be written"):
        _place(org, user, _card())
    db.session.rollback()

    assert list(_charge_statuses().values()) == ["voided"]
    _assert_nothing_was_bought(org, user, cart_size=1)


# ---------------------------------------------------------------- 3-D Secure: the buyer at the processor


def _waiting_attempt() -> PaymentIntent:
    """The checkout's one payment attempt, as it stands."""
    db.session.expire_all()  # the payment attempts are written on a connection of their own
    return db.session.scalars(select(PaymentIntent)).one()


def _sent_to_authenticate(org: Organization, user: User, payment: PaymentChoice | None = None) -> str:
    """Place the order with the card that needs 3-D Secure: the buyer is sent to authenticate, nothing is placed.
    The payment intent's id, which the buyer's return (or the processor's webhook) names."""
    with pytest.raises(BuyerMustAct) as sent:
        _place(org, user, payment or _card(AUTHENTICATE))
    db.session.rollback()  # as the checkout view does before redirecting
    attempt = _waiting_attempt()
    intent_id = attempt.gateway_charge_id
    assert attempt.status is IntentStatus.PENDING and intent_id.startswith("pi_sandbox_")
    assert sent.value.url.endswith(f"/sandbox-processor/authenticate/{intent_id}")
    assert _charge(intent_id).state is IntentState.REQUIRES_ACTION
    return intent_id


def test_a_card_that_needs_3d_secure_places_the_order_once_authenticated_and_only_once(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)

    intent_id = _sent_to_authenticate(org, user)
    _assert_nothing_was_bought(org, user, cart_size=1)  # nothing placed while the buyer is at the bank

    sandbox_processor().authenticate(intent_id, completed=True)
    order = complete_order(org, intent_id, actor(user), gateway())  # the buyer is back
    again = complete_order(org, intent_id, actor(user), gateway())  # and the processor's webhook arrives

    assert again.id == order.id
    assert _count(Order) == _count(Invoice) == _count(License, BOUGHT) == 1
    assert _count(AuditEntry, AuditEntry.action == "order.placed") == 1
    assert (order.payment_kind, order.card_label, order.gateway_charge_id) == (
        PaymentKind.CARD, "Visa ending 3184", intent_id)
    assert _invoice(order).status is InvoiceStatus.PAID
    assert _taken(_charge(intent_id)) == "approved" and _charge(intent_id).amount_minor == order.total_minor
    assert _count(SandboxIntent, PAYMENTS) == 1
    assert _waiting_attempt().status is IntentStatus.SUCCEEDED
    assert cart_items(user, org) == []


def test_an_abandoned_3d_secure_places_nothing_and_cancels_the_payment(shop, mailbox):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    intent_id = _sent_to_authenticate(org, user)

    sandbox_processor().authenticate(intent_id, completed=False)  # the buyer cancels at the bank's page
    with pytest.raises(RuleError) as refused:
        complete_order(org, intent_id, actor(user), gateway())
    db.session.rollback()

    assert "authentication was cancelled" in refused.value.message and refused.value.field == "saved_card"
    _assert_nothing_was_bought(org, user, cart_size=1)
    charge = _charge(intent_id)
    assert (charge.state, charge.amount_refunded_minor) == (IntentState.CANCELED, 0)  # never payable later
    assert _waiting_attempt().status in (IntentStatus.DECLINED, IntentStatus.VOIDED)  # closed, never succeeded
    assert deliver() == (0, 0) and not mailbox.messages


def test_a_cart_changed_while_the_buyer_authenticated_places_nothing_and_gives_the_payment_back(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 5)
    intent_id = _sent_to_authenticate(org, user)

    _add(org, user, "location-plan", quantity=1)  # in another tab, while the buyer is at the bank's page
    sandbox_processor().authenticate(intent_id, completed=True)  # the money is taken at the processor
    with pytest.raises(RuleError, match="cart changed while you were paying"):
        complete_order(org, intent_id, actor(user), gateway())
    db.session.rollback()

    _assert_nothing_was_bought(org, user, cart_size=2)
    charge = _charge(intent_id)
    assert charge.state is IntentState.SUCCEEDED and charge.amount_refunded_minor == charge.amount_minor > 0
    assert _waiting_attempt().status is IntentStatus.VOIDED


def test_a_new_card_to_keep_that_needs_3d_secure_is_kept_once_its_order_is_placed(shop):
    org, user = _buyer(shop, "Litware Solutions")
    _add(org, user, "webstats", "Standard", 1)
    payment_method_id = processor_card(AUTHENTICATE)
    intent_id = _sent_to_authenticate(
        org, user, PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=payment_method_id, save=True)))
    assert _count(PaymentMethod, PaymentMethod.organization_id == org.id) == 0  # not before the order

    sandbox_processor().authenticate(intent_id, completed=True)
    complete_order(org, intent_id, actor(user), gateway())
    complete_order(org, intent_id, actor(user), gateway())

    method = db.session.scalars(select(PaymentMethod).where(PaymentMethod.organization_id == org.id)).one()
    assert (method.brand, method.last4, method.gateway_token) == (CardBrand.VISA, "3184", payment_method_id)
    stored = [str(getattr(method, column.key)) for column in PaymentMethod.__table__.columns]
    assert not any("4000002760003184" in value or AUTHENTICATE in value for value in stored)
