"""Checkout: price the cart for the buyer, offer the payment methods its account may use, and place the order
in two steps, because the payment gateway is outside the database transaction:

1. `take_payment` checks everything and charges the card (idempotently, keyed by the cart and the card), after
   recording the payment attempt (portal/payments/intents.py);
2. `record_order` writes, in the caller's one transaction, the order, the licenses or subscription quantities,
   the order invoice, the audit entry and the confirmation email.

If step 2 fails the caller rolls back and calls `give_back`: `orders.checkout.place_order` does all of it.
A checkout submitted twice creates one order and one charge: the order's unique (organization, cart signature)
key, and the gateway's idempotency key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import ClassVar

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import pricing
from portal.accounts.addresses import refuse_po_box
from portal.accounts.models import BillingMode, Organization, User
from portal.audit.services import Actor, record
from portal.billing.models import Invoice
from portal.billing.services import Delivered, invoice_attachment, issue_order_invoice
from portal.cart.models import CartItem
from portal.cart.services import CartLine, cart_lines, cart_signature, consume
from portal.catalog.models import Product, ProductKind, PurchaseKind
from portal.catalog.services import discount_bp
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware import ordering
from portal.hardware.shipping import create_shipments
from portal.licenses.models import License
from portal.licenses.modify import application_order, apply_modification
from portal.licenses.services import create_unassigned_licenses
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.outbox.services import enqueue_email, external_url
from portal.payments import intents
from portal.payments.charges import CARD_FIELD, CardCharge, CardChoice, charge_card, return_to
from portal.payments.gateway import PaymentGateway
from portal.payments.processor import CardDetails
from portal.payments.services import save_paying_card
from portal.receipts.methods import other_methods_allowed
from portal.receipts.services import record_checkout_payment
from portal.reseller_plans.plans import check_plan_choice, check_plan_purchase, deliver_plan, is_plan_product
from portal.seller.taxes import NO_TAX, TaxTerms, tax_terms
from portal.subscriptions.services import add_subscription_quantity
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType

OTHER_METHODS = (PaymentKind.WIRE, PaymentKind.ACH, PaymentKind.CHECK)
ORDER_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class CheckoutSummary:
    lines: list[CartLine]
    quote: pricing.Quote
    signature: str
    tax: TaxTerms = NO_TAX  # the buyer's rate and category, carried onto each order line
    # Hardware lines, by cart item id: the destination's tax (in place of the buyer's) and the shipping charge
    line_tax: dict[int, TaxTerms] = field(default_factory=dict)
    shipping: dict[int, int] = field(default_factory=dict)

    def tax_of(self, line: CartLine) -> TaxTerms:
        return self.line_tax.get(line.item.id, self.tax)

    def priced(self, line: CartLine) -> tuple[pricing.PricedLine, pricing.PricedLine | None]:
        """The quote's line for `line`, and its shipping line (None: no shipping charged)."""
        by_key = {priced.key: priced for priced in self.quote.lines}
        return by_key[str(line.item.id)], by_key.get(shipping_key(line.item.id))

    @property
    def destinations(self) -> list[Destination]:
        """Shipping and tax per location the order ships to, in cart order."""
        found: dict[int, Destination] = {}
        for line in self.lines:
            if line.location is None or line.item.id not in self.line_tax:
                continue
            goods, shipping = self.priced(line)
            before = found.get(line.location.id, Destination(line.location, self.line_tax[line.item.id], 0, 0))
            found[line.location.id] = replace(
                before, shipping_minor=before.shipping_minor + (shipping.list_minor if shipping else 0),
                tax_minor=before.tax_minor + goods.tax_minor + (shipping.tax_minor if shipping else 0))
        return list(found.values())

    @property
    def shipping_minor(self) -> int:
        return sum(self.shipping.values())

    @property
    def buyer_tax_minor(self) -> int:
        """The tax at the buyer's rate: on everything that does not ship."""
        return self.quote.tax_minor - sum(d.tax_minor for d in self.destinations)

    @property
    def ships_only(self) -> bool:
        return all(line.location is not None for line in self.lines)

    @property
    def blocked(self) -> list[CartLine]:
        return [line for line in self.lines if line.config is None]

    @property
    def changed(self) -> list[CartLine]:
        return [line for line in self.lines if line.price_changed]


@dataclass(frozen=True)
class Destination:
    """What checkout shows per location hardware ships to: the tax there, the shipping and the tax charged."""

    location: Location
    tax: TaxTerms
    shipping_minor: int
    tax_minor: int


def shipping_key(item_id: int) -> str:
    """The quote's key of a hardware line's shipping (the line's own key is its cart item id)."""
    return f"{item_id}:shipping"


@dataclass(frozen=True)
class BillingDetails:
    legal_name: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    invoice_email: str
    phone: str
    purchase_order_number: ClassVar[str] = ""  # none, unless given at checkout (CheckoutDetails)
    storefront_alias: ClassVar[str] = ""  # asked at checkout when a reseller plan opens a storefront

    @classmethod
    def of(cls, org: Organization) -> BillingDetails:
        return cls(org.legal_name, org.address_line1, org.address_line2, org.city, org.region, org.postal_code,
                   org.country, org.invoice_email, org.phone)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CheckoutDetails(BillingDetails):
    """The billing details given at checkout, and the buyer's own purchase order number for the order (printed
    on its invoice and carried as the Factur-X buyer reference; not one of the billing details kept)."""

    purchase_order_number: str = ""
    storefront_alias: str = ""  # a reseller plan's new storefront (portal/reseller_plans/aliases.py)

    def as_dict(self) -> dict:
        """The billing details alone, as the order keeps them."""
        return {name: value for name, value in self.__dict__.items()
                if name not in ("purchase_order_number", "storefront_alias")}


PURCHASE_ORDER_NUMBER_LENGTH = 64  # Order.purchase_order_number


def check_references(billing: BillingDetails) -> None:
    """The invoice contact must be an email address (it is written into an immutable invoice) and the purchase
    order number, if given, at most 64 printable characters: RuleError beside the field otherwise."""
    try:
        validate_email(billing.invoice_email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise RuleError(f"Give the invoice contact as an email address. {exc}", field="invoice_email") from exc
    number = billing.purchase_order_number.strip()
    if len(number) > PURCHASE_ORDER_NUMBER_LENGTH:
        raise RuleError(f"A purchase order number has at most {PURCHASE_ORDER_NUMBER_LENGTH} characters; this one "
                        f"has {len(number)}.", field="purchase_order_number")
    if not number.isprintable():
        raise RuleError("A purchase order number is one line of letters, digits and punctuation.",
                        field="purchase_order_number")


@dataclass(frozen=True)
class PaymentChoice:
    kind: PaymentKind
    card: CardChoice = CardChoice()  # for PaymentKind.CARD: saved, entered in the hosted fields, or on the
    #                                  processor's hosted page


class AlreadyPlaced(Exception):
    """This checkout was already placed (double click, back button, second tab); `order_key` finds it."""

    def __init__(self, order_key: str):
        super().__init__(order_key)
        self.order_key = order_key


def checkout_summary(org: Organization, items: list[CartItem]) -> CheckoutSummary:
    """The cart priced for this buyer: list prices, its tier's discount as its own figure, tax. Hardware lines and
    their shipping (after the goods, not discounted) are taxed at their destination's rate, the rest at the
    buyer's."""
    lines = cart_lines(items)
    tax = tax_terms(org)
    hardware = [line for line in lines if line.location is not None and line.config is not None]
    line_tax = {line.item.id: ordering.destination_tax(tax, line.location) for line in hardware}
    shipping = ordering.shipping_charges([ordering.Parcel(line.item.id, line.config.product, line.location.id,
                                                          line.config.quantity * line.item.copies)
                                          for line in hardware])
    inputs = [pricing.LineInput(str(line.item.id), line.list_minor,
                                tax_bp=line_tax[line.item.id].rate_bp if line.item.id in line_tax else None)
              for line in lines]
    inputs += [pricing.LineInput(shipping_key(item_id), charge, tax_bp=line_tax[item_id].rate_bp, discountable=False)
               for item_id, charge in shipping.items() if charge]
    quote = pricing.quote(inputs, discount_bp=discount_bp(org), tax_bp=tax.rate_bp)
    return CheckoutSummary(lines, quote, cart_signature(items), tax, line_tax, shipping)


def payment_options(org: Organization, total_minor: int) -> list[PaymentKind]:
    """Card always; Invoice me for accounts invoiced monthly; wire, ACH and check from USD 1,000.00 or when
    the account is grandfathered (receipts.methods.other_methods_allowed)."""
    options = [PaymentKind.CARD]
    if org.billing_mode is BillingMode.MONTHLY_INVOICE:
        options.append(PaymentKind.INVOICE)
    if other_methods_allowed(org, total_minor):
        options.extend(OTHER_METHODS)
    return options


def find_order(org: Organization, order_key: str) -> Order | None:
    return db.session.scalars(select(Order).where(Order.organization_id == org.id,
                                                  Order.idempotency_key == order_key)).first()


def _check_before_payment(org: Organization, summary: CheckoutSummary, signature: str, expected_total: int | None,
                          payment: PaymentChoice, billing: BillingDetails) -> None:
    if not summary.lines:
        raise RuleError("Your cart is empty.")
    if summary.blocked:
        raise RuleError("Some items can no longer be bought as they are. Edit or remove them in your cart.")
    if signature != summary.signature:
        raise RuleError("Your cart changed in another window or tab. Review this page and place the order again.")
    if expected_total != summary.quote.total_minor:
        raise RuleError("Prices changed since you opened checkout. Review the new total and place the order again.")
    refuse_po_box(billing.address_line1, "address_line1")
    refuse_po_box(billing.address_line2, "address_line2")
    check_references(billing)
    check_plan_purchase(org, [(line.config.product, line.config.quantity * line.item.copies)
                              for line in summary.lines], billing.storefront_alias)
    if payment.kind not in payment_options(org, summary.quote.total_minor):
        raise RuleError("That payment method is not available for this order.", field="payment_kind")


@dataclass(frozen=True)
class TakenPayment:
    """What the gateway took for a checkout (nothing for invoices and free orders)."""

    charge_id: str | None = None
    card_label: str | None = None
    new_card: CardDetails | None = None  # the card that paid, when it was not a saved one
    intent_id: int | None = None  # the payment attempt (portal/payments/intents.py)

    @classmethod
    def of(cls, charge: CardCharge) -> TakenPayment:
        return cls(charge.charge_id, charge.card_label, charge.new_card, charge.intent_id)


def checkout_to_resume(user: User, signature: str, expected_total: int | None, billing: CheckoutDetails) -> dict:
    """What completes this checkout when the buyer comes back from the processor (or its webhook arrives)."""
    return {"flow": "checkout", "user_id": user.id, "signature": signature, "expected_total": expected_total,
            "billing": dict(billing.__dict__)}


def take_payment(org: Organization, user: User, items: list[CartItem], signature: str, expected_total: int | None,
                 payment: PaymentChoice, billing: CheckoutDetails, gateway: PaymentGateway, *,
                 off_session: bool = False) -> tuple[CheckoutSummary, TakenPayment]:
    """Check the checkout and take the money. Writes nothing in the caller's transaction (the payment attempt is
    committed on its own before the charge, portal/payments/intents.py): RuleError means nothing was charged;
    AlreadyPlaced means this checkout is already an order (double click, back button, second tab); BuyerMustAct
    means the buyer goes to the processor first, and the order is placed when the payment succeeds
    (`checkout.complete_order`)."""
    if signature and find_order(org, signature) is not None:
        raise AlreadyPlaced(signature)
    summary = checkout_summary(org, items)
    _check_before_payment(org, summary, signature, expected_total, payment, billing)
    if payment.kind is not PaymentKind.CARD:
        return summary, TakenPayment()
    charge = charge_card(payment.card, summary.quote.total_minor, org.currency,
                         intents.Purchase(org.id, intents.Purpose.CHECKOUT, summary.signature), gateway,
                         return_url=return_to("orders.checkout_return"),
                         details=checkout_to_resume(user, signature, expected_total, billing),
                         off_session=off_session)
    return summary, TakenPayment.of(charge)


def check_paid_checkout(org: Organization, items: list[CartItem], signature: str,
                        expected_total: int | None) -> CheckoutSummary:
    """The checkout a payment made at the processor paid for, as it stands now: RuleError if the cart or its
    prices changed while the buyer was away (the caller gives the money back)."""
    summary = checkout_summary(org, items)
    if not summary.lines or summary.blocked or summary.signature != signature \
            or summary.quote.total_minor != expected_total:
        raise RuleError("Your cart changed while you were paying, so no order was placed and the payment was "
                        "given back. Review the cart and place the order again.", field=CARD_FIELD)
    return summary


def give_back(taken: TakenPayment, gateway: PaymentGateway, placed: Order | None = None) -> None:
    """Void a charge whose order was not recorded (call it after the rollback), unless it is the charge of the
    order already placed for this checkout, which the gateway's idempotency handed to this request too (its
    payment attempt succeeded with that order)."""
    if taken.charge_id and (placed is None or placed.gateway_charge_id != taken.charge_id):
        intents.give_back(taken.intent_id, taken.charge_id, gateway)


def record_order(org: Organization, user: User, summary: CheckoutSummary, payment: PaymentChoice,
                 billing: BillingDetails, taken: TakenPayment, actor: Actor) -> Order:
    """Write the order, what it bought, its invoice, the audit entry and the confirmation email in the caller's
    transaction. On any exception the caller rolls back, then calls `give_back`."""
    quote = summary.quote
    order = Order(number=new_order_number(), organization_id=org.id, placed_by_id=user.id,
                  idempotency_key=summary.signature, payment_kind=payment.kind, card_label=taken.card_label,
                  gateway_charge_id=taken.charge_id, currency=org.currency, discount_bp=quote.discount_bp,
                  subtotal_minor=quote.subtotal_minor, discount_minor=quote.discount_minor,
                  tax_minor=quote.tax_minor, total_minor=quote.total_minor, billing=billing.as_dict(),
                  purchase_order_number=billing.purchase_order_number.strip())
    db.session.add(order)
    try:
        db.session.flush()  # the transaction's first write: nothing else to undo if it fails
    except IntegrityError as exc:  # a concurrent submission of the same checkout committed first
        raise AlreadyPlaced(summary.signature) from exc  # (the caller finds it, or reports a conflict)
    consume([line.item for line in summary.lines])
    today = utcnow().date()
    delivered: dict[int, Delivered] = {}
    order_lines = [_order_line(order, position, line, *summary.priced(line), summary.tax_of(line))
                   for position, line in enumerate(summary.lines, start=1)]
    db.session.add_all(order_lines)
    db.session.flush()
    for order_line in application_order(order_lines):  # a license's upgrade before the M&S priced on it
        if order_line.kind is not ProductKind.HARDWARE:  # hardware is delivered by its shipments
            delivered[order_line.id] = _deliver(org, order_line, today, actor, billing.storefront_alias)
    if any(order_line.kind is ProductKind.HARDWARE for order_line in order_lines):
        create_shipments(order)
    if taken.new_card is not None and payment.card.save:
        save_paying_card(org, taken.new_card)
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                               .order_by(OrderLine.position)).all()
    # The invoice number comes last: its counter row stays locked until commit, so other checkouts wait only
    # for the invoice, the audit entry and the email, not for the whole order.
    invoice = issue_order_invoice(order, today, delivered)
    db.session.flush()
    record(actor, "order.placed", order, org.id, number=order.number, total_minor=order.total_minor,
           payment=payment.kind.value, invoice=invoice.number)
    webhook_events.emit(EventType.ORDER_PLACED, org.id, webhook_events.order_data(order))
    _confirm_by_email(org, user, order, lines, invoice, delivered)
    if taken.charge_id:  # the card was charged (a zero total charges nothing and needs no receipt)
        record_checkout_payment(invoice, taken.card_label or "Card", taken.charge_id, actor)
    return order


def place_plan_order_for(org: Organization, product: Product, alias: str, staff: User, actor: Actor) -> Order:
    """Staff put a reseller on a plan on its behalf (the "BSS" path): the same order, invoice, delivery (the
    storefront opens, the welcome email goes out) and audit entry as a checkout, billed by the reseller's terms:
    to be summarized when invoiced monthly, else an invoice due in 30 days. Nothing is charged."""
    if not is_plan_product(product):
        raise RuleError("Choose Free or Standard.", field="plan")
    check_plan_choice(org, product)
    item = CartItem(user_id=staff.id, organization_id=org.id, product_id=product.id, quantity=1, copies=1,
                    addon_ids=[], quoted_list_minor=0)
    db.session.add(item)
    db.session.flush()
    summary = checkout_summary(org, [item])
    item.quoted_list_minor = summary.lines[0].unit_list_minor
    billing = CheckoutDetails(**BillingDetails.of(org).as_dict(), storefront_alias=alias)
    check_plan_purchase(org, [(product, 1)], alias)
    kind = PaymentKind.INVOICE if org.billing_mode is BillingMode.MONTHLY_INVOICE else PaymentKind.WIRE
    return record_order(org, staff, summary, PaymentChoice(kind), billing, TakenPayment(), actor)


def new_order_number() -> str:
    """ORD- and ten random base32 symbols (50 bits): unique without a shared counter to wait on."""
    return "ORD-" + "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(10))


def _order_line(order: Order, position: int, line: CartLine, priced: pricing.PricedLine,
                shipping: pricing.PricedLine | None = None, tax: TaxTerms = NO_TAX) -> OrderLine:
    """The order's line for a cart line; a hardware line carries its destination, its shipping charge and the
    shipping's tax (its total is goods and shipping, taxed)."""
    config = line.config
    shipped = {}
    if line.location is not None:
        shipped = {"location_id": line.location.id, "ship_to": line.location.shipping_address,
                   "shipping_minor": shipping.list_minor if shipping else 0}
    shipping_tax = shipping.tax_minor if shipping else 0
    shipping_total = shipping.total_minor if shipping else 0
    return OrderLine(
        order_id=order.id, position=position, kind=config.product.kind, product_id=config.product.id,
        edition_id=config.edition.id if config.edition else None, product_name=config.product.name,
        edition_name=config.edition.name if config.edition else None, unit_label=config.product.unit_label,
        interval=config.product.interval, quantity=config.quantity, copies=line.item.copies,
        addons=[{"id": a.id, "name": a.name, "price_minor": a.price_minor} for a in config.addons],
        purchase=line.item.purchase, license_id=line.item.license_id,
        unit_list_minor=line.unit_list_minor, list_minor=priced.list_minor, discount_minor=priced.discount_minor,
        tax_minor=priced.tax_minor + shipping_tax, tax_rate_bp=tax.rate_bp, tax_category=tax.category,
        total_minor=priced.total_minor + shipping_total, **shipped,
    )


def _deliver(org: Organization, line: OrderLine, today: date, actor: Actor, alias: str = "") -> Delivered:
    """What the line bought: a change to a license, unassigned licenses, or more subscriptions on the main
    chain's plan; returns the keys and service period its invoice line states. An M&S renewal covers the day
    after the old expiry to the new one, a reinstatement the order day to the new expiry (a year on); a
    subscription line the plan's period it joins, from the order day to the day before its next payment."""
    if line.purchase is not PurchaseKind.NEW:
        # the expiry before the change, read under the lock apply_modification takes again
        expired_on = db.session.scalar(select(License.ms_expires_on).where(License.id == line.license_id)
                                       .with_for_update())
        license_ = apply_modification(org, line, today, actor)
        period = None
        if line.purchase is PurchaseKind.RENEWAL and expired_on is not None:
            period = (expired_on + timedelta(days=1), license_.ms_expires_on)
        elif line.purchase is PurchaseKind.REINSTATEMENT:
            period = (today, license_.ms_expires_on)
        return Delivered((license_.key,), period)
    if line.kind is ProductKind.LICENSE:
        return Delivered(tuple(license_.key for license_ in create_unassigned_licenses(line, org.id, today)))
    product = db.session.get(Product, line.product_id)
    if is_plan_product(product):  # a reseller plan: starts or upgrades the plan, opens the storefront
        subscription = deliver_plan(org, product, alias, today, actor)
    else:
        subscription = add_subscription_quantity(org, line.product_id, line.quantity, today)
    return Delivered(period=(today, max(subscription.next_payment_on, today + timedelta(days=1)) - timedelta(days=1)))


def _confirm_by_email(org: Organization, user: User, order: Order, lines: list[OrderLine], invoice: Invoice,
                      delivered: dict[int, Delivered]) -> None:
    """The confirmation to the buyer and the invoice contact: what was bought, the license keys, and the
    invoice's PDF attached (made when the email is delivered, after this transaction: see invoice_attachment)."""
    recipients = {user.email} | ({org.invoice_email} if org.invoice_email else set())
    enqueue_email(sorted(recipients), "order_confirmation", order=order, lines=lines, invoice=invoice,
                  keys={line_id: found.keys for line_id, found in delivered.items()},
                  organization=org, user=user, link=external_url("orders.detail", number=order.number),
                  attachments=[invoice_attachment(invoice)])


def orders_query(org_ids) -> object:
    """Newest-first orders of the given organizations (pass authz.organization_ids_where)."""
    return (select(Order).where(Order.organization_id.in_(org_ids))
            .order_by(Order.created_at.desc(), Order.id.desc()))
