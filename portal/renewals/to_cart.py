"""Add renewals to cart (issue 17 item 3): the M&S of many licenses chosen on the renewals list goes into the cart at
once, each priced and added exactly as Modify a License adds it (`modify.maintenance_offer`, `add_modification`):
a renewal while M&S runs, a reinstatement once it has lapsed, on the configuration an upgrade of the license
waiting in the cart gives it. All or nothing: one license that cannot be renewed and nothing is added."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization, User
from portal.audit.services import Actor
from portal.cart.models import CartItem
from portal.cart.services import add_modification
from portal.catalog.models import PurchaseKind
from portal.catalog.services import products_by_id
from portal.errors import RuleError
from portal.extensions import db
from portal.licenses import modify
from portal.licenses.keys import InvalidKey, normalize_key
from portal.licenses.models import License
from portal.recurring.autorenew import keys_phrase

MAX_SELECTION = pricing.MAX_CART_ITEMS  # a cart holds no more lines than this


def _selected(user: User, org: Organization, keys: Sequence[str]) -> list[License]:
    """The licenses `org` bought named by `keys`, each one `user` may renew; RuleError naming the others (a typo,
    another tenant's: whether they exist elsewhere is never told), or for an empty or too large selection."""
    if not keys:
        raise RuleError("Select the licenses whose Maintenance & Support you want to renew.", field="licenses")
    if len(keys) > MAX_SELECTION:
        raise RuleError(f"A cart holds at most {MAX_SELECTION} items: select at most {MAX_SELECTION} licenses "
                        f"({len(keys)} were selected). Nothing was added.", field="licenses")
    wanted, unknown = [], []
    for key in keys:
        try:
            canonical = normalize_key(key)
        except InvalidKey:
            unknown.append(key[:40])
            continue
        if canonical not in wanted:
            wanted.append(canonical)
    found = {lic.key: lic for lic in db.session.scalars(
        modify.modifiable_licenses(user).where(License.key.in_(wanted), License.owner_id == org.id)
        .options(*modify.license_options()))}
    unknown += [key for key in wanted if key not in found]
    if unknown:
        phrase = keys_phrase(unknown)
        raise RuleError(f"{phrase[0].upper()}{phrase[1:]} {'is' if len(unknown) == 1 else 'are'} not one of "
                        f"{org.name}'s licenses. Nothing was added.", field="licenses")
    return [found[key] for key in wanted]


def add_renewals_to_cart(user: User, org: Organization, keys: Sequence[str], today: date,
                         actor: Actor) -> list[CartItem]:
    """Put one more year of M&S of each license named by `keys` into `user`'s cart for `org`, priced as Modify a
    License prices it (an M&S item already there for a license is replaced); RuleError naming every license that
    cannot be renewed, and then nothing is added. Flushes; the caller commits (or rolls back on RuleError)."""
    licenses = _selected(user, org, keys)
    products = products_by_id({lic.product_id for lic in licenses})
    upgrades = list(db.session.scalars(select(CartItem).where(
        CartItem.user_id == user.id, CartItem.organization_id == org.id, CartItem.storefront_id.is_(None),
        CartItem.purchase == PurchaseKind.UPGRADE, CartItem.license_id.in_([lic.id for lic in licenses]))))
    # M&S of a license whose upgrade waits in the cart is priced on the upgraded license, as the Modify page does.
    priced = modify.price_cart_items(upgrades, products, today) if upgrades else {}
    upgraded = {item.license_id: priced[item.id].target for item in upgrades
                if isinstance(priced.get(item.id), modify.Modification)}
    items, refused = [], {}
    for lic in licenses:
        try:
            offer = modify.maintenance_offer(lic, products[lic.product_id], today, upgraded.get(lic.id))
            items.append(add_modification(user, org, offer, offer.list_minor, actor))
        except RuleError as error:
            refused.setdefault(error.message, []).append(lic.key)
    if refused:
        reasons = " ".join(f"{keys_phrase(keys)[0].upper()}{keys_phrase(keys)[1:]}: {message}"
                           for message, keys in refused.items())
        raise RuleError(f"Nothing was added to your cart. {reasons}", field="licenses")
    db.session.flush()
    return items
