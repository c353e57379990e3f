"""An invoice as a Factur-X PDF: the Jinja template and print stylesheet rendered by WeasyPrint to PDF/A-3b, with
the document's CII XML embedded as factur-x.xml.

WeasyPrint embeds the XML itself, in the same pass that writes the PDF (a finisher, `_FacturX`): the XML as
factur-x.xml (text/xml) with AFRelationship /Alternative, the relationship EN 16931 readers (ZUGFeRD, Factur-X)
expect of a full invoice, and the fx extension schema and properties (document type, file name, version, EN 16931
conformance level) added to the one XMP packet WeasyPrint writes for PDF/A-3b. Reading the finished PDF back with
pypdf to attach it (what the factur-x package does) cost about as much as the rest of a one-page invoice's extras
together. A long document printed in parts is the exception: its merged parts are not a WeasyPrint document, so
the factur-x package embeds the XML there.

Rendering never fetches anything: the stylesheet is read from this package, fonts come from fontconfig (Liberation
Sans, else DejaVu Sans, embedded in the PDF), and the URL fetcher refuses every URL, so a template that referred
to one fails instead of reaching the network.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from multiprocessing import get_context

import facturx
import pydyf
from babel.numbers import format_currency, get_currency_precision
from facturx.facturx import FACTURX_LEVEL2xmp
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pypdf import PdfReader, PdfWriter
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from invoices.document import DocumentLine, InvoiceDocument
from invoices.facturx import FACTURX_LEVEL, check_xsd, cii_xml

LOCALE = "en_US"
PDF_VARIANT = "pdf/a-3b"
PAGED_FROM = 150  # lines; a longer document is paginated here and printed in parts (see render_pdf)
FIRST_PAGE_LINES = 20  # lines on the first page, under the masthead, parties and note
PAGE_LINES = 30  # lines on every later page
PART_PAGES = 8  # pages per part: WeasyPrint lays out a few short documents faster than one long one
MAX_WORKERS = 8
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


@cache
def _font_config() -> FontConfiguration:
    """One font configuration for every render in this process (fontconfig is set up once, not per invoice)."""
    return FontConfiguration()


FACTURX_FILENAME = "factur-x.xml"
_FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
_FX_PROPERTIES = (("DocumentFileName", "The name of the embedded XML document"),
                  ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
                  ("Version", "The actual version of the standard applying to the embedded XML document"),
                  ("ConformanceLevel", "The conformance level of the embedded XML document"))
# The XMP a Factur-X reader looks for, inside WeasyPrint's rdf:RDF (which declares the rdf prefix): the PDF/A
# extension schema declaring the fx properties (PDF/A allows no undeclared ones), then their values.
_FX_XMP = (
    '<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" '
    'xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">'
    '<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">'
    '<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>'
    f'<pdfaSchema:namespaceURI>{_FX_NAMESPACE}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix>'
    '<pdfaSchema:property><rdf:Seq>'
    + "".join('<rdf:li rdf:parseType="Resource">'
              f'<pdfaProperty:name>{name}</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType>'
              '<pdfaProperty:category>external</pdfaProperty:category>'
              f'<pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>'
              for name, description in _FX_PROPERTIES)
    + '</rdf:Seq></pdfaSchema:property></rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description>'
    f'<rdf:Description rdf:about="" xmlns:fx="{_FX_NAMESPACE}"><fx:DocumentType>INVOICE</fx:DocumentType>'
    f'<fx:DocumentFileName>{FACTURX_FILENAME}</fx:DocumentFileName><fx:Version>1.0</fx:Version>'
    f'<fx:ConformanceLevel>{FACTURX_LEVEL2xmp[FACTURX_LEVEL]}</fx:ConformanceLevel>'
    '</rdf:Description>'
).encode()


@dataclass(frozen=True)
class _FacturX:
    """A WeasyPrint finisher: embeds `xml` as factur-x.xml (AFRelationship /Alternative, listed in the catalog's
    /AF as PDF/A-3 requires) and adds the Factur-X properties to the XMP packet of the PDF being written."""

    xml: bytes

    def __call__(self, document, pdf: pydyf.PDF) -> None:
        stream = pydyf.Stream([self.xml], pydyf.Dictionary({
            "Type": "/EmbeddedFile", "Subtype": "/text#2fxml",
            "Params": pydyf.Dictionary({"Size": len(self.xml),
                                        "CheckSum": f"<{hashlib.md5(self.xml, usedforsecurity=False).hexdigest()}>",
                                        "ModDate": pydyf.String(f"D:{date.today():%Y%m%d}000000Z")})}),
            compress=True)
        pdf.add_object(stream)
        filespec = pydyf.Dictionary({
            "Type": "/Filespec", "F": pydyf.String(FACTURX_FILENAME), "UF": pydyf.String(FACTURX_FILENAME),
            "EF": pydyf.Dictionary({"F": stream.reference, "UF": stream.reference}),
            "Desc": pydyf.String("Factur-X XML file"), "AFRelationship": "/Alternative"})
        pdf.add_object(filespec)
        names = pydyf.Dictionary({"Names": pydyf.Array([pydyf.String(FACTURX_FILENAME), filespec.reference])})
        pdf.add_object(names)
        pdf.catalog.setdefault("Names", pydyf.Dictionary())["EmbeddedFiles"] = names.reference
        pdf.catalog["AF"] = pydyf.Array([filespec.reference])
        metadata = pdf.objects[int(pdf.catalog["Metadata"].split()[0])]
        metadata.stream = [chunk.replace(b"</rdf:RDF>", _FX_XMP + b"</rdf:RDF>") for chunk in metadata.stream]


def title(doc: InvoiceDocument) -> str:
    """"Invoice INV-000001" or "Summary Invoice SUM-000001": the PDF's title and its running footer."""
    return f"{'Summary Invoice' if doc.kind == 'summary' else 'Invoice'} {doc.number}"


@dataclass(frozen=True)
class Part:
    """A slice of a long document's pages: `chunks` are its pages' lines (one table each, a page break before
    every table but the first); the first part carries the masthead, the last the totals and terms."""

    chunks: tuple[tuple[DocumentLine, ...], ...]
    first: bool
    last: bool


def render_html(doc: InvoiceDocument, part: Part | None = None) -> str:
    """The invoice as the HTML page that becomes its PDF (or, with `part`, one slice of its pages)."""
    return _templates().get_template("invoice.html").render(doc=doc, title=title(doc), part=part)


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _part_css(doc: InvoiceDocument, first_page: int, total_pages: int) -> str:
    """The footer of a part: its pages numbered from `first_page`, "of" the whole document's page count."""
    return (f"@page {{ @bottom-left {{ content: {_css_string(title(doc))} }} "
            f"@bottom-right {{ content: \"Page \" counter(page) \" of {total_pages}\" }} }} "
            f"@page :first {{ counter-reset: page {first_page} }}")


def _render_part(html: str, css: str, layout_only: bool = False) -> tuple[bytes, int]:
    """One part as a PDF/A-3b and its page count (in a worker process for long documents)."""
    document = HTML(string=html, url_fetcher=OfflineFetcher()).render(
        stylesheets=[_stylesheet(), CSS(string=css, url_fetcher=OfflineFetcher())])
    if layout_only:
        return b"", len(document.pages)
    return document.write_pdf(pdf_variant=PDF_VARIANT), len(document.pages)


def _plan(lines: tuple[DocumentLine, ...]) -> list[tuple[DocumentLine, ...]]:
    """The lines of every page: FIRST_PAGE_LINES under the masthead, PAGE_LINES on each page after it."""
    pages = [lines[:FIRST_PAGE_LINES]]
    pages += [lines[i:i + PAGE_LINES] for i in range(FIRST_PAGE_LINES, len(lines), PAGE_LINES)]
    return pages


def _print_paged(doc: InvoiceDocument, workers: int, part_pages: int | None = None) -> bytes | None:
    """A long document printed in parts, `workers` processes at once, and merged; None when a page did not
    hold the lines planned for it (a description that wraps over many lines), so the caller prints it whole.

    The lines are paginated here, a fixed number per page, so every page's number is known before WeasyPrint
    lays it out; only the last page's totals, terms and list of included invoices may run over, so that tail
    (the last page's lines and the closing) is laid out first to learn the page count, then every part is
    printed with its footer "Page X of Y" fixed."""
    pages = _plan(doc.lines)
    body, tail_lines = pages[:-1], pages[-1]
    tail = Part((tail_lines,), first=len(pages) == 1, last=True)
    tail_html = render_html(doc, tail)
    _, tail_pages = _render_part(tail_html, _part_css(doc, len(body) + 1, 0), layout_only=True)
    total = len(body) + tail_pages
    size = part_pages or PART_PAGES
    jobs = [(render_html(doc, Part(tuple(body[i:i + size]), first=i == 0, last=False)),
             _part_css(doc, i + 1, total), min(size, len(body) - i)) for i in range(0, len(body), size)]
    jobs.append((tail_html, _part_css(doc, len(body) + 1, total), tail_pages))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            done = list(pool.map(_render_part, [html for html, _, _ in jobs], [css for _, css, _ in jobs]))
    else:
        done = [_render_part(html, css) for html, css, _ in jobs]
    if any(count != expected for (_, count), (_, _, expected) in zip(done, jobs, strict=True)):
        return None
    merged = PdfWriter(clone_from=PdfReader(io.BytesIO(done[0][0])))
    for pdf, _ in done[1:]:
        merged.append(PdfReader(io.BytesIO(pdf)))
    out = io.BytesIO()
    merged.write(out)
    return out.getvalue()


def render_pdf(doc: InvoiceDocument, workers: int | None = None) -> bytes:
    """The invoice as a Factur-X PDF/A-3b: the printed invoice with its EN 16931 XML embedded as factur-x.xml.
    Raises if the XML is not valid against the Factur-X XSD.

    A document of more than PAGED_FROM lines is paginated here and printed in parts, in parallel processes
    (`workers`, default one per CPU; 1 prints the parts one after another), then merged; see _print_paged."""
    xml = cii_xml(doc)
    check_xsd(xml)
    pdf_title = f"{doc.seller.name}: {title(doc)}"
    subject = f"{title(doc)} issued {doc.issue_date.isoformat()} by {doc.seller.name}"
    if len(doc.lines) > PAGED_FROM:
        printed = _print_paged(doc, workers or min(os.cpu_count() or 1, MAX_WORKERS))
        if printed is not None:
            metadata = {"author": doc.seller.name, "keywords": "Invoice, Factur-X", "title": pdf_title,
                        "subject": subject}
            return facturx.generate_from_binary(printed, xml, flavor="factur-x", level=FACTURX_LEVEL,
                                                check_xsd=False, pdf_metadata=metadata, lang="en-US",
                                                afrelationship="alternative")
    document = HTML(string=render_html(doc), url_fetcher=OfflineFetcher()).render(
        stylesheets=[_stylesheet()], font_config=_font_config())
    metadata = document.metadata
    metadata.title, metadata.description, metadata.authors = pdf_title, subject, [doc.seller.name]
    metadata.keywords, metadata.lang = ["Invoice", "Factur-X"], "en-US"
    return document.write_pdf(pdf_variant=PDF_VARIANT, finisher=_FacturX(xml))
