"""Creating licenses from what an order bought (assignment and modification arrive with the licenses issue)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.catalog.models import AddOn
from portal.extensions import db
from portal.licenses.keys import generate_key
from portal.licenses.models import License
from portal.orders.models import OrderLine


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def create_unassigned_licenses(line: OrderLine, owner_id: int, today: date) -> list[License]:
    """One unassigned license per item bought on `line`, each with a new key and a year of M&S."""
    addons = list(db.session.scalars(select(AddOn).where(AddOn.id.in_([a["id"] for a in line.addons]))))
    licenses = []
    for _ in range(line.copies):
        license_ = License(key=generate_key(), owner_id=owner_id, product_id=line.product_id,
                           edition_id=line.edition_id, quantity=line.quantity, order_line_id=line.id,
                           ms_expires_on=one_year_after(today), addons=addons)
        db.session.add(license_)
        licenses.append(license_)
    return licenses
