"""The home page says what needs attention, per role (issue 17 item 1): a reseller's unpaid and overdue invoices,
unassigned licenses, renewals, plan overruns and transfers; an end customer's licenses, devices and what expires;
an installation partner's customers; what waits for vendor staff. Each item links to where it is acted on, and no
tenant ever sees another's."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from portal.billing.models import InvoiceStatus
from portal.db_types import utcnow
from portal.extensions import db
from portal.outbox.models import OutboxMessage, OutboxStatus
from portal.partners.models import GrantState
from portal.transfers.models import TransferStatus
from tests.factories import (
    demo_org,
    demo_user,
    make_device,
    make_invoice,
    make_license,
    make_location,
    make_org,
    make_partner_grant,
    make_subscription,
    make_transfer,
)


def _panel(page: str, heading_id: str) -> str:
    """The text of one panel of the home page ('' when the page has no such panel)."""
    match = re.search(rf'<section class="panel" aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    return match.group(1) if match else ""


def _text(fragment: str) -> str:
    spaced = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()
    return re.sub(r" ([,:;)])", r"\1", spaced)


def _links(fragment: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', fragment)]


def _today():
    return utcnow().date()


def test_an_anonymous_visitor_is_sent_to_sign_in(client, demo):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_signing_in_lands_on_the_home_page_which_names_the_organization(client, demo):
    from tests.factories import DEMO_EMAILS

    response = client.login(DEMO_EMAILS["alice"])
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "<h1>Northwind IT</h1>" in page and "Reseller · what needs your attention" in page


def test_a_reseller_sees_what_it_owes_and_what_is_overdue_with_amounts(app, login, demo):
    today = _today()
    with app.app_context():
        northwind = demo_org("Northwind IT")
        make_invoice(northwind, total_minor=12_000)  # due in 30 days
        make_invoice(northwind, total_minor=5_050, issued_on=today - timedelta(days=45),
                     due_on=today - timedelta(days=15))  # overdue
        make_invoice(northwind, status=InvoiceStatus.PAYMENT_PENDING, total_minor=100_000)  # a wire announced
        make_invoice(northwind, status=InvoiceStatus.PAID, total_minor=77_700)
        make_invoice(northwind, status=InvoiceStatus.TO_BE_SUMMARIZED, total_minor=88_800)  # owed through a summary
        make_invoice(demo_org("Litware Solutions"), total_minor=99_900)  # another tenant's
        db.session.commit()

    panel = _panel(login("alice").get("/").get_data(as_text=True), "panel-invoices")
    assert "3 unpaid invoices: $1,170.50 due, 1 overdue: $50.50" in _text(panel)
    assert "/invoices?status=unpaid" in _links(panel)
    unpaid = login("alice").get("/invoices?status=unpaid").get_data(as_text=True)
    assert "$1,000.00" in unpaid and "$50.50" in unpaid

    frank = _panel(login("frank").get("/").get_data(as_text=True), "panel-invoices")
    assert "1 unpaid invoice: $999.00 due" in _text(frank) and "overdue" not in _text(frank)


def test_nothing_unpaid_says_so(login, demo):
    assert "Nothing unpaid." in _text(_panel(login("alice").get("/").get_data(as_text=True), "panel-invoices"))


def test_unassigned_licenses_are_counted_by_product_and_link_to_their_search(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        for _ in range(4):
            make_license(northwind, slug="livedesk")
        make_license(northwind, slug="livedesk", customer=demo_org("Contoso Retail"))  # assigned: not counted
        make_license(demo_org("Litware Solutions"), slug="webstats", edition="Standard")  # Litware's
        db.session.commit()
    alice = login("alice")
    panel = _panel(alice.get("/").get_data(as_text=True), "panel-unassigned")
    # the demo's 2 MailSuite and 1 WebStats, and the 4 LiveDesk: the product with the most first
    assert _text(panel).startswith("Unassigned licenses 7 licenses to assign: LiveDesk Help Desk: 4 "
                                   "MailSuite Mail Server: 2 WebStats Analytics: 1")
    livedesk = "/licenses?section=unassigned&q=LiveDesk+Help+Desk"
    assert livedesk in _links(panel) and "/licenses?section=unassigned" in _links(panel)
    listed = alice.get(livedesk).get_data(as_text=True)
    unassigned = listed.split('<div id="unassigned">')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert unassigned.count("LiveDesk Help Desk") == 4 and "MailSuite" not in unassigned


def test_an_end_customer_without_stock_and_a_viewer_see_no_unassigned_panel(login, demo):
    assert _panel(login("carol").get("/").get_data(as_text=True), "panel-unassigned") == ""
    # dave may assign (his own chain's stock): the panel says there is none
    assert "Every license you bought is assigned." in _text(
        _panel(login("dave").get("/").get_data(as_text=True), "panel-unassigned"))


def _renewal_rows(panel: str) -> dict[str, list[int]]:
    rows = re.findall(r'<tr><th[^>]* scope="row"><a href="[^"]*">([^<]+)</a></th>(.*?)</tr>', panel, re.S)
    return {html.unescape(name): [int(_text(n)) for n in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
            for name, cells in rows}


def _grow_renewals(today) -> None:
    northwind = demo_org("Northwind IT")
    for days in (0, 10, 45, 80, 91, 200):
        make_license(northwind, customer=demo_org("Contoso Retail"), ms_expires_on=today + timedelta(days=days))
    make_license(northwind, ms_expires_on=today - timedelta(days=1))  # lapsed: not a renewal ahead
    make_license(demo_org("Litware Solutions"), ms_expires_on=today + timedelta(days=5))  # Litware's
    make_subscription(northwind, next_payment_on=today + timedelta(days=20))
    make_subscription(northwind, slug="location-plan", quantity=0,  # cancelled: it renews no more
                      next_payment_on=today + timedelta(days=20))
    db.session.commit()


def test_renewals_are_counted_within_30_60_and_90_days_and_link_to_the_renewals_page(app, login, demo):
    with app.app_context():
        _grow_renewals(_today())
    panel = _panel(login("alice").get("/").get_data(as_text=True), "panel-renewals")
    assert _renewal_rows(panel) == {"Maintenance & Support": [2, 3, 4], "Subscriptions": [1, 1, 1]}
    if "renewals.index" in app.view_functions:  # each window's count opens the renewals page of that window
        assert _links(panel) == ["/renewals?window=90", "/renewals?window=30", "/renewals?window=60",
                                 "/renewals?window=90"] * 2
        assert login("alice").get("/renewals?window=30").status_code == 200
    else:
        assert _links(panel) == ["/licenses", "/subscriptions"]

    bob = _panel(login("bob").get("/").get_data(as_text=True), "panel-renewals")
    assert _renewal_rows(bob) == {"Maintenance & Support": [2, 3, 4]}  # a Master user manages no plans


def test_without_a_renewals_page_the_panel_links_to_the_licenses_and_plans(app, login, demo, monkeypatch):
    monkeypatch.delitem(app.view_functions, "renewals.index", raising=False)
    with app.app_context():
        _grow_renewals(_today())
    panel = _panel(login("alice").get("/").get_data(as_text=True), "panel-renewals")
    assert _renewal_rows(panel) == {"Maintenance & Support": [2, 3, 4], "Subscriptions": [1, 1, 1]}
    assert _links(panel) == ["/licenses", "/subscriptions"]


def test_an_end_customer_sees_its_licenses_their_expiry_and_its_devices(app, login, demo):
    today = _today()
    with app.app_context():
        contoso = demo_org("Contoso Retail")
        northwind = demo_org("Northwind IT")
        make_license(northwind, customer=contoso, slug="livedesk", ms_expires_on=today + timedelta(days=20))
        make_license(northwind, customer=contoso, slug="livedesk", ms_expires_on=today - timedelta(days=3))
        make_license(northwind, customer=demo_org("Fabrikam Stores"), slug="livedesk")  # another customer's
        make_device(make_location(contoso), counts=False)  # a spare at a new location
        db.session.commit()

    carol = login("carol")
    page = carol.get("/").get_data(as_text=True)
    assert "<h1>Contoso Retail</h1>" in page
    licenses = _panel(page, "panel-entitlements")
    assert _text(licenses) == ("Your licenses 4 licenses: LiveDesk Help Desk: 2, M&S of 1 ends within 90 days, "
                               "M&S of 1 lapsed MailSuite Mail Server: 1 WebStats Analytics: 1")
    assert "/licenses?q=LiveDesk+Help+Desk" in _links(licenses)
    assert carol.get("/licenses?q=LiveDesk+Help+Desk").get_data(as_text=True).count("LiveDesk Help Desk") >= 2
    assert _renewal_rows(_panel(page, "panel-renewals")) == {"Maintenance & Support": [1, 1, 1]}
    devices = _panel(page, "panel-devices")
    assert _text(devices) == "Devices and locations 2 locations 3 devices (1 spare)"
    assert _links(devices) == ["/locations", "/devices"]
    # a viewer of a sub-chain: no invoices, no stock, no plans, no transfers
    for panel in ("panel-invoices", "panel-unassigned", "panel-overrun", "panel-transfers", "panel-staff"):
        assert _panel(page, panel) == "", panel


def test_a_plan_used_beyond_what_was_bought_is_flagged_for_its_manager(login, demo):
    page = login("dave").get("/").get_data(as_text=True)
    panel = _panel(page, "panel-overrun")
    assert "Location plan: 3 used, 2 purchased: 1 over" in _text(panel)  # the demo's Airport Kiosk: 6 devices
    assert _links(panel) == ["/subscriptions"]
    assert "1 over" in login("dave").get("/subscriptions").get_data(as_text=True)
    assert "Your plans cover what you use." in _text(
        _panel(login("alice").get("/").get_data(as_text=True), "panel-overrun"))
    assert _panel(login("bob").get("/").get_data(as_text=True), "panel-overrun") == ""


def test_pending_transfers_link_to_the_transfers_page(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        alice = demo_user("alice")
        make_transfer(northwind, make_org(parent=northwind), requested_by=alice)
        make_transfer(northwind, make_org(parent=northwind), requested_by=alice, status=TransferStatus.APPROVED)
        litware = demo_org("Litware Solutions")
        make_transfer(litware, make_org(parent=litware))
        db.session.commit()
    panel = _panel(login("alice").get("/").get_data(as_text=True), "panel-transfers")
    assert _text(panel) == "Account transfers 1 transfer request waiting for review"
    assert _links(panel) == ["/transfers"]
    assert "1 transfer request" in _text(_panel(login("frank").get("/").get_data(as_text=True), "panel-transfers"))


def test_an_installation_partner_sees_its_customers_installations(app, login, demo):
    with app.app_context():
        # Northwind supports a second customer too, with erin assigned
        tailspin = make_org("Tailspin Toys")
        make_device(make_location(tailspin))
        make_partner_grant(tailspin, demo_org("Northwind IT"), state=GrantState.ACTIVE, assign=[demo_user("erin")])
        license_ = make_license(demo_org("Northwind IT"), customer=demo_org("Fabrikam Stores"))
        license_.reactivation_required = True
        db.session.commit()

    erin = login("erin")
    page = erin.get("/").get_data(as_text=True)
    assert "<h1>Fabrikam Stores</h1>" in page and "Installation Partner" in page
    panel = _panel(page, "panel-installations")
    rows = [_text(row) for row in re.findall(r"<tr>\s*<th[^>]* scope=\"row\">(.*?)</tr>", panel, re.S)]
    assert rows == ["Fabrikam Stores 2 9 0 1", "Tailspin Toys Work in Tailspin Toys 1 1 0 0"]
    assert {"/locations", "/devices", "/activations"} <= set(_links(panel))
    # as an installer in Fabrikam: nothing of Fabrikam's billing, nor of Northwind's
    for other in ("panel-invoices", "panel-unassigned", "panel-entitlements", "panel-renewals", "panel-overrun"):
        assert _panel(page, other) == "", other

    # the form works without JavaScript: its own fields, its token from the page
    assert erin.submit("/", {}, button="Work in Tailspin Toys").status_code == 302
    switched = erin.get("/").get_data(as_text=True)
    assert "<h1>Tailspin Toys</h1>" in switched
    assert "Tailspin Toys 1 1 0 0" in _text(_panel(switched, "panel-installations"))


def test_a_partner_user_working_in_its_own_organization_sees_its_panels_and_its_customers(login, demo):
    erin = login("erin")
    assert erin.submit("/", {"org_id": demo.orgs["Northwind IT"]}, button="Switch").status_code == 302  # the header
    page = erin.get("/").get_data(as_text=True)
    assert "<h1>Northwind IT</h1>" in page
    assert _panel(page, "panel-unassigned") and _panel(page, "panel-invoices")
    assert "Work in Fabrikam Stores" in _panel(page, "panel-installations")


def test_staff_see_what_waits_for_them(app, login, demo):
    with app.app_context():
        northwind = demo_org("Northwind IT")
        make_transfer(northwind, make_org(parent=northwind))
        make_invoice(demo_org("Fabrikam Stores"), status=InvoiceStatus.PAYMENT_PENDING)
        make_invoice(northwind)
        for status, attempts in ((OutboxStatus.FAILED, 8), (OutboxStatus.PENDING, 2), (OutboxStatus.PENDING, 0),
                                 (OutboxStatus.SENT, 1)):
            db.session.add(OutboxMessage(to_addrs=["x@example.com"], subject="s", body_text="b", kind="test",
                                         status=status, attempts=attempts))
        db.session.commit()
    page = login("ops").get("/").get_data(as_text=True)
    assert "<h1>Vendor staff</h1>" in page
    panel = _panel(page, "panel-staff")
    assert _text(panel).startswith(
        "Waiting for vendor staff 1 transfer request to review 1 wire, ACH or check payment announced, to record "
        "(2 unpaid invoices in all) 1 email not delivered after every attempt; 1 being retried")
    assert _links(panel) == ["/admin/transfers", "/admin/invoices", "/admin/mail"]
    assert "Northwind" not in page  # staff's queue counts; the pages it links to list them


def test_one_url_serves_the_page_and_its_panels(login, demo):
    alice = login("alice")
    fragment = alice.get("/", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'id="dashboard-panels"' in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    restored = alice.get("/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.get_data(as_text=True)
    page = alice.get("/")
    assert "HX-Request" in page.headers["Vary"] and "<html" in page.get_data(as_text=True)


def test_another_tenants_data_never_appears(app, login, demo):
    today = _today()
    with app.app_context():
        northwind = demo_org("Northwind IT")
        make_invoice(northwind, total_minor=123_456, due_on=today - timedelta(days=1),
                     issued_on=today - timedelta(days=31))
        for _ in range(9):
            make_license(northwind, slug="livedesk", ms_expires_on=today + timedelta(days=3))
        make_transfer(northwind, make_org(parent=northwind))
        make_subscription(northwind, next_payment_on=today + timedelta(days=1))
        db.session.commit()
    for name in ("frank", "dave", "carol", "erin"):
        page = login(name).get("/").get_data(as_text=True)
        assert "$1,234.56" not in page and "LiveDesk" not in page, name
        assert "Northwind IT</h1>" not in page, name
        assert "transfer request waiting" not in page, name
        for days in (_renewal_rows(_panel(page, "panel-renewals")).get("Maintenance & Support") or [0]):
            assert days == 0, name
    assert "$1,234.56" in login("alice").get("/").get_data(as_text=True)


def test_a_partner_user_who_left_the_partner_no_longer_sees_its_customers(app, login, demo):
    erin = login("erin")
    assert "Fabrikam Stores" in _panel(erin.get("/").get_data(as_text=True), "panel-installations")
    with app.app_context():
        from portal.accounts.models import Membership

        db.session.get(Membership, demo.memberships[("erin", "Northwind IT")]).active = False
        db.session.commit()
    page = erin.get("/")
    assert page.status_code == 200
    assert _panel(page.get_data(as_text=True), "panel-installations") == ""
    assert "You belong to no organization yet" in page.get_data(as_text=True)


def test_a_user_of_no_organization_is_told_so(app, client, demo):
    from tests.factories import make_user

    with app.app_context():
        make_user("nobody@example.com")
        db.session.commit()
    client.login("nobody@example.com", "a-long-password")
    page = client.get("/").get_data(as_text=True)
    assert "You belong to no organization yet" in page and 'class="panel"' not in page
    assert "<h1>Home</h1>" in page
