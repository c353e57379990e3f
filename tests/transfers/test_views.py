"""The transfer pages without JavaScript: alice requests, staff review, both sides are told."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.extensions import db
from portal.transfers.models import TransferRequest, TransferStatus
from tests.factories import make_org, make_transfer
from tests.transfers.conftest import stored_files


def _only_transfer() -> TransferRequest:
    return db.session.scalars(select(TransferRequest)).one()


def _request(client, data: dict, page="/transfers"):
    """Send the request form of the Transfers page (or of `page`, already open)."""
    return client.submit(page, data, action="/transfers")


def test_alice_requests_a_transfer_and_sees_it_waiting(app, login, demo, form_data, mailbox):
    alice = login("alice")
    page = alice.get("/transfers").get_data(as_text=True)
    assert "Request a transfer" in page and "Contoso Retail" in page
    response = _request(alice, form_data(demo.orgs["Contoso Retail"]))
    assert response.status_code == 302
    detail = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Waiting for review" in detail and "Contoso Retail Holdings Ltd" in detail
    assert "Waiting for review" in alice.get("/transfers").get_data(as_text=True)
    [notice] = mailbox.to("alice@northwind.example.com")
    assert "Transfer of Contoso Retail requested" in notice["Subject"]
    with app.app_context():
        transfer = _only_transfer()
        assert transfer.status is TransferStatus.REQUESTED and transfer.phone == "+1 (206) 555-0142"
        assert transfer.authorization_path.startswith("transfers/")
        static = app.static_folder
        assert not any(str(path).startswith(static) for path in stored_files())


def test_a_sub_chain_with_an_open_request_is_not_offered_again(app, login, demo, form_data):
    alice = login("alice")
    second_tab = alice.page("/transfers")  # opened before the first request is sent
    assert _request(alice, form_data(demo.orgs["Contoso Retail"])).status_code == 302
    assert f'value="{demo.orgs["Contoso Retail"]}"' not in alice.get("/transfers").get_data(as_text=True)
    again = _request(alice, form_data(demo.orgs["Contoso Retail"]), second_tab)
    assert again.status_code == 422 and "already has a request waiting" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(TransferRequest).count() == 1


BAD_INPUT = [
    ({"legal_name": ""}, "Enter the new entity"),
    ({"address_line1": "P.O. Box 12"}, "not a P.O. box"),
    ({"address_line1": "PO Box 12"}, "not a P.O. box"),
    ({"address_line1": "Post Office Box 77"}, "not a P.O. box"),
    ({"address_line1": "P O Box 7"}, "not a P.O. box"),
    ({"address_line1": "POB 33"}, "not a P.O. box"),
    ({"address_line1": "GPO Box 1"}, "not a P.O. box"),
    ({"address_line2": "Postfach 12"}, "not a P.O. box"),
    ({"invoice_email": "accounts-at-contoso"}, "@-sign"),
    ({"manager_email": "carol@"}, "@-sign"),
    ({"phone": "12345"}, "7 to 15 digits"),
    ({"phone": "call me maybe"}, "7 to 15 digits"),
    ({"country": "U"}, "2-letter code"),
    ({"sub_chain_id": "abc"}, 'id="sub_chain_id-error"'),  # the sub-chains: choices the form does not offer
    ({"sub_chain_id": "999999"}, "Not a valid choice"),
    ({"sub_chain_id": "0"}, "Choose one of your sub-chains"),
]


def test_bad_input_shows_beside_its_field_and_stores_nothing(app, login, demo, form_data):
    alice = login("alice")
    contoso = demo.orgs["Contoso Retail"]
    files_before = stored_files(app)
    for changes, message in BAD_INPUT:
        if "sub_chain_id" in changes:  # forged: the page's form with a value its select does not offer
            form, _ = alice.page("/transfers").find(action="/transfers")
            response = alice.post("/transfers", data={**dict(form.successful()), **form_data(contoso), **changes},
                                  content_type="multipart/form-data")
        else:
            response = _request(alice, {**form_data(contoso), **changes})
        body = response.get_data(as_text=True)
        assert response.status_code == 422, changes
        assert message in body, (changes, message)
        assert 'class="error"' in body
    with app.app_context():
        assert db.session.query(TransferRequest).count() == 0
        assert stored_files(app) == files_before


def test_files_that_are_not_a_pdf_within_the_limit_are_refused(app, login, demo, form_data):
    alice = login("alice")
    contoso = demo.orgs["Contoso Retail"]
    app.config["TRANSFER_MAX_UPLOAD_BYTES"] = 2048
    files_before = stored_files(app)
    try:
        cases = [
            (form_data(contoso, data=b"MZ\x90\x00 this is an executable", name="authorization.pdf"), "not a PDF"),
            (form_data(contoso, data=b"", name="authorization.pdf"), "empty"),
            (form_data(contoso, data=b"%PDF-1.4\n" + b"0" * 4096), "larger than"),
            ({**form_data(contoso), "authorization": None}, "Choose the signed authorization"),
        ]
        for data, message in cases:
            response = _request(alice, data)
            assert response.status_code == 422 and message in response.get_data(as_text=True), message
    finally:
        app.config["TRANSFER_MAX_UPLOAD_BYTES"] = 5 * 1024 * 1024
    with app.app_context():
        assert db.session.query(TransferRequest).count() == 0
        assert stored_files(app) == files_before


def test_an_upload_beyond_what_any_request_may_carry_gets_a_clear_page(app, login, demo, form_data):
    alice = login("alice")
    huge = b"%PDF-1.4\n" + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = _request(alice, form_data(demo.orgs["Contoso Retail"], data=huge))
    assert response.status_code == 413
    assert "File too large" in response.get_data(as_text=True)


def test_staff_approve_and_both_sides_are_told(app, login, demo, form_data, mailbox):
    alice = login("alice")
    assert _request(alice, form_data(demo.orgs["Contoso Retail"])).status_code == 302
    with app.app_context():
        transfer_id = _only_transfer().id
    ops = login("ops")
    listing = ops.get("/admin/transfers").get_data(as_text=True)
    assert "Contoso Retail" in listing and "Waiting for review" in listing
    review = ops.get(f"/admin/transfers/{transfer_id}").get_data(as_text=True)
    assert "Approve the transfer" in review and "Reject the request" in review
    review_url, approve = f"/admin/transfers/{transfer_id}", f"/admin/transfers/{transfer_id}/approve"
    refused = ops.submit(review_url, {"service_charge": "150.00"}, action=approve)
    assert refused.status_code == 422 and "Confirm that you checked" in refused.get_data(as_text=True)
    for garbage in ("abc", "-5", "1.234,56", "12.345", "99999999999999"):
        response = ops.submit(review_url, {"service_charge": garbage, "confirm": True}, action=approve)
        assert response.status_code == 422, garbage
        assert 'id="service_charge-error"' in response.get_data(as_text=True), garbage
    with app.app_context():
        assert _only_transfer().status is TransferStatus.REQUESTED
        assert db.session.get(Organization, demo.orgs["Contoso Retail"]).parent_id == demo.orgs["Northwind IT"]
    mailbox.clear()
    approved = ops.submit(review_url, {"service_charge": "150.00", "confirm": True}, action=approve)
    assert approved.status_code == 302
    assert "Approved" in ops.get(f"/admin/transfers/{transfer_id}").get_data(as_text=True)
    assert "Transfer of Contoso Retail approved" in mailbox.to("alice@northwind.example.com")[0]["Subject"]
    [completed] = [m for m in mailbox.to("carol@contoso.example.com") if "your own account" in m["Subject"]]
    assert "ap@contoso.example.com" in completed["To"]
    # Alice's view of it: approved, with the service ticket's invoice; Contoso is gone from her sub-chains.
    page = alice.get(f"/transfers/{transfer_id}").get_data(as_text=True)
    assert "Approved" in page and "INV-" in page
    assert alice.get(f"/account/chains/{demo.orgs['Contoso Retail']}").status_code == 404
    # Carol, now its manager, opens Manage Subscriptions of her own chain.
    carol = login("carol")
    assert carol.get("/account/users").status_code == 200


def test_staff_reject_with_a_reason_the_requester_reads(app, login, demo, mailbox):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        transfer_id = make_transfer(northwind, contoso).id
        db.session.commit()
    ops = login("ops")
    review = ops.page(f"/admin/transfers/{transfer_id}")  # still open after the rejection
    empty = ops.submit(review, {"reason": "  "})
    assert empty.status_code == 422 and "Say why" in empty.get_data(as_text=True)
    assert ops.submit(review, {"reason": "The authorization is not signed."}).status_code == 302
    alice = login("alice")
    assert "The authorization is not signed." in alice.get(f"/transfers/{transfer_id}").get_data(as_text=True)
    assert "The authorization is not signed." in alice.get("/transfers").get_data(as_text=True)
    [rejected] = mailbox.to("alice@northwind.example.com")
    assert "rejected" in rejected["Subject"] and "not signed" in rejected.get_body(("plain",)).get_content()
    again = ops.submit(review, {"confirm": True})
    assert again.status_code == 422 and "cannot be approved" in again.get_data(as_text=True)


def test_alice_withdraws_her_request(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        transfer_id = make_transfer(northwind, db.session.get(Organization, demo.orgs["Contoso Retail"])).id
        db.session.commit()
    alice = login("alice")
    url = f"/transfers/{transfer_id}/withdraw"
    confirm = alice.page(url)  # the confirmation page, confirmed twice
    assert alice.submit(confirm, {}, action=url).status_code == 302
    assert "Withdrawn" in alice.get(f"/transfers/{transfer_id}").get_data(as_text=True)
    assert alice.submit(confirm, {}, action=url).status_code == 302
    assert "cannot be withdrawn" in alice.get(f"/transfers/{transfer_id}").get_data(as_text=True)


def test_the_authorization_downloads_only_for_the_requesters_managers_and_staff(app, login, demo):
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        transfer = make_transfer(northwind, db.session.get(Organization, demo.orgs["Contoso Retail"]))
        transfer_id, stored = transfer.id, transfer.authorization_path
        litware = db.session.get(Organization, demo.orgs["Litware Solutions"])
        other_id = make_transfer(litware, make_org(parent=litware)).id
        db.session.commit()
    assert "static" not in stored
    for user, url in (("alice", f"/transfers/{transfer_id}/authorization"),
                      ("ops", f"/admin/transfers/{transfer_id}/authorization")):
        response = login(user).get(url)
        assert response.status_code == 200, user
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.data.startswith(b"%PDF-")
    for user in ("bob", "carol", "dave", "erin", "frank"):
        client = login(user)
        assert client.get(f"/transfers/{transfer_id}/authorization").status_code == 404, user
        assert client.get(f"/admin/transfers/{transfer_id}/authorization").status_code == 404, user
    assert login("alice").get(f"/transfers/{other_id}/authorization").status_code == 404
    assert login("alice").get(f"/static/{stored}").status_code == 404
