"""How a reseller shows the vendor's license products on its own storefront (DOMAIN §8): its own name and
description for a product (blank: the vendor's), or the product hidden from its storefront's catalog, product pages
and cart. One StorefrontProduct row per storefront and product, made the first time the reseller changes
something. Its prices are the storefront's price rules (prices.py); the vendor's fee and RRP are the vendor's and
only shown here.

Services flush, never commit; the view commits once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductKind
from portal.errors import RuleError
from portal.extensions import db
from portal.storefronts.models import Storefront, StorefrontProduct

NAME_LENGTH = 120  # StorefrontProduct.name
_SLUG = re.compile(r"[A-Za-z0-9-]{1,120}", re.ASCII)  # what a product slug can be (Product.slug)
SUMMARY_LENGTH = 2000


@dataclass(frozen=True)
class ShownAs:
    """What the reseller sets for one product on its storefront: blank name or summary means the vendor's."""

    name: str = ""
    summary: str = ""
    hidden: bool = False


def license_product(slug: str) -> Product | None:
    """The vendor's license product on sale with this slug, with its editions (what a storefront may show)."""
    if not _SLUG.fullmatch(slug or ""):  # nothing else is a slug (nor reaches the database: NUL bytes…)
        return None
    return db.session.scalars(select(Product).where(Product.slug == slug, Product.active.is_(True),
                                                    Product.kind == ProductKind.LICENSE)
                              .options(selectinload(Product.editions))).first()


def shown_product(storefront: Storefront, product: Product) -> StorefrontProduct | None:
    """The storefront's row for this product (None: shown as the vendor's, under the vendor's name)."""
    return db.session.scalars(select(StorefrontProduct).where(StorefrontProduct.storefront_id == storefront.id,
                                                              StorefrontProduct.product_id == product.id)).first()


def shown_products(storefront_id: int, product_ids: Iterable[int] | None = None) -> dict[int, StorefrontProduct]:
    """The storefront's rows by product id, for these products (every one when None), in one statement."""
    stmt = select(StorefrontProduct).where(StorefrontProduct.storefront_id == storefront_id)
    if product_ids is not None:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        stmt = stmt.where(StorefrontProduct.product_id.in_(ids))
    return {row.product_id: row for row in db.session.scalars(stmt)}


def _checked(shown: ShownAs) -> ShownAs:
    name, summary = " ".join(shown.name.split()), shown.summary.strip()
    if len(name) > NAME_LENGTH:
        raise RuleError(f"A name is at most {NAME_LENGTH} characters.", "name")
    if len(summary) > SUMMARY_LENGTH:
        raise RuleError(f"A description is at most {SUMMARY_LENGTH:,} characters.", "summary")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in name + summary):
        raise RuleError("Remove the control characters from the text.", "summary" if summary else "name")
    return ShownAs(name, summary, bool(shown.hidden))


def show_product(storefront: Storefront, product: Product | None, shown: ShownAs, actor: Actor) -> StorefrontProduct:
    """Set the name and description the storefront shows for a vendor's license product (blank: the vendor's), or
    hide it from the storefront; audited with what it was before."""
    if product is None or not product.active or product.kind is not ProductKind.LICENSE:
        raise RuleError("Choose a license product the vendor sells.", "name")
    shown = _checked(shown)
    row = db.session.scalars(select(StorefrontProduct).where(
        StorefrontProduct.storefront_id == storefront.id, StorefrontProduct.product_id == product.id)
        .with_for_update()).first()
    before = {"before_name": row.name, "before_summary": row.summary, "before_hidden": row.hidden} if row else {}
    if row is None:
        row = StorefrontProduct(storefront_id=storefront.id, product_id=product.id)
        try:
            with db.session.begin_nested():  # a concurrent request made the row: change that one instead
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalars(select(StorefrontProduct).where(
                StorefrontProduct.storefront_id == storefront.id, StorefrontProduct.product_id == product.id)
                .with_for_update()).one()
    row.name, row.summary, row.hidden = shown.name, shown.summary, shown.hidden
    db.session.flush()
    record(actor, "storefront.product_shown", row, storefront.organization_id, product=product.slug,
           name=shown.name, summary=shown.summary, hidden=shown.hidden, **before)
    return row
