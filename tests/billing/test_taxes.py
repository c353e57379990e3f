"""Taxes (issue 5 item 7): staff set a rate per billing country and region; the region's rate wins; a resale
exemption pays none (category E); an address no rate covers pays none (zero rated, Z); each order and invoice
line carries its category and rate, computed by portal.pricing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization
from portal.billing.models import Invoice
from portal.errors import RuleError
from portal.extensions import db
from portal.orders.models import OrderLine
from portal.seller.models import TaxRate
from portal.seller.taxes import EXEMPT, STANDARD, ZERO_RATED, rate_for, remove_tax_rate, set_tax_rate, tax_terms
from tests.billing.conftest import buy, card
from tests.factories import actor, make_org


def test_the_regions_rate_wins_over_the_countrys(billing):
    set_tax_rate("us", "", "US federal test tax", 100, STANDARD, actor())
    set_tax_rate("US", "co", "Colorado sales tax", 290, STANDARD, actor())
    assert rate_for("US", "CO").label == "Colorado sales tax"  # regions match whatever their case
    assert rate_for("US", "TX").label == "US federal test tax"
    assert rate_for("FR", "") is None


def test_an_organization_pays_the_rate_of_its_billing_address(billing):
    set_tax_rate("US", "CO", "Colorado sales tax", 290, STANDARD, actor())
    fabrikam = db.session.get(Organization, billing.orgs["Fabrikam Stores"])
    terms = tax_terms(fabrikam)
    assert (terms.rate_bp, terms.category, terms.label) == (290, STANDARD, "Colorado sales tax")


def test_a_resale_exemption_pays_no_tax_even_where_a_rate_applies(billing):
    northwind = db.session.get(Organization, billing.orgs["Northwind IT"])  # Seattle, WA: the demo has a WA rate
    assert rate_for("US", "WA") is not None and northwind.tax_exempt
    terms = tax_terms(northwind)
    assert (terms.rate_bp, terms.category, terms.exemption_reason) == (
        0, EXEMPT, "Exempt from sales tax: purchased for resale (resale certificate on file)")


def test_an_address_without_a_rate_is_zero_rated(billing):
    org = make_org()
    org.region = "MT"
    terms = tax_terms(org)
    assert (terms.rate_bp, terms.category) == (0, ZERO_RATED)


def test_checkout_taxes_each_line_and_the_invoice_carries_the_category(billing):
    payment = card()  # entered at the processor first (it writes on a connection of its own)
    set_tax_rate("US", "CO", "Colorado sales tax", 290, STANDARD, actor())
    invoice = buy(billing, "Fabrikam Stores", payment, slug="livedesk", edition="Professional", quantity=3,
                  copies=2)  # 2 x 3 x $149 = $894.00, no tier
    db.session.expire_all()
    invoice = db.session.scalars(select(Invoice).where(Invoice.id == invoice.id)
                                 .options(selectinload(Invoice.lines))).one()
    [order_line] = db.session.scalars(select(OrderLine).where(OrderLine.order_id == invoice.order_id)).all()
    assert (order_line.tax_category, order_line.tax_rate_bp, order_line.tax_minor) == (STANDARD, 290, 2_593)
    [line] = invoice.lines
    assert (line.tax_category, line.tax_rate_bp, line.tax_minor, line.total_minor) == (STANDARD, 290, 2_593, 91_993)
    assert (invoice.tax_minor, invoice.total_minor) == (2_593, 91_993)


def test_an_exempt_buyers_lines_say_exempt(billing):
    invoice = buy(billing, "Litware Solutions", card(), slug="webstats", edition="Standard", quantity=1)
    invoice = db.session.scalars(select(Invoice).where(Invoice.id == invoice.id)
                                 .options(selectinload(Invoice.lines))).one()
    assert [(x.tax_category, x.tax_minor) for x in invoice.lines] == [(EXEMPT, 0)]


@pytest.mark.parametrize(("country", "region", "rate", "category", "field"), [
    ("USA", "", 500, STANDARD, "country"),
    ("US", "", 0, STANDARD, "rate"),        # a standard rate is above zero
    ("US", "", 500, ZERO_RATED, "rate"),    # zero rated is 0 %
    ("US", "", 6_000, STANDARD, "rate"),    # more than 50 %: a typing mistake
    ("US", "", 500, EXEMPT, "category"),    # exemption belongs to the organization, not the place
])
def test_a_rate_that_cannot_be_right_is_refused_beside_its_field(billing, country, region, rate, category, field):
    with pytest.raises(RuleError) as refused:
        set_tax_rate(country, region, "Sales tax", rate, category, actor())
    assert refused.value.field == field


def test_setting_a_places_rate_again_replaces_it_and_removing_it_stops_the_tax(billing):
    first = set_tax_rate("US", "CO", "Colorado sales tax", 290, STANDARD, actor())
    again = set_tax_rate("US", "Co", "Colorado sales tax", 300, STANDARD, actor())
    assert again.id == first.id and again.rate_bp == 300
    remove_tax_rate(again, actor())
    db.session.flush()
    assert db.session.scalars(select(TaxRate).where(TaxRate.region == "CO")).first() is None
    fabrikam = db.session.get(Organization, billing.orgs["Fabrikam Stores"])
    assert tax_terms(fabrikam).category == ZERO_RATED
