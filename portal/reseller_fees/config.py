"""Staff set the reseller fees and the recommended retail prices (DOMAIN §8): a license product's fee per customer
account per month for all resellers, another fee (or none) for one reseller, and each edition's RRP per unit.
Each change is checked here (a RuleError names the form field that is wrong) and audited with its before and
after values; services flush, never commit. `fee_in_force` is the read helper other packages use.

Fees and RRPs apply to license products only: they are what resellers assign and storefronts sell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Organization, PartnerTier, User
from portal.audit.services import Actor, record
from portal.catalog.admin import MAX_PRICE_MINOR
from portal.catalog.models import Edition, Product
from portal.errors import RuleError
from portal.extensions import db
from portal.reseller_fees.counting import fees_for
from portal.reseller_fees.models import ResellerFeeOverride

MAX_MATCHES_SHOWN = 5


# ---------------------------------------------------------------- reading


def fee_in_force(product: Product, reseller_id: int) -> int | None:
    """The fee `reseller_id` pays per customer account per month on `product` (counting.fees_for: staff's fee for
    that reseller if one is set, else the product's fee for all resellers). None when it pays none. One query."""
    return fees_for(reseller_id, [product.id]).get(product.id) if product.is_license else None


@dataclass(frozen=True)
class OverrideRow:
    """One reseller's own fee on a product, as staff's table shows it."""

    id: int
    reseller_id: int
    reseller_name: str
    fee_minor: int | None
    updated_by: str | None  # the staff member's name (or email); None for the system
    updated_at: datetime


def overrides_of(product: Product) -> list[OverrideRow]:
    """The fees staff set for single resellers on `product`, by reseller name (one query)."""
    rows = db.session.execute(
        select(ResellerFeeOverride.id, ResellerFeeOverride.reseller_id, Organization.name,
               ResellerFeeOverride.fee_minor, User.full_name, User.email, ResellerFeeOverride.updated_at)
        .join(Organization, Organization.id == ResellerFeeOverride.reseller_id)
        .outerjoin(User, User.id == ResellerFeeOverride.updated_by_id)
        .where(ResellerFeeOverride.product_id == product.id)
        .order_by(Organization.name, Organization.id)
    )
    return [OverrideRow(r.id, r.reseller_id, r.name, r.fee_minor, (r.full_name or r.email) if r.email else None,
                        r.updated_at) for r in rows]


def _resellers():
    return select(Organization).where(Organization.parent_id.is_(None), Organization.partner_tier != PartnerTier.NONE)


def reseller_named(text: str, field: str = "reseller") -> Organization:
    """The reseller staff typed, by its id or its name: an exact name (any case) first, else the one name that
    contains the text. A RuleError naming `field` when none or several match, listing a few of them."""
    text = (text or "").strip()
    if not text:
        raise RuleError("Enter the reseller's name or its id.", field)
    if text.isascii() and text.isdigit():
        reseller = db.session.scalars(_resellers().where(Organization.id == int(text))).first() \
            if int(text) < 2**31 else None
        if reseller is None:
            raise RuleError(f"No reseller has the id {text}. A reseller is a main chain with a partner tier.", field)
        return reseller
    exact = func.lower(Organization.name) == text.lower()
    matches = list(db.session.scalars(
        _resellers().where(or_(exact, Organization.name.icontains(text, autoescape=True)))
        .order_by(exact.desc(), Organization.name, Organization.id).limit(MAX_MATCHES_SHOWN + 1)))
    exact_matches = [m for m in matches if m.name.lower() == text.lower()]
    if len(exact_matches) == 1 or (len(matches) == 1 and not exact_matches):
        return exact_matches[0] if exact_matches else matches[0]
    if not matches:
        raise RuleError(f"No reseller is called {text}. A reseller is a main chain with a partner tier.", field)
    shown = exact_matches or matches
    listed = "; ".join(f"{m.name} (id {m.id})" for m in shown[:MAX_MATCHES_SHOWN])
    more = " and more" if len(shown) > MAX_MATCHES_SHOWN else ""
    raise RuleError(f"Several resellers match {text}: {listed}{more}. Type the whole name or the id.", field)


# ---------------------------------------------------------------- checks


def _fee(value: int | None, field: str, what: str = "fee") -> int | None:
    if value is None:
        return None
    if value < 0:
        raise RuleError(f"A {what} cannot be negative.", field)
    if value > MAX_PRICE_MINOR:
        raise RuleError(f"That {what} is too large.", field)
    return value


def _license_only(product: Product, field: str | None) -> None:
    if not product.is_license:
        raise RuleError("Subscriptions carry no reseller fee: only license products, which resellers assign to "
                        "their customers, do.", field)


# ---------------------------------------------------------------- changes


def set_product_fee(product: Product, fee_minor: int | None, actor: Actor) -> None:
    """Set the fee every reseller pays per customer account per month on a license product (None: no fee)."""
    fee = _fee(fee_minor, "reseller_fee_minor")
    if fee is not None:
        _license_only(product, "reseller_fee_minor")
    before = product.reseller_fee_minor
    if before == fee:
        return
    product.reseller_fee_minor = fee
    record(actor, "catalog.reseller_fee_set", product, None, product=product.slug,
           changes={"reseller_fee_minor": [before, fee]})


def set_edition_rrp(edition: Edition, rrp_minor: int | None, actor: Actor) -> None:
    """Set an edition's recommended retail price per unit, which resellers may follow, exceed or undercut (None:
    no RRP)."""
    rrp = _fee(rrp_minor, "rrp_unit_minor", "price")
    before = edition.rrp_unit_minor
    if before == rrp:
        return
    edition.rrp_unit_minor = rrp
    record(actor, "catalog.rrp_set", edition, None, product_id=edition.product_id, edition=edition.name,
           changes={"rrp_unit_minor": [before, rrp]})


def set_reseller_fee(product: Product, reseller: Organization, fee_minor: int | None,
                     actor: Actor) -> ResellerFeeOverride:
    """Set the fee one reseller pays on a license product in place of the product's fee (None: this reseller pays
    no fee on it); setting it again changes it."""
    _license_only(product, None)
    if not reseller.is_reseller:
        raise RuleError(f"{reseller.name} is not a reseller: a reseller is a main chain with a partner tier.",
                        "reseller")
    fee = _fee(fee_minor, "fee_minor")
    override = _override(product.id, reseller.id)
    created = override is None
    if created:
        try:
            with db.session.begin_nested():  # another staff member may be adding the same one right now
                override = ResellerFeeOverride(product_id=product.id, reseller_id=reseller.id, fee_minor=fee,
                                               updated_by_id=actor.user_id)
                db.session.add(override)
        except IntegrityError:
            override, created = _override(product.id, reseller.id), False
            if override is None:
                raise
    before = None if created else override.fee_minor
    if not created:
        if before == fee:
            return override
        override.fee_minor, override.updated_by_id = fee, actor.user_id
    # fee_minor None is "no fee for this reseller"; `created` tells it from "no fee of its own before"
    record(actor, "catalog.reseller_fee_override_set", override, None, product=product.slug,
           reseller_id=reseller.id, reseller=reseller.name, created=created, changes={"fee_minor": [before, fee]})
    return override


def _override(product_id: int, reseller_id: int) -> ResellerFeeOverride | None:
    return db.session.scalars(select(ResellerFeeOverride).where(
        ResellerFeeOverride.product_id == product_id, ResellerFeeOverride.reseller_id == reseller_id)).first()


def override_for_staff(override_id: int) -> ResellerFeeOverride | None:
    """One reseller's own fee by id (staff see every reseller's)."""
    return db.session.get(ResellerFeeOverride, override_id)


def remove_reseller_fee(override: ResellerFeeOverride, actor: Actor) -> None:
    """Remove one reseller's own fee on a product: it pays the product's fee for all resellers again."""
    reseller_name = db.session.scalar(select(Organization.name).where(Organization.id == override.reseller_id))
    record(actor, "catalog.reseller_fee_override_removed", override, None, product_id=override.product_id,
           reseller_id=override.reseller_id, reseller=reseller_name, before={"fee_minor": override.fee_minor})
    db.session.delete(override)
    db.session.flush()
