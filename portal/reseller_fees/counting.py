"""Which customer accounts a reseller pays the vendor's fee for, and how much (DOMAIN §8). The rule, stated once:

- The **reseller** is the license's owner (License.owner_id): a main chain with a partner tier.
- A **customer account** of the reseller holds product P on a day when the reseller assigned it at least one license
  of P (License.customer_id, assigned by the end of that day, UTC) and the account is not the reseller itself.
  Use does not matter: an unactivated license, a lapsed M&S or a product no longer sold all count.
- The **fee** for P is the one staff set for this reseller (ResellerFeeOverride; None there means no fee), else P's
  fee for all resellers (Product.reseller_fee_minor). No fee, or a fee of 0, charges nothing.
- **Counted on the month's last day**: each account holding P at the end of that day is charged P's fee once for
  the whole month, whatever day it was assigned its first license of P (no proration). An account that no longer
  holds P by then (its licenses moved away with an account transfer, which makes them the account's own) is not
  charged for that month. Licenses are never un-assigned otherwise, so an account once charged stays charged
  every month until then.
- An account holding several fee-bearing products is charged each product's fee.

`charged_accounts` is the rule as ONE SQL statement whatever the number of accounts; `accounts_charged` states
it again in plain Python over plain rows, so property tests can hold the SQL to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, and_, case, distinct, exists, func, null, or_, select, union_all

from portal.accounts.models import Organization, PartnerTier
from portal.catalog.models import Product
from portal.extensions import db
from portal.licenses.models import License
from portal.pricing import reseller_fee
from portal.reseller_fees.models import ResellerFeeOverride


def end_of(day: date) -> datetime:
    """The first instant after `day` (UTC): a license assigned before it is held on `day`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _fee_in_force():
    """The fee of License.product_id for License.owner_id: the reseller's own (outer-joined override) if staff
    set one, else the product's fee for all resellers."""
    return case((ResellerFeeOverride.id.is_not(None), ResellerFeeOverride.fee_minor),
                else_=Product.reseller_fee_minor)


def fee_bearing_products(reseller_id: int) -> Select:
    """The products with a fee for a reseller, with that fee: (product_id, fee_minor), a few rows. The one SQL home
    of "the reseller's own fee if staff set one, else the product's"."""
    fee = _fee_in_force()
    return (select(Product.id.label("product_id"), fee.label("fee_minor"))
            .outerjoin(ResellerFeeOverride, and_(ResellerFeeOverride.product_id == Product.id,
                                                 ResellerFeeOverride.reseller_id == reseller_id))
            .where(fee > 0))


def fees_for(reseller_id: int, product_ids: Iterable[int]) -> dict[int, int]:
    """The fee per customer account per month the reseller pays on each of these products that has one (products
    without a fee for it are left out). One statement."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    fees = fee_bearing_products(reseller_id).subquery()
    return {product_id: fee for product_id, fee in db.session.execute(
        select(fees.c.product_id, fees.c.fee_minor).where(fees.c.product_id.in_(ids)))}


def _counted(day: date):
    """What the rule asks of a license on `day`: assigned by its end, to an account other than its owner."""
    return (License.customer_id.is_not(None), License.customer_id != License.owner_id,
            License.assigned_at < end_of(day))


def accounts_holding(reseller_id: int, day: date, customer_ids: list[int] | None = None) -> Select:
    """(product_id, customer_id) of the reseller's licenses of products with a fee for it, distinct: the accounts
    charged, without their fee. An index range per product of ix_license_owner_product_customer, read from the
    index alone (the few products with a fee are chosen first, in the same statement, so the licenses are never
    joined to their product row by row)."""
    fee_bearing = select(fee_bearing_products(reseller_id).subquery().c.product_id)
    stmt = (select(License.product_id, License.customer_id)
            .where(License.owner_id == reseller_id, License.product_id.in_(fee_bearing), *_counted(day)))
    if customer_ids is not None:
        stmt = stmt.where(License.customer_id.in_(customer_ids))
    return stmt.distinct()


def _held_by_all(day: date):
    """License rows of every owner with the fee of their product for that owner (the monthly run's question of
    who owes fees at all): a product's own-fee row for its reseller, its fee for all resellers for the others."""
    fees = union_all(
        select(Product.id.label("product_id"), null().label("reseller_id"),
               Product.reseller_fee_minor.label("fee_minor")).where(Product.reseller_fee_minor > 0),
        select(ResellerFeeOverride.product_id, ResellerFeeOverride.reseller_id, ResellerFeeOverride.fee_minor)
        .where(ResellerFeeOverride.fee_minor > 0)).subquery()
    on = and_(fees.c.product_id == License.product_id,
              or_(fees.c.reseller_id == License.owner_id,
                  and_(fees.c.reseller_id.is_(None),
                       ~exists().where(ResellerFeeOverride.product_id == License.product_id,
                                       ResellerFeeOverride.reseller_id == License.owner_id))))
    return select(License.owner_id, License.product_id, License.customer_id, fees.c.fee_minor).join(fees, on).where(
        *_counted(day))


def charged_accounts(reseller_id: int, day: date, customer_ids: list[int] | None = None) -> Select:
    """(product_id, customer_id, fee_minor): every customer account (of `customer_ids` only, if given) charged each
    product's fee for the month ending on `day`, one row each (one statement)."""
    held = accounts_holding(reseller_id, day, customer_ids).subquery()
    fees = fee_bearing_products(reseller_id).subquery()
    return (select(held.c.product_id, held.c.customer_id, fees.c.fee_minor)
            .join(fees, fees.c.product_id == held.c.product_id))


def resellers_with_fees(day: date) -> list[int]:
    """Ids of the resellers (main chains with a partner tier) owing fees for the month ending on `day`."""
    held = _held_by_all(day).subquery()
    return sorted(db.session.scalars(
        select(held.c.owner_id).join(Organization, Organization.id == held.c.owner_id)
        .where(Organization.parent_id.is_(None), Organization.partner_tier != PartnerTier.NONE).distinct()))


@dataclass(frozen=True)
class FeeLine:
    """One product's fee for a month: the fee per account and how many accounts are charged it."""

    product_id: int
    product_name: str
    fee_minor: int
    accounts: int

    @property
    def total_minor(self) -> int:
        return reseller_fee(self.accounts, self.fee_minor)


def fee_lines(reseller_id: int, day: date) -> list[FeeLine]:
    """The reseller's fee lines for the month ending on `day`, one per product by product name (one statement:
    a distinct count per product over ix_license_owner_product_customer; who the accounts are is read when they
    are recorded, see reseller_fees.invoicing)."""
    fees = fee_bearing_products(reseller_id).subquery()
    counts = (select(License.product_id, func.count(distinct(License.customer_id)).label("accounts"))
              .where(License.owner_id == reseller_id, License.product_id.in_(select(fees.c.product_id)),
                     *_counted(day))
              .group_by(License.product_id).subquery())
    rows = db.session.execute(
        select(counts.c.product_id, Product.name, fees.c.fee_minor, counts.c.accounts)
        .join(fees, fees.c.product_id == counts.c.product_id)
        .join(Product, Product.id == counts.c.product_id)
        .order_by(Product.name, counts.c.product_id))
    return [FeeLine(product_id, name, fee, count) for product_id, name, fee, count in rows]


@dataclass(frozen=True)
class AccountFees:
    """What one customer account costs its reseller per month in fees: its fee-bearing products and their sum."""

    products: int = 0
    monthly_minor: int = 0


def fees_by_account(reseller_id: int, customer_ids: Iterable[int], day: date) -> dict[int, AccountFees]:
    """The fees each of these customer accounts costs the reseller for a month ending on `day` (one statement;
    accounts without fees are left out)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    charged = charged_accounts(reseller_id, day, ids).subquery()
    rows = db.session.execute(select(charged.c.customer_id, func.count(), func.sum(charged.c.fee_minor))
                              .group_by(charged.c.customer_id))
    return {customer_id: AccountFees(count, int(total)) for customer_id, count, total in rows}


@dataclass(frozen=True)
class FeeTotal:
    """A reseller's fees for a month: the accounts charged at least one fee, and the sum of every fee."""

    accounts: int = 0
    monthly_minor: int = 0


def fee_total(reseller_id: int, day: date) -> FeeTotal:
    """The reseller's fees for a month ending on `day`, in total (one statement)."""
    charged = charged_accounts(reseller_id, day).subquery()
    accounts, total = db.session.execute(
        select(func.count(distinct(charged.c.customer_id)), func.coalesce(func.sum(charged.c.fee_minor), 0))).one()
    return FeeTotal(accounts, int(total))


# ---------------------------------------------------------------- the rule again, in plain Python


@dataclass(frozen=True)
class HeldLicense:
    """What the rule reads of a license."""

    owner_id: int
    product_id: int
    customer_id: int | None
    assigned_at: datetime | None


def fee_for(product_id: int, reseller_id: int, product_fees: Mapping[int, int | None],
            overrides: Mapping[tuple[int, int], int | None]) -> int | None:
    """The fee of a product for a reseller: the reseller's own if staff set one (None there: no fee), else the
    product's fee for all resellers."""
    if (product_id, reseller_id) in overrides:
        return overrides[(product_id, reseller_id)]
    return product_fees.get(product_id)


def accounts_charged(licenses: Iterable[HeldLicense], product_fees: Mapping[int, int | None],
                     overrides: Mapping[tuple[int, int], int | None], reseller_id: int,
                     day: date) -> set[tuple[int, int, int]]:
    """charged_accounts' rule in plain Python: the set of (product_id, customer_id, fee_minor) charged to
    `reseller_id` for the month ending on `day`."""
    charged = set()
    for lic in licenses:
        if lic.owner_id != reseller_id or lic.customer_id is None or lic.customer_id == reseller_id:
            continue
        if lic.assigned_at is None or lic.assigned_at >= end_of(day):
            continue
        fee = fee_for(lic.product_id, reseller_id, product_fees, overrides)
        if fee:
            charged.add((lic.product_id, lic.customer_id, fee))
    return charged
