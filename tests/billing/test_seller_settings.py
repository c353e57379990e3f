"""Seller and bank details come from staff settings (issue 11 item 6): /admin/settings shows and saves them, each
refusal beside its field, every change audited; each invoice keeps the details it was issued with, on its page,
its Pay page and its PDF, whatever staff change later."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.orders.models import PaymentKind
from portal.seller.details import current_seller
from tests.billing.conftest import buy

NEW_DETAILS = {"legal_name": "Vendor Software Holdings, LLC", "address_line1": "1 Harbor Plaza",
               "address_line2": "", "city": "Oakland", "region": "CA", "postal_code": "94607",
               "bank_name": "Second Example Bank", "account_name": "Vendor Software Holdings, LLC",
               "account_number": "555000111222", "routing_number": "026009593", "swift_bic": "SEXBUS44XXX",
               "tax_id": "CA-SR-999-000111", "registration_id": "88-7654321"}


def settings_form(client) -> dict[str, str]:
    """The fields of the settings form, with the values the page filled in."""
    form, _ = client.page("/admin/settings").find(action="/admin/settings")
    return dict(form.successful())


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def pdf_text(client, number: str) -> str:
    data = client.get(f"/invoices/{number}.pdf").data
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def _audit_entries(app) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "seller_settings.updated")))


def test_staff_see_the_details_invoices_print_correctly_labelled(app, login, demo):
    ops = login("ops")
    page = ops.get("/admin/settings").get_data(as_text=True)
    assert 'href="/admin/settings"' in page  # the staff navigation offers it
    for label in ("Legal name", "Tax ID", "Registration number", "Bank name", "Account name", "Account number",
                  "Routing number (ABA)", "SWIFT/BIC"):
        assert f">{label}</label>" in page, label
    form = settings_form(ops)
    assert form["legal_name"] == "Vendor Software, Inc." and form["routing_number"] == "121000358"
    assert form["swift_bic"] == "FEXBUS33" and form["csrf_token"]


def test_wrong_details_are_refused_beside_each_field_and_change_nothing(app, login, demo):
    ops = login("ops")
    bad = {"legal_name": " ", "email": "billing at vendor", "swift_bic": "FEX1",
           "routing_number": "121000359", "account_number": "12"}
    expected = {"legal_name": "Enter the seller's legal name", "email": "", "swift_bic": "8 or 11 letters and digits",
                "routing_number": "check digit", "account_number": "4 to 34 letters and digits"}
    _refused(ops, bad, expected)
    _refused(ops, {"country": "USA"}, {"country": "ISO 3166 2-letter code"})
    _refused(ops, {"routing_number": ""}, {"routing_number": "ABA routing number (9 digits)"})
    with app.app_context():
        assert current_seller().legal_name == "Vendor Software, Inc."
    assert _audit_entries(app) == []
    # outside the US a bank code is optional
    abroad = {"country": "CA", "region": "ON", "routing_number": ""}
    assert ops.submit("/admin/settings", abroad).status_code == 302


def _refused(client, typed: dict, expected: dict[str, str]) -> None:
    response = client.submit("/admin/settings", typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for name, message in expected.items():
        error = re.search(rf'id="{name}-error">([^<]*)<', page)
        assert error and message.replace("'", "&#39;") in error.group(1), name
    assert len(re.findall(r'id="\w+-error"', page)) == len(expected)


def test_the_form_without_its_csrf_token_is_refused(app, login, demo):
    ops = login("ops")
    form = {k: v for k, v in settings_form(ops).items() if k != "csrf_token"}
    assert ops.post("/admin/settings", data={**form, "legal_name": "Mallory Inc."}).status_code == 400
    with app.app_context():
        assert current_seller().legal_name == "Vendor Software, Inc."


def test_a_change_is_audited_and_only_invoices_issued_after_it_carry_it(app, login, demo):
    with app.app_context():
        before = buy(demo, "Fabrikam Stores", PaymentKind.WIRE, slug="livedesk", edition="Enterprise",
                     quantity=5).number
    ops = login("ops")
    saved = ops.submit("/admin/settings", NEW_DETAILS)
    assert saved.status_code == 302
    assert "invoices already issued keep the details" in ops.get(saved.headers["Location"]).get_data(as_text=True)
    [entry] = _audit_entries(app)
    assert set(entry.details["changed"]) == {"legal_name", "address_line1", "address_line2", "city",
                                             "postal_code", "bank_name", "account_name", "account_number",
                                             "routing_number", "swift_bic", "tax_id", "registration_id"}
    assert entry.details["changed"]["account_number"] == ["000123456789", "555000111222"]
    assert "seller_settings.updated" in ops.get("/admin/audit").get_data(as_text=True)
    with app.app_context():
        after = buy(demo, "Fabrikam Stores", PaymentKind.WIRE, slug="livedesk", edition="Enterprise",
                    quantity=10).number

    dave = login("dave")
    old_page, old_pay = (text_of(dave.get(url).get_data(as_text=True))
                         for url in (f"/invoices/{before}", f"/invoices/{before}/pay"))
    # The old invoice's PDF is first rendered after the change, and still prints the details it was issued with.
    old_pdf = pdf_text(dave, before)
    for text in (old_page, old_pdf):
        assert "Vendor Software, Inc." in text and "Holdings" not in text and "Registration number 94-1234567" in text
    for text in (old_pay, old_pdf):
        assert "000123456789" in text and "121000358" in text and "555000111222" not in text
    assert "Account number 000123456789" in old_pay and "SWIFT/BIC FEXBUS33" in old_pdf

    new_page, new_pay = (text_of(dave.get(url).get_data(as_text=True))
                         for url in (f"/invoices/{after}", f"/invoices/{after}/pay"))
    new_pdf = pdf_text(dave, after)
    for text in (new_page, new_pdf):
        assert "Vendor Software Holdings, LLC" in text and "Registration number 88-7654321" in text
        assert "1 Harbor Plaza" in text and "500 Market Street" not in text
    for label, value in (("Bank name", "Second Example Bank"), ("Account number", "555000111222"),
                         ("Routing number (ABA)", "026009593"), ("SWIFT/BIC", "SEXBUS44XXX")):
        assert f"{label} {value}" in new_pay and f"{label} {value}" in new_pdf
    assert "payable to Vendor Software Holdings, LLC, mailed to Attn: Accounts Receivable, 1 Harbor Plaza" in new_pay


def test_saving_unchanged_details_records_nothing(app, login, demo):
    ops = login("ops")
    assert ops.submit("/admin/settings", {}).status_code == 302
    assert _audit_entries(app) == []
