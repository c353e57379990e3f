"""Modifying a license through the cart (DOMAIN §4, the partner guide's "Modify a License").

A reseller upgrades a license it owns (a higher edition, more units, more add-ons), renews its Maintenance &
Support for one more year, or reinstates lapsed M&S. Each change is priced here with the pricing module at the
catalog's current list prices, goes into the cart as an item that names the license, is priced again with the
cart at checkout (where the partner discount applies, as to everything), and is applied to the license when
the order is recorded.

Rules, stated once:
- An upgrade never goes down: an edition listed before the current one, fewer units or dropping an add-on is a
  downgrade, which is not self-service ("contact the vendor"). Its price is the difference between the new and
  the current configuration at today's list prices, never negative (`pricing.upgrade_difference`).
- M&S covers a license up to and including `ms_expires_on`; it has lapsed from the day after. A renewal (not
  lapsed) adds one year to the current expiry; a reinstatement (lapsed) gives one year from the day the order is
  placed, for the renewal price plus the product's reinstatement charge. One year after 29 February is
  28 February.
- After an upgrade the license is marked "reactivation required" (the installation holds the old edition,
  quantity and add-ons) until it is activated again; the customer gets an email either way.
- The order applies exactly what the buyer saw: the license is locked and the change checked again; if the
  license changed in the meantime (an upgrade no longer the one priced, a reinstatement no longer lapsed) the
  order is refused and the payment given back.
- M&S bought with an upgrade of the same license (in one cart, one order) renews the license as the upgrade leaves
  it, and is priced on that configuration: the order applies the upgrade first, then the M&S.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal import pricing
from portal.accounts.models import Membership, Organization, Role, User
from portal.audit.services import Actor, record
from portal.authz import Permission, scoped
from portal.cart.models import CartItem
from portal.catalog.models import AddOn, Product, PurchaseKind
from portal.catalog.services import Configuration, check_units, products_by_id
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import Activation, License
from portal.licenses.services import one_year_after
from portal.orders.models import OrderLine
from portal.outbox.services import enqueue_email, external_url
from portal.webhooks import events as webhook_events
from portal.webhooks.models import EventType

_Change = TypeVar("_Change", CartItem, OrderLine)
MODIFICATIONS = (PurchaseKind.UPGRADE, PurchaseKind.RENEWAL, PurchaseKind.REINSTATEMENT)
CONTACT_THE_VENDOR = "Downgrades are not self-service: contact the vendor to change this license."


@dataclass(frozen=True)
class Modification:
    """A priced change to one license: the license as it is, what it becomes, and the change's list price."""

    license: License
    purchase: PurchaseKind
    current: Configuration
    target: Configuration  # for M&S: `current`, or what an upgrade in the same cart or order makes of it
    list_minor: int
    ms_expires_on: date  # the M&S expiry once the change is applied
    reinstatement_fee_minor: int = 0  # part of `list_minor`, for a reinstatement

    @property
    def renewal_minor(self) -> int:
        return self.list_minor - self.reinstatement_fee_minor

    @property
    def renews_an_upgrade(self) -> bool:
        """M&S priced on the configuration an upgrade bought with it gives the license."""
        return self.purchase is not PurchaseKind.UPGRADE and self.target != self.current

    @property
    def added_addons(self) -> tuple[AddOn, ...]:
        owned = {a.id for a in self.current.addons}
        return tuple(a for a in self.target.addons if a.id not in owned)

    @property
    def description(self) -> str:
        """One line for the cart, the checkout and the order: what changes, on which license."""
        key = self.license.key
        if self.purchase is not PurchaseKind.UPGRADE:
            kind = "renewal" if self.purchase is PurchaseKind.RENEWAL else "reinstatement"
            upgraded = (f" ({self.target.edition.name}, {self.target.quantity} {self.target.product.unit_label} "
                        "after the upgrade)") if self.renews_an_upgrade else ""
            return f"M&S {kind} of license {key} until {self.ms_expires_on.isoformat()}{upgraded}"
        changes = []
        if self.target.edition.id != self.current.edition.id:
            changes.append(f"{self.current.edition.name} to {self.target.edition.name}")
        if self.target.quantity != self.current.quantity:
            changes.append(f"{self.current.quantity} to {self.target.quantity} {self.current.product.unit_label}")
        if self.added_addons:
            changes.append("add " + ", ".join(a.name for a in self.added_addons))
        return f"Upgrade of license {key}: " + "; ".join(changes)


# ---------------------------------------------------------------- finding the license to modify


def modifiable_licenses(user: User) -> Select:
    """Licenses `user` may modify: those owned by an organization where the user may buy (another reseller's
    licenses are never found)."""
    return scoped(select(License), License.owner_id, user, Permission.BUY)


def license_options() -> tuple:
    """Loader options the modification pages need: the license's product, edition, customer and add-ons."""
    return (joinedload(License.product), joinedload(License.edition), joinedload(License.customer),
            selectinload(License.addons))


def license_by_key(user: User, org: Organization, text: str) -> License:
    """A license of `org` found by its key, as the reseller typed it; RuleError (on the field `key`) when the key
    is malformed or names no license of `org` (whether it exists elsewhere is never told)."""
    try:
        key = normalize_key(text or "")
    except InvalidKey as error:
        raise RuleError(str(error), field="key") from None
    license_ = db.session.scalars(modifiable_licenses(user).where(License.key == key, License.owner_id == org.id)
                                  .options(*license_options())).first()
    if license_ is None:
        raise RuleError("None of your licenses has that key. Check it against the assignment email or the "
                        "invoice.", field="key")
    return license_


def personal_licenses(user: User, org: Organization) -> Select:
    """The licenses `org` keeps for itself, as far as `user` may modify them there: assigned to itself, or not
    assigned to anyone yet (they are the reseller's until it assigns them), newest first."""
    return (modifiable_licenses(user).where(License.owner_id == org.id)
            .where(or_(License.customer_id.is_(None), License.customer_id == License.owner_id))
            .options(*license_options())
            .order_by(License.created_at.desc(), License.id.desc()))


def is_resold(license_: License) -> bool:
    return license_.customer_id is not None and license_.customer_id != license_.owner_id


# ---------------------------------------------------------------- pricing the changes


def _product(license_: License) -> Product:
    return products_by_id({license_.product_id})[license_.product_id]


def current_configuration(license_: License, product: Product) -> Configuration:
    """The license as it is, priced at today's list prices (its edition or add-ons may no longer be offered)."""
    edition = next(e for e in product.editions if e.id == license_.edition_id)
    owned = {a.id for a in license_.addons}
    addons = tuple(a for a in product.addons if a.id in owned)
    return Configuration(product, edition, license_.quantity, addons)


def is_lapsed(license_: License, today: date) -> bool:
    """M&S covers the license through its expiry day; it has lapsed from the day after."""
    return license_.ms_expires_on < today


def _edition_rank(product: Product, edition_id: int) -> int:
    return next(i for i, e in enumerate(product.editions) if e.id == edition_id)  # catalog order: Free < Pro …


def quote_upgrade(license_: License, product: Product, edition_id: int | None, quantity: int | None,
                  new_addon_ids: list[int]) -> Modification:
    """Price an upgrade to `edition_id` at `quantity`, adding `new_addon_ids` to the add-ons the license has.
    RuleError names the field that is wrong; a downgrade is refused with a message to contact the vendor."""
    if not product.active:
        raise RuleError("This product is no longer sold, so its licenses cannot be upgraded. Contact the vendor.")
    current = current_configuration(license_, product)
    edition = next((e for e in product.editions
                    if e.id == edition_id and (e.active or e.id == license_.edition_id)), None)
    if edition is None:
        raise RuleError("Choose one of the editions offered.", field="edition")
    check_units(product, quantity)
    if product.quantities and quantity not in product.quantities and quantity != license_.quantity:
        offered = ", ".join(str(q) for q in sorted(product.quantities))
        raise RuleError(f"Choose one of the quantities offered: {offered}.", field="quantity")
    if _edition_rank(product, edition.id) < _edition_rank(product, license_.edition_id):
        raise RuleError(f"{edition.name} is a lower edition than {current.edition.name}. {CONTACT_THE_VENDOR}",
                        field="edition")
    if quantity < license_.quantity:
        raise RuleError(f"The license has {license_.quantity} {product.unit_label}; an upgrade cannot have fewer. "
                        f"{CONTACT_THE_VENDOR}", field="quantity")
    offered_addons = {a.id: a for a in product.addons if a.active}
    owned = {a.id for a in current.addons}
    wanted = set(new_addon_ids) - owned
    if any(i not in offered_addons for i in wanted):
        raise RuleError("One of the add-ons is not offered with this product.", field="addons")
    addons = tuple(sorted((*current.addons, *(offered_addons[i] for i in wanted)), key=lambda a: (a.position, a.id)))
    target = Configuration(product, edition, quantity, addons)
    if (edition.id, quantity, wanted) == (license_.edition_id, license_.quantity, set()):
        raise RuleError("Choose a higher edition, more units or an add-on to upgrade the license.")
    return Modification(license_, PurchaseKind.UPGRADE, current, target,
                        pricing.upgrade_difference(current.list_minor, target.list_minor), license_.ms_expires_on)


def maintenance_renewal_minor(license_: License, product: Product, upgraded: Configuration | None = None) -> int:
    """The list price of one more year of the license's M&S (on `upgraded`, when an upgrade comes with it): what
    a renewal from Modify a License and an automatic renewal by the renewal run both bill, before discount."""
    renewed = upgraded or current_configuration(license_, product)
    return pricing.maintenance_renewal(renewed.list_minor, product.ms_rate_bp)


def quote_maintenance(license_: License, product: Product, purchase: PurchaseKind, today: date,
                      upgraded: Configuration | None = None) -> Modification:
    """Price one more year of M&S: a renewal while it runs, a reinstatement once it has lapsed; on the license as
    it is, or on `upgraded`, what an upgrade bought with it makes of the license."""
    current = current_configuration(license_, product)
    renewed = upgraded or current
    lapsed = is_lapsed(license_, today)
    if purchase is PurchaseKind.RENEWAL:
        if lapsed:
            raise RuleError(f"M&S of this license lapsed on {license_.ms_expires_on.isoformat()}: reinstate it "
                            "instead (a renewal plus the reinstatement charge).")
        return Modification(license_, purchase, current, renewed,
                            maintenance_renewal_minor(license_, product, renewed),
                            one_year_after(license_.ms_expires_on))
    if purchase is PurchaseKind.REINSTATEMENT:
        if not lapsed:
            raise RuleError(f"M&S of this license runs until {license_.ms_expires_on.isoformat()}: renew it "
                            "instead; reinstatement is for lapsed M&S.")
        return Modification(license_, purchase, current, renewed,
                            pricing.maintenance_reinstatement(renewed.list_minor, product.ms_rate_bp,
                                                              product.reinstatement_fee_minor),
                            one_year_after(today), product.reinstatement_fee_minor)
    raise ValueError(f"{purchase} is not an M&S purchase")


def maintenance_offer(license_: License, product: Product, today: date,
                      upgraded: Configuration | None = None) -> Modification:
    """What the M&S section offers for this license today: a renewal, or a reinstatement if it has lapsed; priced
    on `upgraded` when an upgrade of the license waits in the cart (`upgrade_in_cart`)."""
    purchase = PurchaseKind.REINSTATEMENT if is_lapsed(license_, today) else PurchaseKind.RENEWAL
    return quote_maintenance(license_, product, purchase, today, upgraded)


def _requote(license_: License, product: Product, purchase: PurchaseKind, edition_id: int | None, quantity: int,
             addon_ids: list[int], today: date, upgraded: Configuration | None = None) -> Modification:
    """Price again a modification kept in the cart or an order line, against the license as it is now (M&S on
    `upgraded`, when an upgrade of the license comes with it)."""
    if purchase is PurchaseKind.UPGRADE:
        modification = quote_upgrade(license_, product, edition_id, quantity, addon_ids)
        if set(addon_ids) != {a.id for a in modification.target.addons}:
            raise RuleError("The license's add-ons changed since this upgrade was chosen.")
        return modification
    return quote_maintenance(license_, product, purchase, today, upgraded)


# ---------------------------------------------------------------- the cart


def upgrade_in_cart(user: User, org: Organization, license_: License, product: Product,
                    today: date) -> Configuration | None:
    """What an upgrade of `license_` waiting in `user`'s cart for `org` makes of the license, priced now (None
    without one, or when it can no longer be bought): M&S added beside it is priced on that configuration."""
    item = db.session.scalars(select(CartItem).where(
        CartItem.user_id == user.id, CartItem.organization_id == org.id, CartItem.license_id == license_.id,
        CartItem.purchase == PurchaseKind.UPGRADE)).first()
    if item is None:
        return None
    try:
        return _requote(license_, product, item.purchase, item.edition_id, item.quantity, item.addon_ids,
                        today).target
    except RuleError:
        return None


def price_cart_items(items: list[CartItem], products: dict[int, Product], today: date) -> dict[int, Modification | str]:
    """Each modification item of a cart priced against its license as it is now (one query for the licenses),
    or the reason it cannot be bought any more. M&S of a license the same cart upgrades is priced on the upgraded
    configuration."""
    ids = {i.license_id for i in items}
    licenses = {lic.id: lic for lic in db.session.scalars(select(License).where(License.id.in_(ids))
                                                          .options(selectinload(License.addons)))}
    priced: dict[int, Modification | str] = {}
    upgraded: dict[int, Configuration] = {}  # license id -> the configuration its upgrade in this cart gives it
    for item in application_order(items):  # upgrades first
        license_ = licenses.get(item.license_id)
        product = products.get(item.product_id)
        if license_ is None or product is None or license_.owner_id != item.organization_id:
            priced[item.id] = "This license is no longer yours to modify. Remove this item."
            continue
        try:
            change = _requote(license_, product, item.purchase, item.edition_id, item.quantity, item.addon_ids,
                              today, upgraded.get(license_.id))
        except RuleError as error:
            priced[item.id] = f"{error.message} Remove this item, then modify the license again."
            continue
        priced[item.id] = change
        if change.purchase is PurchaseKind.UPGRADE:
            upgraded[license_.id] = change.target
    return priced


def application_order(lines: list[_Change]) -> list[_Change]:
    """Cart items or order lines in the order their changes apply: every upgrade before anything else, so that
    M&S bought with an upgrade renews (and is priced on) the upgraded license; otherwise as they came."""
    return sorted(lines, key=lambda line: line.purchase is not PurchaseKind.UPGRADE)


# ---------------------------------------------------------------- the order


def apply_modification(org: Organization, line: OrderLine, today: date, actor: Actor) -> License:
    """Apply what an order line bought to its license, in the order's transaction: the new edition, quantity and
    add-ons (and "reactivation required"), or the new M&S expiry; an audit entry and an email to the customer.
    The license is locked and the change priced again: RuleError if the license changed since checkout began."""
    license_ = db.session.scalars(
        select(License).where(License.id == line.license_id, License.owner_id == org.id)
        .options(selectinload(License.addons)).with_for_update(of=License)
        .execution_options(populate_existing=True)).first()
    if license_ is None:
        raise RuleError("A license in your cart is no longer yours to modify. Review your cart.")
    product = _product(license_)
    try:
        modification = _requote(license_, product, line.purchase, line.edition_id, line.quantity,
                                [a["id"] for a in line.addons], today)
    except RuleError as error:
        raise RuleError(f"License {license_.key} changed since it went into your cart ({error.message}) "
                        "Review your cart and check out again.") from None
    if modification.list_minor != line.unit_list_minor:  # M&S after an upgrade in this order: on the upgraded
        # license, which `application_order` has applied by now
        raise RuleError(f"The price of the {line.purchase.value} of license {license_.key} changed. Review your cart.")
    before = {"edition": modification.current.edition.name, "quantity": license_.quantity,
              "addons": [a.slug for a in modification.current.addons],
              "ms_expires_on": license_.ms_expires_on.isoformat()}
    if line.purchase is PurchaseKind.UPGRADE:
        target = modification.target
        license_.edition_id = target.edition.id
        license_.quantity = target.quantity
        license_.addons = list(target.addons)
        # Only an installation that runs the license has something to reactivate: a license never activated picks
        # up its new configuration on its first activation.
        license_.reactivation_required = was_ever_activated(license_)
        after = {"edition": target.edition.name, "quantity": target.quantity,
                 "addons": [a.slug for a in target.addons]}
    else:
        license_.ms_expires_on = modification.ms_expires_on
        after = {"ms_expires_on": modification.ms_expires_on.isoformat()}
    db.session.flush()
    record(actor, f"license.{line.purchase.value}", license_, license_.owner_id, key=license_.key,
           order_line=line.id, before=before, after=after)
    webhook_events.emit(EventType.LICENSE_MODIFIED, license_.owner_id, webhook_events.license_data(
        license_, change=line.purchase.value, before=before, after=after))
    _tell_the_customer(license_, modification)
    return license_


def was_ever_activated(license_: License) -> bool:
    """Whether the license has been activated on an installation at least once (active now or not)."""
    return db.session.scalar(select(exists().where(Activation.license_id == license_.id))) or False


def customer_recipients(license_: License) -> list[str]:
    """Who hears about a change: the users of the customer's organization, or, for a license the reseller keeps,
    its Chain & User Managers."""
    stmt = select(User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.active.is_(True), User.active.is_(True))
    if is_resold(license_):
        stmt = stmt.where(Membership.organization_id == license_.customer_id)
    else:
        stmt = stmt.where(Membership.organization_id == license_.owner_id, Membership.role == Role.MANAGER)
    return sorted(set(db.session.scalars(stmt)))


def _tell_the_customer(license_: License, modification: Modification) -> None:
    recipients = customer_recipients(license_)
    if recipients:
        enqueue_email(recipients, "license_modified", license=license_, modification=modification,
                      PurchaseKind=PurchaseKind, link=external_url("licenses.detail", key=license_.key))
