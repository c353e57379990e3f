"""A reseller's invoice series under concurrency (PostgreSQL): its own counter row, locked by the issuing
transaction, gives gapless numbers however many of its storefront invoices are issued at once, while the vendor's
series and another reseller's count on their own."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceSeries
from portal.extensions import db
from portal.storefronts.models import Storefront
from tests.factories import make_invoice, make_org, make_storefront_invoice


@pytest.mark.postgres_only
def test_twenty_concurrent_storefront_invoices_of_one_reseller_are_numbered_one_to_twenty(app, demo):
    """20 of Northwind's invoices to Contoso are issued at the same moment (its counter does not exist yet), five
    more roll back, and the vendor issues its own meanwhile: Northwind's numbers are exactly 1..20."""
    with app.app_context():
        storefront_id = db.session.scalars(select(Storefront.id).where(Storefront.alias == "northwind")).one()
        contoso_id = demo.orgs["Contoso Retail"]
    barrier = threading.Barrier(26)
    errors: list[BaseException] = []

    def issue(keep: bool, vendor: bool = False) -> None:
        try:
            barrier.wait(timeout=30)
            with app.app_context():
                customer = db.session.get(Organization, contoso_id)
                if vendor:
                    make_invoice(customer)
                else:
                    make_storefront_invoice(db.session.get(Storefront, storefront_id), customer)
                time.sleep(random.random() / 100)  # hold the counter a little, as a sale does
                if keep:
                    db.session.commit()
                else:
                    db.session.rollback()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(i < 20,)) for i in range(25)]
    threads.append(threading.Thread(target=issue, args=(True, True)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with app.app_context():
        numbers = sorted(db.session.scalars(select(Invoice.number).where(Invoice.series == InvoiceSeries.STOREFRONT)))
        assert numbers == [f"NORTHWIND-{n:06d}" for n in range(1, 21)]
        assert list(db.session.scalars(select(Invoice.number).where(Invoice.issuer_id.is_(None)))) == ["INV-000001"]
        # another reseller's series starts at 1 of its own
        other = make_org("Adatum Resellers")
        shop = Storefront(organization_id=other.id, alias="adatum", tax_id="T-1", registration_id="R-1",
                          opened_on=db.func.current_date())
        db.session.add(shop)
        db.session.flush()
        assert make_storefront_invoice(shop, make_org("Adatum Customer", parent=other)).number == "ADATUM-000001"
        db.session.rollback()
