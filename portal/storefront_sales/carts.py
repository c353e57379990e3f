"""A storefront customer's cart: CartItem rows with `storefront_id` set, for the customer's sub-chain and user,
priced by the storefront's price book (portal/storefronts/prices.py) rather than the vendor's list.

On a storefront line, `CartItem.quoted_list_minor` is the storefront's price of one copy shown when it went into
the cart (never the vendor's list price), so the cart and the checkout can say when that price changed.

The storefront shows a product under the reseller's name and description where it set them, and not at all when
the reseller hid it (StorefrontProduct): a hidden product is left out of the catalog, has no page, cannot be added
to a cart, and a cart line of it can no longer be bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import aliased, joinedload

from portal import pricing
from portal.accounts.models import Organization, User
from portal.audit.services import Actor, record
from portal.cart.models import CartItem
from portal.cart.services import cart_signature
from portal.catalog.models import Edition, Product, ProductKind
from portal.catalog.services import Configuration, configure, products_by_id
from portal.errors import RuleError
from portal.extensions import db
from portal.storefront_sales.customers import check_open
from portal.storefronts.models import Storefront, StorefrontProduct
from portal.storefronts.prices import PriceBook, price_book
from portal.storefronts.storefront_products import shown_products

NOT_SOLD_HERE = "This product is no longer sold here. Remove it to check out."


@dataclass(frozen=True)
class StorefrontLine:
    """A storefront cart item checked against today's catalog and priced by today's storefront prices."""

    item: CartItem
    product: Product | None
    config: Configuration | None  # None when the product, edition or add-on is no longer offered
    unit_price_minor: int = 0  # the storefront's price of one copy today
    problem: str | None = None
    shown_name: str = ""  # the reseller's name for the product on its storefront ("": the vendor's)

    @property
    def name(self) -> str:
        """The product's name as the storefront shows it."""
        return self.shown_name or (self.product.name if self.product else "")

    @property
    def price_minor(self) -> int:
        return self.unit_price_minor * self.item.copies

    @property
    def price_changed(self) -> bool:
        return self.config is not None and self.unit_price_minor != self.item.quoted_list_minor

    @property
    def description(self) -> str:
        if self.config is None:
            return self.name
        return described(self.config, self.shown_name)


@dataclass(frozen=True)
class StorefrontCart:
    """The priced lines of a customer's storefront cart, its total and its signature (what the customer agrees to
    at checkout)."""

    lines: list[StorefrontLine]
    signature: str

    @property
    def total_minor(self) -> int:
        return sum(line.price_minor for line in self.lines)

    @property
    def blocked(self) -> list[StorefrontLine]:
        return [line for line in self.lines if line.config is None]

    @property
    def changed(self) -> list[StorefrontLine]:
        return [line for line in self.lines if line.price_changed]


def sellable(product: Product | None) -> bool:
    """Whether a storefront sells the product: an active license product (storefronts sell licenses only)."""
    return product is not None and product.active and product.kind is ProductKind.LICENSE


def described(config: Configuration, shown_name: str = "") -> str:
    """A configuration in words under the storefront's name for its product ("": the vendor's)."""
    if not shown_name:
        return config.description
    return shown_name + config.description.removeprefix(config.product.name)


def shown_on(storefront: Storefront, product_id: int) -> StorefrontProduct | None:
    """How the storefront shows this product (None: as the vendor's)."""
    return shown_products(storefront.id, [product_id]).get(product_id)


def hidden_on(storefront: Storefront, product_id: int) -> bool:
    """Whether the reseller hid this product from its storefront."""
    shown = shown_on(storefront, product_id)
    return shown is not None and shown.hidden


def _items_query(storefront: Storefront, user: User, customer: Organization):
    return select(CartItem).where(CartItem.storefront_id == storefront.id, CartItem.user_id == user.id,
                                  CartItem.organization_id == customer.id)


def cart_items(storefront: Storefront, user: User, customer: Organization) -> list[CartItem]:
    """The customer's storefront cart (this user, this sub-chain, this storefront), oldest line first."""
    return list(db.session.scalars(_items_query(storefront, user, customer).order_by(CartItem.id)))


def cart_item(storefront: Storefront, user: User, customer: Organization, item_id: int) -> CartItem | None:
    """One line of the customer's storefront cart; None for anyone else's line (the view answers 404)."""
    return db.session.scalars(_items_query(storefront, user, customer).where(CartItem.id == item_id)).first()


@lru_cache(maxsize=1)
def _cart_count() -> Select:
    return select(func.coalesce(func.sum(CartItem.copies), 0)).where(
        CartItem.storefront_id == bindparam("storefront_id"), CartItem.user_id == bindparam("user_id"),
        CartItem.organization_id == bindparam("customer_id"))


def cart_count(storefront: Storefront, user: User, customer: Organization) -> int:
    """Licenses in the customer's storefront cart, for the storefront's header (on every page a customer sees:
    its statement is built once)."""
    return db.session.scalar(_cart_count(), {"storefront_id": storefront.id, "user_id": user.id,
                                             "customer_id": customer.id})


def unit_price(book: PriceBook, config: Configuration) -> int:
    """The storefront's price of one copy of a configuration; RuleError when the storefront does not sell it."""
    if not sellable(config.product):
        raise RuleError("This storefront sells licenses only.", field="product_id")
    return book.price(config)


def price_lines(storefront: Storefront, customer: Organization, items: list[CartItem]) -> StorefrontCart:
    """Each line re-checked against the catalog and re-priced at the customer's prices today (the same few
    statements whatever the number of lines and price rules)."""
    products = products_by_id({i.product_id for i in items})
    book = price_book(storefront, customer.id, products.keys())
    shown = shown_products(storefront.id, products.keys())
    lines = []
    for item in items:
        product = products.get(item.product_id)
        own = shown.get(item.product_id)
        name = own.name if own is not None else ""
        if not sellable(product) or (own is not None and own.hidden):
            lines.append(StorefrontLine(item, product, None, problem=NOT_SOLD_HERE, shown_name=name))
            continue
        try:
            config = configure(product, item.edition_id, item.quantity, item.addon_ids)
            lines.append(StorefrontLine(item, product, config, unit_price(book, config), shown_name=name))
        except RuleError as error:
            lines.append(StorefrontLine(item, product, None, problem=f"{error.message} Edit or remove this item.",
                                        shown_name=name))
    return StorefrontCart(lines, cart_signature(items))


def _check_copies(copies: int | None) -> int:
    if copies is None or not 1 <= copies <= pricing.MAX_COPIES:
        raise RuleError(f"Buy between 1 and {pricing.MAX_COPIES} licenses at once.", field="copies")
    return copies


def add_item(storefront: Storefront, user: User, customer: Organization, config: Configuration,
             copies: int | None, actor: Actor) -> CartItem:
    """Put a configured license into the customer's storefront cart at the price shown to it today."""
    check_open(storefront)
    copies = _check_copies(copies)
    if hidden_on(storefront, config.product.id):
        raise RuleError("That product is not sold here. Choose one from the catalog.", field="product_id")
    price = unit_price(price_book(storefront, customer.id, [config.product.id]), config)
    held = db.session.scalar(select(func.count()).select_from(CartItem).where(
        CartItem.storefront_id == storefront.id, CartItem.user_id == user.id,
        CartItem.organization_id == customer.id))
    if held >= pricing.MAX_CART_ITEMS:
        raise RuleError(f"A cart holds at most {pricing.MAX_CART_ITEMS} items. Check out, then continue shopping.")
    item = CartItem(user_id=user.id, organization_id=customer.id, storefront_id=storefront.id,
                    product_id=config.product.id, edition_id=config.edition.id, quantity=config.quantity,
                    copies=copies, addon_ids=config.addon_ids, quoted_list_minor=price)
    db.session.add(item)
    record(actor, "storefront.cart_item_added", item, customer.id, storefront=storefront.alias,
           product=config.product.slug, quantity=config.quantity, copies=copies)
    return item


def update_item(storefront: Storefront, customer: Organization, item: CartItem, config: Configuration,
                copies: int | None, actor: Actor) -> None:
    """Change a line's edition, quantity, add-ons or number of licenses; its quoted price becomes today's."""
    check_open(storefront)
    if hidden_on(storefront, config.product.id):
        raise RuleError(NOT_SOLD_HERE)
    item.copies = _check_copies(copies)
    item.quoted_list_minor = unit_price(price_book(storefront, customer.id, [config.product.id]), config)
    item.edition_id = config.edition.id
    item.quantity = config.quantity
    item.addon_ids = config.addon_ids
    record(actor, "storefront.cart_item_changed", item, customer.id, storefront=storefront.alias,
           quantity=config.quantity, copies=item.copies)


def remove_item(item: CartItem, actor: Actor) -> None:
    """Take a line out of the customer's storefront cart."""
    record(actor, "storefront.cart_item_removed", item, item.organization_id)
    db.session.delete(item)


@dataclass(frozen=True)
class CatalogProduct:
    """What the catalog page shows of a product (read as plain rows, not Product objects): its name and summary
    are the reseller's where it set them."""

    id: int
    slug: str
    name: str
    summary: str
    unit_label: str
    edition_names: tuple[str, ...]  # its editions on offer, in catalog order


@dataclass(frozen=True)
class CatalogEntry:
    """A product on the storefront's catalog page with its lowest price ("from")."""

    product: CatalogProduct
    from_minor: int | None  # None when no edition is on offer


@dataclass(frozen=True)
class CatalogPage:
    """One page of the storefront's catalog; `next_after` is the cursor of the next page (None on the last)."""

    entries: list[CatalogEntry]
    next_after: int | None
    first_page: bool


def _shown_on_storefront():
    """The storefront's own row of each product (outer join on parameter `storefront_id`): its name, summary and
    whether it is hidden; and the condition that leaves hidden products out."""
    joined = and_(StorefrontProduct.product_id == Product.id,
                  StorefrontProduct.storefront_id == bindparam("storefront_id"))
    return joined, or_(StorefrontProduct.id.is_(None), StorefrontProduct.hidden.is_not(true()))


def _shown(own: object, vendors: object):
    """The storefront's text where it set one, else the vendor's (SQL)."""
    return func.coalesce(func.nullif(own, ""), vendors)


@lru_cache(maxsize=8)
def _catalog_statement(per_page: int, keyset: bool) -> Select:
    """catalog_page's statement, built once per page size (parameters `storefront_id`, and `after` with `keyset`):
    a page of the products the storefront shows (one more, to know whether another page follows), under its names,
    with their active editions and RRPs, as plain rows."""
    joined, not_hidden = _shown_on_storefront()
    page = (select(Product.id, Product.slug, Product.name, Product.summary, Product.unit_label, Product.quantities,
                   Product.position, _shown(StorefrontProduct.name, Product.name).label("shown_name"),
                   _shown(StorefrontProduct.summary, Product.summary).label("shown_summary"))
            .outerjoin(StorefrontProduct, joined)
            .where(Product.active.is_(True), Product.kind == ProductKind.LICENSE, not_hidden)
            .order_by(Product.position, Product.name, Product.id).limit(per_page + 1))
    if keyset:
        cursor = aliased(Product)
        page = page.join(cursor, cursor.id == bindparam("after")).where(or_(
            Product.position > cursor.position,
            and_(Product.position == cursor.position, or_(Product.name > cursor.name,
                                                          and_(Product.name == cursor.name,
                                                               Product.id > cursor.id)))))
    page = page.subquery()
    return (select(page.c.id, page.c.slug, page.c.shown_name, page.c.shown_summary, page.c.unit_label,
                   page.c.quantities, Edition.id.label("edition_id"), Edition.name.label("edition_name"),
                   Edition.base_price_minor, Edition.unit_price_minor, Edition.rrp_unit_minor)
            .outerjoin(Edition, and_(Edition.product_id == page.c.id, Edition.active.is_(True)))
            .order_by(page.c.position, page.c.name, page.c.id, Edition.position, Edition.id))


def catalog_page(storefront: Storefront, customer_id: int | None, after: int | None, per_page: int, *,
                 own_prices: bool | None = None) -> CatalogPage:
    """A page of the license products on sale at the storefront in catalog order (position, name), after the
    product `after` (keyset: the cursor's own position and name are read in the same statement; an unknown cursor
    gives an empty page), each from its lowest price for this customer (the first quantity offered, no add-ons).
    Products the reseller hid are left out; those it named show its name and summary. Two statements whatever the
    number of products and price rules: the products with their editions, the rules."""
    values = {"storefront_id": storefront.id}
    if after is not None:
        values["after"] = after
    rows = db.session.execute(_catalog_statement(per_page, after is not None), values).all()
    by_product: dict[int, list] = {}
    for row in rows:
        by_product.setdefault(row.id, []).append(row)
    more = len(by_product) > per_page
    products = list(by_product.values())[:per_page]
    book = price_book(storefront, customer_id, [editions[0].id for editions in products], own_prices=own_prices)
    entries = []
    for editions in products:
        first = editions[0]
        offered = [e for e in editions if e.edition_id is not None]
        quantity = min(first.quantities) if first.quantities else 1
        prices = [book.edition_price(first.id, e.edition_id, e.base_price_minor, e.unit_price_minor, quantity,
                                     rrp_unit_minor=e.rrp_unit_minor)
                  for e in offered]
        product = CatalogProduct(first.id, first.slug, first.shown_name, first.shown_summary, first.unit_label,
                                 tuple(e.edition_name for e in offered))
        entries.append(CatalogEntry(product, min(prices) if prices else None))
    return CatalogPage(entries, products[-1][0].id if more else None, after is None)


@dataclass(frozen=True)
class ShownProduct:
    """A product on a storefront's product page: the vendor's product, with the name and summary the storefront
    shows (the reseller's where it set them)."""

    product: Product
    name: str
    summary: str


@lru_cache(maxsize=1)
def _storefront_product() -> Select:
    """storefront_product's statement, built once (parameters `storefront_id` and `slug`)."""
    joined, not_hidden = _shown_on_storefront()
    return (select(Product, StorefrontProduct.name, StorefrontProduct.summary)
            .outerjoin(StorefrontProduct, joined)
            .where(Product.active.is_(True), Product.kind == ProductKind.LICENSE, Product.slug == bindparam("slug"),
                   not_hidden)
            .options(joinedload(Product.editions), joinedload(Product.addons)))


def storefront_product(storefront: Storefront, slug: str) -> ShownProduct | None:
    """The license product on sale at the storefront with this slug (None when there is none, or the reseller hid
    it), its editions and add-ons and the storefront's name and summary for it read in the same statement."""
    row = db.session.execute(_storefront_product(), {"storefront_id": storefront.id, "slug": slug}).unique().first()
    if row is None:
        return None
    product, name, summary = row
    return ShownProduct(product, name or product.name, summary or product.summary)
