"""The reseller's storefront sales and its invoices to its customers, and the customer's download of its invoice.

- `/account/storefront/sales` (storefronts.sales): the reseller's storefront orders, newest first (keyset pages:
  ?before=<id>), each with its customer, the storefront price, its cost (the vendor's wholesale order) and the
  margin, the totals, and the reseller's invoice of each with its PDF
  (`/account/storefront/invoices/<invoice_number>.pdf`). The reseller's Chain & User Managers and Master users
  (VIEW_ORDERS on its main chain).
- `/s/<alias>/invoices/<invoice_number>.pdf` (storefront_sales.customer_invoice_pdf): the reseller's invoice to the
  customer, for the users of the customer's sub-chains only. The customer never sees the wholesale side.

The routes register on the two blueprints (storefronts' for the reseller's pages, storefront_sales' for the
storefront) when portal/__init__.py imports this module.
"""

from __future__ import annotations

import re

from flask import abort, g, request
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.authz import Permission, active_organization, can, requires, storefront_customer_chains
from portal.billing import documents
from portal.billing.models import Invoice
from portal.extensions import db
from portal.orders.models import Order
from portal.rendering import render
from portal.storage import send_stored
from portal.storefront_sales import invoicing
from portal.storefront_sales.views import bp as storefront_bp
from portal.storefront_sales.views import customer_required
from portal.storefronts.models import Storefront
from portal.storefronts.views import bp as reseller_bp

SALES_PER_PAGE = 25
INVOICE_NUMBER = re.compile(r"[A-Za-z0-9-]{1,48}")  # <ALIAS>-000001 within Invoice.number's 48 characters


def _number(text: str) -> str | None:
    """An invoice number as a URL may carry it; anything else (a NUL byte, a long string) finds nothing."""
    return text.upper() if INVOICE_NUMBER.fullmatch(text) else None


def _reseller_storefront() -> Storefront:
    """The storefront of the chain the user works in (kept while closed, for its history); a 404 without one."""
    org = active_organization()
    storefront = db.session.scalars(select(Storefront).where(Storefront.organization_id == org.id)).first()
    if storefront is None:
        abort(404)
    return storefront


def _before() -> int | None:
    """The keyset cursor: the id of the last order of the previous page (a bad value means the first page)."""
    value = request.args.get("before", "")
    return int(value) if value.isdigit() and len(value) <= 18 else None


@reseller_bp.route("/account/storefront/sales")
@requires(Permission.VIEW_ORDERS)
def sales():
    """Your storefront's sales, newest first: each customer's order at your price, its cost to you and your
    margin, the totals, and your invoices to your customers."""
    storefront = _reseller_storefront()
    stmt = invoicing.sales_query(storefront.organization_id)
    before = _before()
    if before is not None:
        stmt = stmt.where(Order.id < before)
    rows = invoicing.sale_rows(db.session.execute(stmt.limit(SALES_PER_PAGE + 1)).all())
    more = len(rows) > SALES_PER_PAGE
    rows = rows[:SALES_PER_PAGE]
    return render("storefront_sales/sales.html", "storefront_sales/_sales_rows.html", storefront=storefront,
                  rows=rows, more=more, next_before=rows[-1].order.id if more else None, first_page=before is None,
                  totals=invoicing.sales_totals(storefront.organization_id))


def _pdf(invoice: Invoice | None):
    if invoice is None:
        abort(404)
    try:
        documents.store_pdf(invoice)  # renders only the first time
        db.session.commit()
    except documents.PdfUnavailable:
        db.session.rollback()
        abort(503)
    return send_stored(invoice, invoice.pdf_filename)


@reseller_bp.route("/account/storefront/invoices/<invoice_number>.pdf")
@login_required  # by number: anyone else's invoice, or a user without the right, is a 404 (never a 403)
def invoice_pdf(invoice_number: str):
    """Download one of your invoices to your storefront customers (PDF with its Factur-X XML)."""
    if not can(current_user, Permission.VIEW_ORDERS, active_organization()):
        abort(404)
    storefront = _reseller_storefront()
    number = _number(invoice_number)
    found = invoicing.reseller_invoice(storefront.organization_id, number) if number else None
    return _pdf(found)


@storefront_bp.route("/invoices/<invoice_number>.pdf")
@customer_required
def customer_invoice_pdf(invoice_number: str):
    """Download the seller's invoice for one of your storefront orders (PDF with its Factur-X XML)."""
    reseller_id = g.storefront.organization_id
    chains = [org.id for org in storefront_customer_chains(current_user, reseller_id)]
    number = _number(invoice_number)
    found = invoicing.customer_invoice(reseller_id, chains, number) if number else None
    return _pdf(found)
