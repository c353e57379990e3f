"""Plan changes from Manage Subscriptions without JavaScript (issue 13 item 3): each form of a plan's Change page is
posted as the page renders it, first to see the price or effect (nothing changes), then to confirm.

- Increase now: the prorated price for the rest of the period, then into the cart; dave's 2 locations with 10
  months left cost about 10/12 of the annual price in the cart, at checkout, on the order line and the invoice.
- Decrease or cancel at the end of the period: scheduled, shown on Manage Subscriptions, withdrawable; never
  below what the chain's devices or locations use (the other plans of the basis count).
- Switch monthly <-> annual at the end of the period.
Bad input (not a number, negative, above MAX_UNITS, below usage) gives a message beside the field and changes
nothing; every change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization, Role
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice, InvoiceLine
from portal.cart.models import CartItem
from portal.catalog.models import BillingInterval, Product, ProductKind, SubscriptionBasis
from portal.db_types import utcnow
from portal.extensions import db
from portal.orders.models import OrderLine
from portal.subscriptions.models import Subscription
from tests.conftest import PortalClient
from tests.factories import demo_product, make_device, make_location, make_member, make_org, make_subscription
from tests.forms import Page

APPROVED_VISA = "4242 4242 4242 4242"


def _button(page: Page, action: str, words: str) -> str:
    """The label of the one button, among those of the forms posting to `action`, whose label has `words`."""
    [label] = [b.text for form in page.forms for b in form.buttons
               if words in b.text and urlsplit(page.action_of(form, b)).path == action]
    return label


def _forged(client: PortalClient, page: Page, action: str, words: str, changes: dict):
    """The page's form (found by `action` and button `words`) posted with values it cannot produce."""
    form, _ = page.find(action=action, button=_button(page, action, words))
    return client.post(action, data={**dict(form.successful()), **changes})


def _plan(app, org_id: int, slug: str) -> Subscription:
    with app.app_context():
        plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == org_id,
                                                              Subscription.product_id == demo_product(slug).id)).one()
        db.session.expunge(plan)
        return plan


def _audit(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@dataclass(frozen=True)
class Chain:
    id: int
    plan_id: int
    client: PortalClient


@pytest.fixture
def chain(app, demo) -> Chain:
    """Bluebell Stores: 6 counting devices over two locations (2 + 4), a Device Protection plan of 10 (monthly),
    10 days into its period; its manager signed in."""
    with app.app_context():
        org = make_org("Bluebell Stores")
        manager = make_member(org, Role.MANAGER).user
        for devices in (2, 4):
            location = make_location(org)
            for _ in range(devices):
                make_device(location)
        today = utcnow().date()
        start = today - timedelta(days=10)
        plan = make_subscription(org, "device-protection", 10,
                                 next_payment_on=pricing.advance_billing_date(start, 1, start.day))
        plan.started_on, plan.anchor_day = start, start.day
        ids = org.id, plan.id
        email = manager.email
        db.session.commit()
    client = app.test_client()
    client.login(email, "a-long-password")
    return Chain(*ids, client)


def _change_url(plan_id: int, what: str = "change") -> str:
    return f"/subscriptions/{plan_id}/{what}"


def _preview(client: PortalClient, plan_id: int, what: str, page: Page | None = None, **typed):
    """Fill the `what` form of the Change page (increase, decrease or switch) and submit it to see its effect."""
    page = page or client.page(_change_url(plan_id))
    action = _change_url(plan_id, what)
    return client.submit(page, {f"{what}-{name}": str(value) for name, value in typed.items()}, action=action,
                         button=_button(page, action, "See the"))


def _confirm(client: PortalClient, preview_html: str, plan_id: int, what: str, button: str):
    """Click the confirming button (its label has `button`) on the preview page."""
    action = _change_url(plan_id, what)
    page = Page.parse(action, preview_html)
    return client.submit(page, {}, action=action, button=_button(page, action, button))


def _withdraw(client: PortalClient, page_url: str, plan_id: int):
    """Withdraw the scheduled change from `page_url` (the plans page or the Change page)."""
    return client.submit(page_url, {}, action=_change_url(plan_id, "withdraw"))


# ---------------------------------------------------------------- the page


def test_each_plan_links_to_its_change_page_with_three_forms(app, chain):
    html = chain.client.get("/subscriptions").get_data(as_text=True)
    assert f'href="{_change_url(chain.plan_id)}"' in html
    page = chain.client.get(_change_url(chain.plan_id)).get_data(as_text=True)
    assert "Increase now" in page and "Decrease or cancel" in page and "Switch between monthly and annual" in page
    forms = chain.client.page(_change_url(chain.plan_id))
    assert "increase-csrf_token" in forms.find(action=_change_url(chain.plan_id, "increase"))[0].names
    assert "decrease-csrf_token" in forms.find(action=_change_url(chain.plan_id, "decrease"))[0].names
    # No annual Device Protection in the demo catalog: nothing to switch to, and the vendor's address is given.
    assert "No plan with another billing interval is offered" in page
    assert 'href="mailto:' in page and "not self-service" in page
    assert "Your chain uses 6 device subscriptions: you can lower this plan to 6 at the least." in page


def test_the_next_payment_states_the_amount_it_will_bill_at_list_price(app, chain):
    html = chain.client.get("/subscriptions").get_data(as_text=True)
    plan = _plan(app, chain.id, "device-protection")
    assert f"{plan.next_payment_on.isoformat()}<br><span class=\"meta\">$40.00 at list price</span>" in html


# ---------------------------------------------------------------- increase now


def test_increase_previews_the_prorated_price_then_puts_it_in_the_cart(app, chain):
    plan = _plan(app, chain.id, "device-protection")
    start, next_payment = pricing.billing_period(plan.next_payment_on, 1, plan.anchor_day)
    today = utcnow().date()
    expected = pricing.prorated_addition(400, 3, today, start, next_payment)

    preview = _preview(chain.client, chain.plan_id, "increase", quantity=3)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    days = (next_payment - today).days
    assert f"prorated for {days} days until {(next_payment - timedelta(days=1)).isoformat()}" in html
    assert f"${expected / 100:,.2f}" in html and "The plan then has 13 devices" in html
    with app.app_context():
        assert db.session.scalar(select(CartItem.id).where(CartItem.organization_id == chain.id)) is None

    added = _confirm(chain.client, html, chain.plan_id, "increase", "to the cart")
    assert added.status_code == 302 and added.headers["Location"].endswith("/cart")
    with app.app_context():
        [item] = db.session.scalars(select(CartItem).where(CartItem.organization_id == chain.id))
        assert (item.product_id, item.quantity, item.quoted_list_minor) == (
            demo_product("device-protection").id, 3, expected)
    cart = chain.client.get("/cart").get_data(as_text=True)
    assert f"prorated for {days} days until" in cart and f"${expected / 100:,.2f}" in cart
    assert [e.details["quantity"] for e in _audit(app, "subscription.increase_added_to_cart")] == [3]
    assert _plan(app, chain.id, "device-protection").quantity == 10  # it grows at checkout


def test_a_stale_increase_price_is_shown_again_and_nothing_is_added(app, chain):
    action = _change_url(chain.plan_id, "increase")
    preview = Page.parse(action, _preview(chain.client, chain.plan_id, "increase", quantity=3).get_data(as_text=True))
    form, _ = preview.find(action=action, button=_button(preview, action, "to the cart"))
    quoted = int(dict(form.successful())["increase-quoted"])
    response = _forged(chain.client, preview, action, "to the cart", {"increase-quoted": str(quoted + 1)})
    assert response.status_code == 422
    assert "The prorated price changed since it was shown" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(CartItem.id).where(CartItem.organization_id == chain.id)) is None


@pytest.mark.parametrize(("typed", "message"), [
    ("three", "Give a whole number."),
    ("-2", "Add from 1 to 1,000,000"),
    ("0", "Add from 1 to 1,000,000"),
    (str(pricing.MAX_UNITS + 1), "Add from 1 to 1,000,000"),
    (str(pricing.MAX_UNITS - 5), "A plan holds at most 1,000,000 devices"),
])
def test_a_bad_increase_is_refused_beside_the_field(app, chain, typed, message):
    response = _preview(chain.client, chain.plan_id, "increase", quantity=typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html and 'id="increase-quantity-error"' in html
    with app.app_context():
        assert db.session.scalar(select(CartItem.id).where(CartItem.organization_id == chain.id)) is None


def test_daves_two_more_locations_with_ten_months_left_cost_ten_twelfths_of_a_year(app, login, demo):
    """The issue's example: Fabrikam's annual Location Plan, 2 months into its year (10 months left): 2 more
    locations cost about 10/12 of the annual $480.00, in the cart, at checkout, on the order line and invoice."""
    today = utcnow().date()
    with app.app_context():
        fabrikam = db.session.scalars(select(Organization).where(Organization.name == "Fabrikam Stores")).one()
        plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == fabrikam.id)).one()
        start = pricing.advance_billing_date(today, -2, today.day)
        plan.started_on, plan.anchor_day = start, start.day
        plan.next_payment_on = pricing.advance_billing_date(start, 12, start.day)
        fabrikam_id, plan_id, next_payment = fabrikam.id, plan.id, plan.next_payment_on
        db.session.commit()
    expected = pricing.prorated_addition(24_000, 2, today, start, next_payment)
    assert abs(expected - 48_000 * 10 / 12) <= 48_000 * 0.01  # ~$400.00, not $480.00

    dave = login("dave")
    html = _preview(dave, plan_id, "increase", quantity=2).get_data(as_text=True)
    assert f"${expected / 100:,.2f}" in html and "(a whole year is $480.00)" in html
    assert _confirm(dave, html, plan_id, "increase", "to the cart").status_code == 302
    assert f"${expected / 100:,.2f}" in dave.get("/cart").get_data(as_text=True)
    checkout = dave.get("/checkout").get_data(as_text=True)
    assert "Prorated for" in checkout and f"${expected / 100:,.2f}" in checkout
    sent = dave.submit("/checkout", {"payment_kind": "card", "saved_card": 0})  # no JavaScript: the processor's page
    placed = dave.at_processor(sent, APPROVED_VISA, name="Dave Diaz")
    assert placed.status_code == 302 and "/orders/ORD-" in placed.headers["Location"], \
        placed.get_data(as_text=True)[:2000]
    with app.app_context():
        line = db.session.scalars(select(OrderLine).order_by(OrderLine.id.desc())).first()
        assert (line.quantity, line.unit_list_minor, line.list_minor) == (2, expected, expected)
        invoice = db.session.scalars(select(Invoice).where(Invoice.organization_id == fabrikam_id)
                                     .order_by(Invoice.id.desc())).first()
        [invoice_line] = db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
        assert invoice_line.list_minor == expected
        assert db.session.get(Subscription, plan_id).quantity == 4
        assert db.session.get(Subscription, plan_id).next_payment_on == next_payment  # the same period


def test_a_product_the_chain_has_no_plan_on_is_a_whole_period_from_today(app, chain):
    with app.app_context():
        product_id = demo_product("location-plan").id
    product = chain.client.page("/shop/location-plan")
    assert ("product_id", str(product_id)) in product.find(button="Add to cart")[0].successful()
    response = chain.client.submit(product, {"quantity": 2}, button="Add to cart")
    assert response.status_code == 302
    with app.app_context():
        [item] = db.session.scalars(select(CartItem).where(CartItem.organization_id == chain.id))
        assert item.quoted_list_minor == 48_000
    assert "prorated" not in chain.client.get("/cart").get_data(as_text=True)


def test_buy_n_more_on_the_page_is_prorated_in_the_cart(app, chain):
    with app.app_context():
        location = make_location(db.session.get(Organization, chain.id))
        for _ in range(5):
            make_device(location)
        db.session.commit()
    page = chain.client.page("/subscriptions")
    form, _ = page.find(action="/cart")
    assert dict(form.successful())["quantity"] == "1"
    assert chain.client.submit(page, {}, action="/cart").status_code == 302
    cart = chain.client.get("/cart").get_data(as_text=True)
    assert "prorated for" in cart


# ---------------------------------------------------------------- decrease or cancel


def test_a_decrease_is_previewed_scheduled_shown_and_withdrawn(app, chain):
    plan = _plan(app, chain.id, "device-protection")
    preview = _preview(chain.client, chain.plan_id, "decrease", quantity=7)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert (f"From {plan.next_payment_on.isoformat()} you will pay $28.00 per month for 7 devices instead of "
            "$40.00") in html
    assert _plan(app, chain.id, "device-protection").scheduled_quantity is None  # a preview changes nothing

    done = _confirm(chain.client, html, chain.plan_id, "decrease", "Schedule the decrease")
    assert done.status_code == 302 and done.headers["Location"].endswith("/subscriptions")
    scheduled = _plan(app, chain.id, "device-protection")
    assert (scheduled.quantity, scheduled.scheduled_quantity, scheduled.scheduled_product_id) == (10, 7, None)
    assert scheduled.scheduled_at is not None and scheduled.scheduled_by_id is not None
    [entry] = _audit(app, "subscription.change_scheduled")
    assert (entry.details["quantity_from"], entry.details["quantity_to"]) == (10, 7)

    page = chain.client.get("/subscriptions").get_data(as_text=True)
    assert f"lowers to 7 on {plan.next_payment_on.isoformat()}" in page
    assert "$28.00 at list price" in page  # the next payment bills the lower quantity
    assert _withdraw(chain.client, "/subscriptions", chain.plan_id).status_code == 302
    assert _plan(app, chain.id, "device-protection").scheduled_quantity is None
    assert len(_audit(app, "subscription.change_withdrawn")) == 1
    assert "Scheduled:" not in chain.client.get("/subscriptions").get_data(as_text=True)


def test_a_cancellation_is_scheduled_for_the_end_of_the_period(app, chain):
    with app.app_context():  # the devices move to spares: nothing is used any more
        from portal.devices.models import Device

        for device in db.session.scalars(select(Device).where(Device.organization_id == chain.id)):
            device.counts = False
        db.session.commit()
    plan = _plan(app, chain.id, "device-protection")
    html = _preview(chain.client, chain.plan_id, "decrease", quantity=0).get_data(as_text=True)
    last = plan.next_payment_on - timedelta(days=1)
    assert f"The plan ends on {last.isoformat()}" in html
    assert _confirm(chain.client, html, chain.plan_id, "decrease", "Schedule the cancellation").status_code == 302
    assert _plan(app, chain.id, "device-protection").scheduled_quantity == 0
    page = chain.client.get("/subscriptions").get_data(as_text=True)
    assert f"Cancels on {plan.next_payment_on.isoformat()}" in page
    assert f"None: the plan ends on {plan.next_payment_on.isoformat()}" in page
    assert _audit(app, "subscription.change_scheduled")[0].details["change"] == "cancel"


@pytest.mark.parametrize(("typed", "message"), [
    ("seven", "Give a whole number."),
    ("-1", "Give a quantity lower than today"),
    (str(pricing.MAX_UNITS + 1), "Give a quantity lower than today"),
    ("12", "to raise it, use Increase now"),
    ("10", "This plan already has 10 device subscriptions"),
    ("5", "Your chain uses 6 device subscriptions; you can lower this plan to 6 at the least."),
    ("0", "Your chain uses 6 device subscriptions; you can lower this plan to 6 at the least."),
])
def test_a_bad_decrease_is_refused_beside_the_field_and_changes_nothing(app, chain, typed, message):
    response = _preview(chain.client, chain.plan_id, "decrease", quantity=typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html and 'id="decrease-quantity-error"' in html
    # Confirming it directly, as a crafted form would, is refused the same way.
    change_page = chain.client.page(_change_url(chain.plan_id))
    crafted = _forged(chain.client, change_page, _change_url(chain.plan_id, "decrease"), "See the",
                      {"decrease-quantity": typed, "decrease-confirm": "1"})
    assert crafted.status_code == 422
    assert _plan(app, chain.id, "device-protection").scheduled_quantity is None
    assert _audit(app, "subscription.change_scheduled") == []


def test_daves_location_plan_cannot_go_below_what_his_locations_use(app, login, demo):
    """Fabrikam's two locations need 3 location subscriptions; its plan has 2: no decrease is possible."""
    dave = login("dave")
    with app.app_context():
        plan_id = db.session.scalars(select(Subscription.id).join(Organization, Organization.id ==
                                                                    Subscription.organization_id)
                                     .where(Organization.name == "Fabrikam Stores")).one()
    page = dave.get(_change_url(plan_id)).get_data(as_text=True)
    assert ("Your chain uses 3 location subscriptions: this plan cannot be lowered until fewer are used "
            "(remove devices or mark them as spares first).") in page
    html = _preview(dave, plan_id, "decrease", quantity=1).get_data(as_text=True)
    assert "Your chain uses 3 location subscriptions; you can lower this plan to 3 at the least." in html


def test_the_other_plans_of_the_basis_count_towards_the_usage(app, chain):
    with app.app_context():
        product = Product(slug="device-protection-annual", name="Device Protection (annual)", unit_label="devices",
                          kind=ProductKind.SUBSCRIPTION, basis=SubscriptionBasis.DEVICE,
                          interval=BillingInterval.ANNUAL, unit_price_minor=4_000, position=30)
        db.session.add(product)
        db.session.flush()
        db.session.add(Subscription(organization_id=chain.id, product_id=product.id, quantity=4,
                                    started_on=utcnow().date(), next_payment_on=utcnow().date() + timedelta(days=365)))
        db.session.commit()
    html = _preview(chain.client, chain.plan_id, "decrease", quantity=1).get_data(as_text=True)
    assert ("Your chain uses 6 device subscriptions and your other device subscription plans cover 4; you can lower "
            "this plan to 2 at the least.") in html
    assert _preview(chain.client, chain.plan_id, "decrease", quantity=2).status_code == 200


# ---------------------------------------------------------------- switch monthly <-> annual


@pytest.fixture
def annual_device_plan(app, demo) -> int:
    """An annual Device Protection in the catalog, $40.00 per device and year."""
    with app.app_context():
        product = Product(slug="device-protection-annual", name="Device Protection Annual", unit_label="devices",
                          kind=ProductKind.SUBSCRIPTION, basis=SubscriptionBasis.DEVICE,
                          interval=BillingInterval.ANNUAL, unit_price_minor=4_000, position=30)
        db.session.add(product)
        db.session.commit()
        return product.id


def test_a_switch_to_annual_is_previewed_scheduled_shown_and_withdrawn(app, chain, annual_device_plan):
    plan = _plan(app, chain.id, "device-protection")
    html = _preview(chain.client, chain.plan_id, "switch").get_data(as_text=True)
    assert (f"From {plan.next_payment_on.isoformat()} you will pay $400.00 per year for 10 devices (Device "
            "Protection Annual, billed annually) instead of $40.00 per month") in html
    assert "nothing is credited or refunded" in html
    assert _plan(app, chain.id, "device-protection").scheduled_product_id is None

    assert _confirm(chain.client, html, chain.plan_id, "switch", "Schedule the switch").status_code == 302
    assert _plan(app, chain.id, "device-protection").scheduled_product_id == annual_device_plan
    assert _audit(app, "subscription.change_scheduled")[0].details["switch_to"] == "device-protection-annual"
    page = chain.client.get("/subscriptions").get_data(as_text=True)
    assert f"Switches to annual on {plan.next_payment_on.isoformat()}" in page
    assert "$400.00 at list price" in page  # the next payment bills a year of the annual plan

    again = chain.client.get(_change_url(chain.plan_id)).get_data(as_text=True)
    assert "A switch to Device Protection Annual is already scheduled." in again
    assert _withdraw(chain.client, _change_url(chain.plan_id), chain.plan_id).status_code == 302
    assert _plan(app, chain.id, "device-protection").scheduled_product_id is None
    assert _audit(app, "subscription.change_withdrawn")[0].details["switch_to"] == "device-protection-annual"


def test_no_switch_is_offered_to_a_product_the_chain_already_has_a_plan_on(app, chain, annual_device_plan):
    with app.app_context():
        db.session.add(Subscription(organization_id=chain.id, product_id=annual_device_plan, quantity=1,
                                    started_on=utcnow().date(), next_payment_on=utcnow().date() + timedelta(days=365)))
        db.session.commit()
    assert "No plan with another billing interval" in chain.client.get(_change_url(chain.plan_id)).get_data(
        as_text=True)
    assert _preview_switch_status(chain) == 422


def _preview_switch_status(chain: Chain) -> int:
    token = chain.client.csrf_token()  # the page has no switch form: a crafted one
    return chain.client.post(_change_url(chain.plan_id, "switch"), data={"switch-csrf_token": token,
                                                                        "switch-confirm": "1"}).status_code


# ---------------------------------------------------------------- state on the page, tenancy


def test_an_ended_plan_says_so_and_offers_no_change(app, chain):
    with app.app_context():
        plan = db.session.get(Subscription, chain.plan_id)
        plan.quantity, plan.ended_on = 0, utcnow().date() - timedelta(days=3)
        ended = plan.ended_on
        db.session.commit()
    page = chain.client.get("/subscriptions").get_data(as_text=True)
    assert f"Cancelled: ended on {ended.isoformat()}" in page
    assert f'href="{_change_url(chain.plan_id)}"' not in page
    response = _preview_status(chain, "decrease", "0")
    assert response == 422


def _preview_status(chain: Chain, what: str, quantity: str) -> int:
    token = chain.client.csrf_token()  # an ended plan's page has no forms: a crafted one
    return chain.client.post(_change_url(chain.plan_id, what), data={f"{what}-csrf_token": token,
                                                                    f"{what}-quantity": quantity}).status_code


def test_another_chains_plan_is_a_404_and_stays_as_it_was(app, chain, login, demo):
    dave = login("dave")
    for what in ("increase", "decrease", "switch", "withdraw"):  # another chain's plan: forged requests
        response = dave.post(_change_url(chain.plan_id, what), data={f"{what}-quantity": "1",
                                                                     f"{what}-csrf_token": dave.csrf_token()})
        assert response.status_code == 404
    assert dave.get(_change_url(chain.plan_id)).status_code == 404
    plan = _plan(app, chain.id, "device-protection")
    assert (plan.quantity, plan.scheduled_quantity, plan.scheduled_product_id) == (10, None, None)


def test_a_master_user_cannot_change_a_plan(app, login, demo):
    with app.app_context():
        plan_id = db.session.scalars(select(Subscription.id).join(Organization, Organization.id ==
                                                                    Subscription.organization_id)
                                     .where(Organization.name == "Fabrikam Stores")).one()
    erin = login("erin")  # an Installation Partner of Fabrikam
    assert erin.get(_change_url(plan_id)).status_code == 404
    forged = {"decrease-quantity": "1", "decrease-csrf_token": erin.csrf_token()}
    assert erin.post(_change_url(plan_id, "decrease"), data=forged).status_code == 404


def test_a_past_due_renewal_is_shown_with_a_link_to_pay_its_invoice(app, chain):
    from portal.recurring.models import CollectionMethod, CollectionState, Renewal, RenewalCollection
    from tests.factories import make_invoice

    with app.app_context():
        org = db.session.get(Organization, chain.id)
        plan = db.session.get(Subscription, chain.plan_id)
        invoice = make_invoice(org, total_minor=4_000)
        start = plan.next_payment_on - timedelta(days=31)
        db.session.add(Renewal(organization_id=org.id, subscription_id=plan.id, product_id=plan.product_id,
                               quantity=10, period_start=start, period_end=plan.next_payment_on - timedelta(days=1),
                               invoice_id=invoice.id, position=1))
        db.session.add(RenewalCollection(invoice_id=invoice.id, organization_id=org.id,
                                         method=CollectionMethod.CARD, state=CollectionState.PAST_DUE, attempts=4,
                                         past_due_on=utcnow().date()))
        number = invoice.number
        db.session.commit()
    html = chain.client.get("/subscriptions").get_data(as_text=True)
    assert (f'Past due: invoice <a href="/invoices/{number}">{number}</a> is unpaid — '
            f'<a href="/invoices/{number}/pay">pay it</a>') in html


def test_the_chains_managers_are_emailed_when_a_change_is_scheduled_and_withdrawn(app, chain):
    from portal.outbox.models import OutboxMessage

    with app.app_context():
        other = make_member(db.session.get(Organization, chain.id), Role.MANAGER).user.email
        db.session.commit()
    html = _preview(chain.client, chain.plan_id, "decrease", quantity=7).get_data(as_text=True)
    _confirm(chain.client, html, chain.plan_id, "decrease", "Schedule the decrease")
    assert _withdraw(chain.client, "/subscriptions", chain.plan_id).status_code == 302
    plan = _plan(app, chain.id, "device-protection")
    with app.app_context():
        scheduled, withdrawn = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "plan_change")
                                                  .order_by(OutboxMessage.id))
        assert other in scheduled.to_addrs and len(scheduled.to_addrs) == 2
        on = plan.next_payment_on.isoformat()
        assert scheduled.subject == f"Device Protection: lowers to 7 devices on {on} (Bluebell Stores)"
        assert "today: 10 devices at $40.00 per month" in scheduled.body_text
        assert f"next payment on {on}, $28.00 at list price" in scheduled.body_text
        assert "contact the vendor's support at" in scheduled.body_text
        assert withdrawn.subject == "Device Protection: scheduled change withdrawn (Bluebell Stores)"
        assert f"the plan no longer lowers to 7 devices on {on}" in withdrawn.body_text
        assert "$40.00 at list price" in withdrawn.body_text and "The plan renews as it is." in withdrawn.body_text


def test_a_plan_no_longer_sold_cannot_be_increased(app, chain):
    opened = chain.client.page(_change_url(chain.plan_id))  # still open once the product is withdrawn
    with app.app_context():
        demo_product("device-protection").active = False
        db.session.commit()
    page = chain.client.get(_change_url(chain.plan_id)).get_data(as_text=True)
    assert "Device Protection is no longer sold" in page
    response = _preview(chain.client, chain.plan_id, "increase", opened, quantity=2)
    assert response.status_code == 422 and "no longer sold" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(CartItem.id).where(CartItem.organization_id == chain.id)) is None
