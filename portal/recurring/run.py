"""The renewal run (`flask --app wsgi billing renew`, or staff's "Run renewals"): every plan and every
auto-renewing Maintenance & Support due on or before a date is billed, one renewal invoice per main chain.

What is due, stated once:
- a plan (Subscription) of a main chain with a quantity, whose next payment date is on or before the date and not
  after its expiry date (if it has one). A plan two periods behind bills two periods, each its own line.
- an auto-renewing license (License.auto_renew) owned by a main chain whose M&S ended before the date, at most
  `autorenew.GRACE_DAYS` (30) days ago: M&S lapsed for longer needs a reinstatement (a renewal plus the
  reinstatement charge), which a reseller buys from Modify a License; the run never does it.

For each plan and period: its scheduled change first (a decrease, a cancellation, a switch of interval), then one
line at the product's price in force, the organization's tier discount and its tax, priced by `pricing.quote`
as checkout prices a cart; the next payment date then moves by the interval from the plan's anchor day
(`pricing.advance_billing_date`). Each period is recorded as a `Renewal` row, unique per plan (or license) and
period start: a period is billed exactly once, however often the run runs or however many run at once.

Organizations are renewed `RENEW_BATCH` per transaction (as the monthly summary run does): a run stopped halfway
keeps the batches it committed and the next run does the rest. On PostgreSQL the plans and licenses of a batch are
locked with FOR UPDATE SKIP LOCKED, so a concurrent run passes over what this one is billing; should two runs
still meet (SQLite has no row locks), the unique renewal rows refuse the second: that batch is rolled back and
left to the run that billed it. After each batch, the cards due are charged (portal/recurring/collection.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import pricing
from portal.accounts.models import Organization
from portal.audit.services import Actor, audit_entry, record
from portal.billing.models import SUMMARIZED_NOTE, InvoiceStatus
from portal.billing.services import (
    PAYMENT_TERMS_DAYS,
    IssuedLine,
    buyer_snapshot,
    issue_invoice,
)
from portal.catalog.models import BillingInterval, Product, ProductKind, PurchaseKind
from portal.catalog.services import discount_bp, products_by_id
from portal.credits.services import apply_available_credit, organizations_with_credit
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.models import License
from portal.licenses.modify import quote_maintenance
from portal.money import Money, format_money
from portal.payments.gateway import PaymentGateway
from portal.recurring.autorenew import GRACE_DAYS, Collection, renewal_collections
from portal.recurring.collection import RETRY_DAYS, CollectionTally, collect_due, send_renewal_invoice, settle_paid
from portal.recurring.models import CollectionMethod, CollectionState, Renewal, RenewalCollection
from portal.reseller_fees.collection import FeeRun, bill_month_fees
from portal.reseller_plans.plans import plan_ended
from portal.seller.details import seller_snapshot
from portal.seller.taxes import TaxTerms, tax_terms
from portal.subscriptions.models import Subscription
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType

RENEW_BATCH = 50  # organizations per transaction

CARD_NOTE = ("Renewal charged to {card} on {day}. Should the charge fail we try again {retries} days later, and "
             "you can pay it from the Invoices page with another card.")
INVOICE_NOTE = ("Renewal of your plans and Maintenance & Support. Payment is due within {days} days, by {due}: pay "
                "it by card from the Invoices page{other}, quoting invoice {number}.")
PAID_BY_CREDIT_NOTE = "Renewal: nothing to pay (covered by your credit)."


@dataclass
class RenewalRun:
    """What a run did, for its closing summary."""

    invoices: int = 0
    plans: int = 0  # plan periods billed
    licenses: int = 0  # years of M&S billed
    cancelled: int = 0  # plans ended by their scheduled cancellation
    amounts: Counter = field(default_factory=Counter)  # (collection method, currency) -> total billed, minor units
    invoices_sent: int = 0  # emailed to the managers, due in 30 days
    skipped_batches: int = 0  # met a concurrent run: left to it
    collection: CollectionTally = field(default_factory=CollectionTally)
    fees: FeeRun = field(default_factory=FeeRun)  # pay-on-order resellers' fee invoices of the month before


# ---------------------------------------------------------------- what is due


def _due_plans(today: date):
    return (Subscription.quantity > 0, Subscription.next_payment_on <= today,
            or_(Subscription.expires_on.is_(None), Subscription.next_payment_on <= Subscription.expires_on))


def _due_licenses(today: date):
    return (License.auto_renew.is_(True), License.ms_expires_on < today,
            License.ms_expires_on >= today - timedelta(days=GRACE_DAYS))


def due_organizations(today: date) -> list[int]:
    """Ids of the main chains with a plan or an auto-renewing M&S due on `today`, in id order."""
    plans = (select(Subscription.organization_id.label("id"))
             .join(Organization, Organization.id == Subscription.organization_id)
             .where(Organization.parent_id.is_(None), *_due_plans(today)))
    licenses = (select(License.owner_id.label("id")).join(Organization, Organization.id == License.owner_id)
                .where(Organization.parent_id.is_(None), *_due_licenses(today)))
    return sorted(db.session.scalars(select(union(plans, licenses).subquery().c.id)))


# ---------------------------------------------------------------- pricing, once per run


class _Terms:
    """The discount of each partner tier and the tax of each place, asked once per run (the same functions checkout
    asks, so a renewal is priced as a purchase made that day); per batch, the seller's details invoices store and
    the organizations with credit notes to consume."""

    def __init__(self) -> None:
        self._discounts: dict = {}
        self._taxes: dict = {}
        self.seller: dict = {}
        self.with_credit: set[int] = set()

    def read_batch(self, org_ids: list[int]) -> None:
        self.seller = seller_snapshot()
        self.with_credit = organizations_with_credit(org_ids)

    def discount_bp(self, org: Organization) -> int:
        if org.partner_tier not in self._discounts:
            self._discounts[org.partner_tier] = discount_bp(org)
        return self._discounts[org.partner_tier]

    def tax(self, org: Organization) -> TaxTerms:
        place = (org.tax_exempt, org.country, org.region)
        if place not in self._taxes:
            self._taxes[place] = tax_terms(org)
        return self._taxes[place]


@dataclass(frozen=True)
class _Line:
    """A period to bill, before pricing: its words, units, unit price, list price and what it renews."""

    description: str
    quantity: int
    unit_price_minor: int
    list_minor: int
    period: tuple[date, date]
    product_id: int
    subscription_id: int | None = None
    license_id: int | None = None


def period_words(start: date, end: date) -> str:
    return f" · service period {start.isoformat()} to {end.isoformat()}"


def plan_description(product: PlanProduct, quantity: int, start: date, end: date) -> str:
    """"Renewal: Device Protection, 7 devices (monthly) · service period 2027-01-15 to 2027-02-14"."""
    return (f"Renewal: {product.name}, {quantity} {product.unit_label} ({product.interval.value})"
            + period_words(start, end))


# ---------------------------------------------------------------- plans


_PLAN_COLUMNS = (Subscription.id, Subscription.organization_id, Subscription.product_id, Subscription.quantity,
                 Subscription.next_payment_on, Subscription.anchor_day, Subscription.expires_on,
                 Subscription.scheduled_quantity, Subscription.scheduled_product_id)
# One UPDATE per new next payment date (an organization's plans mostly move to the same day), not one per plan.
_MOVE_PLANS = (update(Subscription.__table__)
               .where(Subscription.__table__.c.id.in_(bindparam("plan_ids", expanding=True)))
               .values(next_payment_on=bindparam("next_payment_on")))


def _apply_scheduled_change(plan_id: int, products: dict[int, PlanProduct], actor: Actor) -> Subscription:
    """The change scheduled on the plan takes effect at the start of the period being renewed: a cancellation
    ends it (quantity 0, ended the day before), a decrease lowers its quantity, a switch moves it to the product
    of the other interval unless the chain already has a plan of that product. Audited; the change is cleared."""
    plan = db.session.get(Subscription, plan_id)
    before = {"quantity": plan.quantity, "product": plan.product_id}
    new_product = plan.scheduled_product_id
    if plan.scheduled_quantity == 0:
        plan.quantity = 0
        plan.ended_on = plan.next_payment_on - timedelta(days=1)
        action, details = "subscription.cancelled", {"ended_on": plan.ended_on.isoformat()}
        new_product = None
        plan_ended(plan, plan.ended_on)  # a reseller plan closes its storefront (kept for the retention period)
    elif plan.scheduled_quantity is not None and plan.scheduled_quantity != plan.quantity:
        plan.quantity = plan.scheduled_quantity
        action, details = "subscription.decreased", {"quantity": plan.quantity}
    else:
        action, details = None, {}
    if new_product is not None and new_product != plan.product_id:
        taken = db.session.scalar(select(Subscription.id).where(Subscription.organization_id == plan.organization_id,
                                                               Subscription.product_id == new_product))
        if taken is not None or new_product not in products:
            record(actor, "subscription.switch_skipped", plan, plan.organization_id, product=new_product,
                   reason="the chain already has a plan of that product" if taken is not None
                   else "that product is no longer a subscription sold")
        else:
            plan.product_id = new_product
            record(actor, "subscription.switched", plan, plan.organization_id, before=before["product"],
                   after=new_product, starts_on=plan.next_payment_on.isoformat())
    plan.scheduled_quantity = plan.scheduled_product_id = plan.scheduled_at = plan.scheduled_by_id = None
    if action:
        record(actor, action, plan, plan.organization_id, before=before["quantity"], **details)
    db.session.flush()
    return plan


def _plan_lines(row, today: date, products: dict[int, PlanProduct],
                actor: Actor) -> tuple[list[_Line], list[dict], bool]:
    """Every period of one plan due by `today`, its new next payment date (as an update row) and whether its
    scheduled cancellation ended it."""
    product_id, quantity, due_on = row.product_id, row.quantity, row.next_payment_on
    scheduled = row.scheduled_quantity is not None or row.scheduled_product_id is not None
    lines: list[_Line] = []
    while quantity > 0 and due_on <= today and (row.expires_on is None or due_on <= row.expires_on):
        if scheduled:  # the first period after the change was scheduled: it takes effect now
            plan = _apply_scheduled_change(row.id, products, actor)
            product_id, quantity, scheduled = plan.product_id, plan.quantity, False
            if quantity == 0:
                return lines, ([{"plan_id": row.id, "next_payment_on": due_on}] if lines else []), True
        product = products.get(product_id)
        if product is None:  # no longer a subscription product: nothing to price it at (staff's to settle)
            break
        ends = pricing.advance_billing_date(due_on, product.interval.months, row.anchor_day)
        last = ends - timedelta(days=1)
        lines.append(_Line(plan_description(product, quantity, due_on, last), quantity, product.unit_price_minor,
                           pricing.subscription_list_price(product.unit_price_minor, quantity), (due_on, last),
                           product_id, subscription_id=row.id))
        due_on = ends
    moved = [{"plan_id": row.id, "next_payment_on": due_on}] if lines else []
    return lines, moved, False


# ---------------------------------------------------------------- Maintenance & Support


def _license_line(license_: License, product: Product, customer: str | None) -> _Line:
    """One more year of M&S, priced as Modify a License prices a renewal on its expiry day."""
    renewal = quote_maintenance(license_, product, PurchaseKind.RENEWAL, license_.ms_expires_on)
    start, end = license_.ms_expires_on + timedelta(days=1), renewal.ms_expires_on
    what = (f"M&S renewal: {product.name} {renewal.current.edition.name}, {license_.quantity} {product.unit_label}"
            f" · license {license_.key}" + (f" · for {customer}" if customer else ""))
    period = period_words(start, end)
    license_.ms_expires_on = end
    return _Line(what[:255 - len(period)] + period, 1, renewal.list_minor, renewal.list_minor, (start, end),
                 product.id, license_id=license_.id)


# ---------------------------------------------------------------- one organization


@dataclass(frozen=True)
class _Collection:
    method: CollectionMethod
    status: InvoiceStatus
    due_on: date | None
    note: str | Callable[[str], str]
    state: CollectionState


def _how_collected(org: Organization, collection: Collection, today: date) -> _Collection:
    """The invoice's status, due date and note for the way the account pays (autorenew.renewal_collections decides
    it, the one home of the rule): the monthly summary gathers it, the saved default card is charged today, or it
    is due in 30 days."""
    if collection.method is CollectionMethod.SUMMARY:
        return _Collection(CollectionMethod.SUMMARY, InvoiceStatus.TO_BE_SUMMARIZED, None, SUMMARIZED_NOTE,
                           CollectionState.SUMMARIZED)
    if collection.method is CollectionMethod.CARD and collection.card is not None:
        return _Collection(CollectionMethod.CARD, InvoiceStatus.UNPAID, today,
                           CARD_NOTE.format(card=collection.card.label, day=today.isoformat(),
                                            retries=", ".join(str(d) for d in RETRY_DAYS[:-1])
                                            + f" and {RETRY_DAYS[-1]}"),
                           CollectionState.CHARGING)
    due = today + timedelta(days=PAYMENT_TERMS_DAYS)
    other = ", or by wire transfer, ACH or check" if org.grandfathered_payment_methods else ""

    def note(number: str) -> str:
        return INVOICE_NOTE.format(days=PAYMENT_TERMS_DAYS, due=due.isoformat(), other=other, number=number)

    return _Collection(CollectionMethod.INVOICE, InvoiceStatus.UNPAID, due, note, CollectionState.AWAITING_PAYMENT)


def _renewal_events(org: Organization, lines: list[_Line], licenses: list[License], invoice) -> list[tuple]:
    """What the renewal tells the chain's webhooks: each plan renewed, each license's M&S renewed."""
    by_id = {license_.id: license_ for license_ in licenses}
    events = []
    for line in lines:
        period = {"period_start": line.period[0].isoformat(), "period_end": line.period[1].isoformat(),
                  "invoice_number": invoice.number}
        if line.subscription_id is not None:
            events.append((EventType.SUBSCRIPTION_RENEWED, {
                "object": "subscription", "id": line.subscription_id, "organization_id": org.id,
                "product_id": line.product_id, "quantity": line.quantity, **period}))
        elif line.license_id in by_id:
            events.append((EventType.LICENSE_MODIFIED,
                           webhook_events.license_data(by_id[line.license_id], change="renewal", **period)))
    return events


def _renew_organization(org: Organization, plans: list, licenses: list[License], customers: dict[int, str],
                        collection: Collection, today: date, products: dict[int, PlanProduct],
                        license_products: dict[int, PlanProduct], terms: _Terms, actor: Actor, run: RenewalRun) -> None:
    lines: list[_Line] = []
    moves: list[dict] = []
    for row in plans:
        plan_lines, moved, cancelled = _plan_lines(row, today, products, actor)
        lines.extend(plan_lines)
        moves.extend(moved)
        run.cancelled += cancelled
    for license_ in licenses:
        customer = customers.get(license_.customer_id) if license_.customer_id != org.id else None
        lines.append(_license_line(license_, license_products[license_.product_id], customer))
    by_day: dict[date, list[int]] = {}
    for move in moves:
        by_day.setdefault(move["next_payment_on"], []).append(move["plan_id"])
    for day, plan_ids in by_day.items():
        db.session.execute(_MOVE_PLANS, {"plan_ids": plan_ids, "next_payment_on": day})
    if not lines:
        return
    tax = terms.tax(org)
    quote = pricing.quote([pricing.LineInput(str(i), line.list_minor) for i, line in enumerate(lines)],
                          discount_bp=terms.discount_bp(org), tax_bp=tax.rate_bp)
    issued = [IssuedLine(line.description, line.quantity, line.unit_price_minor, priced.list_minor,
                         priced.discount_minor, tax.category, tax.rate_bp, priced.tax_minor, priced.total_minor,
                         line.period[0], line.period[1])
              for line, priced in zip(lines, quote.lines, strict=True)]
    how = _how_collected(org, collection, today)
    invoice = issue_invoice(org.id, buyer_snapshot(org), org.currency, issued, how.status, how.due_on, how.note,
                            today, seller=terms.seller,  # a summary's part consumes no credit: its summary does
                            before_issue=apply_available_credit if org.id in terms.with_credit else None)
    state = how.state
    if how.method is not CollectionMethod.SUMMARY and invoice.total_minor - invoice.credit_applied_minor <= 0:
        state = CollectionState.PAID  # nothing to pay: a zero total, or covered by credit notes
        if invoice.status is not InvoiceStatus.PAID:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, utcnow()
            webhook_events.invoice_paid(invoice)
    db.session.execute(insert(Renewal.__table__), [
        {"organization_id": org.id, "subscription_id": line.subscription_id, "license_id": line.license_id,
         "product_id": line.product_id, "quantity": line.quantity, "period_start": line.period[0],
         "period_end": line.period[1], "invoice_id": invoice.id, "position": position, "created_at": utcnow()}
        for position, line in enumerate(lines, start=1)])
    db.session.add(RenewalCollection(invoice_id=invoice.id, organization_id=org.id, method=how.method, state=state,
                                     attempts=0, next_attempt_on=today if state is CollectionState.CHARGING else None,
                                     last_message=""))
    plans_billed = sum(1 for line in lines if line.subscription_id is not None)
    webhook_events.emit_all(org.id, _renewal_events(org, lines, licenses, invoice))
    db.session.add(audit_entry(actor, "renewal.invoiced", invoice, org.id, number=invoice.number, lines=len(lines),
                               plans=plans_billed, licenses=len(lines) - plans_billed,
                               total_minor=invoice.total_minor, method=how.method.value))
    if state is CollectionState.AWAITING_PAYMENT:
        run.invoices_sent += send_renewal_invoice(org, invoice, renewed=[line.description for line in lines])
    run.invoices += 1
    run.plans += plans_billed
    run.licenses += len(lines) - plans_billed
    run.amounts[(how.method.value, invoice.currency)] += invoice.total_minor


# ---------------------------------------------------------------- the run


def _renew_batch(org_ids: list[int], today: date, products: dict[int, PlanProduct], terms: _Terms, actor: Actor,
                 run: RenewalRun) -> None:
    orgs = {org.id: org for org in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
    terms.read_batch(org_ids)
    plans: dict[int, list] = {}
    for row in db.session.execute(
            select(*_PLAN_COLUMNS).where(Subscription.organization_id.in_(org_ids), *_due_plans(today))
            .order_by(Subscription.organization_id, Subscription.id)
            .with_for_update(skip_locked=True)):
        plans.setdefault(row.organization_id, []).append(row)
    licenses: dict[int, list[License]] = {}
    for license_ in db.session.scalars(
            select(License).where(License.owner_id.in_(org_ids), *_due_licenses(today))
            .options(selectinload(License.addons)).order_by(License.owner_id, License.id)
            .with_for_update(skip_locked=True, of=License)):
        licenses.setdefault(license_.owner_id, []).append(license_)
    all_licenses = [lic for found in licenses.values() for lic in found]
    license_products = products_by_id({lic.product_id for lic in all_licenses})
    customer_ids = {lic.customer_id for lic in all_licenses if lic.customer_id}
    customers = {org_id: name for org_id, name in db.session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(customer_ids)))} if customer_ids else {}
    collections = renewal_collections(org for org in orgs.values() if org.parent_id is None)
    for org_id in org_ids:
        org = orgs.get(org_id)
        if org is None or org.parent_id is not None:
            continue
        _renew_organization(org, plans.get(org_id, []), licenses.get(org_id, []), customers, collections[org_id],
                            today, products, license_products, terms, actor, run)
    db.session.flush()


@dataclass(frozen=True)
class PlanProduct:
    """A subscription product as the run prices it: read once, at the start of the run (the price in force)."""

    id: int
    name: str
    unit_label: str
    interval: BillingInterval
    unit_price_minor: int


def subscription_products() -> dict[int, PlanProduct]:
    """Every subscription product by id, at its price in force now."""
    return {p.id: PlanProduct(p.id, p.name, p.unit_label, p.interval, p.unit_price_minor)
            for p in db.session.scalars(select(Product).where(Product.kind == ProductKind.SUBSCRIPTION))}


def renew(today: date | None = None, actor: Actor | None = None, gateway: PaymentGateway | None = None,
          progress: Callable[[int, int], None] | None = None, batch: int | None = None) -> RenewalRun:
    """Renew every plan and auto-renewing M&S due by `today`, `RENEW_BATCH` organizations per transaction, and
    after each batch charge the renewal cards due (with the dunning retries of earlier runs). `progress` hears
    (done, total) after each batch."""
    from portal.payments.gateway import gateway as app_gateway

    today = today or utcnow().date()
    actor = actor or Actor.system()
    gateway = gateway or app_gateway()
    batch = batch or RENEW_BATCH
    run = RenewalRun()
    org_ids = due_organizations(today)
    products = subscription_products()
    terms = _Terms()
    db.session.rollback()  # each batch reads and writes in its own transaction
    settle_paid()
    bill_month_fees(today, actor, run.fees)  # charged by the collections below, with the renewals
    tried: set[int] = set()
    for start in range(0, len(org_ids), batch):
        batch_run = RenewalRun()
        try:
            _renew_batch(org_ids[start:start + batch], today, products, terms, actor, batch_run)
            db.session.commit()
        except IntegrityError as error:  # a concurrent run billed some of these periods first: they are its to finish
            db.session.rollback()
            run.skipped_batches += 1
            current_app.logger.warning("renewal run: batch of organizations %s left to a concurrent run (%s)",
                                       org_ids[start:start + batch], error.orig)
        except BaseException:
            db.session.rollback()
            raise
        else:
            _merge(run, batch_run)
        collect_due(today, gateway, actor, run.collection, tried)
        if progress:
            progress(min(start + batch, len(org_ids)), len(org_ids))
    if not org_ids:
        collect_due(today, gateway, actor, run.collection, tried)  # retries of earlier runs
    return run


def _merge(run: RenewalRun, batch: RenewalRun) -> None:
    run.invoices += batch.invoices
    run.plans += batch.plans
    run.licenses += batch.licenses
    run.cancelled += batch.cancelled
    run.amounts.update(batch.amounts)
    run.invoices_sent += batch.invoices_sent


METHOD_WORDS = {"card": "charged to saved cards", "invoice": "invoiced, due in 30 days",
                "summary": "left to the monthly summary"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_lines(run) -> list[str]:
    """What a renewal run did, line by line (the CLI's closing report; staff's page shows the same)."""
    lines = [f"{_plural(run.invoices, 'renewal invoice')} issued: {_plural(run.plans, 'plan period')} and "
             f"{run.licenses} M&S renewed"
             + (f", {_plural(run.cancelled, 'plan')} ended by a scheduled cancellation" if run.cancelled else "")
             + "."]
    for (method, currency), total in sorted(run.amounts.items()):
        lines.append(f"  {format_money(Money(total, currency))} {METHOD_WORDS.get(method, method)}")
    if run.fees.invoices:
        lines.append(f"{_plural(run.fees.invoices, 'reseller fee invoice')} issued for "
                     f"{_plural(run.fees.accounts, 'customer account')}: "
                     + ", ".join(format_money(Money(total, currency))
                                 for currency, total in sorted(run.fees.amounts.items())) + ".")
    tally = run.collection
    lines.append(f"{_plural(tally.charged, 'card')} charged, {tally.declined} declined"
                 + (f", {tally.paid_meanwhile} paid (or a transfer announced) meanwhile" if tally.paid_meanwhile
                    else "")
                 + (f", {tally.without_card} without a saved card any more" if tally.without_card else "")
                 + f"; {_plural(run.invoices_sent, 'invoice')} sent; {_plural(tally.past_due_plans, 'plan')} "
                 "past due.")
    if tally.failed:
        lines.append(f"{_plural(tally.failed, 'charge')} failed unexpectedly (see the log): tried again next run.")
    if run.skipped_batches:
        lines.append(f"{_plural(run.skipped_batches, 'batch')} left to a concurrent run.")
    return lines
