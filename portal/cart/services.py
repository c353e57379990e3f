"""The shopping cart: what a user is about to buy for an organization, priced against today's catalog."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from portal import pricing
from portal.accounts.models import Organization, User
from portal.audit.services import Actor, record
from portal.cart.models import CartItem
from portal.catalog.models import Product, ProductKind, PurchaseKind
from portal.catalog.services import Configuration, configure, products_by_id
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.errors import RuleError
from portal.extensions import db
from portal.hardware import ordering
from portal.licenses.modify import Modification, price_cart_items
from portal.reseller_plans.plans import is_plan_product, upgrade_proration
from portal.subscriptions.services import Proration, prorate_addition, running_plans


@dataclass(frozen=True)
class CartLine:
    """A cart item checked against the current catalog."""

    item: CartItem
    product: Product | None  # with its editions and add-ons loaded
    config: Configuration | None  # None when the product, edition or add-on is no longer offered
    problem: str | None = None
    modification: Modification | None = None  # an upgrade, renewal or reinstatement of a license, priced
    # More of a plan the buyer's main chain already runs: priced from today to the end of its paid period
    proration: Proration | None = None
    location: Location | None = None  # where a hardware line ships (checked: the buyer may ship there)

    @property
    def unit_list_minor(self) -> int:
        if self.modification is not None:
            return self.modification.list_minor
        if self.proration is not None and self.config is not None:
            return self.proration.list_minor
        return self.config.list_minor if self.config else 0

    @property
    def list_minor(self) -> int:
        return self.unit_list_minor * self.item.copies

    @property
    def price_changed(self) -> bool:
        return self.config is not None and self.unit_list_minor != self.item.quoted_list_minor

    @property
    def description(self) -> str:
        if self.modification is not None:
            return self.modification.description
        if self.config is None:
            return self.product.name if self.product else ""
        if self.proration is not None:
            return f"{self.config.description}, {self.proration.description}"
        return self.config.description


def cart_items(user: User, org: Organization) -> list[CartItem]:
    """The user's cart at the vendor's shop for `org` (storefront lines are portal/storefront_sales')."""
    return list(db.session.scalars(
        select(CartItem).where(CartItem.user_id == user.id, CartItem.organization_id == org.id,
                               CartItem.storefront_id.is_(None))
        .options(joinedload(CartItem.product)).order_by(CartItem.id)
    ))


def cart_count(user: User, org: Organization) -> int:
    """Licenses and subscription lines in the cart, for the header."""
    return db.session.scalar(select(func.coalesce(func.sum(CartItem.copies), 0))
                             .where(CartItem.user_id == user.id, CartItem.organization_id == org.id,
                                    CartItem.storefront_id.is_(None)))


def quoted_price(org_id: int, config: Configuration) -> int:
    """Today's list price of a configuration for this buyer: more of a plan its main chain runs is prorated to the
    end of the plan's paid period; anything else is a whole configuration (a new plan: a whole period from today)."""
    if config.product.kind is not ProductKind.SUBSCRIPTION:
        return config.list_minor
    plan = running_plans(org_id, [config.product.id]).get(config.product.id)
    if plan is None:
        upgrade = upgrade_proration(org_id, config.product, utcnow().date())  # Free -> Standard
        return config.list_minor if upgrade is None else upgrade.list_minor
    return prorate_addition(plan, config.product.unit_price_minor, config.quantity, utcnow().date()).list_minor


def cart_lines(items: list[CartItem]) -> list[CartLine]:
    """Each item with its configuration re-checked and re-priced (four queries for the whole cart): a quantity
    of a plan the buyer's main chain runs is prorated to the day until the plan's next payment."""
    products = products_by_id({i.product_id for i in items})
    changes = [i for i in items if i.purchase is not PurchaseKind.NEW]
    modifications = {}
    if changes:  # priced against their licenses
        modifications = price_cart_items(changes, products, utcnow().date())
    lines = []
    for item in items:
        product = products.get(item.product_id)
        if item.id in modifications:
            priced = modifications[item.id]
            if isinstance(priced, str):
                lines.append(CartLine(item, product, None, priced))
            else:
                lines.append(CartLine(item, product, priced.target, modification=priced))
            continue
        if product is None or not product.active:
            lines.append(CartLine(item, None, None, "This product is no longer sold. Remove it to check out."))
            continue
        try:
            lines.append(CartLine(item, product, configure(product, item.edition_id, item.quantity, item.addon_ids)))
        except RuleError as error:
            lines.append(CartLine(item, product, None, f"{error.message} Edit or remove this item."))
    return _shipped(_prorated(lines))


def _shipped(lines: list[CartLine]) -> list[CartLine]:
    """The lines with the location each hardware line ships to, checked again (one statement): a location the
    buyer may no longer ship to (a grant ended), or that lost its street address, blocks the line."""
    hardware = [line for line in lines if line.config is not None and line.config.product.is_hardware]
    if not hardware:
        return lines
    org = db.session.get(Organization, hardware[0].item.organization_id)
    found = ordering.destinations(org, {line.item.location_id for line in hardware if line.item.location_id})
    checked = {}
    for line in hardware:
        try:
            location = found.get(line.item.location_id)
            if location is None:
                raise RuleError("Choose a location to ship to.")
            ordering.check_ships_here(line.config.product, location)
            checked[line.item.id] = replace(line, location=location)
        except RuleError as error:
            checked[line.item.id] = replace(line, config=None, problem=f"{error.message} Change the location or "
                                                                         "remove this item.")
    return [checked.get(line.item.id, line) for line in lines]


def _prorated(lines: list[CartLine]) -> list[CartLine]:
    """The lines with the proration of each new subscription line whose plan is running (one statement)."""
    new_plans = [line for line in lines if line.config is not None and line.modification is None
                 and line.config.product.kind is ProductKind.SUBSCRIPTION]
    if not new_plans:
        return lines
    plans = running_plans(new_plans[0].item.organization_id, {line.config.product.id for line in new_plans})
    today = utcnow().date()
    prorations = {line.item.id: prorate_addition(plans[line.config.product.id], line.config.product.unit_price_minor,
                                                 line.config.quantity, today)
                  for line in new_plans if line.config.product.id in plans}
    for line in new_plans:  # a reseller plan bought over another (Free -> Standard): the prorated difference
        if line.item.id not in prorations and is_plan_product(line.config.product):
            upgrade = upgrade_proration(line.item.organization_id, line.config.product, today)
            if upgrade is not None:
                prorations[line.item.id] = upgrade
    return [replace(line, proration=prorations.get(line.item.id)) for line in lines]


def cart_signature(items: list[CartItem]) -> str:
    """What the buyer saw at checkout: the same cart gives the same signature (the checkout's idempotency key)."""
    content = "|".join(f"{i.id}:{i.updated_at.isoformat()}:{i.quoted_list_minor}:{i.copies}"
                       + (f":{i.location_id}" if i.location_id else "") for i in items)
    return hashlib.sha256(content.encode()).hexdigest()


def _check_copies(config: Configuration, copies: int | None) -> int:
    if not config.product.is_license:
        return 1
    if copies is None or not 1 <= copies <= pricing.MAX_COPIES:
        raise RuleError(f"Buy between 1 and {pricing.MAX_COPIES} licenses at once.", field="copies")
    return copies


def _check_room(user: User, org: Organization) -> None:
    if len(cart_items(user, org)) >= pricing.MAX_CART_ITEMS:
        raise RuleError(f"A cart holds at most {pricing.MAX_CART_ITEMS} items. Check out, then continue shopping.")


def _check_location(org: Organization, config: Configuration, location_id: int | None) -> int | None:
    """The location a hardware line ships to (portal/hardware/ordering.py decides); None for anything else."""
    if not config.product.is_hardware:
        return None
    return ordering.check_destination(org, config.product, location_id).id


def add_to_cart(user: User, org: Organization, config: Configuration, copies: int | None, actor: Actor,
                location_id: int | None = None) -> CartItem:
    """Put a configured product in the cart at today's list price (more of a running plan: prorated); hardware
    with the location it ships to."""
    copies = _check_copies(config, copies)
    location_id = _check_location(org, config, location_id)
    _check_room(user, org)
    item = CartItem(user_id=user.id, organization_id=org.id, product_id=config.product.id,
                    edition_id=config.edition.id if config.edition else None, quantity=config.quantity,
                    copies=copies, addon_ids=config.addon_ids, location_id=location_id,
                    quoted_list_minor=quoted_price(org.id, config))
    db.session.add(item)
    record(actor, "cart.item_added", item, org.id, product=config.product.slug, quantity=config.quantity,
           copies=copies, **({"location_id": location_id} if location_id else {}))
    return item


def add_modification(user: User, org: Organization, modification: Modification, quoted_list_minor: int | None,
                     actor: Actor) -> CartItem:
    """Put a change to a license (portal/licenses/modify.py prices it) into the cart at the price the buyer was
    shown (`quoted_list_minor`): if the price is no longer that, RuleError says so and nothing is added. A license
    has at most one upgrade and one M&S item in a cart: a new one replaces the one there."""
    if modification.license.owner_id != org.id:
        raise RuleError("Only the reseller that bought this license can modify it.")
    if quoted_list_minor != modification.list_minor:
        raise RuleError("Check the price before adding it to the cart: it is shown below now.")
    same_kind = [modification.purchase] if modification.purchase is PurchaseKind.UPGRADE else \
        [PurchaseKind.RENEWAL, PurchaseKind.REINSTATEMENT]
    replaced = db.session.execute(
        delete(CartItem).where(CartItem.user_id == user.id, CartItem.organization_id == org.id,
                               CartItem.license_id == modification.license.id, CartItem.purchase.in_(same_kind))
        .execution_options(synchronize_session="fetch")).rowcount
    if not replaced:
        _check_room(user, org)
    target = modification.target
    item = CartItem(user_id=user.id, organization_id=org.id, product_id=target.product.id,
                    edition_id=target.edition.id, purchase=modification.purchase,
                    license_id=modification.license.id, quantity=target.quantity, copies=1,
                    addon_ids=target.addon_ids, quoted_list_minor=modification.list_minor)
    db.session.add(item)
    record(actor, "cart.modification_added", item, org.id, license=modification.license.key,
           purchase=modification.purchase.value, list_minor=modification.list_minor, replaced=replaced or None)
    return item


def update_item(item: CartItem, config: Configuration, copies: int | None, actor: Actor,
                location_id: int | None = None) -> None:
    """Change an item's edition, quantity, add-ons or copies, or where hardware ships; its quoted price becomes
    today's."""
    if item.purchase is not PurchaseKind.NEW:
        raise RuleError("A change to a license is chosen on the license's Modify page: remove it and choose again.")
    org = db.session.get(Organization, item.organization_id)
    item.location_id = _check_location(org, config, location_id)
    item.copies = _check_copies(config, copies)
    item.edition_id = config.edition.id if config.edition else None
    item.quantity = config.quantity
    item.addon_ids = config.addon_ids
    item.quoted_list_minor = quoted_price(item.organization_id, config)
    record(actor, "cart.item_changed", item, item.organization_id, quantity=config.quantity, copies=item.copies,
           **({"location_id": item.location_id} if item.location_id else {}))


def remove_item(item: CartItem, actor: Actor) -> None:
    record(actor, "cart.item_removed", item, item.organization_id)
    db.session.delete(item)


def consume(items: list[CartItem]) -> None:
    """Take the items out of the cart for an order; RuleError if another checkout took them first."""
    ids = [i.id for i in items]
    deleted = db.session.execute(delete(CartItem).where(CartItem.id.in_(ids))
                                 .execution_options(synchronize_session=False))
    if deleted.rowcount != len(ids):
        raise RuleError("Your cart changed in another window or tab. Review it and check out again.")
    for item in items:
        db.session.expunge(item)
