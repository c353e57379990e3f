"""Invoice documents: an issued invoice as the `invoices` package's plain data, and its PDF, rendered once.

The PDF of an invoice is rendered once, stored under the instance folder (instance/invoices/<year>/<number>-
<first 12 hex digits of its SHA-256>.pdf) and never rendered again: downloads and emails serve the stored file.
Rendering happens after the invoice is committed, never inside the transaction that issues it (WeasyPrint takes
far longer than the order it documents): on its first download or email, or by `flask --app wsgi invoices
render-pending`, which a job runner calls every few minutes. Because an issued invoice never changes, rendering it
later gives the document as issued (what was paid *at issue* is printed as paid, a later payment is not).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from invoices.document import (
    LOGO_TYPES,
    Annex,
    Brand,
    CreditLine,
    DocumentLine,
    InvoiceDocument,
    Party,
    PaymentMeans,
)
from portal.audit.services import Actor, record
from portal.billing.lines import line_licenses, product_text, summary_parts
from portal.billing.models import CreditAllocation, Invoice, InvoiceStatus, PaymentMethodKind
from portal.billing.services import INVOICE_PDF
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.outbox.services import Attachment, attachment_maker, enqueue_email, external_url
from portal.receipts.methods import payment_options
from portal.reseller_fees.invoicing import charged_on
from portal.seller.details import invoice_seller
from portal.seller.taxes import EXEMPT, EXEMPTION_REASONS, STANDARD, ZERO_RATED, issued_category
from portal.storage import storage, store_once, stored_file


class PdfUnavailable(RuntimeError):
    """The PDF renderer (WeasyPrint through invoices.pdf) is not installed."""


def seller_party(invoice: Invoice) -> Party:
    """The seller as `invoice` was issued by (its snapshot of the settings, never the current ones)."""
    seller = invoice_seller(invoice)
    return Party(name=seller.legal_name, address_lines=seller.address_lines, city=seller.city,
                 postal_code=seller.postal_code, region=seller.region, country_code=seller.country,
                 email=seller.email, tax_id=seller.tax_id or None, tax_id_scheme="FC",
                 legal_id=seller.registration_id or None)


def invoice_brand(invoice: Invoice) -> Brand | None:
    """A reseller's invoice prints the reseller's accent colour and logo as its snapshot kept them when it was
    issued (Invoice.seller; the logo file is content-addressed, so a later upload does not change it). None for the
    vendor's invoices, and no logo when its file is gone (purged with the storefront) or unreadable."""
    if invoice.issuer_id is None:
        return None
    seller = invoice.seller or {}
    colour = seller.get("accent_colour") or ""
    colour = colour if re.fullmatch(r"#[0-9a-fA-F]{6}", colour) else ""
    logo, logo_type = None, seller.get("logo_type") or ""
    key = seller.get("logo_path") or None
    if key is not None and logo_type in LOGO_TYPES:
        try:
            logo = storage().get(key)
        except (OSError, ValueError):
            logo = None
    return Brand(accent_colour=colour, logo=logo, logo_type=logo_type if logo is not None else "")


def buyer_party(invoice: Invoice) -> Party:
    buyer = invoice.buyer or {}
    return Party(name=buyer.get("legal_name") or invoice.organization.legal_name,
                 address_lines=(buyer.get("address_line1", ""), buyer.get("address_line2", "")),
                 city=buyer.get("city", ""), postal_code=buyer.get("postal_code", ""),
                 region=buyer.get("region", ""), country_code=(buyer.get("country") or "US").upper(),
                 email=buyer.get("invoice_email", ""))


def _lines(invoice: Invoice, numbers: dict[int, str]) -> tuple[DocumentLine, ...]:
    lines = tuple(
        DocumentLine(position=line.position, description=line.description, quantity=line.quantity,
                     unit_price_minor=line.unit_price_minor, net_minor=line.list_minor - line.discount_minor,
                     discount_minor=line.discount_minor,
                     tax_category=issued_category(line.tax_category, line.tax_rate_bp), tax_rate_bp=line.tax_rate_bp,
                     tax_minor=line.tax_minor,
                     order_invoice_number=numbers.get(line.order_invoice_id))
        for line in invoice.lines
    )
    if lines:
        return lines
    # An invoice issued before invoices had lines: its totals are its one line.
    net = invoice.subtotal_minor - invoice.discount_minor
    rate = round(invoice.tax_minor * 10_000 / net) if invoice.tax_minor and net else 0
    return (DocumentLine(position=1, description=f"Order {invoice.order.number if invoice.order else ''}".strip(),
                         quantity=1, unit_price_minor=invoice.subtotal_minor, net_minor=net,
                         discount_minor=invoice.discount_minor, tax_category=STANDARD if rate else ZERO_RATED,
                         tax_rate_bp=rate, tax_minor=invoice.tax_minor),)


def _paid_at_issue(invoice: Invoice) -> bool:
    """Paid when it was issued (a card order): the only payment a document as issued can show."""
    return invoice.status is InvoiceStatus.PAID and invoice.due_on is None and not invoice.is_summary


def _in_summary(invoice: Invoice) -> bool:
    """An order invoice gathered (or to be gathered) into the monthly summary: paid through it, never alone."""
    return not invoice.is_summary and invoice.due_on is None and invoice.status in (
        InvoiceStatus.TO_BE_SUMMARIZED, InvoiceStatus.SUMMARIZED)


NO_PAYMENT_DUE = "No payment due."
CREDIT_NOTE_TERMS = "No payment due: this credit is deducted from what you owe, never paid out."


def _terms(invoice: Invoice) -> tuple[str, PaymentMeans | None]:
    """The payment terms as issued, offering only the ways the portal accepts for this invoice (DOMAIN §6: wire,
    ACH and check from USD 1,000.00 or for a grandfathered account; receipts.methods.payment_options decides)."""
    if invoice.is_credit_note:
        return CREDIT_NOTE_TERMS, None
    if invoice.total_minor == 0:
        return NO_PAYMENT_DUE, None
    if invoice.prepaid_minor >= invoice.total_minor:
        return "No payment due: paid in full by credit when issued.", None
    if _paid_at_issue(invoice):
        return "Paid in full by card when ordered.", PaymentMeans(code="54", information=invoice.note)
    if _in_summary(invoice):
        # Factur-X still states the amount due as total - paid (BT-115, BR-CO-16 admits nothing else), so these
        # terms (BT-20) are where the XML says it is paid through the summary; the PDF prints them instead of an
        # amount due (InvoiceDocument.payable_separately).
        return (f"Included in the monthly summary for {invoice.issued_on:%B %Y}, not to be paid on its own: pay "
                "the summary invoice, due 30 days after it is issued."), None
    due = f"Net 30: due by {invoice.due_on.isoformat()}." if invoice.due_on else "Due on receipt."
    if PaymentMethodKind.WIRE not in payment_options(invoice, invoice.organization):
        return (f"{due} Pay by card (American Express, Visa, Mastercard) in the partner portal, quoting "
                f"{invoice.number}."), PaymentMeans(code="54", information="Card, in the partner portal")
    seller = invoice_seller(invoice)
    payee, *mail_to = seller.check_address
    words = (f"{due} Pay by card in the partner portal, by wire transfer or ACH to the account below, or by check "
             f"payable to {payee} mailed to {', '.join(line for line in mail_to if line)}, quoting "
             f"{invoice.number}.")
    return words, PaymentMeans(code="30", information="Wire transfer or ACH", account_id=seller.account_number,
                               account_name=seller.account_name, bank_id=seller.swift_bic or None,
                               bank_name=seller.bank_name or None, routing_number=seller.routing_number or None)


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    """The issued invoice as the `invoices` package's document (lines, buyer, seller, terms; a summary's parts).
    Loads what it needs itself; the PDF and the Factur-X XML are made from it."""
    invoice = db.session.scalars(select(Invoice).where(Invoice.id == invoice.id).options(
        selectinload(Invoice.lines), selectinload(Invoice.organization), selectinload(Invoice.order))).one()
    parts = list(db.session.execute(select(Invoice.id, Invoice.number).where(Invoice.summary_id == invoice.id)
                                    .order_by(Invoice.sequence))) if invoice.is_summary else []
    numbers = {row.id: row.number for row in parts}
    lines = _lines(invoice, numbers)
    terms, means = _terms(invoice)
    categories = {line.tax_category for line in lines}
    reason = next((EXEMPTION_REASONS[c] for c in (EXEMPT, "O") if c in categories), "")
    lines, details_note = _with_details(invoice, lines)
    period_start = period_end = None
    if invoice.period:
        from portal.billing.services import Period

        period = Period.parse(invoice.period)
        period_start, period_end = period.first_day, period.last_day
    corrected = db.session.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    return InvoiceDocument(
        kind="credit_note" if invoice.is_credit_note else "summary" if invoice.is_summary else "order",
        number=invoice.number, issue_date=invoice.issued_on,
        currency=invoice.currency, seller=seller_party(invoice), buyer=buyer_party(invoice), lines=lines,
        paid_minor=_paid_minor(invoice), due_date=invoice.due_on, credits=_credits_at_issue(invoice),
        corrects_number=corrected.number if corrected else "", corrects_date=corrected.issued_on if corrected else None,
        payment_terms=terms, payment_means=means, note=invoice.note, payable_separately=not _in_summary(invoice),
        included_invoices=tuple(row.number for row in parts), period_start=period_start, period_end=period_end,
        exemption_reason=reason, order_number=invoice.order.number if invoice.order else "",
        buyer_reference=invoice.order.purchase_order_number if invoice.order else "", details_note=details_note,
        brand=invoice_brand(invoice), annexes=_fee_annexes(invoice),
    )


def _fee_annexes(invoice: Invoice) -> tuple[Annex, ...]:
    """An annex page per reseller fee line: the customer accounts it charged, by name (one statement)."""
    charged = charged_on(invoice.id) if not invoice.is_credit_note and invoice.issuer_id is None else {}
    if not charged:
        return ()
    descriptions = {line.position: line.description for line in invoice.lines}
    return tuple(Annex(title=f"Annex: line {position}, {descriptions.get(position, '')}",
                       intro="The customer accounts charged, each holding the product on the last day of the month.",
                       entries=names)
                 for position, names in sorted(charged.items()))


def _paid_minor(invoice: Invoice) -> int:
    """What the document states as paid before it was due (BT-113): all of a card order's total, the credit an
    invoice consumed when issued; a credit note's whole total (nothing is due on it: see invoices.document)."""
    if invoice.is_credit_note or _paid_at_issue(invoice):
        return invoice.total_minor
    return invoice.prepaid_minor


def _credits_at_issue(invoice: Invoice) -> tuple[CreditLine, ...]:
    """The credit moved when the document was issued, as it prints it: on an invoice, the credit notes its
    prepaid amount consumed; on a credit note, the invoice its credit paid at once (the one it corrects, or that
    invoice's summary). Those are the allocations between this document and one issued before it (ids grow with
    issue); credit applied later changes what is due, never the issued document."""
    if invoice.is_credit_note:
        other, mine = CreditAllocation.invoice_id, CreditAllocation.credit_note_id
    elif invoice.prepaid_minor:
        other, mine = CreditAllocation.credit_note_id, CreditAllocation.invoice_id
    else:
        return ()
    rows = db.session.execute(select(Invoice.number, CreditAllocation.amount_minor).join(Invoice, Invoice.id == other)
                              .where(mine == invoice.id, other < invoice.id).order_by(CreditAllocation.id))
    return tuple(CreditLine(number, amount) for number, amount in rows)


def _with_details(invoice: Invoice, lines: tuple[DocumentLine, ...]) -> tuple[tuple[DocumentLine, ...], str]:
    """The lines with what they stand for, and the note saying when that was true.

    An order invoice's lines get their service period (BG-26, as issued) and, printed under each, its
    license keys with the customer each is assigned to *when the PDF is rendered*: the PDF is rendered once and
    kept (usually minutes after the order, when most licenses are still unassigned), so it says the date it
    shows them for, while the invoice page in the portal always shows the current customers. A summary's lines
    get the products of their order invoice, with list price, discount and net (in the PDF's annex when the
    summary is long, see invoices.pdf)."""
    if invoice.is_summary:
        parts = summary_parts(invoice)
        part_of = {line.position: line.order_invoice_id for line in invoice.lines}
        return tuple(replace(line, details=tuple(product_text(product, invoice.currency)
                                                 for product in parts[part_of[line.position]].lines))
                     if part_of.get(line.position) in parts else line for line in lines), ""
    licenses = line_licenses(invoice)
    periods = {line.position: (line.service_start, line.service_end) for line in invoice.lines}
    with_details = []
    for line in lines:
        start, end = periods.get(line.position, (None, None))
        with_details.append(replace(line, period_start=start, period_end=end,
                                    details=tuple(str(found) for found in licenses.get(line.position, ()))))
    today = utcnow().date()
    note = (f"License customers as assigned on {today:%B} {today.day}, {today.year}, when this PDF was made; the "
            "invoice page in the partner portal shows who they are assigned to now.") if licenses else ""
    return tuple(with_details), note


# ---------------------------------------------------------------- the stored PDF


def _render(doc: InvoiceDocument) -> bytes:
    try:
        from invoices.pdf import render_pdf
    except ImportError as exc:  # WeasyPrint missing: the invoice stays pending, nothing is stored
        raise PdfUnavailable("PDF rendering is not available (install the invoices package's dependencies)") from exc
    return render_pdf(doc)


def pdf_file(invoice: Invoice) -> Path | None:
    """Where the filesystem backend keeps the PDF of `invoice`, or None while it is still to be rendered."""
    return stored_file(invoice.pdf_path)


def store_pdf(invoice: Invoice) -> Path:
    """The invoice's stored PDF (`invoice.pdf_path`, its storage key), rendered and stored now if it has none
    yet (flushes; the caller commits). Returns where the filesystem backend keeps it."""
    return store_once(invoice, f"invoices/{invoice.issued_on:%Y}", invoice.number,
                      lambda: _render(invoice_document(invoice)))


@attachment_maker(INVOICE_PDF)
def stored_invoice_pdf(number: str) -> str:
    """The stored PDF of invoice `number` (its storage key), rendered now if still pending: what
    the outbox worker attaches to an email written with services.invoice_attachment."""
    invoice = db.session.scalars(select(Invoice).where(Invoice.number == number)).one()
    store_pdf(invoice)
    return invoice.pdf_path


def pending_pdfs(limit: int = 500) -> list[Invoice]:
    """Issued invoices whose PDF is still to be rendered, oldest first."""
    return list(db.session.scalars(select(Invoice).where(Invoice.pdf_path.is_(None)).order_by(Invoice.id)
                                   .limit(limit)))


# ---------------------------------------------------------------- sending it


def email_invoice(invoice: Invoice, to: str, actor: Actor) -> OutboxMessage:
    """Send the invoice's stored PDF to `to` (the invoice contact, or an address typed in) through the outbox,
    rendering it first if it is still pending. Flushes; the caller commits."""
    try:
        address = validate_email(to.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise RuleError(str(exc), field="to") from exc
    store_pdf(invoice)
    message = enqueue_email(address, "invoice", invoice=invoice, seller=invoice_seller(invoice),
                            link=external_url("invoices.detail", invoice_number=invoice.number),
                            attachments=[Attachment(invoice.pdf_path, invoice.pdf_filename)])
    record(actor, "invoice.emailed", invoice, invoice.organization_id, number=invoice.number, to=address)
    return message
