"""A storefront sale (DOMAIN §8, issue 14 item 5), told with the demo: carol (a viewer of Contoso Retail, a sub-chain
of Northwind IT) buys on /s/northwind. Northwind is Gold (20 % off list), invoiced monthly and tax exempt; its
storefront marks up 25 % and gives Contoso a special price on MailSuite Professional (4.50 per mailbox).

One sale is two sales in one transaction: Contoso's order and Northwind's invoice to it, paid by card; the vendor's
wholesale order and invoice to Northwind at its cost; the licenses, owned by Northwind and assigned to Contoso at
once. A failure after the card was charged leaves none of it and voids the charge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import pricing
from portal.accounts.models import BillingMode, Organization, User
from portal.audit.models import AuditEntry
from portal.billing.documents import invoice_document
from portal.billing.models import Invoice, InvoiceLine, InvoicePayment, InvoiceSeries, InvoiceStatus
from portal.billing.services import invoices_query, unpaid_query
from portal.catalog.services import configure, product_by_slug
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.models import License
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import AlreadyPlaced, BillingDetails, PaymentChoice
from portal.outbox.models import OutboxMessage
from portal.payments.charges import CardChoice
from portal.payments.gateway import gateway
from portal.payments.models import CardBrand, PaymentMethod
from portal.recurring.collection import CollectionTally, collect_due
from portal.recurring.models import CollectionMethod, CollectionState, RenewalCollection
from portal.sandbox_processor.models import SandboxIntent
from portal.sandbox_processor.processor import sandbox_processor
from portal.seller.models import TaxRate
from portal.storefront_sales import carts
from portal.storefront_sales.selling import find_storefront_order, place_storefront_order, sale_summary
from portal.storefronts.models import Storefront, StorefrontSeries
from tests.factories import actor, make_member, make_org, processor_card

BOUGHT = License.order_line_id.is_not(None)  # the demo has licenses of its own


@pytest.fixture
def sale(app, demo):
    with app.app_context():
        yield demo
        db.session.rollback()


def _northwind(demo) -> tuple[Storefront, Organization]:
    storefront = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
    return storefront, db.session.get(Organization, demo.orgs["Northwind IT"])


def _carol(demo) -> tuple[Organization, User]:
    return db.session.get(Organization, demo.orgs["Contoso Retail"]), db.session.get(User, demo.users["carol"])


def _add(storefront: Storefront, customer: Organization, user: User, slug: str = "mailsuite",
         edition: str = "Professional", quantity: int = 10, copies: int = 1, addons: tuple[str, ...] = ()):
    """Put a license in the customer's storefront cart, as the storefront's product page does."""
    product = product_by_slug(slug)
    edition_id = next(e.id for e in product.editions if e.name == edition)
    config = configure(product, edition_id, quantity, [a.id for a in product.addons if a.slug in addons])
    item = carts.add_item(storefront, user, customer, config, copies, actor(user))
    db.session.commit()
    return item, config


def _card(number: str = "4242 4242 4242 4242", save: bool = False) -> PaymentChoice:
    """A new card as the checkout's hosted fields give it: the processor's payment method id."""
    return PaymentChoice(PaymentKind.CARD, CardChoice(payment_method_id=processor_card(number, "Carol Chen"),
                                                      save=save))


def _place(storefront: Storefront, customer: Organization, user: User, payment: PaymentChoice | None = None,
           **overrides) -> Order:
    """Place the order the storefront's checkout shows: its signature and total, the customer's details."""
    items = carts.cart_items(storefront, user, customer)
    summary = sale_summary(storefront, customer, items)
    return place_storefront_order(storefront, customer, user, items, overrides.get("signature", summary.signature),
                                  overrides.get("expected_total", summary.quote.total_minor), payment or _card(),
                                  overrides.get("billing", BillingDetails.of(customer)), actor(user),
                                  gateway())


def _count(model, *where) -> int:
    db.session.expire_all()  # the gateway and the payment attempts write on their own connections
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _charges() -> list[str]:
    """Each payment at the processor, oldest first: "taken" (succeeded, kept), "given back" (succeeded, then refunded
    whole), "canceled" (never taken), or the state it waits in."""
    db.session.expire_all()  # the processor writes on its own connection
    intents = db.session.scalars(select(SandboxIntent).where(SandboxIntent.kind == "payment")
                                 .order_by(SandboxIntent.created_at, SandboxIntent.id))
    return [_charge_state(intent) for intent in intents]


def _charge_state(intent: SandboxIntent) -> str:
    if str(intent.state) == "succeeded":
        return "given back" if intent.amount_refunded_minor == intent.amount_minor else "taken"
    return str(intent.state)


def _lines(order: Order) -> list[OrderLine]:
    return list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                                   .order_by(OrderLine.position)))


def _invoice(order: Order) -> Invoice:
    return db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()


def _wholesale(order: Order) -> Order:
    return db.session.scalars(select(Order).where(Order.supplies_order_id == order.id)).one()


def _emails(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def _assert_nothing_was_sold(storefront, customer, user, cart_size: int) -> None:
    assert _count(Order) == _count(OrderLine) == _count(Invoice) == _count(License, BOUGHT) == 0
    assert _count(RenewalCollection) == 0
    assert _count(OutboxMessage) == 0
    assert _count(AuditEntry, AuditEntry.action.in_(("order.placed", "storefront.order_placed"))) == 0
    assert len(carts.cart_items(storefront, user, customer)) == cart_size


# ---------------------------------------------------------------- the sale


def test_a_storefront_sale_makes_both_orders_both_invoices_and_assigns_the_licenses(sale, mailbox):
    storefront, northwind = _northwind(sale)
    contoso, carol = _carol(sale)
    db.session.add(TaxRate(country="US", region="OR", label="Oregon test tax", rate_bp=500, category="S"))
    db.session.commit()
    _, mail = _add(storefront, contoso, carol, quantity=10, copies=2)  # Contoso's special: 4.50 a mailbox
    _, desk = _add(storefront, contoso, carol, slug="livedesk", edition="Enterprise", quantity=3)  # 25 % markup

    order = _place(storefront, contoso, carol)

    # The customer's order: at the storefront's prices, taxed for Contoso, no partner discount, sold by Northwind.
    assert (order.organization_id, order.seller_id, order.placed_by_id) == (contoso.id, northwind.id, carol.id)
    assert order.payment_kind is PaymentKind.CARD and order.card_label == "Visa ending 4242"
    mail_price, desk_price = 450 * 10, pricing.marked_up(desk.list_minor, 2500)
    sold = _lines(order)
    assert [(line.unit_list_minor, line.copies, line.list_minor, line.discount_minor) for line in sold] == [
        (mail_price, 2, 2 * mail_price, 0), (desk_price, 1, desk_price, 0)]
    assert [(line.tax_category, line.tax_rate_bp) for line in sold] == [("S", 500), ("S", 500)]
    assert order.subtotal_minor == 2 * mail_price + desk_price and order.discount_minor == 0
    assert order.tax_minor == pricing.apply_rate(2 * mail_price, 500) + pricing.apply_rate(desk_price, 500)
    assert order.total_minor == order.subtotal_minor + order.tax_minor

    # Northwind's invoice to Contoso: its own series and name, Contoso's billing details, paid by the card.
    invoice = _invoice(order)
    assert (invoice.series, invoice.number, invoice.sequence) == (InvoiceSeries.STOREFRONT, "NORTHWIND-000001", 1)
    assert (invoice.issuer_id, invoice.organization_id) == (northwind.id, contoso.id)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at is not None and invoice.due_on is None
    assert invoice.total_minor == order.total_minor and invoice.discount_minor == 0
    assert invoice.seller["legal_name"] == northwind.legal_name == "Northwind IT LLC"
    assert invoice.seller["address_line1"] == "200 Harbor Way"
    assert (invoice.seller["tax_id"], invoice.seller["registration_id"]) == (storefront.tax_id,
                                                                              storefront.registration_id)
    assert invoice.seller["email"] == "store@northwind.example.com"
    assert invoice.buyer["legal_name"] == "Contoso Retail LLC"
    payment = db.session.scalars(select(InvoicePayment).where(InvoicePayment.invoice_id == invoice.id)).one()
    assert (payment.gateway_charge_id, payment.amount_minor) == (order.gateway_charge_id, order.total_minor)
    assert payment.receipt_id is None  # no vendor receipt: the vendor did not receive this money
    assert db.session.get(StorefrontSeries, northwind.id).last_number == 1

    # The vendor's wholesale order to Northwind: list price less its 20 %, tax exempt, for Contoso's order.
    wholesale = _wholesale(order)
    assert (wholesale.organization_id, wholesale.seller_id) == (northwind.id, None)
    bought = _lines(wholesale)
    assert [(line.unit_list_minor, line.copies, line.list_minor) for line in bought] == [
        (mail.list_minor, 2, 2 * mail.list_minor), (desk.list_minor, 1, desk.list_minor)]
    cost = pricing.quote([pricing.LineInput("a", 2 * mail.list_minor), pricing.LineInput("b", desk.list_minor)],
                         discount_bp=2000)
    assert (wholesale.subtotal_minor, wholesale.discount_minor, wholesale.tax_minor) == (
        cost.subtotal_minor, cost.discount_minor, 0)
    assert {line.tax_category for line in bought} == {"E"}  # Northwind's resale exemption
    # ... and its invoice, gathered into Northwind's monthly summary (its terms)
    vendor_invoice = _invoice(wholesale)
    assert vendor_invoice.number.startswith("INV-") and vendor_invoice.issuer_id is None
    assert vendor_invoice.status is InvoiceStatus.TO_BE_SUMMARIZED and wholesale.payment_kind is PaymentKind.INVOICE
    assert vendor_invoice.total_minor == cost.total_minor
    collection = db.session.get(RenewalCollection, vendor_invoice.id)
    assert (collection.method, collection.state) == (CollectionMethod.SUMMARY, CollectionState.SUMMARIZED)

    # The licenses: bought by Northwind on the wholesale order, assigned to Contoso at once, for good.
    licenses = list(db.session.scalars(select(License).where(BOUGHT).order_by(License.id)))
    assert len(licenses) == 3
    assert {lic.owner_id for lic in licenses} == {northwind.id}
    assert {lic.customer_id for lic in licenses} == {contoso.id}
    assert {lic.order_line_id for lic in licenses} == {line.id for line in bought}
    invoice_lines = db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                                       .order_by(InvoiceLine.position)).all()
    assert licenses[0].key in invoice_lines[0].description and licenses[2].key in invoice_lines[1].description

    # Emails: the keys and the confirmation from Northwind to carol (Contoso's invoice contact too), the vendor's
    # invoice to Northwind's invoice contact.
    assigned = _emails("license_assigned")
    assert [m.to_addrs for m in assigned] == [["carol@contoso.example.com"]]
    confirmation = _emails("storefront_order_confirmation")
    assert [m.to_addrs for m in confirmation] == [["accounts@contoso.example.com", "carol@contoso.example.com"]]
    assert "Northwind IT" in confirmation[0].subject and "NORTHWIND-000001" in confirmation[0].body_text
    assert confirmation[0].attachments[0]["filename"] == "NORTHWIND-000001.pdf"
    to_reseller = _emails("storefront_wholesale_invoice")
    assert [m.to_addrs for m in to_reseller] == [["billing@northwind.example.com"]]
    assert vendor_invoice.number in to_reseller[0].subject and order.number in to_reseller[0].body_text

    # Audit entries for both orders.
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"storefront.order_placed", "order.placed", "license.assigned"} <= actions
    # The cart is empty.
    assert carts.cart_items(storefront, carol, contoso) == []


def test_the_customer_never_sees_the_wholesale_side(sale, mailbox):
    storefront, northwind = _northwind(sale)
    contoso, carol = _carol(sale)
    _, config = _add(storefront, contoso, carol, slug="livedesk", edition="Enterprise", quantity=3)
    order = _place(storefront, contoso, carol)
    wholesale, vendor_invoice = _wholesale(order), _invoice(_wholesale(order))

    customer_mail = [m for m in db.session.scalars(select(OutboxMessage)) if "carol@contoso.example.com" in m.to_addrs
                     or "accounts@contoso.example.com" in m.to_addrs]
    assert customer_mail
    for message in customer_mail:
        text = message.subject + message.body_text
        assert wholesale.number not in text and vendor_invoice.number not in text
        assert "discount" not in text.lower() and "margin" not in text.lower()
    # the customer's invoice states the storefront's price only
    document = invoice_document(_invoice(order))
    assert [line.unit_price_minor for line in document.lines] == [pricing.marked_up(config.list_minor, 2500)]
    assert all(line.discount_minor == 0 for line in document.lines)
    # the vendor's invoice lists of Contoso do not list Northwind's invoice to it
    assert list(db.session.scalars(invoices_query(contoso.id))) == []
    assert list(db.session.scalars(unpaid_query(contoso.id))) == []
    assert [i.number for i in db.session.scalars(invoices_query(northwind.id))] == [vendor_invoice.number]


def test_the_reseller_invoice_is_a_valid_factur_x_document(sale, mailbox):
    from invoices.facturx import check_xsd, cii_xml

    storefront, _ = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol, quantity=25)
    order = _place(storefront, contoso, carol)

    document = invoice_document(_invoice(order))
    assert document.seller.name == "Northwind IT LLC" and document.seller.tax_id == storefront.tax_id
    assert document.brand is not None and document.brand.accent_colour == "#0b7a75"
    assert document.totals.due_minor == 0 and document.totals.paid_minor == order.total_minor
    xml = cii_xml(document)
    check_xsd(xml)
    assert b"NORTHWIND-000001" in xml and b"Northwind IT LLC" in xml
    assert b"Vendor Software" not in xml  # the vendor is not the seller


def test_numbers_are_gapless_per_reseller_and_a_failed_sale_gives_its_number_back(sale, mailbox, monkeypatch):
    storefront, northwind = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol)
    first = _place(storefront, contoso, carol)

    _add(storefront, contoso, carol, quantity=25)
    monkeypatch.setattr("portal.storefront_sales.selling._invoice_to_reseller", _fail)
    with pytest.raises(RuntimeError):
        _place(storefront, contoso, carol)
    monkeypatch.undo()
    second = _place(storefront, contoso, carol)

    # a second reseller's series starts at 1 on its own
    other = make_org("Adatum Resellers", billing_mode=BillingMode.MONTHLY_INVOICE)
    customer = make_org("Adatum Customer", parent=other)
    buyer = make_member(customer).user
    shop = Storefront(organization_id=other.id, alias="adatum", display_name="Adatum", tax_id="US12-345",
                      registration_id="REG-1", opened_on=utcnow().date())
    db.session.add(shop)
    db.session.commit()
    _add(shop, customer, buyer)
    third = _place(shop, customer, buyer)

    assert [_invoice(o).number for o in (first, second, third)] == ["NORTHWIND-000001", "NORTHWIND-000002",
                                                                   "ADATUM-000001"]
    assert db.session.get(StorefrontSeries, northwind.id).last_number == 2


def _fail(*args, **kwargs):
    raise RuntimeError("the email could not be written")


def test_a_failure_after_the_charge_leaves_nothing_and_voids_the_charge(sale, monkeypatch):
    storefront, _ = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol, copies=3)

    monkeypatch.setattr("portal.storefront_sales.selling._invoice_to_reseller", _fail)
    with pytest.raises(RuntimeError, match="could not be written"):
        _place(storefront, contoso, carol)
    db.session.rollback()  # as the checkout view does
    monkeypatch.undo()

    assert _charges() == ["given back"]
    _assert_nothing_was_sold(storefront, contoso, carol, cart_size=1)
    # and it can be placed again: one order, one charge kept
    order = _place(storefront, contoso, carol)
    assert _charges() == ["given back", "taken"] and order.gateway_charge_id
    assert _invoice(order).number == "NORTHWIND-000001"


def test_a_declined_card_sells_nothing(sale):
    storefront, _ = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol)
    with pytest.raises(RuleError) as refused:
        _place(storefront, contoso, carol, _card("4000 0000 0000 0002"))
    db.session.rollback()
    assert refused.value.field == "saved_card" and "declined" in refused.value.message
    assert _charges() == ["canceled"]  # nothing taken, and nothing can be taken later for it
    _assert_nothing_was_sold(storefront, contoso, carol, cart_size=1)


def test_a_checkout_submitted_twice_is_one_order_and_one_charge(sale, mailbox):
    storefront, _ = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol)
    items = carts.cart_items(storefront, carol, contoso)
    summary = sale_summary(storefront, contoso, items)
    order = _place(storefront, contoso, carol)
    with pytest.raises(AlreadyPlaced) as again:
        place_storefront_order(storefront, contoso, carol, items, summary.signature, summary.quote.total_minor,
                               _card(), BillingDetails.of(contoso), actor(carol), gateway())
    db.session.rollback()
    assert find_storefront_order(contoso, again.value.order_key).id == order.id
    assert _count(Order) == 2  # the customer's and the wholesale order
    assert len(_charges()) == 1


@pytest.mark.parametrize("change, message", [
    ("prices", "Prices changed"), ("signature", "cart changed"), ("closed", "closed"),
    ("details", "invoicing details"), ("stranger", "customers"),
])
def test_a_refused_checkout_charges_nothing(sale, change, message):
    storefront, _ = _northwind(sale)
    contoso, carol = _carol(sale)
    _add(storefront, contoso, carol)
    overrides = {}
    if change == "prices":
        overrides["expected_total"] = 1
    elif change == "signature":
        overrides["signature"] = "0" * 64
    elif change == "closed":
        storefront.closed_on = utcnow().date() - timedelta(days=1)
        db.session.commit()
    elif change == "details":
        storefront.tax_id = ""
        db.session.commit()
    customer = contoso
    if change == "stranger":  # a sub-chain of another reseller cannot buy here
        customer = make_org("Elsewhere", parent=make_org("Another Reseller"))
        db.session.commit()
    with pytest.raises(RuleError, match=message):
        items = carts.cart_items(storefront, carol, contoso)
        summary = sale_summary(storefront, contoso, items)
        place_storefront_order(storefront, customer, carol, items, overrides.get("signature", summary.signature),
                               overrides.get("expected_total", summary.quote.total_minor), _card(),
                               BillingDetails.of(contoso), actor(carol), gateway())
    db.session.rollback()
    assert _charges() == []
    assert _count(Order) == _count(Invoice) == _count(License, BOUGHT) == 0


# ---------------------------------------------------------------- the wholesale invoice by the reseller's terms


def test_a_pay_on_order_reseller_with_a_saved_card_is_charged_by_the_renewal_runs_collection(sale, mailbox):
    storefront, northwind = _northwind(sale)
    contoso, carol = _carol(sale)
    northwind.billing_mode = BillingMode.PAY_ON_ORDER
    db.session.commit()
    card = sandbox_processor().retrieve_card(processor_card("4242 4242 4242 4242", "Alice Archer"))
    db.session.add(PaymentMethod(organization_id=northwind.id, brand=CardBrand(card.brand), last4=card.last4,
                                 exp_month=card.exp_month, exp_year=card.exp_year, holder_name="Alice Archer",
                                 gateway_token=card.payment_method_id, is_default=True))
    db.session.commit()
    _add(storefront, contoso, carol)
    order = _place(storefront, contoso, carol)

    vendor_invoice = _invoice(_wholesale(order))
    collection = db.session.get(RenewalCollection, vendor_invoice.id)
    today = utcnow().date()
    assert vendor_invoice.status is InvoiceStatus.UNPAID and vendor_invoice.due_on == today
    assert (collection.method, collection.state, collection.next_attempt_on) == (
        CollectionMethod.CARD, CollectionState.CHARGING, today)
    assert len(_charges()) == 1  # the sale charged the customer's card only

    collect_due(today, gateway(), actor(), CollectionTally())
    db.session.expire_all()
    assert db.session.get(Invoice, vendor_invoice.id).status is InvoiceStatus.PAID
    assert db.session.get(RenewalCollection, vendor_invoice.id).state is CollectionState.PAID


def test_a_pay_on_order_reseller_without_a_card_is_invoiced_due_in_30_days(sale, mailbox):
    storefront, northwind = _northwind(sale)
    contoso, carol = _carol(sale)
    northwind.billing_mode = BillingMode.PAY_ON_ORDER
    db.session.execute(PaymentMethod.__table__.delete().where(PaymentMethod.organization_id == northwind.id))
    db.session.commit()
    _add(storefront, contoso, carol)
    order = _place(storefront, contoso, carol)

    vendor_invoice = _invoice(_wholesale(order))
    collection = db.session.get(RenewalCollection, vendor_invoice.id)
    assert vendor_invoice.status is InvoiceStatus.UNPAID
    assert vendor_invoice.due_on == utcnow().date() + timedelta(days=30)
    assert (collection.method, collection.state) == (CollectionMethod.INVOICE, CollectionState.AWAITING_PAYMENT)
    assert vendor_invoice.number in vendor_invoice.note
    [email] = _emails("storefront_wholesale_invoice")
    assert "Pay it by card" in email.body_text
    assert [i.number for i in db.session.scalars(unpaid_query(northwind.id))] == [vendor_invoice.number]


def test_an_alias_taken_again_after_a_purge_never_gives_an_invoice_number_twice(sale):
    from tests.factories import make_storefront_invoice

    first = make_org("Adatum Resellers")
    shop = Storefront(organization_id=first.id, alias="adatum", tax_id="T-1", registration_id="R-1",
                      opened_on=utcnow().date())
    db.session.add(shop)
    db.session.flush()
    assert make_storefront_invoice(shop, make_org("Adatum Customer", parent=first)).number == "ADATUM-000001"
    db.session.delete(shop)  # purged after its retention period: the alias is free, its invoices stay
    db.session.flush()
    second = make_org("Adatum Again")
    again = Storefront(organization_id=second.id, alias="adatum", tax_id="T-2", registration_id="R-2",
                       opened_on=utcnow().date())
    db.session.add(again)
    db.session.flush()
    customer = make_org("Its Customer", parent=second)
    numbers = [make_storefront_invoice(again, customer).number for _ in range(2)]
    assert numbers == [f"ADATUM-R{second.id}-000001", f"ADATUM-R{second.id}-000002"]
