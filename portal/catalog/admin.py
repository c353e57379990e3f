"""Staff manage the catalog: products (licenses and subscriptions), editions, add-ons, and the discount of each
partner tier. Each change is checked here (a RuleError names the form field that is wrong) and audited.

Services flush, never commit; the caller commits once. Amounts arrive as integer minor units (portal.money parses
what staff type); these functions check them again, for callers that are not forms.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import selectinload

from portal import pricing
from portal.accounts.addresses import COUNTRY_CODES
from portal.accounts.models import PartnerTier
from portal.audit.services import Actor, record
from portal.catalog.models import AddOn, BillingInterval, Edition, Product, ProductKind, SubscriptionBasis, TierDiscount
from portal.errors import RuleError
from portal.extensions import db

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
SKU = re.compile(r"[A-Z0-9][A-Z0-9.-]{0,39}", re.ASCII)
MAX_PRICE_MINOR = 1_000_000_000  # USD 10,000,000.00: far above any list price, well inside a 32-bit column
MAX_QUANTITY = pricing.MAX_UNITS  # a quantity offered is one a buyer may buy
MAX_QUANTITIES = 50
MAX_POSITION = 10_000
TIERS = (PartnerTier.SILVER, PartnerTier.GOLD, PartnerTier.PLATINUM)


@dataclass(frozen=True)
class ProductDetails:
    """What staff set on a product. License fields are ignored for a subscription, and the reverse."""

    slug: str
    name: str
    unit_label: str
    summary: str = ""
    active: bool = False  # offered in the shop
    position: int | None = None  # None: after the others
    quantities: tuple[int, ...] = ()
    ms_rate_bp: int | None = 2000
    reinstatement_fee_minor: int | None = 0
    basis: SubscriptionBasis | None = None
    interval: BillingInterval | None = None
    unit_price_minor: int | None = None  # a subscription's per unit and interval; hardware's per unit
    sku: str = ""
    shipping_per_order_minor: int | None = None
    shipping_per_unit_minor: int | None = None
    ships_to: tuple[str, ...] = ()
    becomes_device: bool = False


@dataclass(frozen=True)
class EditionDetails:
    """A license edition: its list price for a quantity is base + unit price x quantity."""

    name: str
    base_price_minor: int
    unit_price_minor: int
    position: int | None = None  # None: after the others
    active: bool = True


@dataclass(frozen=True)
class AddOnDetails:
    slug: str
    name: str
    price_minor: int
    position: int | None = None  # None: after the others
    active: bool = True


# ---------------------------------------------------------------- reading


def all_products() -> list[Product]:
    """Every product, retired ones included, in catalog order, with editions and add-ons loaded."""
    return list(db.session.scalars(
        select(Product).order_by(Product.position, Product.name)
        .options(selectinload(Product.editions), selectinload(Product.addons))
    ))


def product_for_staff(product_id: int) -> Product | None:
    """One product, active or not, with its editions and add-ons loaded (afresh, after a rollback too)."""
    return db.session.scalars(
        select(Product).where(Product.id == product_id)
        .options(selectinload(Product.editions), selectinload(Product.addons))
        .execution_options(populate_existing=True)
    ).first()


def tier_discounts() -> dict[PartnerTier, int]:
    """The discount of each partner tier in basis points (0 where none is set yet)."""
    rows = {row.tier: row.discount_bp for row in db.session.scalars(select(TierDiscount))}
    return {tier: rows.get(tier, 0) for tier in TIERS}


# ---------------------------------------------------------------- checks


def parse_quantities(text: str) -> list[int]:
    """Quantities typed as "10, 25, 50" (commas or spaces between them): sorted, each once."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise RuleError("Enter whole numbers separated by commas, such as 10, 25, 50.", "quantities")
    if any(len(p) > len(str(MAX_QUANTITY)) for p in parts):
        raise RuleError(f"A quantity is at most {MAX_QUANTITY:,}.", "quantities")
    return _quantities([int(p) for p in parts], required=False)


def parse_countries(text: str) -> list[str]:
    """Countries typed as "US, CA" (commas or spaces between them): ISO 3166 alpha-2 codes, sorted, each once."""
    parts = [p.upper() for p in re.split(r"[,\s]+", text.strip()) if p]
    return _countries(parts, required=False)


def _countries(values: list[str] | tuple[str, ...], required: bool = True) -> list[str]:
    codes = sorted({(value or "").strip().upper() for value in values})
    if required and not codes:
        raise RuleError("Enter the countries it ships to, such as US, CA.", "ships_to")
    unknown = [code for code in codes if code not in COUNTRY_CODES]
    if unknown:
        raise RuleError(f"Not a country code: {', '.join(unknown[:3])}. Use 2-letter ISO codes, such as US, CA.",
                        "ships_to")
    return codes


def _sku(value: str, product: Product | None) -> str:
    sku = (value or "").strip().upper()
    if not SKU.fullmatch(sku):
        raise RuleError("Enter a SKU of up to 40 letters, digits, dots and hyphens, such as PC-100.", "sku")
    others = [Product.id != product.id] if product is not None else []
    if _taken(Product.sku, sku, *others):
        raise RuleError(f"Another product already uses the SKU {sku}.", "sku")
    return sku


def _optional_price(value: int | None, field: str) -> int | None:
    return None if value is None else _price(value, field)


def _quantities(values: list[int] | tuple[int, ...], required: bool = True) -> list[int]:
    quantities = sorted(set(values))
    if required and not quantities:
        raise RuleError("Offer at least one quantity, such as 10, 25, 50.", "quantities")
    if quantities and quantities[0] < 1:
        raise RuleError("Quantities start at 1.", "quantities")
    if quantities and quantities[-1] > MAX_QUANTITY:
        raise RuleError(f"A quantity is at most {MAX_QUANTITY:,}.", "quantities")
    if len(quantities) > MAX_QUANTITIES:
        raise RuleError(f"Offer at most {MAX_QUANTITIES} quantities.", "quantities")
    return quantities


def _text(value: str, field: str, label: str, max_length: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise RuleError(f"Enter the {label}.", field)
    if len(value) > max_length:
        raise RuleError(f"Use at most {max_length} characters.", field)
    return value


def _slug(value: str, field: str = "slug") -> str:
    slug = (value or "").strip().lower()
    if not slug:
        raise RuleError("Enter a slug, such as mail-server.", field)
    if len(slug) > 64 or not SLUG.fullmatch(slug):
        raise RuleError("Use at most 64 lowercase letters, digits and single hyphens, such as mail-server.", field)
    return slug


def _price(value: int | None, field: str) -> int:
    if value is None:
        raise RuleError("Enter a price.", field)
    if value < 0:
        raise RuleError("A price cannot be negative.", field)
    if value > MAX_PRICE_MINOR:
        raise RuleError("That price is too large.", field)
    return value


def _basis_points(value: int | None, field: str) -> int:
    if value is None:
        raise RuleError("Enter a percentage.", field)
    if not 0 <= value <= 10_000:
        raise RuleError("Enter a percentage from 0 to 100.", field)
    return value


def _position(value: int | None, column: ColumnElement, siblings: ColumnElement, current: object | None) -> int:
    """The position asked for; if none, where the row already is, or after its siblings for a new row."""
    if value is None:
        if current is not None:
            return getattr(current, column.key)
        return (db.session.scalar(select(func.max(column)).where(siblings)) or 0) + 1
    if not 0 <= value <= MAX_POSITION:
        raise RuleError(f"Enter a position from 0 to {MAX_POSITION:,}.", "position")
    return value


def _taken(column: ColumnElement, value: str, *conditions: ColumnElement) -> bool:
    """Whether another row already uses `value` in `column`, compared without regard to case."""
    return bool(db.session.scalar(select(func.count()).where(func.lower(column) == value.lower(), *conditions)))


def _product_values(kind: ProductKind, details: ProductDetails, product: Product | None = None) -> dict:
    """The checked column values of a product of `kind` (the other kind's columns are left empty)."""
    slug = _slug(details.slug)
    others = [Product.id != product.id] if product is not None else []
    if _taken(Product.slug, slug, *others):
        raise RuleError(f"Another product already uses the slug {slug}.", "slug")
    values = {
        "slug": slug,
        "name": _text(details.name, "name", "product's name", 120),
        "summary": _text(details.summary, "summary", "summary", 2000, required=False),
        "unit_label": _text(details.unit_label, "unit_label", "unit, such as mailboxes or devices", 40),
        "active": bool(details.active),
        "position": _position(details.position, Product.position, true(), product),
    }
    if kind is ProductKind.LICENSE:
        if values["active"] and not _offered_editions(product.id if product is not None else None):
            raise RuleError("A license is bought in one of its editions: add one before offering the product.",
                            "active")
        values |= {
            "quantities": _quantities(details.quantities),
            "ms_rate_bp": _basis_points(details.ms_rate_bp, "ms_rate_bp"),
            "reinstatement_fee_minor": _price(details.reinstatement_fee_minor, "reinstatement_fee_minor"),
            "basis": None, "interval": None, "unit_price_minor": None,
        }
    elif kind is ProductKind.HARDWARE:
        values |= {
            "quantities": [], "reinstatement_fee_minor": 0, "basis": None, "interval": None,
            "unit_price_minor": _price(details.unit_price_minor, "hardware_unit_price_minor"),
            "sku": _sku(details.sku, product),
            "shipping_per_order_minor": _optional_price(details.shipping_per_order_minor, "shipping_per_order_minor"),
            "shipping_per_unit_minor": _optional_price(details.shipping_per_unit_minor, "shipping_per_unit_minor"),
            "ships_to": _countries(details.ships_to),
            "becomes_device": bool(details.becomes_device),
        }
    else:
        if details.basis is None:
            raise RuleError("Choose per device or per location.", "basis")
        if details.interval is None:
            raise RuleError("Choose monthly or annual billing.", "interval")
        values |= {
            "quantities": [], "reinstatement_fee_minor": 0,
            "basis": details.basis, "interval": details.interval,
            "unit_price_minor": _price(details.unit_price_minor, "unit_price_minor"),
        }
    return values


def _plain(value: object) -> object:
    """A value as the audit log's JSON keeps it."""
    return value.value if isinstance(value, enum.Enum) else value


def _create(model: type, values: dict, actor: Actor, action: str, **context) -> object:
    """Add a row with `values`, and an audit entry that lists them."""
    obj = model(**values)
    db.session.add(obj)
    record(actor, action, obj, None, **context, **{k: _plain(v) for k, v in values.items()})
    return obj


def _change(obj: object, values: dict, actor: Actor, action: str, **context) -> None:
    """Set `values` on `obj`; audit what changed as {column: [before, after]} (no change, no entry)."""
    changes = {}
    for key, value in values.items():
        before = getattr(obj, key)
        if before != value:
            changes[key] = [_plain(before), _plain(value)]
            setattr(obj, key, value)
    if changes:
        record(actor, action, obj, None, **context, changes=changes)


# ---------------------------------------------------------------- products


def create_product(kind: ProductKind, details: ProductDetails, actor: Actor) -> Product:
    """Add a product to the catalog, sold as a perpetual license, as a subscription or as hardware."""
    values = {"kind": kind, "currency": "USD", **_product_values(kind, details)}
    return _create(Product, values, actor, "catalog.product_created")


def update_product(product: Product, details: ProductDetails, actor: Actor) -> None:
    """Change a product's name, prices and terms; its kind stays what it was sold as."""
    _change(product, _product_values(product.kind, details, product), actor, "catalog.product_updated",
            slug=product.slug)


# ---------------------------------------------------------------- editions and add-ons


def _offered_editions(product_id: int | None, leaving_out: Edition | None = None) -> int:
    """How many editions of a product are offered: an offered license product needs one to be bought in."""
    if product_id is None:
        return 0
    others = [Edition.id != leaving_out.id] if leaving_out is not None else []
    return db.session.scalar(select(func.count()).select_from(Edition)
                             .where(Edition.product_id == product_id, Edition.active.is_(True), *others))


def _edition_values(product_id: int, details: EditionDetails, edition: Edition | None = None) -> dict:
    name = _text(details.name, "name", "edition's name", 80)
    others = [Edition.id != edition.id] if edition is not None else []
    if _taken(Edition.name, name, Edition.product_id == product_id, *others):
        raise RuleError(f"This product already has an edition called {name}.", "name")
    retiring = edition is not None and edition.active and not details.active
    if retiring and db.session.scalar(select(Product.active).where(Product.id == product_id)) \
            and not _offered_editions(product_id, leaving_out=edition):
        raise RuleError("The product is offered in the shop and this is its last edition: offer another edition, "
                        "or retire the product first.", "active")
    return {
        "name": name,
        "base_price_minor": _price(details.base_price_minor, "base_price_minor"),
        "unit_price_minor": _price(details.unit_price_minor, "unit_price_minor"),
        "position": _position(details.position, Edition.position, Edition.product_id == product_id, edition),
        "active": bool(details.active),
    }


def _license_only(product: Product, what: str) -> None:
    if product.kind is not ProductKind.LICENSE:
        raise RuleError(f"Subscriptions and hardware have no {what}; only license products do.")


def add_edition(product: Product, details: EditionDetails, actor: Actor) -> Edition:
    """Offer a license product in one more edition."""
    _license_only(product, "editions")
    values = {"product_id": product.id, **_edition_values(product.id, details)}
    return _create(Edition, values, actor, "catalog.edition_added", product=product.slug)


def update_edition(edition: Edition, details: EditionDetails, actor: Actor) -> None:
    """Rename, reprice, reorder or retire an edition (licenses sold in it keep it)."""
    _change(edition, _edition_values(edition.product_id, details, edition), actor, "catalog.edition_updated",
            product_id=edition.product_id)


def _addon_values(product_id: int, details: AddOnDetails, addon: AddOn | None = None) -> dict:
    slug = _slug(details.slug)
    others = [AddOn.id != addon.id] if addon is not None else []
    if _taken(AddOn.slug, slug, AddOn.product_id == product_id, *others):
        raise RuleError(f"This product already has an add-on with the slug {slug}.", "slug")
    return {
        "slug": slug,
        "name": _text(details.name, "name", "add-on's name", 120),
        "price_minor": _price(details.price_minor, "price_minor"),
        "position": _position(details.position, AddOn.position, AddOn.product_id == product_id, addon),
        "active": bool(details.active),
    }


def add_addon(product: Product, details: AddOnDetails, actor: Actor) -> AddOn:
    """Offer an add-on with a license product, at a flat list price per license."""
    _license_only(product, "add-ons")
    values = {"product_id": product.id, **_addon_values(product.id, details)}
    return _create(AddOn, values, actor, "catalog.addon_added", product=product.slug)


def update_addon(addon: AddOn, details: AddOnDetails, actor: Actor) -> None:
    """Rename, reprice, reorder or retire an add-on (licenses that have it keep it)."""
    _change(addon, _addon_values(addon.product_id, details, addon), actor, "catalog.addon_updated",
            product_id=addon.product_id)


# ---------------------------------------------------------------- partner tiers


def set_tier_discounts(discounts: Mapping[PartnerTier, int], actor: Actor) -> None:
    """Set the reseller discount of each partner tier (basis points of the list price); one entry per change."""
    for tier, bp in discounts.items():
        if tier not in TIERS:
            raise RuleError(f"{tier.label} has no discount to set.")
        _basis_points(bp, tier.value)
    rows = {row.tier: row for row in db.session.scalars(select(TierDiscount))}
    for tier, bp in discounts.items():
        row = rows.get(tier)
        before = row.discount_bp if row is not None else 0  # no row: no discount (catalog.services.discount_bp)
        if before == bp:
            continue
        if row is None:
            db.session.add(TierDiscount(tier=tier, discount_bp=bp))
        else:
            row.discount_bp = bp
        record(actor, "catalog.tier_discount_changed", tier, None, before_bp=before, after_bp=bp)
