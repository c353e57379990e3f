"""An invoice as a Factur-X PDF: the Jinja template and print stylesheet rendered by WeasyPrint to PDF/A-3b, with
the document's CII XML embedded as factur-x.xml by the factur-x package.

The factur-x package, not WeasyPrint, embeds the XML: it writes the one XMP packet a Factur-X reader looks for
(PDF/A identification, the fx extension schema, EN 16931 conformance level) and attaches the XML with
AFRelationship /Alternative, the relationship EN 16931 readers (ZUGFeRD, Factur-X) expect of a full invoice.

Rendering never fetches anything: the stylesheet is read from this package, fonts come from fontconfig (Liberation
Sans, else DejaVu Sans, embedded in the PDF), and the URL fetcher refuses every URL, so a template that referred
to one fails instead of reaching the network.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files

import facturx
from babel.numbers import format_currency, get_currency_precision
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from invoices.document import InvoiceDocument
from invoices.facturx import FACTURX_LEVEL, cii_xml

LOCALE = "en_US"
PDF_VARIANT = "pdf/a-3b"
TAX_CATEGORY_LABELS = {"S": "Standard rate", "Z": "Zero rated", "E": "Exempt", "AE": "Reverse charge",
                       "O": "Not subject to tax"}


class OfflineFetcher(URLFetcher):
    """Refuses every URL: an invoice is rendered from this package's own files and nothing else."""

    def __init__(self) -> None:
        super().__init__(fail_on_errors=True)

    def fetch(self, url, headers=None):
        raise ValueError(f"invoices are rendered offline; refused to fetch {url}")


def _money(minor: int, currency: str) -> str:
    return format_currency(Decimal(minor).scaleb(-get_currency_precision(currency)), currency, locale=LOCALE)


def _percent(rate_bp: int) -> str:
    return f"{Decimal(rate_bp).scaleb(-2).normalize():f} %"


def _day(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


@cache
def _templates() -> Environment:
    env = Environment(loader=PackageLoader("invoices", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=_money, percent=_percent, day=_day)
    env.globals["tax_labels"] = TAX_CATEGORY_LABELS
    return env


@cache
def _stylesheet() -> CSS:
    css = files("invoices").joinpath("templates", "invoice.css").read_text(encoding="utf-8")
    return CSS(string=css, url_fetcher=OfflineFetcher())


def title(doc: InvoiceDocument) -> str:
    """"Invoice INV-000001" or "Summary Invoice SUM-000001": the PDF's title and its running footer."""
    return f"{'Summary Invoice' if doc.kind == 'summary' else 'Invoice'} {doc.number}"


def render_html(doc: InvoiceDocument) -> str:
    """The invoice as the HTML page that becomes its PDF."""
    return _templates().get_template("invoice.html").render(doc=doc, title=title(doc))


def render_pdf(doc: InvoiceDocument) -> bytes:
    """The invoice as a Factur-X PDF/A-3b: the printed invoice with its EN 16931 XML embedded as factur-x.xml.
    Raises if the XML is not valid against the Factur-X XSD."""
    html = HTML(string=render_html(doc), url_fetcher=OfflineFetcher())
    printed = html.write_pdf(stylesheets=[_stylesheet()], pdf_variant=PDF_VARIANT)
    metadata = {"author": doc.seller.name, "keywords": "Invoice, Factur-X", "title": f"{doc.seller.name}: {title(doc)}",
                "subject": f"{title(doc)} issued {doc.issue_date.isoformat()} by {doc.seller.name}"}
    return facturx.generate_from_binary(printed, cii_xml(doc), flavor="factur-x", level=FACTURX_LEVEL,
                                        check_xsd=True, pdf_metadata=metadata, lang="en-US",
                                        afrelationship="alternative")
