"""Which tax an organization pays (DOMAIN §6, issue 5 item 7), and the staff's table of rates.

Staff set a rate per billing country, and per region where a country's regions differ (US states). The rate of
the region wins over the country's; an organization with a resale exemption pays none (category E); a billing
address no rate covers pays none either (category Z, zero rated: unlike O, "not subject to tax", it may share an
invoice with taxed lines, as a monthly summary can when staff add a rate mid-month). The category is the
EN 16931 VAT category code that each invoice line and the Factur-X XML carry. Applying a rate to an amount is
portal.pricing's job (`quote(..., tax_bp=...)`), so the rounding stays in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.extensions import db
from portal.seller.models import TaxRate

STANDARD, ZERO_RATED, EXEMPT, OUTSIDE_SCOPE = "S", "Z", "E", "O"
CATEGORY_LABELS = {STANDARD: "Standard rate", ZERO_RATED: "Zero rated", EXEMPT: "Exempt",
                   OUTSIDE_SCOPE: "Not subject to tax"}
# The categories staff may give a rate; E and O follow from the organization (exemption, no rate).
RATE_CATEGORIES = (STANDARD, ZERO_RATED)
# EN 16931 asks for a reason on exempt and out-of-scope lines (BT-120); derived from the category, so that an
# issued line (which stores its category) always prints the same reason.
EXEMPTION_REASONS = {EXEMPT: "Exempt from sales tax: purchased for resale (resale certificate on file)",
                     OUTSIDE_SCOPE: "Not subject to tax"}
MAX_RATE_BP = 5_000  # 50 %: no sales tax or VAT comes near; a higher figure is a typing mistake


@dataclass(frozen=True)
class TaxTerms:
    """The tax an organization pays on what it buys now."""

    rate_bp: int
    category: str
    label: str

    @property
    def exemption_reason(self) -> str | None:
        return EXEMPTION_REASONS.get(self.category)


NO_TAX = TaxTerms(0, ZERO_RATED, "No sales tax")


def issued_category(category: str, rate_bp: int) -> str:
    """The category an issued line states: a standard-rate line at 0 % can only come from orders placed before
    taxes were set, and is zero rated."""
    return ZERO_RATED if category == STANDARD and rate_bp == 0 else category
RESALE_EXEMPT = TaxTerms(0, EXEMPT, "Resale exemption")


def rate_for(country: str, region: str) -> TaxRate | None:
    """The rate of that region if staff set one, else the country's, else None."""
    candidates = select(TaxRate).where(TaxRate.country == country.strip().upper(),
                                       func.lower(TaxRate.region).in_([region.strip().lower(), ""]))
    return db.session.scalars(candidates.order_by(TaxRate.region.desc()).limit(1)).first()


def tax_terms(org: Organization) -> TaxTerms:
    """The tax `org` pays: none with a resale exemption; else the rate of its billing country and region."""
    if org.tax_exempt:
        return RESALE_EXEMPT
    rate = rate_for(org.country or "", org.region or "")
    if rate is None:
        return NO_TAX
    return TaxTerms(rate.rate_bp, rate.category, rate.label)


# ---------------------------------------------------------------- staff


def tax_rates() -> list[TaxRate]:
    return list(db.session.scalars(select(TaxRate).order_by(TaxRate.country, TaxRate.region)))


def set_tax_rate(country: str, region: str, label: str, rate_bp: int, category: str, actor: Actor) -> TaxRate:
    """Set the rate of a billing country (or of one of its regions); an existing rate for the place is replaced."""
    country, region, label = country.strip().upper(), region.strip(), label.strip()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise RuleError("Enter the country as its 2-letter code, such as US or DE.", field="country")
    if category not in RATE_CATEGORIES:
        raise RuleError("Choose the standard rate or zero rated.", field="category")
    if not 0 <= rate_bp <= MAX_RATE_BP:
        raise RuleError("A tax rate is between 0 and 50 %.", field="rate")
    if category == STANDARD and rate_bp == 0:
        raise RuleError("A standard rate is above 0 %; choose zero rated for 0 %.", field="rate")
    if category == ZERO_RATED and rate_bp != 0:
        raise RuleError("A zero-rated place has a rate of 0 %.", field="rate")
    if not label:
        raise RuleError("Name the tax as invoices should show it, such as Washington sales tax.", field="label")
    rate = db.session.scalars(select(TaxRate).where(TaxRate.country == country,
                                                    func.lower(TaxRate.region) == region.lower())).first()
    before = (rate.rate_bp, rate.category, rate.label) if rate else None
    if rate is None:
        rate = TaxRate(country=country, region=region)
        db.session.add(rate)
    rate.label, rate.rate_bp, rate.category = label, rate_bp, category
    record(actor, "tax_rate.set", rate, None, country=country, region=region or None, rate_bp=rate_bp,
           category=category, before=list(before) if before else None)
    return rate


def remove_tax_rate(rate: TaxRate, actor: Actor) -> None:
    """Stop charging this rate; orders already placed keep the tax they were charged."""
    record(actor, "tax_rate.removed", rate, None, country=rate.country, region=rate.region or None,
           rate_bp=rate.rate_bp)
    db.session.delete(rate)
