"""The license picker of the assignment: a reseller's unassigned licenses found by product, edition, quantity,
add-on and key, a page at a time.

Pages follow the license id (keyset: `after` is the last id of the page before), so the 80th page of 2,000
unassigned licenses costs what the first does, and a license assigned meanwhile never shifts the next page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, User
from portal.catalog.models import Product, ProductKind
from portal.extensions import db
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License, license_addon
from portal.licenses.services import reseller_licenses
from portal.routing import MAX_ID

PER_PAGE = 25
MAX_KEY_SEARCH = 40  # a key is 29 characters with its hyphens; room for spaces around it
FILTERS = ("product", "edition", "quantity", "addon", "key")


@dataclass(frozen=True)
class PickerSearch:
    """What the picker's GET form asked for; `errors` by field name, each to show beside its field (a filter in
    error is left out of the search, so the rest still narrows it)."""

    product_id: int | None = None
    edition_id: int | None = None
    quantity: int | None = None
    addon_id: int | None = None
    key: str = ""
    after: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, object]:
        """The search as URL parameters (for the next page's button and the form's values); empty ones left out."""
        values = {"product": self.product_id, "edition": self.edition_id, "quantity": self.quantity,
                  "addon": self.addon_id, "key": self.key}
        return {name: value for name, value in values.items() if value not in (None, "")}


def _whole_number(text: str) -> int | None:
    """A positive whole number within an id column's range, else None."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID else None


def parse_search(args: Mapping[str, str]) -> PickerSearch:
    """The picker's filters from a query string; a value that cannot be one is explained, never an error page."""
    errors: dict[str, str] = {}
    chosen: dict[str, int | None] = {}
    for name, message in (("product", "Choose a product from the list."),
                          ("edition", "Choose an edition from the list."),
                          ("addon", "Choose an add-on from the list."),
                          ("quantity", "Type a quantity as a whole number, such as 25."),
                          ("after", "")):
        raw = (args.get(name) or "").strip()
        chosen[name] = _whole_number(raw) if raw else None
        if raw and chosen[name] is None and message:
            errors[name] = message
    key = (args.get("key") or "").strip()
    if len(key) > MAX_KEY_SEARCH:
        errors["key"] = f"Type at most {MAX_KEY_SEARCH} characters of a license key."
        key = ""
    return PickerSearch(chosen["product"], chosen["edition"], chosen["quantity"], chosen["addon"], key,
                        chosen["after"], errors)


@dataclass(frozen=True)
class PickerPage:
    """One page of the unassigned licenses found, and the cursor of the next page (None on the last)."""

    licenses: list[License]
    next_after: int | None


def _key_condition(text: str):
    """The exact key when `text` is one (typed in lower case, without hyphens, with O for 0), else a part of it."""
    try:
        return License.key == normalize_key(text)
    except InvalidKey:
        return License.key.contains(text.upper(), autoescape=True)


def unassigned_page(user: User, org: Organization, search: PickerSearch, leave_out: list[str] = (),
                    per_page: int = PER_PAGE) -> PickerPage:
    """A page of `org`'s unassigned licenses that match `search`, oldest first, with their add-ons (two statements
    whatever the stock); `leave_out` are keys already chosen."""
    stmt = reseller_licenses(user, org).where(License.customer_id.is_(None))
    if search.product_id is not None:
        stmt = stmt.where(License.product_id == search.product_id)
    if search.edition_id is not None:
        stmt = stmt.where(License.edition_id == search.edition_id)
    if search.quantity is not None:
        stmt = stmt.where(License.quantity == search.quantity)
    if search.addon_id is not None:
        stmt = stmt.where(License.id.in_(select(license_addon.c.license_id)
                                         .where(license_addon.c.addon_id == search.addon_id)))
    if search.key:
        stmt = stmt.where(_key_condition(search.key))
    if leave_out:
        stmt = stmt.where(License.key.not_in(list(leave_out)))
    if search.after is not None:
        stmt = stmt.where(License.id > search.after)
    found = list(db.session.scalars(stmt.options(selectinload(License.addons)).order_by(License.id)
                                    .limit(per_page + 1)).unique())
    page = found[:per_page]
    return PickerPage(page, page[-1].id if len(found) > per_page else None)


def license_products() -> list[Product]:
    """The catalog's license products with their editions and add-ons, for the picker's lists (three statements;
    retired ones too: a license of a product no longer sold is still in stock)."""
    return list(db.session.scalars(
        select(Product).where(Product.kind == ProductKind.LICENSE)
        .options(selectinload(Product.editions), selectinload(Product.addons))
        .order_by(Product.position, Product.name, Product.id)))
