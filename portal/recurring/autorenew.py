"""Automatic renewal of Maintenance & Support, a choice per license (issue 13 item 4), and what a renewal will bill.

Rules, stated once:
- A license's M&S renews by itself when `License.auto_renew` is on (off by default, perpetual licenses being
  bought once): the renewal run bills one more year on the day after the expiry, at the M&S renewal price of the
  license as it is then (`licenses.modify.maintenance_renewal_minor`, what a renewal from Modify a License costs),
  less the partner discount, plus tax, priced by `pricing.quote` as checkout prices an order.
- Whoever may modify or renew the license turns it on or off: the managers and Master users of the main chain that
  bought it (`licenses.modify.modifiable_licenses`). Each change is audited (`license.auto_renew_changed`).
- Lapsed M&S is reinstated, with its charge, from Modify a License; automatic renewal never reinstates. Turning it
  on for a lapsed license is refused; a license whose automatic renewal was on keeps being renewed by the run for
  `GRACE_DAYS` after its expiry (a run that did not happen on the day), not later.
- How a renewal is collected follows the account (`renewal_collection`): an account invoiced monthly finds it in
  its monthly summary; a pay-on-order account with a saved default card (and not grandfathered to pay by wire, ACH
  or check) has the card charged; any other account is invoiced, due in 30 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from portal import pricing
from portal.accounts.models import BillingMode, Organization, User
from portal.audit.services import Actor, record
from portal.catalog.models import Product
from portal.catalog.services import discount_bp, products_by_id
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License
from portal.licenses.modify import maintenance_renewal_minor, modifiable_licenses
from portal.money import Money, format_money, format_percent_bp
from portal.payments.models import PaymentMethod
from portal.recurring.models import CollectionMethod
from portal.seller.taxes import tax_terms
from portal.subscriptions.models import Subscription

GRACE_DAYS = 30  # after its expiry, an auto-renewing license is still renewed by a late run; then it has lapsed
MAX_SELECTION = 500  # licenses changed by one bulk request from the licenses list
PAYMENT_TERMS_DAYS = 30  # an invoiced renewal is due 30 days after it is issued


# ---------------------------------------------------------------- how a renewal is collected


@dataclass(frozen=True)
class Collection:
    """How the renewal run will collect one account's renewals, and how a page or an email says it."""

    method: CollectionMethod
    card: PaymentMethod | None = None

    @property
    def phrase(self) -> str:
        """'charged to the saved card Visa ending 4242' / 'invoiced, due in 30 days' / 'added to your monthly
        summary invoice'."""
        if self.method is CollectionMethod.CARD and self.card is not None:
            return f"charged to the saved card {self.card.brand.label} ending {self.card.last4}"
        if self.method is CollectionMethod.SUMMARY:
            return "added to your monthly summary invoice"
        return f"invoiced, due in {PAYMENT_TERMS_DAYS} days"


def renewal_collections(orgs: Iterable[Organization]) -> dict[int, Collection]:
    """Per organization (by id), how its renewals are collected: one query for the default cards of them all."""
    orgs = list(orgs)
    on_order = [o.id for o in orgs if o.billing_mode is not BillingMode.MONTHLY_INVOICE
                and not o.grandfathered_payment_methods]
    cards = {card.organization_id: card for card in db.session.scalars(
        select(PaymentMethod).where(PaymentMethod.organization_id.in_(on_order), PaymentMethod.is_default.is_(True))
        .order_by(PaymentMethod.id))} if on_order else {}
    found = {}
    for org in orgs:
        if org.billing_mode is BillingMode.MONTHLY_INVOICE:
            found[org.id] = Collection(CollectionMethod.SUMMARY)
        elif org.id in cards:
            found[org.id] = Collection(CollectionMethod.CARD, cards[org.id])
        else:
            found[org.id] = Collection(CollectionMethod.INVOICE)
    return found


def renewal_collection(org: Organization) -> Collection:
    """How the renewal run collects `org`'s renewals: its monthly summary, its saved default card, or an invoice."""
    return renewal_collections([org])[org.id]


# ---------------------------------------------------------------- what a renewal bills


@dataclass(frozen=True)
class RenewalPrice:
    """One renewal line priced for its buyer as checkout prices it: list price, partner discount, tax."""

    line: pricing.PricedLine
    discount_bp: int
    currency: str

    @property
    def list_minor(self) -> int:
        return self.line.list_minor

    @property
    def net_minor(self) -> int:
        return self.line.net_minor

    @property
    def tax_minor(self) -> int:
        return self.line.tax_minor

    @property
    def total_minor(self) -> int:
        return self.line.total_minor

    @property
    def phrase(self) -> str:
        """The amount as a page or an email states it: "$80.00 plus $6.40 tax ($100.00 at list price less your 20%
        partner discount)"; just "$100.00" without discount or tax."""
        def money(minor: int) -> str:
            return format_money(Money(minor, self.currency))

        text = money(self.net_minor) + (f" plus {money(self.tax_minor)} tax" if self.tax_minor else "")
        if self.line.discount_minor:
            text += (f" ({money(self.list_minor)} at list price less your {format_percent_bp(self.discount_bp)}% "
                     "partner discount)")
        return text


class _Terms:
    """Each organization's discount and tax, asked once however many lines are priced for it."""

    def __init__(self) -> None:
        self._terms: dict[int, tuple[int, int]] = {}

    def price(self, org: Organization, key: str, list_minor: int, currency: str) -> RenewalPrice:
        if org.id not in self._terms:
            self._terms[org.id] = (discount_bp(org), tax_terms(org).rate_bp)
        discount, tax = self._terms[org.id]
        [line] = pricing.quote([pricing.LineInput(key, list_minor)], discount_bp=discount, tax_bp=tax).lines
        return RenewalPrice(line, discount, currency)


@dataclass(frozen=True)
class MaintenanceRenewal:
    """What a license's M&S will do at its expiry: renew by itself (on `renews_on`, for `price`, collected as
    `collection` says), or lapse unless someone renews it."""

    license: License
    renews_on: date  # the first day after the paid M&S: the day the renewal run bills the next year
    price: RenewalPrice
    collection: Collection
    lapsed: bool  # M&S has already ended (today is after the expiry)
    reinstate_only: bool  # lapsed beyond the grace days: only a reinstatement brings it back

    @property
    def automatic(self) -> bool:
        """The renewal run will renew it."""
        return self.license.auto_renew and not self.reinstate_only


def maintenance_renewals(licenses: Sequence[License], owners: dict[int, Organization],
                         today: date) -> dict[int, MaintenanceRenewal]:
    """Per license (by id), its next M&S year priced for the organization that owns it (`owners` by id): a few
    queries however many licenses (products once, each owner's discount, tax and card once)."""
    products = products_by_id({lic.product_id for lic in licenses})
    collections = renewal_collections(owners[lic.owner_id] for lic in licenses)
    terms = _Terms()
    found = {}
    for lic in licenses:
        owner, product = owners[lic.owner_id], products[lic.product_id]
        price = terms.price(owner, lic.key, maintenance_renewal_minor(lic, product), product.currency)
        found[lic.id] = MaintenanceRenewal(
            lic, lic.ms_expires_on + timedelta(days=1), price, collections[owner.id], lic.ms_expires_on < today,
            lic.ms_expires_on + timedelta(days=GRACE_DAYS) < today)
    return found


def maintenance_renewal(license_: License, today: date) -> MaintenanceRenewal:
    """One license's next M&S year, priced for its owner."""
    owner = db.session.get(Organization, license_.owner_id)
    return maintenance_renewals([license_], {owner.id: owner}, today)[license_.id]


@dataclass(frozen=True)
class PlanRenewal:
    """What a plan's next automatic billing will bill: the period starting on `bills_on`, at the list price in
    force of the product it will be on, times the quantity it will have (its scheduled change applied), less the
    discount, plus tax; or, when it is cancelled or reaches its expiry, that it ends and nothing is billed."""

    subscription: Subscription
    bills_on: date
    product: Product
    quantity: int
    price: RenewalPrice | None  # None: the plan ends, nothing is billed
    collection: Collection

    @property
    def ends(self) -> bool:
        return self.price is None

    @property
    def last_paid_day(self) -> date:
        """The last day the plan is paid for: the day before its next payment date."""
        return self.bills_on - timedelta(days=1)


def plan_renewals(subscriptions: Sequence[Subscription], org: Organization) -> dict[int, PlanRenewal]:
    """Per plan of `org` (by id), what its next automatic billing will bill."""
    product_ids = {s.product_id for s in subscriptions} | {s.scheduled_product_id for s in subscriptions
                                                           if s.scheduled_product_id is not None}
    products = products_by_id(product_ids)
    switching = [s for s in subscriptions if s.scheduled_product_id is not None]
    # The run keeps the product when the chain already has a plan of the one switched to, or it is no longer sold.
    taken = set(db.session.scalars(select(Subscription.product_id).where(
        Subscription.organization_id == org.id))) if switching else set()
    collection = renewal_collection(org)
    terms = _Terms()
    found = {}
    for sub in subscriptions:
        quantity = sub.quantity if sub.scheduled_quantity is None else sub.scheduled_quantity
        switch = sub.scheduled_product_id
        switched = switch is not None and switch not in taken and products[switch].active
        product = products[switch] if switched else products[sub.product_id]
        expired = sub.expires_on is not None and sub.next_payment_on > sub.expires_on
        price = None if quantity == 0 or expired else terms.price(
            org, str(sub.id), pricing.subscription_list_price(product.unit_price_minor or 0, quantity),
            product.currency)
        found[sub.id] = PlanRenewal(sub, sub.next_payment_on, product, quantity, price, collection)
    return found


# ---------------------------------------------------------------- turning it on or off


def check_selection(count: int) -> None:
    """RuleError when one request would change more licenses than `MAX_SELECTION`."""
    if count > MAX_SELECTION:
        raise RuleError(f"Choose at most {MAX_SELECTION} licenses at a time ({count} were selected).",
                        field="licenses")


def selected_licenses(user: User, org: Organization, keys: Sequence[str]) -> list[License]:
    """The licenses `org` bought named by `keys` (as a form posted them), each one `user` may modify; RuleError
    naming the keys that are not (another tenant's, a typo: whether they exist elsewhere is never told), or for
    an empty or too large selection."""
    check_selection(len(keys))
    if not keys:
        raise RuleError("Select the licenses to change, then choose to turn automatic renewal on or off.",
                        field="licenses")
    wanted, malformed = set(), []
    for key in keys:
        try:
            wanted.add(normalize_key(key))
        except InvalidKey:
            malformed.append(key[:40])
    found = list(db.session.scalars(modifiable_licenses(user).where(License.key.in_(wanted),
                                                                    License.owner_id == org.id)))
    unknown = malformed + sorted(wanted - {lic.key for lic in found})
    if unknown:
        phrase = keys_phrase(unknown)
        raise RuleError(f"{phrase[0].upper()}{phrase[1:]} {'is' if len(unknown) == 1 else 'are'} not one of "
                        f"{org.name}'s licenses. Nothing was changed.", field="licenses")
    return found


def set_auto_renew(licenses: Sequence[License], on: bool, today: date, actor: Actor) -> list[License]:
    """Turn automatic M&S renewal on or off for `licenses`, all or none, and return those that changed (a
    license already so is left as it is). The caller loaded them through `modify.modifiable_licenses`, so each
    is one the actor may change. One audit entry per organization whose licenses changed, naming their keys.
    RuleError (nothing changed) for too many licenses, or a lapsed one to turn on. Flushes."""
    check_selection(len(licenses))
    if on:
        lapsed = sorted(lic.key for lic in licenses if lic.ms_expires_on < today)
        if lapsed:
            raise RuleError(f"M&S of {keys_phrase(lapsed)} has lapsed: automatic renewal does not reinstate it. "
                            "Reinstate it from Modify or renew, then turn automatic renewal on. Nothing was "
                            "changed.", field="licenses")
    changed = [lic for lic in licenses if lic.auto_renew != on]
    for lic in changed:
        lic.auto_renew = on
    db.session.flush()
    by_owner: dict[int, list[License]] = {}
    for lic in changed:
        by_owner.setdefault(lic.owner_id, []).append(lic)
    for owner_id, owned in sorted(by_owner.items()):
        keys = sorted(lic.key for lic in owned)
        target = owned[0] if len(owned) == 1 else db.session.get(Organization, owner_id)
        record(actor, "license.auto_renew_changed", target, owner_id, auto_renew=on, keys=keys)
    return changed


def keys_phrase(keys: list[str]) -> str:
    """The keys for a message: 'license K', or 'licenses K1, K2, … and 3 more'."""
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return f"license {shown}" if len(keys) == 1 else f"licenses {shown}"
