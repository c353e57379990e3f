"""Reading the catalog and checking a configuration (edition, quantity, add-ons) a buyer asks for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal import pricing
from portal.accounts.models import Organization, PartnerTier
from portal.catalog.models import AddOn, Edition, Product, ProductKind, SubscriptionBasis, TierDiscount
from portal.errors import RuleError
from portal.extensions import db


def active_products() -> list[Product]:
    """The public catalog, in display order, with editions and add-ons loaded (reseller plans are sold on
    /account/plan, not listed)."""
    return list(db.session.scalars(
        select(Product).where(Product.active.is_(True), or_(Product.basis.is_(None),
                                                            Product.basis != SubscriptionBasis.RESELLER))
        .order_by(Product.position, Product.name)
        .options(selectinload(Product.editions), selectinload(Product.addons))
    ))


def product_by_slug(slug: str) -> Product | None:
    return db.session.scalars(
        select(Product).where(Product.slug == slug, Product.active.is_(True))
        .options(selectinload(Product.editions), selectinload(Product.addons))
    ).first()


def products_by_id(ids: set[int]) -> dict[int, Product]:
    """Products with their editions and add-ons, for pricing many cart items in three queries."""
    if not ids:
        return {}
    rows = db.session.scalars(select(Product).where(Product.id.in_(ids))
                              .options(selectinload(Product.editions), selectinload(Product.addons)))
    return {p.id: p for p in rows}


def discount_bp(org: Organization) -> int:
    """The reseller discount of the organization's partner tier (none without a tier)."""
    if org.partner_tier is PartnerTier.NONE:
        return 0
    return db.session.scalar(select(TierDiscount.discount_bp).where(TierDiscount.tier == org.partner_tier)) or 0


@dataclass(frozen=True)
class Configuration:
    """A checked choice of product, edition, quantity and add-ons; `list_minor` is its list price."""

    product: Product
    edition: Edition | None
    quantity: int
    addons: tuple[AddOn, ...]

    @property
    def list_minor(self) -> int:
        if self.product.kind is ProductKind.SUBSCRIPTION:
            return pricing.subscription_list_price(self.product.unit_price_minor, self.quantity)
        if self.product.kind is ProductKind.HARDWARE:
            return pricing.hardware_list_price(self.product.unit_price_minor, self.quantity)
        return pricing.license_list_price(self.edition.base_price_minor, self.edition.unit_price_minor,
                                          self.quantity, (a.price_minor for a in self.addons))

    @property
    def addon_ids(self) -> list[int]:
        return sorted(a.id for a in self.addons)

    @property
    def description(self) -> str:
        parts = [self.product.name]
        if self.edition:
            parts.append(self.edition.name)
        parts.append(f"{self.quantity} {self.product.unit_label}")
        return ", ".join(parts)


def default_configuration(product: Product) -> Configuration | None:
    """What a product page shows first: the first edition at the smallest quantity, no add-ons (None when a
    license product has no edition on offer, which the page then says)."""
    if product.kind is not ProductKind.LICENSE:
        return Configuration(product, None, 1, ())
    editions = [e for e in product.editions if e.active]
    if not editions:
        return None
    quantities = sorted(product.quantities) or [1]
    return Configuration(product, editions[0], quantities[0], ())


def check_units(product: Product, quantity: int | None) -> int:
    """A quantity of `product` one line may buy: from 1 to `pricing.MAX_UNITS`; RuleError on the field otherwise."""
    if quantity is None or quantity < 1:
        raise RuleError("Choose a quantity of at least 1.", field="quantity")
    if quantity > pricing.MAX_UNITS:
        raise RuleError(f"At most {pricing.MAX_UNITS:,} {product.unit_label} on one line: contact the vendor for "
                        "more.", field="quantity")
    return quantity


def configure(product: Product, edition_id: int | None, quantity: int | None,
              addon_ids: list[int]) -> Configuration:
    """Check a buyer's choice against the catalog; RuleError names the field that is wrong."""
    check_units(product, quantity)
    if product.kind is not ProductKind.LICENSE:
        if addon_ids:
            raise RuleError("Subscriptions and hardware have no add-ons.", field="addons")
        return Configuration(product, None, quantity, ())
    edition = next((e for e in product.editions if e.id == edition_id and e.active), None)
    if edition is None:
        raise RuleError("Choose one of the editions offered.", field="edition")
    if product.quantities and quantity not in product.quantities:
        offered = ", ".join(str(q) for q in sorted(product.quantities))
        raise RuleError(f"Choose one of the quantities offered: {offered}.", field="quantity")
    by_id = {a.id: a for a in product.addons if a.active}
    unknown = [i for i in addon_ids if i not in by_id]
    if unknown:
        raise RuleError("One of the add-ons is not offered with this product.", field="addons")
    addons = tuple(sorted((by_id[i] for i in set(addon_ids)), key=lambda a: (a.position, a.id)))
    return Configuration(product, edition, quantity, addons)
