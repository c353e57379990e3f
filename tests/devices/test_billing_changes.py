"""Device changes that alter what the plans count (issue 13 item 6): marking or unmarking a spare, moving and
removing a device email the main chain's Chain & User Managers (one email each, through the outbox, in the same
transaction, the device-notice opt-out respected) with the usage before and after; a replacement under RMA sends
nothing and never counts twice."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, Role
from portal.audit.models import AuditEntry
from portal.catalog.models import SubscriptionBasis
from portal.devices import services
from portal.devices.models import Device, Location
from portal.errors import RuleError
from portal.extensions import db
from portal.notifications.models import EmailCategory
from portal.notifications.services import unsubscribe
from portal.outbox.models import OutboxMessage
from portal.subscriptions.models import Subscription
from portal.subscriptions.usage import plan_usage
from tests.factories import DEMO_EMAILS, actor, demo_product, make_device, make_member, make_subscription
from tests.factories import demo_org as _org
from tests.factories import demo_user as _user

# The demo's Fabrikam Stores: Downtown Denver has 3 counting devices, Airport Kiosk 6 (1 + 2 location
# subscriptions needed, 2 bought); the tests give it a Device Protection plan of 9.
DEVICE_PLAN = 9


def _device_plan(org: Organization, quantity: int) -> Subscription:
    product = demo_product("device-protection")
    plan = db.session.scalars(select(Subscription).where(Subscription.organization_id == org.id,
                                                         Subscription.product_id == product.id)).first()
    if plan is None:
        return make_subscription(org, "device-protection", quantity=quantity)
    plan.quantity, plan.ended_on = quantity, None
    db.session.flush()
    return plan


def _set_up_fabrikam() -> dict:
    org = _org("Fabrikam Stores")
    _device_plan(org, DEVICE_PLAN)
    second = make_member(org, Role.MANAGER).user
    opted_out = make_member(org, Role.MANAGER).user
    unsubscribe(opted_out, EmailCategory.DEVICE_NOTICES, actor(opted_out))
    db.session.commit()
    return {"emailed": sorted([DEMO_EMAILS["dave"], second.email]), "opted_out": opted_out.email}


@pytest.fixture
def fabrikam(app, demo):
    """Fabrikam with its Device Protection plan, a second manager, and a third who opted out of device notices,
    in an application context to call the services in. Yields the addresses that must be emailed."""
    with app.app_context():
        yield _set_up_fabrikam()
        db.session.rollback()


@pytest.fixture
def fabrikam_pages(app, demo):
    """The same, for the page tests (each request has its own application context)."""
    with app.app_context():
        return _set_up_fabrikam()


def _device(name: str) -> Device:
    return db.session.scalars(select(Device).where(Device.name == name)
                              .options(joinedload(Device.location).joinedload(Location.organization))).one()


def _location(name: str) -> Location:
    return db.session.scalars(select(Location).where(Location.name == name)
                              .options(joinedload(Location.organization))).one()


def _mail(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                   .order_by(OutboxMessage.id)))


def _one_each(kind: str, expected: list[str]) -> list[OutboxMessage]:
    messages = _mail(kind)
    assert sorted(address for m in messages for address in m.to_addrs) == expected
    return messages


def _body(message: OutboxMessage) -> str:
    return re.sub(r"[ \t]+", " ", message.body_text)


# ---------------------------------------------------------------- services


def test_marking_a_spare_emails_each_manager_once_with_the_plans_usage(fabrikam):
    notice = services.edit_device(_device("Denver till 1"), "Denver till 1", "FAB-DEN-0001", False,
                                  actor(_user("dave")))
    assert sorted(notice.notified) == fabrikam["emailed"] and notice.main_chain.name == "Fabrikam Stores"
    messages = _one_each("device_changed", fabrikam["emailed"])
    assert messages[0].subject == "Device Denver till 1 marked as a spare (Fabrikam Stores)"
    body = _body(messages[0])
    assert "Devices counted: 9 -> 8; your Device Protection plan covers 9" in body
    # Denver's 2 counting devices still need one location subscription: 3 in all, of which the plan covers 2.
    assert "Location subscriptions needed: 3 (unchanged); your Location Plan covers 2, 1 more than it covers" in body
    assert "Dave Diaz" in body and "Manage Subscriptions" in body and "unsubscribe" not in body.split("--")[0]
    assert "List-Unsubscribe" in messages[0].headers  # each manager's own one-click link


def test_unmarking_a_spare_emails_the_count_going_up_and_a_rename_alone_emails_nobody(fabrikam):
    dave = actor(_user("dave"))
    kiosk = make_device(_location("Airport Kiosk"), "Kiosk shelf spare", counts=False)
    assert services.edit_device(kiosk, "Kiosk shelf spare 2", "", False, dave) is None
    assert not _mail("device_changed")
    services.edit_device(kiosk, "Kiosk shelf spare 2", "", True, dave)
    [message, _] = _one_each("device_changed", fabrikam["emailed"])
    assert message.subject == "Device Kiosk shelf spare 2 counted again (Fabrikam Stores)"
    # 7 at the kiosk now need 2 location subscriptions, as 6 did.
    assert "Devices counted: 9 -> 10; your Device Protection plan covers 9, 1 more than it covers" in _body(message)


def test_moving_a_device_emails_each_manager_once(fabrikam):
    services.move_device(_device("Denver till 2"), _location("Airport Kiosk"), actor(_user("dave")))
    [message, _] = _one_each("device_changed", fabrikam["emailed"])
    body = _body(message)
    assert "moved from Downtown Denver to Airport Kiosk" in message.subject
    assert "Devices counted: 9 (unchanged)" in body and "Location subscriptions needed: 3 (unchanged)" in body


def test_moving_devices_between_locations_can_change_the_location_subscriptions_needed(fabrikam):
    dave = actor(_user("dave"))
    denver = _location("Downtown Denver")
    services.move_device(_device("Airport kiosk 5"), denver, dave)
    db.session.query(OutboxMessage).delete()
    services.move_device(_device("Airport kiosk 6"), denver, dave)  # kiosk 4 devices (1), Denver 5 (2)
    [message, _] = _one_each("device_changed", fabrikam["emailed"])
    assert "Location subscriptions needed: 3 (unchanged)" in _body(message)
    db.session.query(OutboxMessage).delete()
    services.move_device(_device("Airport kiosk 4"), denver, dave)  # kiosk 3 (1), Denver 6 (2)
    db.session.query(OutboxMessage).delete()
    services.move_device(_device("Airport kiosk 3"), denver, dave)  # kiosk 2 (1), Denver 7 (2)
    db.session.query(OutboxMessage).delete()
    services.move_device(_device("Airport kiosk 2"), denver, dave)  # kiosk 1 (1), Denver 8 (2)
    db.session.query(OutboxMessage).delete()
    services.move_device(_device("Airport kiosk 1"), denver, dave)  # kiosk none (still 1), Denver 9 (3)
    [message, _] = _one_each("device_changed", fabrikam["emailed"])
    assert "Location subscriptions needed: 3 -> 4; your Location Plan covers 2, 2 more than it covers" in \
        _body(message)


def test_removing_a_device_emails_each_manager_once_and_links_the_location(fabrikam):
    denver = _location("Downtown Denver")
    services.remove_device(_device("Denver back office"), actor(_user("dave")))
    [message, _] = _one_each("device_changed", fabrikam["emailed"])
    body = _body(message)
    assert message.subject == "Device Denver back office removed (Fabrikam Stores)"
    assert "Devices counted: 9 -> 8" in body and f"/locations/{denver.id}" in body


def test_a_device_change_in_a_chain_without_plans_still_tells_the_count(app, demo):
    with app.app_context():
        contoso_place = _location("Portland Flagship")  # Contoso Retail, a sub-chain of Northwind (no plan)
        services.edit_device(_device("Portland till 1"), "Portland till 1", "", False, actor(_user("alice")))
        [message] = _mail("device_changed")
        assert message.to_addrs == [DEMO_EMAILS["alice"]]  # Northwind's manager, the main chain's
        assert "Devices counted: 2 -> 1; you have no plan of this kind" in _body(message)
        assert contoso_place.organization.name in message.subject
        db.session.rollback()


def test_an_rma_replacement_sends_nothing_and_counts_once(fabrikam):
    before = plan_usage(_org("Fabrikam Stores").id)
    broken = _device("Airport kiosk 3")
    added = services.add_device(_location("Airport Kiosk"), "Airport kiosk 3 (RMA)", "FAB-DIA-0103", True,
                                actor(_user("erin")), replaces=broken)
    assert added.notified == [] and added.replaces is broken
    assert not _mail("device_added") and not _mail("device_changed")
    assert (added.device.replaces_id, broken.counts) == (broken.id, False)
    assert plan_usage(_org("Fabrikam Stores").id) == before == {SubscriptionBasis.DEVICE: 9,
                                                                  SubscriptionBasis.LOCATION: 3}
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "device.replaced")).all()
    assert (entry.object_id, entry.details["replaces"], entry.details["replaces_id"]) == (
        str(added.device.id), "Airport kiosk 3", broken.id)
    assert not db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "device.added"))
    assert services.replacement_of(broken) is added.device


def test_a_device_is_replaced_once(fabrikam):
    broken = _device("Airport kiosk 3")
    kiosk = _location("Airport Kiosk")
    services.add_device(kiosk, "Kiosk 3 RMA", "", True, actor(), replaces=broken)
    with pytest.raises(RuleError, match="already replaced by Kiosk 3 RMA under RMA") as refused:
        services.add_device(kiosk, "Kiosk 3 RMA again", "", True, actor(), replaces=broken)
    assert refused.value.field == "replaces_id"


def test_a_spare_is_not_replaced(fabrikam):
    spare = make_device(_location("Airport Kiosk"), "Shelf spare", counts=False)
    with pytest.raises(RuleError, match="Shelf spare is a spare and does not count") as refused:
        services.add_device(_location("Airport Kiosk"), "New one", "", True, actor(), replaces=spare)
    assert refused.value.field == "replaces_id"


def test_a_device_of_another_chain_is_not_replaced(fabrikam):
    with pytest.raises(RuleError, match="belongs to another chain") as refused:
        services.add_device(_location("Airport Kiosk"), "New one", "", True, actor(),
                            replaces=_device("Portland till 1"))
    assert refused.value.field == "replaces_id"


def test_a_replaced_device_cannot_count_again(fabrikam):
    broken = _device("Denver till 2")
    services.add_device(_location("Downtown Denver"), "Denver till 2 RMA", "", True, actor(), replaces=broken)
    with pytest.raises(RuleError, match="was replaced by Denver till 2 RMA under RMA") as refused:
        services.edit_device(broken, broken.name, broken.serial_number, True, actor())
    assert refused.value.field == "counts"


def test_removing_a_replaced_device_keeps_its_replacement(fabrikam):
    broken = _device("Denver till 2")
    added = services.add_device(_location("Downtown Denver"), "Denver till 2 RMA", "", True, actor(),
                                replaces=broken)
    services.remove_device(broken, actor())
    db.session.refresh(added.device)
    assert added.device.replaces_id is None and added.device.counts
    assert "Devices counted: 9 (unchanged)" in _body(_mail("device_changed")[0])


# ---------------------------------------------------------------- pages, without JavaScript


def _id(app, model, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(model.id).where(model.name == name)).one()


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _selected_option(html: str, name: str) -> str:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    found = re.search(r'<option value="([^"]*)" selected>', select_html)
    return found.group(1) if found else ""


def test_dave_marks_a_spare_and_each_manager_gets_one_email(app, login, fabrikam_pages, mailbox):
    dave = login("dave")
    till = _id(app, Device, "Denver till 1")
    page = dave.get(f"/devices/{till}").get_data(as_text=True)
    assert 'name="counts"' in page and "the Chain & User Managers are emailed" in page
    response = dave.submit(f"/devices/{till}", {"name": "Denver till 1", "serial_number": "FAB-DEN-0001",
                                                "counts": False}, button="Save")  # unticked: a spare
    assert response.status_code == 302
    flashed = _text(dave.get(response.headers["Location"]))
    assert "Device Denver till 1 saved. We emailed the 2 Chain &amp; User Managers of Fabrikam Stores" in flashed
    assert sorted(m["To"] for m in mailbox.messages) == fabrikam_pages["emailed"]
    assert not mailbox.to(fabrikam_pages["opted_out"])
    assert "Devices counted: 9 -> 8" in mailbox.to(DEMO_EMAILS["dave"])[0].get_content()


def test_moving_and_removing_from_the_pages_email_each_manager_once_per_change(app, login, fabrikam_pages, mailbox):
    dave = login("dave")
    till = _id(app, Device, "Denver till 2")
    kiosk = _id(app, Location, "Airport Kiosk")
    moved = dave.submit(f"/devices/{till}", {"location_id": kiosk}, button="Move")
    assert moved.status_code == 302
    assert "We emailed the 2 Chain &amp; User Managers" in _text(dave.get(moved.headers["Location"]))
    removed = dave.submit(f"/devices/{till}/remove", button="Remove Denver till 2")  # its confirmation page
    assert removed.status_code == 302
    assert "subscription quantity is unchanged" in _text(dave.get(removed.headers["Location"]))
    subjects = sorted(m["Subject"] for m in mailbox.to(DEMO_EMAILS["dave"]))
    assert subjects == ["Device Denver till 2 moved from Downtown Denver to Airport Kiosk (Fabrikam Stores)",
                        "Device Denver till 2 removed (Fabrikam Stores)"]
    assert len(mailbox.messages) == 4  # two changes, two managers who receive device notices


def test_erin_replaces_a_device_under_rma_from_its_page_and_nobody_is_emailed(app, login, fabrikam_pages, mailbox):
    erin = login("erin")  # an Installation Partner of Fabrikam: she may add devices, so she may replace one
    broken = _id(app, Device, "Airport kiosk 2")
    device_page = erin.get(f"/devices/{broken}").get_data(as_text=True)
    link = re.search(r'href="(/devices\?[^"]*replaces=[^"#]*)[^"]*">Replace Airport kiosk 2 under RMA',
                     device_page).group(1).replace("&amp;", "&")
    form = erin.page(link)
    assert _selected_option(form.html, "replaces_id") == str(broken)
    assert _selected_option(form.html, "location_id")
    response = erin.submit(form, {"name": "Airport kiosk 2 RMA", "serial_number": "FAB-DIA-0102", "counts": True},
                           button="Add device")
    assert response.status_code == 302
    page = _text(erin.get(response.headers["Location"]))
    assert "It replaces Airport kiosk 2 under RMA" in page and "nobody was emailed" in page
    assert "Replaces <a" in page
    assert "No: replaced by" in _text(erin.get(f"/devices/{broken}"))
    assert "Replaced by Airport kiosk 2 RMA under RMA" in _text(erin.get(f"/devices/{broken}"))
    assert not mailbox.messages
    with app.app_context():
        assert plan_usage(_org("Fabrikam Stores").id)[SubscriptionBasis.DEVICE] == DEVICE_PLAN


@pytest.mark.parametrize("target", ["FOREIGN", "REPLACED", "SPARE", "abc", "99999999999999", "999999"])
def test_a_bad_replacement_is_refused_beside_the_field_and_changes_nothing(app, login, fabrikam_pages, mailbox, target):
    with app.app_context():
        kiosk = _location("Airport Kiosk")
        spare = make_device(kiosk, "Kiosk spare", counts=False)
        broken = _device("Airport kiosk 1")
        services.add_device(kiosk, "Kiosk 1 RMA", "", True, actor(), replaces=broken)
        db.session.query(OutboxMessage).delete()
        db.session.commit()
        ids = {"FOREIGN": _device("Portland till 1").id, "REPLACED": broken.id, "SPARE": spare.id}
        kiosk_id = kiosk.id
    value = str(ids.get(target, target))
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Device))
    dave = login("dave")
    page = dave.page(f"/devices?location={kiosk_id}")
    form, _ = page.find(button="Add device")
    offered = [v for c in form.controls if c.name == "replaces_id" for v, _ in c.options]
    if value in offered:  # a device the list offers: chosen there
        response = dave.submit(page, {"name": "Kiosk new", "counts": True, "replaces_id": value}, button="Add device")
    else:  # one it does not offer: forged, with the session's token
        response = dave.post(f"/devices?location={kiosk_id}", data={
            "location_id": kiosk_id, "name": "Kiosk new", "counts": "y", "replaces_id": value,
            "csrf_token": dave.csrf_token()})
    html = _text(response)
    assert response.status_code == 422
    assert 'id="replaces_id-error"' in html and 'aria-invalid="true"' in html
    message = {"REPLACED": "already replaced by Kiosk 1 RMA", "SPARE": "Kiosk spare is a spare"}.get(
        target, "Choose one of the listed devices.")
    assert message in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device)) == before
        assert _device("Portland till 1").counts
    assert not mailbox.messages


def test_the_add_form_offers_the_locations_counting_devices_only(app, login, fabrikam_pages):
    dave = login("dave")
    kiosk = _id(app, Location, "Airport Kiosk")
    with app.app_context():
        make_device(_location("Airport Kiosk"), "Kiosk spare", counts=False)
        db.session.commit()
    html = dave.get(f"/devices?location={kiosk}").get_data(as_text=True)
    options = re.search(r'<select[^>]*name="replaces_id"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert "Airport kiosk 1 (Airport Kiosk)" in options and "Kiosk spare" not in options
    assert "Denver till 1" not in options
    assert 'name="replaces_id"' not in dave.get("/devices").get_data(as_text=True)  # choose a location first
