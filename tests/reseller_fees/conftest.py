"""Builders for the reseller fee tests: the demo catalog (MailSuite bears $2.00 per customer account per month),
resellers and their customer accounts, licenses assigned on a chosen day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time

import pytest

from portal.accounts.models import BillingMode, Organization, PartnerTier
from portal.extensions import db
from portal.licenses.models import License
from tests.factories import make_license, make_org


@pytest.fixture
def catalog(app) -> Iterator[None]:
    """The demo catalog, tier discounts and tax rates, with an application context (no demo organizations)."""
    from portal.billing.demo import seed_tax_rates
    from portal.catalog.demo import seed_catalog

    with app.app_context():
        seed_catalog()
        seed_tax_rates()
        db.session.commit()
        yield
        db.session.rollback()


def reseller(billing_mode: BillingMode = BillingMode.MONTHLY_INVOICE, **fields) -> Organization:
    """A reseller's main chain (Gold), tax exempt unless told otherwise."""
    fields.setdefault("tax_exempt", True)
    return make_org(billing_mode=billing_mode, partner_tier=PartnerTier.GOLD, **fields)


EDITIONS = {"mailsuite": "Professional", "webstats": "Standard", "livedesk": "Professional"}


def assigned(owner: Organization, customer: Organization, on: date, slug: str = "mailsuite") -> License:
    """A license of `owner` assigned to `customer` at noon (UTC) on `on`."""
    license_ = make_license(owner, customer, slug=slug, edition=EDITIONS[slug])
    license_.assigned_at = datetime.combine(on, time(12), tzinfo=UTC)
    db.session.flush()
    return license_
