"""Plan changes in a real browser, with JavaScript: dave, Chain & User Manager of Fabrikam Stores, opens his Location
Plan's Change page from Manage Subscriptions, sees what a decrease would cost from the next payment without
leaving the page, schedules it, finds it on Manage Subscriptions and withdraws it; then he adds 2 locations now and
finds them in the cart at the price prorated to the end of the plan's year. Every page passes axe-core's serious
and critical rules. The same without JavaScript: tests/subscriptions/test_plan_changes.py.

The demo gives Fabrikam two locations that need 3 location subscriptions (portal/devices/demo.py); here its annual
Location Plan ($240.00 per location and year) has 5, two months into its year."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal import pricing
from portal.db_types import utcnow
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.browser.test_buying_journeys import arrive, no_page_load, sign_in_as
from tests.browser.test_sign_in_journeys import main_nav

pytestmark = pytest.mark.browser


@pytest.fixture
def fabrikam_plan(app, demo) -> dict:
    """Fabrikam's Location Plan: 5 locations, started two months ago, renewing in ten; nothing scheduled."""
    today = utcnow().date()
    with app.app_context():
        plan = db.session.scalars(select(Subscription).where(
            Subscription.organization_id == demo.orgs["Fabrikam Stores"])).one()
        start = pricing.advance_billing_date(today, -2, today.day)
        plan.quantity, plan.started_on, plan.anchor_day = 5, start, start.day
        plan.next_payment_on = pricing.advance_billing_date(start, 12, start.day)
        plan.scheduled_quantity = plan.scheduled_product_id = plan.scheduled_at = plan.scheduled_by_id = None
        plan.ended_on = None
        db.session.commit()
        facts = {"next": plan.next_payment_on,
                 "prorated": pricing.prorated_addition(24_000, 2, today, start, plan.next_payment_on)}
        db.session.remove()
    return facts


def plan_row(page: Page):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile("^Location Plan")))


def test_dave_schedules_a_decrease_withdraws_it_and_adds_locations_at_the_prorated_price(page, audit, fabrikam_plan):
    """From Manage Subscriptions dave opens Change on his Location Plan. He asks what 4 locations would cost: the
    page answers in place, $960.00 a year instead of $1,200.00 from the next payment. He confirms; Manage
    Subscriptions shows the scheduled decrease and bills $960.00 next. He withdraws it: the plan renews as it is.
    Back on Change, 2 more locations now cost about 10/12 of a year; he puts them in the cart, which says how
    the price is prorated."""
    next_payment = fabrikam_plan["next"].isoformat()
    prorated = f"${fabrikam_plan['prorated'] / 100:,.2f}"

    sign_in_as(page, "dave")
    main_nav(page).get_by_role("link", name="Manage Subscriptions", exact=True).click()
    arrive(page, "Manage Subscriptions")
    expect(plan_row(page)).to_contain_text("$1,200.00 at list price")
    plan_row(page).get_by_role("link", name="Change Location Plan").click()
    arrive(page, "Change Location Plan")
    audit()

    decrease = page.get_by_role("region", name="Decrease or cancel")
    expect(decrease).to_contain_text("you can lower this plan to 3 at the least")
    with no_page_load(page):
        decrease.get_by_label(re.compile("^New quantity")).fill("2")
        decrease.get_by_role("button", name="See the effect").click()
        expect(decrease.get_by_text("Your chain uses 3 location subscriptions; you can lower this plan to 3 at the "
                                    "least.").last).to_be_visible()
        decrease = page.get_by_role("region", name="Decrease or cancel")
        decrease.get_by_label(re.compile("^New quantity")).fill("4")
        decrease.get_by_role("button", name="See the effect").click()
        expect(page.get_by_role("status").filter(has_text="you will pay")).to_contain_text(
            f"From {next_payment} you will pay $960.00 per year for 4 locations instead of $1,200.00")
    audit()
    page.get_by_role("button", name="Schedule the decrease to 4").click()
    arrive(page, "Manage Subscriptions")
    expect(page.get_by_text("is scheduled to lower to 4 locations")).to_be_visible()
    expect(plan_row(page)).to_contain_text(f"lowers to 4 on {next_payment}")
    expect(plan_row(page)).to_contain_text("$960.00 at list price")
    audit()

    plan_row(page).get_by_role("button", name=re.compile("^Withdraw")).click()
    arrive(page, "Manage Subscriptions")
    expect(page.get_by_text("is withdrawn: it renews as it is")).to_be_visible()
    expect(plan_row(page)).not_to_contain_text("Scheduled")
    expect(plan_row(page)).to_contain_text("$1,200.00 at list price")

    plan_row(page).get_by_role("link", name="Change Location Plan").click()
    arrive(page, "Change Location Plan")
    increase = page.get_by_role("region", name="Increase now")
    with no_page_load(page):
        increase.get_by_label("Quantity to add").fill("2")
        increase.get_by_role("button", name="See the price").click()
        expect(page.get_by_role("status").filter(has_text="more locations")).to_contain_text(
            f"2 more locations: {prorated}")
    audit()
    page.get_by_role("button", name=re.compile(f"^Add 2 locations to the cart for {re.escape(prorated)}")).click()
    arrive(page, "Your cart")
    row = page.get_by_role("table", name="Items in your cart").get_by_role("row").filter(has_text="Location Plan")
    expect(row).to_contain_text(prorated)
    expect(row).to_contain_text(re.compile(r"prorated for \d+ days until \d{4}-\d{2}-\d{2}"))
    audit()
