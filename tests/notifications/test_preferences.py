"""Notification preferences (issue 12 item 9): each user chooses which optional emails they receive at
/account/notifications; every optional email carries a one-click unsubscribe link and the List-Unsubscribe headers
(RFC 2369, RFC 8058); security, invoice and receipt emails stay mandatory."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from portal.accounts.models import Organization, Role, User
from portal.audit.models import AuditEntry
from portal.billing.documents import email_invoice
from portal.db_types import utcnow
from portal.devices.models import Location
from portal.extensions import db
from portal.notifications.models import EmailCategory, EmailOptOut
from portal.notifications.services import TOKEN_SALT, unsubscribe_token
from portal.outbox.models import OutboxMessage
from portal.outbox.worker import deliver
from portal.renewals.notices import send_renewal_notices
from tests.factories import DEMO_EMAILS, actor, make_invoice, make_license, make_member, make_user

ALICE = DEMO_EMAILS["alice"]
_BOX = re.compile(r'<input( checked)? id="receive-\d+" name="receive" type="checkbox" value="([a-z_]+)">')


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _preferences_form(client) -> dict[str, bool]:
    """The checkboxes (value -> checked) the preferences page renders."""
    page = client.get("/account/notifications").get_data(as_text=True)
    return {value: bool(checked) for checked, value in _BOX.findall(page)}


def _choose(client, receive: list[str]):
    assert set(receive) <= set(_preferences_form(client))
    return client.submit("/account/notifications", {"receive": receive})


def _opted_out(app, email: str) -> set[str]:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        return {o.category.value for o in db.session.scalars(select(EmailOptOut).where(EmailOptOut.user_id == user.id))}


def _renewal_run(app, second_manager_email: str):
    """A Northwind license whose M&S ends in 10 days, a second manager, and the `notify renewals` job."""
    with app.app_context():
        northwind = db.session.get(Organization, db.session.scalars(
            select(Organization.id).where(Organization.name == "Northwind IT")).one())
        make_member(northwind, Role.MANAGER, make_user(second_manager_email))
        make_license(northwind, ms_expires_on=utcnow().date() + timedelta(days=10))
        db.session.commit()
        return send_renewal_notices()


def _link(mail) -> str:
    return re.search(r"Stop them in one click: (http://portal\.test/unsubscribe/\S+)", mail.get_content()).group(1)


# ---------------------------------------------------------------- the page


def test_a_user_sees_every_optional_email_chosen_and_what_always_arrives(login, demo):
    page = _text(login("bob").get("/account/notifications"))
    for text in ("Renewal notices", "Device notices", "Installation Partner access notices", "Product news",
                 "Always sent, whatever you choose here: password and sign-in security emails, invoices, receipts"):
        assert text in page
    boxes = _preferences_form(login("bob"))
    assert boxes == {c.value: True for c in EmailCategory}
    assert "/account/notifications" in login("carol").get("/account").get_data(as_text=True)


def test_choices_are_saved_audited_and_shown_again(app, login, demo):
    alice = login("alice")
    response = _choose(alice, ["device_notices", "product_news"])
    assert response.status_code == 302
    page = _text(alice.get(response.headers["Location"]))
    assert "Your email choices are saved." in page
    boxes = _preferences_form(alice)
    assert boxes == {"renewal_notices": False, "device_notices": True, "partner_grant_notices": False,
                     "product_news": True}
    assert _opted_out(app, ALICE) == {"renewal_notices", "partner_grant_notices"}
    _choose(alice, ["device_notices", "product_news", "renewal_notices"])  # opts in again
    assert _opted_out(app, ALICE) == {"partner_grant_notices"}
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "notifications.updated")
                                     .order_by(AuditEntry.id)).all()
        assert [(e.actor_id, e.details) for e in entries] == [
            (demo.users["alice"], {"stopped": ["partner_grant_notices", "renewal_notices"]}),
            (demo.users["alice"], {"resumed": ["renewal_notices"]})]


def test_invoice_emails_cannot_be_opted_out(app, login, demo, mailbox):
    """The form offers only optional emails: a forged choice is refused beside the field, and with every optional
    email stopped an invoice still arrives, without any unsubscribe link."""
    frank = login("frank")
    forged = frank.post("/account/notifications", data={"csrf_token": frank.csrf_token(), "receive": ["invoices"]})
    assert forged.status_code == 422 and "is not a valid choice for this field" in _text(forged)
    assert _opted_out(app, "frank@litware.example.com") == set()

    _choose(frank, [])  # nothing optional
    assert _opted_out(app, "frank@litware.example.com") == {c.value for c in EmailCategory}
    with app.app_context():
        invoice = make_invoice(db.session.get(Organization, demo.orgs["Litware Solutions"]))
        db.session.commit()
        email_invoice(invoice, "frank@litware.example.com", actor())
        db.session.commit()
        assert deliver() == (1, 0)
    [mail] = mailbox.to("frank@litware.example.com")
    assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None
    assert "unsubscribe" not in mail.get_body(preferencelist=("plain",)).get_content().lower()


# ---------------------------------------------------------------- sending


def test_a_manager_who_opted_out_gets_no_renewal_notice_and_the_other_managers_still_do(app, login, demo, mailbox):
    _choose(login("alice"), ["device_notices"])
    run = _renewal_run(app, "second.manager@northwind.example.com")
    assert run.emails == 1
    with app.app_context():
        [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "renewal_notice")).all()
        assert message.to_addrs == ["second.manager@northwind.example.com"]
        deliver()
    assert mailbox.to(ALICE) == []
    [mail] = mailbox.to("second.manager@northwind.example.com")
    assert "Renewals coming up for Northwind IT" in mail["Subject"]


def test_optional_emails_carry_their_own_one_click_link_and_the_list_unsubscribe_headers(app, demo, mailbox):
    _renewal_run(app, "second.manager@northwind.example.com")
    with app.app_context():
        deliver()
    links = set()
    for address in (ALICE, "second.manager@northwind.example.com"):
        [mail] = mailbox.to(address)
        link = _link(mail)
        assert mail["List-Unsubscribe"] == f"<{link}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Choose which emails you receive: http://portal.test/account/notifications" in mail.get_content()
        links.add(link)
    assert len(links) == 2  # each manager's link stops only their own notices


def test_a_password_reset_has_no_unsubscribe_header(client, demo, mailbox):
    assert client.submit("/password/forgot", {"email": ALICE}).status_code == 302
    [mail] = mailbox.to(ALICE)
    assert mail["List-Unsubscribe"] is None and "unsubscribe" not in mail.get_content().lower()


def test_a_manager_who_opted_out_of_device_notices_is_not_emailed_about_a_new_device(app, login, demo, mailbox):
    dave = login("dave")
    _choose(dave, ["renewal_notices"])
    with app.app_context():
        airport = db.session.scalars(select(Location.id).where(Location.name == "Airport Kiosk")).one()
    response = dave.submit("/devices", {"location_id": airport, "name": "Airport kiosk 9", "counts": True})
    page = _text(dave.get(response.headers["Location"]))
    assert "has no active Chain &amp; User Manager who receives device notices" in page
    assert mailbox.messages == []


# ---------------------------------------------------------------- unsubscribing


def test_one_click_unsubscribes_without_a_session_or_csrf_token(app, client, demo, mailbox):
    """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the link, with no cookie and no token."""
    _renewal_run(app, "second.manager@northwind.example.com")
    with app.app_context():
        deliver()
    [mail] = mailbox.to(ALICE)
    path = _link(mail).removeprefix("http://portal.test")
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "no longer receives renewal notices" in _text(response)
    assert _opted_out(app, ALICE) == {"renewal_notices"}
    assert _opted_out(app, "second.manager@northwind.example.com") == set()
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: same
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "notifications.unsubscribed"))
        assert (entry.actor_id, entry.details) == (demo.users["alice"], {"category": "renewal_notices"})


def test_the_link_opened_in_a_browser_asks_before_unsubscribing(app, client, demo):
    with app.app_context():
        path = f"/unsubscribe/{unsubscribe_token(demo.users['bob'], EmailCategory.DEVICE_NOTICES)}"
    opened = client.page(path)
    page = re.sub(r"\s+", " ", opened.html)
    assert "Stop sending device notices to <strong>bob@northwind.example.com</strong>?" in page
    assert _opted_out(app, "bob@northwind.example.com") == set()  # opening the link (a mail scanner) changes nothing
    refused = client.post(path, data={})  # neither the page's token nor a one-click body
    assert refused.status_code == 400 and _opted_out(app, "bob@northwind.example.com") == set()
    done = client.submit(opened, {}, button="Unsubscribe")
    assert done.status_code == 200 and "no longer receives device notices" in _text(done)
    assert _opted_out(app, "bob@northwind.example.com") == {"device_notices"}


@pytest.mark.parametrize("forge", ["garbage", "other-secret", "no-such-user", "mandatory-category", "not-a-pair"])
def test_a_forged_or_damaged_link_is_refused_and_changes_nothing(app, client, demo, forge):
    with app.app_context():
        real = unsubscribe_token(demo.users["bob"], EmailCategory.RENEWAL_NOTICES)
        signer = URLSafeSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT)
        token = {
            "garbage": real[:-3] + ("abc" if not real.endswith("abc") else "xyz"),
            "other-secret": URLSafeSerializer("another-secret", salt=TOKEN_SALT).dumps(
                [demo.users["bob"], "renewal_notices"]),
            "no-such-user": signer.dumps([999_999, "renewal_notices"]),
            "mandatory-category": signer.dumps([demo.users["bob"], "invoices"]),
            "not-a-pair": signer.dumps({"user": demo.users["bob"]}),
        }[forge]
    get = client.get(f"/unsubscribe/{token}")
    assert get.status_code == 400 and "This unsubscribe link is not valid" in _text(get)
    post = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert post.status_code == 400
    assert _opted_out(app, "bob@northwind.example.com") == set()
