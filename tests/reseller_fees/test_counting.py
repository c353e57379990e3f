"""The counting rule (portal/reseller_fees/counting.py): one SQL statement that agrees with the rule stated in plain
Python, whatever the licenses, fees and resellers' own fees, and whose statements do not grow with the accounts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from portal.catalog.models import Product
from portal.diagnostics import count_statements
from portal.extensions import db
from portal.licenses.models import License
from portal.reseller_fees.counting import (
    HeldLicense,
    accounts_charged,
    charged_accounts,
    fee_lines,
    fee_total,
    fees_by_account,
    resellers_with_fees,
)
from portal.reseller_fees.models import ResellerFeeOverride
from tests.factories import demo_product, make_license, make_org
from tests.reseller_fees.conftest import EDITIONS, assigned, reseller

NOVEMBER_30 = date(2026, 11, 30)
SLUGS = ("mailsuite", "webstats", "livedesk")


def test_an_account_assigned_by_the_last_day_pays_the_whole_month_and_one_assigned_after_does_not(catalog):
    northwind = reseller()
    early, late, own = make_org(parent=northwind), make_org(), make_org()
    assigned(northwind, early, date(2026, 11, 30))  # the last day: the whole month
    assigned(northwind, late, date(2026, 12, 1))  # the next month's
    assigned(northwind, northwind, date(2026, 11, 2))  # its own license: no customer account
    make_license(northwind)  # unassigned
    assigned(own, own, date(2026, 11, 2))
    fee = demo_product("mailsuite")

    rows = set(db.session.execute(charged_accounts(northwind.id, NOVEMBER_30)))
    assert rows == {(fee.id, early.id, 200)}
    assert fee_total(northwind.id, NOVEMBER_30).monthly_minor == 200
    assert fee_total(northwind.id, date(2026, 12, 31)).accounts == 2


def test_several_licenses_of_a_product_are_one_fee_and_several_products_are_several(catalog):
    northwind, contoso = reseller(), make_org()
    livedesk = demo_product("livedesk")
    livedesk.reseller_fee_minor = 350
    for _ in range(3):
        assigned(northwind, contoso, date(2026, 11, 5))
    assigned(northwind, contoso, date(2026, 11, 5), slug="livedesk")
    assigned(northwind, contoso, date(2026, 11, 5), slug="webstats")  # no fee

    assert fees_by_account(northwind.id, [contoso.id], NOVEMBER_30)[contoso.id].monthly_minor == 550
    [desk, mail] = fee_lines(northwind.id, NOVEMBER_30)
    assert (desk.product_name, desk.fee_minor, desk.accounts) == ("LiveDesk Help Desk", 350, 1)
    assert (mail.product_name, mail.total_minor) == ("MailSuite Mail Server", 200)


def test_staff_may_set_one_resellers_own_fee_or_none(catalog):
    northwind, litware, customer = reseller(), reseller(), make_org()
    mailsuite = demo_product("mailsuite")
    db.session.add_all([ResellerFeeOverride(product_id=mailsuite.id, reseller_id=northwind.id, fee_minor=150),
                        ResellerFeeOverride(product_id=mailsuite.id, reseller_id=litware.id, fee_minor=None)])
    assigned(northwind, customer, date(2026, 11, 1))
    assigned(litware, customer, date(2026, 11, 1))

    assert fee_total(northwind.id, NOVEMBER_30).monthly_minor == 150
    assert fee_total(litware.id, NOVEMBER_30).monthly_minor == 0
    assert resellers_with_fees(NOVEMBER_30) == [northwind.id]


def test_only_resellers_owe_fees(catalog):
    end_customer, sub_chain = make_org(), make_org()  # a main chain without a partner tier
    assigned(end_customer, sub_chain, date(2026, 11, 1))
    assert resellers_with_fees(NOVEMBER_30) == []


def test_the_statements_do_not_grow_with_the_accounts(app, catalog):
    northwind = reseller()
    def statements() -> int:
        with count_statements(db.engine) as counted:
            fee_lines(northwind.id, NOVEMBER_30)
            fee_total(northwind.id, NOVEMBER_30)
            fees_by_account(northwind.id, [o.id for o in customers], NOVEMBER_30)
        return counted.count

    customers = [make_org(parent=northwind) for _ in range(3)]
    for customer in customers:
        assigned(northwind, customer, date(2026, 11, 3))
    few = statements()
    customers += [make_org(parent=northwind) for _ in range(40)]
    for customer in customers[3:]:
        assigned(northwind, customer, date(2026, 11, 3))
        assigned(northwind, customer, date(2026, 11, 4), slug="webstats")
    assert statements() == few == 3
    assert fee_total(northwind.id, NOVEMBER_30).accounts == 43


# ---------------------------------------------------------------- the SQL against the rule in Python


licenses_st = st.lists(st.tuples(st.integers(0, 2),  # owner: one of 3 organizations (0 and 1 resellers)
                                 st.integers(0, 2),  # product
                                 st.one_of(st.none(), st.integers(0, 4)),  # customer: none, or one of 5
                                 st.integers(-3, 3)),  # days from the counting day it was assigned
                       max_size=12)
fees_st = st.tuples(*(st.one_of(st.none(), st.sampled_from([0, 1, 200])) for _ in SLUGS))
overrides_st = st.dictionaries(st.tuples(st.integers(0, 2), st.integers(0, 1)),
                               st.one_of(st.none(), st.sampled_from([0, 99, 250])), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(licenses=licenses_st, fees=fees_st, overrides=overrides_st)
def test_the_sql_counts_as_the_rule_says(app, catalog, licenses, fees, overrides):
    try:
        owners = [reseller(), reseller(), make_org()]  # the third is not a reseller
        customers = [make_org(parent=owners[0]), make_org(parent=owners[1]), make_org(), owners[0], owners[1]]
        products = [demo_product(slug) for slug in SLUGS]
        for product, fee in zip(products, fees, strict=True):
            product.reseller_fee_minor = fee
        for (product, owner), fee in overrides.items():
            db.session.add(ResellerFeeOverride(product_id=products[product].id, reseller_id=owners[owner].id,
                                               fee_minor=fee))
        held = []
        for owner, product, customer, days in licenses:
            target = customers[customer] if customer is not None else None
            license_ = make_license(owners[owner], target, slug=SLUGS[product], edition=EDITIONS[SLUGS[product]])
            if target is not None:
                license_.assigned_at = datetime.combine(NOVEMBER_30 + timedelta(days=days), time(23, 59, 59),
                                                        tzinfo=UTC)
            held.append(HeldLicense(owners[owner].id, products[product].id, license_.customer_id,
                                    license_.assigned_at))
        db.session.flush()
        product_fees = {p.id: p.reseller_fee_minor for p in products}
        override_fees = {(products[p].id, owners[o].id): fee for (p, o), fee in overrides.items()}
        for owner in owners:
            expected = accounts_charged(held, product_fees, override_fees, owner.id, NOVEMBER_30)
            found = {tuple(row) for row in db.session.execute(charged_accounts(owner.id, NOVEMBER_30))}
            assert found == expected
        owing = {o.id for o in owners[:2]
                 if accounts_charged(held, product_fees, override_fees, o.id, NOVEMBER_30)}
        assert set(resellers_with_fees(NOVEMBER_30)) == owing
    finally:
        db.session.rollback()
        db.session.execute(delete(ResellerFeeOverride))
        db.session.execute(delete(License))
        for product in db.session.query(Product):
            product.reseller_fee_minor = 200 if product.slug == "mailsuite" else None
        db.session.commit()
