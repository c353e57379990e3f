"""A storefront sale: the reseller's customer buys at the reseller's prices, and the vendor sells the same to the
reseller at the reseller's cost, in one transaction (DOMAIN §8).

The card is charged outside the transaction, exactly as the vendor's checkout does it (portal/orders/services.py:
take the payment, record the order, give it back on failure, through payment intents): no money is ever kept
without the order, and a failure after the charge rolls everything back and voids the charge. What one sale
writes, all or nothing:

1. the customer's order (organization = the customer's sub-chain, seller = the reseller) at the storefront's
   prices, taxed for the customer, and the reseller's invoice to it (invoicing.issue_reseller_invoice), paid;
2. the vendor's wholesale order to the reseller (supplies_order_id = the customer's order) at list price less the
   reseller's partner discount, taxed for the reseller, and the vendor's invoice collected by the reseller's own
   terms (invoicing.issue_wholesale_invoice);
3. the licenses, owned by the reseller (bought on the wholesale order) and assigned at once to the customer;
4. the audit entries of both orders and the emails: the license keys and the order confirmation (from the
   reseller, its invoice attached) to the customer, the vendor's invoice to the reseller's invoice contact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import pricing
from portal.accounts.addresses import refuse_po_box
from portal.accounts.models import Organization, User
from portal.accounts.services import managers_emails
from portal.audit.services import Actor, record
from portal.billing.models import Invoice
from portal.billing.services import Delivered, buyer_snapshot, invoice_attachment
from portal.cart.models import CartItem
from portal.cart.services import consume
from portal.catalog.models import ProductKind, PurchaseKind
from portal.catalog.services import Configuration, discount_bp
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.services import create_unassigned_licenses, give_licenses
from portal.orders.models import Order, OrderLine, PaymentKind
from portal.orders.services import (
    AlreadyPlaced,
    BillingDetails,
    PaymentChoice,
    TakenPayment,
    check_references,
    give_back,
    new_order_number,
)
from portal.outbox.services import enqueue_email, external_url
from portal.payments import intents
from portal.payments.charges import CARD_FIELD, CardChoice, attempt_for, charge_card, resume, return_to
from portal.payments.gateway import PaymentGateway
from portal.payments.services import save_paying_card
from portal.seller.taxes import TaxTerms, tax_terms
from portal.storefront_sales import carts, invoicing
from portal.storefront_sales.carts import StorefrontCart, StorefrontLine, price_lines
from portal.storefront_sales.customers import check_open
from portal.storefronts.models import Storefront
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType

# The customer pays by card only (the sandbox gateway stands for the reseller's merchant account): a saved card
# of the customer's sub-chain or a new one, as the vendor's checkout takes it (kind CARD).
StorefrontPayment = PaymentChoice

__all__ = ["AlreadyPlaced", "SaleSummary", "StorefrontPayment", "find_storefront_order", "place_storefront_order",
           "sale_summary"]


@dataclass(frozen=True)
class SaleSummary:
    """The storefront cart priced for its customer: the storefront's prices, no partner discount, the customer's
    tax. `quote.total_minor` is the total the customer agrees to (the checkout's expected_total)."""

    cart: StorefrontCart
    quote: pricing.Quote
    tax: TaxTerms

    @property
    def lines(self) -> list[StorefrontLine]:
        return self.cart.lines

    @property
    def signature(self) -> str:
        return self.cart.signature


def sale_summary(storefront: Storefront, customer: Organization, items: list[CartItem]) -> SaleSummary:
    """The customer's storefront cart at its prices today, with its tax (what the checkout page shows)."""
    cart = price_lines(storefront, customer, items)
    tax = tax_terms(customer)
    quote = pricing.quote([pricing.LineInput(str(line.item.id), line.price_minor) for line in cart.lines],
                          discount_bp=0, tax_bp=tax.rate_bp)
    return SaleSummary(cart, quote, tax)


def find_storefront_order(customer: Organization, order_key: str) -> Order | None:
    """The customer's storefront order placed for this checkout (its cart signature), if any."""
    return db.session.scalars(select(Order).where(Order.organization_id == customer.id,
                                                  Order.idempotency_key == order_key)).first()


def _check_before_payment(storefront: Storefront, customer: Organization, summary: SaleSummary, signature: str,
                          expected_total: int | None, payment: StorefrontPayment, billing: BillingDetails) -> None:
    check_open(storefront)
    if customer.parent_id != storefront.organization_id:
        raise RuleError("Only the storefront's customers buy here.")
    if not summary.lines:
        raise RuleError("Your cart is empty.")
    if summary.cart.blocked:
        raise RuleError("Some items can no longer be bought as they are. Edit or remove them in your cart.")
    if any(line.item.purchase is not PurchaseKind.NEW or line.config.product.kind is not ProductKind.LICENSE
           for line in summary.lines):
        raise RuleError("This storefront sells new licenses only. Remove the other items from your cart.")
    if signature != summary.signature:
        raise RuleError("Your cart changed in another window or tab. Review this page and place the order again.")
    if expected_total != summary.quote.total_minor:
        raise RuleError("Prices changed since you opened checkout. Review the new total and place the order again.")
    refuse_po_box(billing.address_line1, "address_line1")
    refuse_po_box(billing.address_line2, "address_line2")
    check_references(billing)
    if payment.kind is not PaymentKind.CARD:
        raise RuleError("Pay by card.", field="payment_kind")
    if payment.card.saved_card is not None and payment.card.saved_card.organization_id != customer.id:
        raise RuleError("Choose one of your saved cards or enter a new one.", field="saved_card")
    invoicing.check_invoicing_details(storefront)


def take_payment(storefront: Storefront, customer: Organization, user: User, items: list[CartItem], signature: str,
                 expected_total: int | None, payment: StorefrontPayment, billing: BillingDetails,
                 gateway: PaymentGateway) -> tuple[SaleSummary, TakenPayment]:
    """Check the checkout and charge the customer's card once for it (payment attempt committed on its own
    first). RuleError: nothing charged. AlreadyPlaced: this checkout is already an order. BuyerMustAct: the
    customer goes to the processor first; `complete_storefront_order` places the order once it is paid."""
    if signature and find_storefront_order(customer, signature) is not None:
        raise AlreadyPlaced(signature)
    summary = sale_summary(storefront, customer, items)
    _check_before_payment(storefront, customer, summary, signature, expected_total, payment, billing)
    details = {"flow": "storefront", "storefront_id": storefront.id, "user_id": user.id, "signature": signature,
               "expected_total": expected_total, "billing": dict(billing.__dict__)}
    charge = charge_card(payment.card, summary.quote.total_minor, customer.currency,
                         intents.Purchase(customer.id, intents.Purpose.CHECKOUT, summary.signature), gateway,
                         return_url=return_to("storefront_sales.checkout_return", alias=storefront.alias),
                         details=details)
    return summary, TakenPayment.of(charge)


def _line(order: Order, position: int, config: Configuration, copies: int, unit_minor: int,
          priced: pricing.PricedLine, tax: TaxTerms) -> OrderLine:
    return OrderLine(
        order_id=order.id, position=position, kind=config.product.kind, product_id=config.product.id,
        edition_id=config.edition.id if config.edition else None, product_name=config.product.name,
        edition_name=config.edition.name if config.edition else None, unit_label=config.product.unit_label,
        interval=config.product.interval, quantity=config.quantity, copies=copies,
        addons=[{"id": a.id, "name": a.name, "price_minor": a.price_minor} for a in config.addons],
        purchase=PurchaseKind.NEW, unit_list_minor=unit_minor, list_minor=priced.list_minor,
        discount_minor=priced.discount_minor, tax_minor=priced.tax_minor, tax_rate_bp=tax.rate_bp,
        tax_category=tax.category, total_minor=priced.total_minor)


def _order(org: Organization, user: User, key: str, payment_kind: PaymentKind, quote: pricing.Quote,
           billing: dict, **extra) -> Order:
    return Order(number=new_order_number(), organization_id=org.id, placed_by_id=user.id, idempotency_key=key,
                 payment_kind=payment_kind, currency=org.currency, discount_bp=quote.discount_bp,
                 subtotal_minor=quote.subtotal_minor, discount_minor=quote.discount_minor, tax_minor=quote.tax_minor,
                 total_minor=quote.total_minor, billing=billing, **extra)


def record_sale(storefront: Storefront, customer: Organization, user: User, summary: SaleSummary,
                payment: StorefrontPayment, billing: BillingDetails, taken: TakenPayment, actor: Actor,
                today: date) -> Order:
    """Write the whole sale in the caller's transaction (see the module's docstring); returns the customer's
    order. On any exception the caller rolls back, then gives the charge back."""
    reseller = invoicing.reseller_of(storefront)
    order = _order(customer, user, summary.signature, PaymentKind.CARD, summary.quote, billing.as_dict(),
                   seller_id=reseller.id, card_label=taken.card_label, gateway_charge_id=taken.charge_id,
                   purchase_order_number=billing.purchase_order_number.strip())
    db.session.add(order)
    try:
        db.session.flush()  # the transaction's first write: nothing else to undo if it fails
    except IntegrityError as exc:  # a concurrent submission of the same checkout committed first
        raise AlreadyPlaced(summary.signature) from exc
    consume([line.item for line in summary.lines])
    configs = [(line.config, line.item.copies, line.unit_price_minor) for line in summary.lines]
    sold = [_line(order, position, config, copies, unit, priced, summary.tax)
            for position, ((config, copies, unit), priced) in enumerate(zip(configs, summary.quote.lines,
                                                                            strict=True), start=1)]
    # The vendor's sale to the reseller: the same lines at list price less its partner discount, its tax.
    reseller_tax = tax_terms(reseller)
    cost = pricing.quote([pricing.LineInput(str(i), config.list_minor * copies)
                          for i, (config, copies, _) in enumerate(configs)],
                         discount_bp=discount_bp(reseller), tax_bp=reseller_tax.rate_bp)
    terms = invoicing.wholesale_terms(reseller, today)
    wholesale = _order(reseller, user, f"storefront:{order.number}", terms.payment_kind, cost,
                       buyer_snapshot(reseller), supplies_order_id=order.id, card_label=terms.card_label)
    db.session.add(wholesale)
    db.session.flush()
    bought = [_line(wholesale, position, config, copies, config.list_minor, priced, reseller_tax)
              for position, ((config, copies, _), priced) in enumerate(zip(configs, cost.lines, strict=True),
                                                                       start=1)]
    db.session.add_all(sold + bought)
    db.session.flush()
    licenses, keys = [], {}
    for sold_line, bought_line in zip(sold, bought, strict=True):
        created = create_unassigned_licenses(bought_line, reseller.id, today)
        licenses.extend(created)
        keys[sold_line.id] = keys[bought_line.id] = Delivered(tuple(lic.key for lic in created))
    db.session.flush()
    give_licenses(licenses, reseller, customer, user, actor)
    if taken.new_card is not None and payment.card.save:
        save_paying_card(customer, taken.new_card)
    # The invoice numbers come last: their counter rows stay locked until commit.
    invoice = invoicing.issue_reseller_invoice(order, storefront, today, keys)
    vendor_invoice = invoicing.issue_wholesale_invoice(wholesale, terms, customer.name, order, today, keys)
    db.session.flush()
    record(actor, "storefront.order_placed", order, customer.id, number=order.number, seller=reseller.id,
           storefront=storefront.alias, total_minor=order.total_minor, invoice=invoice.number,
           wholesale_order=wholesale.number)
    record(actor, "order.placed", wholesale, reseller.id, number=wholesale.number, total_minor=wholesale.total_minor,
           payment=wholesale.payment_kind.value, invoice=vendor_invoice.number, supplies=order.number,
           storefront=storefront.alias, collection=terms.method.value)
    # Both orders are the reseller's chain's: its customer's (a sub-chain) and its own from the vendor.
    webhook_events.emit_all(reseller.id, [
        (EventType.ORDER_PLACED, {**webhook_events.order_data(order), "storefront": storefront.alias}),
        (EventType.ORDER_PLACED, {**webhook_events.order_data(wholesale), "supplies": order.number})])
    _confirm_to_customer(storefront, reseller, customer, user, order, sold, invoice, keys)
    _invoice_to_reseller(reseller, wholesale, bought, order, customer, vendor_invoice, terms)
    return order


def _confirm_to_customer(storefront: Storefront, reseller: Organization, customer: Organization, user: User,
                         order: Order,
                         lines: list[OrderLine], invoice: Invoice, keys: dict[int, Delivered]) -> None:
    """The order confirmation from the reseller to the buyer and the customer's invoice contact, with the reseller's
    invoice attached (made when the email is delivered). Replies go to the storefront's contact address."""
    recipients = {user.email} | ({customer.invoice_email} if customer.invoice_email else set())
    reply_to = storefront.contact_email or reseller.invoice_email
    enqueue_email(sorted(recipients), "storefront_order_confirmation", order=order, lines=lines, invoice=invoice,
                  keys={line_id: found.keys for line_id, found in keys.items()}, organization=customer, user=user,
                  seller=storefront.display_name or reseller.name, storefront=storefront,
                  link=external_url("storefront_sales.customer_invoice_pdf", alias=storefront.alias,
                                    invoice_number=invoice.number),
                  attachments=[invoice_attachment(invoice)],
                  headers={"Reply-To": reply_to} if reply_to else None)


def _invoice_to_reseller(reseller: Organization, wholesale: Order, lines: list[OrderLine], order: Order,
                         customer: Organization, invoice: Invoice, terms: invoicing.WholesaleTerms) -> None:
    """The vendor's invoice for the wholesale order to the reseller's invoice contact (else its managers)."""
    recipients = [reseller.invoice_email] if reseller.invoice_email else managers_emails(reseller)
    if recipients:
        enqueue_email(recipients, "storefront_wholesale_invoice", organization=reseller, order=wholesale,
                      lines=lines, supplied=order, customer=customer, invoice=invoice, method=terms.method.value,
                      link=external_url("invoices.detail", invoice_number=invoice.number),
                      sales_link=external_url("storefronts.sales"), attachments=[invoice_attachment(invoice)])


def place_storefront_order(storefront: Storefront, customer: Organization, user: User, items: list[CartItem],
                           signature: str, expected_total: int | None, payment: StorefrontPayment,
                           billing: BillingDetails, actor: Actor, gateway: PaymentGateway,
                           today: date | None = None) -> Order:
    """Buy the storefront cart, committed: the customer's order and the reseller's invoice to it (paid by card),
    the vendor's wholesale order and invoice to the reseller, the licenses assigned to the customer, the audit
    entries and emails. Returns the customer's order. RuleError: nothing was created and no money kept.
    AlreadyPlaced: this checkout is already an order (find it with `find_storefront_order`); no money kept."""
    summary, taken = take_payment(storefront, customer, user, items, signature, expected_total, payment, billing,
                                  gateway)
    return _record(storefront, customer, user, summary, payment, billing, taken, actor, gateway, today)


def complete_storefront_order(storefront: Storefront, customer: Organization, returned_id: str, actor: Actor,
                              gateway: PaymentGateway, today: date | None = None) -> Order:
    """The order of a storefront checkout paid at the processor, placed now if it is not yet, committed.
    RuleError: the payment did not succeed, or the cart changed meanwhile (the money is given back)."""
    attempt = attempt_for(returned_id, customer.id, gateway)
    if attempt is None or attempt.details.get("flow") != "storefront" \
            or attempt.details.get("storefront_id") != storefront.id:
        raise LookupError(returned_id)
    charge_id, details = attempt.gateway_charge_id, attempt.details
    placed = find_storefront_order(customer, details["signature"])
    if placed is not None and placed.gateway_charge_id == charge_id:
        return placed
    _, charge = resume(charge_id, customer.id, gateway)
    taken = TakenPayment.of(charge)
    user = db.session.get(User, details["user_id"])
    # fields(), not __dataclass_fields__: that one also lists the class variables (purchase_order_number, ...).
    billing = BillingDetails(**{field.name: details["billing"][field.name] for field in fields(BillingDetails)})
    payment = StorefrontPayment(PaymentKind.CARD, CardChoice(save=bool(details.get("save"))))
    try:
        if placed is not None:
            raise AlreadyPlaced(details["signature"])
        summary = sale_summary(storefront, customer, carts.cart_items(storefront, user, customer))
        if summary.signature != details["signature"] or summary.quote.total_minor != details["expected_total"]:
            raise RuleError("Your cart changed while you were paying, so no order was placed and the payment was "
                            "given back. Review the cart and place the order again.", field=CARD_FIELD)
    except BaseException:
        db.session.rollback()
        give_back(taken, gateway)
        raise
    return _record(storefront, customer, user, summary, payment, billing, taken, actor, gateway, today)


def _record(storefront: Storefront, customer: Organization, user: User, summary: SaleSummary,
            payment: StorefrontPayment, billing: BillingDetails, taken: TakenPayment, actor: Actor,
            gateway: PaymentGateway, today: date | None) -> Order:
    try:
        order = record_sale(storefront, customer, user, summary, payment, billing, taken, actor,
                            today or utcnow().date())
        intents.succeed(taken.intent_id)
        db.session.commit()
    except AlreadyPlaced:
        db.session.rollback()
        give_back(taken, gateway, find_storefront_order(customer, summary.signature))
        raise
    except BaseException:
        db.session.rollback()
        give_back(taken, gateway)
        raise
    return order
