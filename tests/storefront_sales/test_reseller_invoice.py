"""The reseller's side of its storefront sales (no JavaScript): alice and bob (Northwind's manager and Master user)
see each sale with the customer, their price, their cost and the margin, and download their invoices to their
customers; carol downloads Northwind's invoice for her order on /s/northwind and nothing else; the vendor's invoice
pages never list or open a reseller's invoice; the reseller's PDF carries its logo and accent colour."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from portal import pricing
from portal.accounts.models import Organization, Role, User
from portal.audit.services import Actor
from portal.billing.models import Invoice
from portal.extensions import db
from portal.orders.models import Order
from portal.orders.services import BillingDetails
from portal.payments.gateway import gateway
from portal.storefront_sales import carts, sales_views
from portal.storefront_sales.selling import place_storefront_order, sale_summary
from portal.storefronts import branding
from portal.storefronts.models import Storefront, StorefrontPrice
from tests.factories import actor, make_invoice, make_member, make_org, make_png, make_storefront_invoice
from tests.storefront_sales.test_selling import _add, _card

SALES = "/account/storefront/sales"


def _sell(app, demo, copies: int = 1, slug: str = "livedesk", edition: str = "Enterprise", quantity: int = 3,
          logo: bool = False) -> tuple[str, str, str]:
    """carol buys on /s/northwind (committed); the numbers of her order, Northwind's invoice and the vendor's."""
    with app.app_context():
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        contoso = db.session.get(Organization, demo.orgs["Contoso Retail"])
        carol = db.session.get(User, demo.users["carol"])
        if logo:
            branding.set_logo(storefront, make_png(), Actor.system())
            db.session.commit()
        _add(storefront, contoso, carol, slug=slug, edition=edition, quantity=quantity, copies=copies)
        items = carts.cart_items(storefront, carol, contoso)
        summary = sale_summary(storefront, contoso, items)
        order = place_storefront_order(storefront, contoso, carol, items, summary.signature,
                                       summary.quote.total_minor, _card(), BillingDetails.of(contoso), actor(carol),
                                       gateway())
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_id == order.id)).one()
        wholesale = db.session.scalars(select(Order).where(Order.supplies_order_id == order.id)).one()
        vendor = db.session.scalars(select(Invoice).where(Invoice.order_id == wholesale.id)).one()
        return order.number, invoice.number, vendor.number


def _money(minor: int) -> str:
    return f"{minor / 100:,.2f}"


def test_the_reseller_sees_each_sale_with_its_price_cost_and_margin(app, login, demo):
    order, invoice, vendor = _sell(app, demo, copies=2)
    with app.app_context():
        from portal.catalog.services import configure, product_by_slug

        product = product_by_slug("livedesk")
        config = configure(product, next(e.id for e in product.editions if e.name == "Enterprise"), 3, [])
        price = 2 * pricing.marked_up(config.list_minor, 2500)
        cost = pricing.reseller_cost(2 * config.list_minor, 2000)

    for user in ("alice", "bob"):
        response = login(user).get(SALES)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert order in page and "Contoso Retail" in page
        assert _money(price) in page and _money(cost) in page and _money(price - cost) in page
        assert f"{pricing.margin_bp(price, cost) / 100:.2f} %" in page
        assert f"/account/storefront/invoices/{invoice}.pdf" in page
        assert vendor not in page  # the vendor's invoice is on /invoices, not among the reseller's own


def test_a_sale_below_cost_is_shown_as_a_loss_in_words(app, login, demo):
    with app.app_context():
        storefront = db.session.scalars(select(Storefront).where(Storefront.alias == "northwind")).one()
        storefront.default_markup_bp = -5000  # half the list price: below Northwind's cost (list less 20 %)
        db.session.commit()
    _sell(app, demo)
    page = login("alice").get(SALES).get_data(as_text=True)
    assert "Loss of" in page


def test_the_sales_list_pages_by_keyset_newest_first(app, login, demo, monkeypatch):
    first, _, _ = _sell(app, demo)
    second, _, _ = _sell(app, demo, quantity=5)
    monkeypatch.setattr(sales_views, "SALES_PER_PAGE", 1)
    alice = login("alice")
    page = alice.get(SALES).get_data(as_text=True)
    assert second in page and first not in page
    with app.app_context():
        newest = db.session.scalars(select(Order.id).where(Order.number == second)).one()
    older = alice.get(f"{SALES}?before={newest}", headers={"HX-Request": "true"})
    assert older.status_code == 200 and first in older.get_data(as_text=True)
    assert "<h1>" not in older.get_data(as_text=True)  # htmx gets the rows only
    for bad in ("-1", "x", "9" * 40):
        assert alice.get(SALES, query_string={"before": bad}).status_code == 200
    assert alice.get(SALES, query_string={"before": "\x00"}).status_code == 400  # the portal refuses NUL bytes


@pytest.mark.parametrize("user", ["dave", "frank"])
def test_a_reseller_without_a_storefront_has_no_sales_page(app, login, demo, user):
    assert login(user).get(SALES).status_code == 404


def test_the_reseller_downloads_its_invoice_and_only_its_own(app, login, demo):
    _, invoice, vendor = _sell(app, demo, logo=True)
    alice = login("alice")
    response = alice.get(f"/account/storefront/invoices/{invoice}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.data))
    assert "factur-x.xml" in (pdf.attachments or {})
    xml = pdf.attachments["factur-x.xml"][0]
    assert invoice.encode() in xml and b"Northwind IT LLC" in xml
    images = [name for page in pdf.pages for name in (page.images or [])]
    assert images, "the reseller's logo is in its invoice"
    with app.app_context():  # another reseller's invoice, and a vendor invoice, are not Northwind's own
        other = make_org("Adatum Resellers")
        shop = Storefront(organization_id=other.id, alias="adatum", display_name="Adatum", tax_id="T-1",
                          registration_id="R-1", opened_on=db.func.current_date())
        db.session.add(shop)
        db.session.flush()
        foreign = make_storefront_invoice(shop, make_org("Adatum Customer", parent=other)).number
        vendor_of_northwind = make_invoice(db.session.get(Organization, demo.orgs["Northwind IT"])).number
        db.session.commit()
    for number in (foreign, vendor, vendor_of_northwind, "NORTHWIND-999999", "x" * 60, "%00"):
        assert alice.get(f"/account/storefront/invoices/{number}.pdf").status_code == 404, number


def test_the_customer_downloads_the_resellers_invoice_and_nobody_else_does(app, login, client, demo):
    _, invoice, vendor = _sell(app, demo)
    url = f"/s/northwind/invoices/{invoice}.pdf"
    carol = login("carol")
    response = carol.get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert carol.get(f"/s/northwind/invoices/{vendor}.pdf").status_code == 404  # the wholesale side: never
    for bad in ("%00", "x" * 60, "NORTHWIND-999999"):
        assert carol.get(f"/s/northwind/invoices/{bad}.pdf").status_code == 404
    # anonymous visitors sign in first; the reseller's own users and other customers get a 404
    assert client.get(url).status_code == 302 and "/s/northwind/login" in client.get(url).headers["Location"]
    assert login("alice").get(url).status_code == 404
    with app.app_context():
        northwind = db.session.get(Organization, demo.orgs["Northwind IT"])
        other_customer = make_member(make_org("Tailspin Toys", parent=northwind), Role.MANAGER).user.email
        db.session.commit()
    client.login(other_customer, "a-long-password")
    assert client.get(url).status_code == 404


def test_the_vendors_invoice_pages_never_show_a_resellers_invoice(app, login, demo):
    _, invoice, vendor = _sell(app, demo)
    alice = login("alice")
    listed = alice.get("/invoices").get_data(as_text=True)
    assert vendor in listed and invoice not in listed
    assert alice.get(f"/invoices/{invoice}").status_code == 404
    assert alice.get(f"/invoices/{invoice}.pdf").status_code == 404
    # and the customer's storefront order page never names the wholesale order or the vendor's invoice
    with app.app_context():
        number = db.session.scalars(select(Order.number).where(Order.seller_id.is_not(None))).one()
        rules = db.session.scalar(select(db.func.count()).select_from(StorefrontPrice))
    page = login("carol").get(f"/s/northwind/orders/{number}").get_data(as_text=True)
    assert invoice in page and vendor not in page and "margin" not in page.lower() and rules


def test_the_brand_printed_on_an_invoice_is_checked_before_it_reaches_the_page(app, demo):
    from invoices.document import Brand
    from invoices.pdf import render_html
    from portal.billing.documents import invoice_document

    for colour in ("red", "#12345", "#1234567", "#12345g;}", "</style>"):
        with pytest.raises(ValueError, match="accent colour"):
            Brand(accent_colour=colour)
    with pytest.raises(ValueError, match="logo type"):
        Brand(logo=b"<svg/>", logo_type="image/svg+xml")
    _, number, vendor = _sell(app, demo, logo=True)
    with app.app_context():
        ours = invoice_document(db.session.scalars(select(Invoice).where(Invoice.number == number)).one())
        theirs = invoice_document(db.session.scalars(select(Invoice).where(Invoice.number == vendor)).one())
        html = render_html(ours)
        assert "color: #0b7a75" in html and 'src="data:image/png;base64,' in html
        assert theirs.brand is None and "data:image" not in render_html(theirs)  # the vendor's look is its own
