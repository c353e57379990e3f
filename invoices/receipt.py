"""A payment receipt as plain data and as a PDF: who paid whom, when, how, how much, and which invoices it paid.

A receipt is not an invoice: it carries no lines, taxes or Factur-X XML, only the payment. It is printed with the
invoices' stylesheet and fonts (invoices.pdf) and written as PDF/A-3b like them, so that both archive the same way.
Amounts are integers in minor units of the receipt's currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from weasyprint import HTML

from invoices.document import Party
from invoices.pdf import PDF_VARIANT, OfflineFetcher, _font_config, _stylesheet, _templates

_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class PaidInvoice:
    """An invoice the payment settled: its number, issue date and the amount of the payment applied to it."""

    number: str
    issue_date: date
    amount_minor: int


@dataclass(frozen=True)
class ReceiptDocument:
    """A payment received. `method` is how, in words ("Visa ending 4242", "Wire transfer, reference FED-1");
    `amount_minor` is the sum of what it paid on each invoice."""

    number: str
    received_on: date
    currency: str
    amount_minor: int
    method: str
    seller: Party
    payer: Party
    invoices: tuple[PaidInvoice, ...]

    def __post_init__(self) -> None:
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")
        if not self.invoices:
            raise ValueError("a receipt names at least one invoice it paid")
        if self.amount_minor <= 0:
            raise ValueError("a receipt is for an amount received")
        applied = sum(invoice.amount_minor for invoice in self.invoices)
        if applied != self.amount_minor:
            raise ValueError(f"receipt {self.number}: {self.amount_minor} received but {applied} applied to invoices")


def title(doc: ReceiptDocument) -> str:
    """"Receipt RCP-000001": the PDF's title and its running footer."""
    return f"Receipt {doc.number}"


def render_html(doc: ReceiptDocument) -> str:
    """The receipt as the HTML page that becomes its PDF."""
    return _templates().get_template("receipt.html").render(doc=doc, title=title(doc))


def render_pdf(doc: ReceiptDocument) -> bytes:
    """The receipt as a PDF/A-3b (about 0.1 s); fetches nothing."""
    document = HTML(string=render_html(doc), url_fetcher=OfflineFetcher()).render(
        stylesheets=[_stylesheet()], font_config=_font_config())
    metadata = document.metadata
    metadata.title = f"{doc.seller.name}: {title(doc)}"
    metadata.description = f"{title(doc)}, payment received {doc.received_on.isoformat()} by {doc.seller.name}"
    metadata.authors, metadata.keywords, metadata.lang = [doc.seller.name], ["Receipt"], "en-US"
    return document.write_pdf(pdf_variant=PDF_VARIANT)
