"""Ordering hardware: where a cart line may ship, and what shipping costs per destination (issue 20).

A hardware line ships to one location. The buyer may ship to the locations of its main chain and of that chain's
sub-chains (a reseller's scenario-1 customers are its sub-chains), and to those of a customer main chain that
granted the buyer's main chain Installation Partner access, while that grant is in force. The location needs a
street address (`Location.ships_here`) in a country the product ships to. Shipping is priced by
`pricing.shipping_minor`, once per (order, product, location) for the per-order charge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import contains_eager

from portal import pricing
from portal.accounts.models import Organization
from portal.authz import chain_ids
from portal.catalog.models import Product
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.errors import RuleError
from portal.extensions import db
from portal.partners.models import GrantState, PartnerGrant
from portal.seller.taxes import EXEMPT, NO_TAX, TaxTerms, rate_for

LOCATION_FIELD = "location"


def _granting_customer_ids(org: Organization) -> Select:
    """SELECT of the customer main chains whose Installation Partner grant to `org`'s main chain is in force."""
    today = utcnow().date()
    return select(PartnerGrant.customer_id).where(
        PartnerGrant.partner_id == org.main_chain_id, PartnerGrant.state == GrantState.ACTIVE,
        PartnerGrant.starts_on <= today, PartnerGrant.expires_on > today, PartnerGrant.customer_id.is_not(None))


def _shippable_where(org: Organization) -> ColumnElement[bool]:
    granting = _granting_customer_ids(org)
    return or_(Location.organization_id.in_(chain_ids(org.main_chain_id)),
               Location.organization_id.in_(select(Organization.id).where(
                   or_(Organization.id.in_(granting), Organization.parent_id.in_(granting)))))


def shippable_locations(org: Organization) -> list[Location]:
    """Every location a hardware line bought by `org` may ship to (with or without a street address yet), by
    organization then name, with their organizations loaded."""
    return list(db.session.scalars(
        select(Location).join(Organization, Organization.id == Location.organization_id)
        .where(_shippable_where(org)).options(contains_eager(Location.organization))
        .order_by(Organization.name, Location.name)))


def check_destination(org: Organization, product: Product, location_id: int | None) -> Location:
    """The location a hardware line of `product` bought by `org` ships to; RuleError beside the location field when
    it is not one the buyer may ship to, has no street address, or is in a country the product does not ship to."""
    if location_id is None:
        raise RuleError("Choose the location to ship to.", field=LOCATION_FIELD)
    location = db.session.scalars(select(Location).where(Location.id == location_id, _shippable_where(org))).first()
    if location is None:
        raise RuleError("Choose one of your locations (or of a customer you may order for).", field=LOCATION_FIELD)
    check_ships_here(product, location)
    return location


def destinations(org: Organization, location_ids: set[int]) -> dict[int, Location]:
    """Of these locations, those `org` may still ship to, by id (one statement; addresses checked by the caller)."""
    if not location_ids:
        return {}
    return {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.id.in_(location_ids), _shippable_where(org)))}


def check_ships_here(product: Product, location: Location) -> None:
    """RuleError beside the location field unless `product` can ship to `location` as its address is now."""
    if not location.ships_here:
        raise RuleError(f"Add a street address to {location.name} first.", field=LOCATION_FIELD)
    if location.country not in (product.ships_to or []):
        raise RuleError(f"{product.name} does not ship to {location.country}.", field=LOCATION_FIELD)


def destination_tax(buyer: TaxTerms, location: Location) -> TaxTerms:
    """The tax of a hardware line and its shipping: the destination's rate (region, else country, else none), or
    none when the buyer holds a resale exemption."""
    if buyer.category == EXEMPT:
        return buyer
    rate = rate_for(location.country, location.region)
    return NO_TAX if rate is None else TaxTerms(rate.rate_bp, rate.category, rate.label)


@dataclass(frozen=True)
class Parcel:
    """One hardware line's share of shipping: what it ships, where, and the charge it carries."""

    key: int  # the cart item's id
    product: Product
    location_id: int
    units: int


def shipping_charges(parcels: Sequence[Parcel]) -> dict[int, int]:
    """Shipping per line (by key): each (product, location) pays the per-order charge once, on its first line,
    and every line pays the per-unit rate for its units."""
    charged: set[tuple[int, int]] = set()
    charges = {}
    for parcel in parcels:
        first = (parcel.product.id, parcel.location_id) not in charged
        charged.add((parcel.product.id, parcel.location_id))
        per_order = parcel.product.shipping_per_order_minor if first else None
        charges[parcel.key] = pricing.shipping_minor(per_order, parcel.product.shipping_per_unit_minor,
                                                     parcel.units)
    return charges


def describe_destination(ship_to: dict | None) -> str:
    """A shipping address on one line: "Airport Kiosk, 8500 Peña Blvd, Denver CO 80249, US"."""
    if not ship_to:
        return ""
    place = " ".join(part for part in (ship_to.get("city", ""), ship_to.get("region", ""),
                                       ship_to.get("postal_code", "")) if part)
    return ", ".join(part for part in (ship_to.get("name", ""), ship_to.get("street", ""), place,
                                       ship_to.get("country", "")) if part)
