"""The storefront's settings (/account/storefront): its name, contact details and the reseller's numbers as seller,
and on Standard its accent colour and logo (decoded with Pillow, re-encoded to PNG); the public logo and theme
stylesheet. A bad value or file is refused beside its field and nothing changes."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from portal.accounts.models import PartnerTier, Role
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.storage import stored_file
from portal.storefronts.models import Storefront
from tests.factories import make_member, make_org, make_png
from tests.storefronts.test_prices import make_storefront

PAGE = "/account/storefront"


def form_of(client) -> dict:
    """What the settings page's form posts as it stands (its token and prefilled fields)."""
    form, _ = client.page(PAGE).find(action=PAGE)
    return dict(form.successful())


def shop(app) -> dict:
    with app.app_context():
        found = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        return {c.name: getattr(found, c.name) for c in Storefront.__table__.columns if c.name != "updated_at"}


def upload(client, data: bytes, name: str = "logo.png", **fields):
    return client.submit(PAGE, {**fields, "logo": (io.BytesIO(data), name)})


def test_the_page_shows_the_storefronts_settings(app, demo, login):
    page = login("alice").get(PAGE).get_data(as_text=True)
    assert "Storefront settings" in page and "/s/northwind" in page
    assert 'enctype="multipart/form-data"' in page and 'name="logo"' in page and 'value="#0b7a75"' in page


def test_saving_the_details(app, demo, login):
    alice = login("alice")
    form = {"display_name": "Northwind Store", "accent_colour": "#AA3300",
            "contact_phone": "+1 (555) 010-7788", "tax_id": "US99-7654321", "registration_id": "EIN 99-7654321",
            "contact_address": "1 Harbour Road\r\nSeattle"}
    response = alice.submit(PAGE, form)
    assert response.status_code == 302
    after = shop(app)
    assert (after["display_name"], after["accent_colour"], after["tax_id"], after["contact_address"]) == (
        "Northwind Store", "#aa3300", "US99-7654321", "1 Harbour Road\nSeattle")
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "storefront.details_updated")).one()
        assert entry.details["changed"]["display_name"] == ["Northwind IT", "Northwind Store"]


@pytest.mark.parametrize(("field", "value"), [
    ("accent_colour", "red"), ("accent_colour", "#12345"), ("accent_colour", "#gggggg"),
    ("display_name", ""), ("display_name", "x" * 201), ("contact_email", "not-an-email"),
    ("contact_phone", "call me"), ("tax_id", "x" * 65),
])
def test_a_bad_detail_is_refused_beside_its_field(app, demo, login, field, value):
    alice = login("alice")
    before = shop(app)
    response = alice.submit(PAGE, {field: value})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert shop(app) == before


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_logo_is_re_encoded_to_png_and_served(app, demo, login, client, fmt):
    alice = login("alice")
    response = upload(alice, make_png(120, 60, fmt=fmt), name=f"logo.{fmt.lower()}")
    assert response.status_code == 302
    after = shop(app)
    assert after["logo_type"] == "image/png" and after["logo_path"].endswith(".png")
    logo = client.get("/s/northwind/logo.png")
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert "public" in logo.headers["Cache-Control"] and logo.headers.get("ETag")
    with Image.open(io.BytesIO(logo.data)) as image:
        assert (image.format, image.size) == ("PNG", (120, 60))
    assert client.get("/s/northwind/logo.png", headers={"If-None-Match": logo.headers["ETag"]}).status_code == 304


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG")  # 400 million pixels in a few kB
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    return out.getvalue()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"GIF89a not really", "not a PNG, JPEG or WebP"),
    (b"%PDF-1.7\n", "not a PNG, JPEG or WebP"),
    (make_png()[:60], "not a PNG, JPEG or WebP"),  # truncated
    (make_png()[:-20] + b"\x00" * 20, "not a PNG, JPEG or WebP"),  # damaged
    (_gif(), "not a PNG, JPEG or WebP"),
    (make_png(2001, 10), "at most 2000 x 2000"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "larger than 1 MB"),
    (_bomb(), "2000"),
])
def test_a_bad_logo_is_refused_beside_the_field_and_nothing_changes(app, demo, login, data, message):
    alice = login("alice")
    before = shop(app)
    response = upload(alice, data, display_name="Changed too")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="logo-error"' in page and message in page
    assert shop(app) == before  # the details posted with it are not saved either


def test_removing_the_logo(app, demo, login, client):
    alice = login("alice")
    upload(alice, make_png())
    with app.app_context():
        path = stored_file(shop(app)["logo_path"])
    assert path.is_file()
    response = alice.submit(PAGE, {"remove_logo": True})
    assert response.status_code == 302
    assert shop(app)["logo_path"] is None
    assert not path.exists()  # discarded once the change was committed
    assert client.get("/s/northwind/logo.png").status_code == 404


def test_the_theme_stylesheet_carries_the_accent_colour(app, demo, client):
    response = client.get("/s/northwind/theme.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "--storefront-accent: #0b7a75;" in response.get_data(as_text=True)
    assert "public" in response.headers["Cache-Control"]


@pytest.mark.parametrize("alias", ["litware", "nobody-here", "x" * 200])
def test_no_logo_or_theme_without_a_storefront(app, demo, client, alias):
    assert client.get(f"/s/{alias}/theme.css").status_code == 404
    assert client.get(f"/s/{alias}/logo.png").status_code == 404


def test_northwind_has_no_logo_until_it_uploads_one(app, demo, client):
    assert client.get("/s/northwind/logo.png").status_code == 404


def test_on_free_the_look_is_the_default_and_the_logo_refused(app, demo, client):
    with app.app_context():
        reseller = make_org("Free Reseller", partner_tier=PartnerTier.SILVER)
        manager = make_member(reseller, Role.MANAGER).user
        free = make_storefront(reseller, plan="reseller-free", alias="free-shop", accent_colour="#aa0000")
        free.logo_path = "storefront-logos/kept-from-standard.png"  # kept from an earlier Standard plan
        db.session.commit()
        email = manager.email
    assert "--storefront-accent: #1f6feb;" in client.get("/s/free-shop/theme.css").get_data(as_text=True)
    assert client.get("/s/free-shop/logo.png").status_code == 404
    client.login(email, "a-long-password")
    page = client.get(PAGE).get_data(as_text=True)
    assert "Standard plan" in page
    assert 'name="logo"' not in page
    # On Free the colour is a hidden field the user cannot change: the page's form with a forged one.
    response = client.post(PAGE, data={**form_of(client), "accent_colour": "#00ff00"})
    assert response.status_code == 422 and "Standard plan" in response.get_data(as_text=True)
