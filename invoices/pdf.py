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
Sans, else DejaVu Sans, embedded in the PDF), and the URL fetcher refuses every URL but data: URLs, so a template
that referred to one fails instead of reaching the network.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from itertools import accumulate, repeat
from multiprocessing import get_context
from urllib.parse import quote

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
    """Refuses every URL but data: URLs (content written into the page itself, such as the separators of a long
    document's lines): an invoice is rendered from this package's own files and nothing else."""

    def __init__(self) -> None:
        super().__init__(fail_on_errors=True)

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
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
    env.globals["headings"] = HEADINGS
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


HEADINGS = {"order": "Invoice", "summary": "Summary Invoice", "credit_note": "Credit note"}


def title(doc: InvoiceDocument) -> str:
    """"Invoice INV-000001", "Summary Invoice SUM-000001" or "Credit note CRN-000001": the PDF's title and its
    running footer."""
    return f"{HEADINGS[doc.kind]} {doc.number}"


@dataclass(frozen=True)
class Column:
    """A column of the lines table: its heading, its cells' class, how a line's value is printed in it and, on
    the pages of a long document, its width in points."""

    heading: str
    css_class: str
    text: Callable[[DocumentLine, str], str]
    width: float | None = None


def _tax_text(line: DocumentLine, currency: str) -> str:
    return line.tax_category + (f" {_percent(line.tax_rate_bp)}" if line.tax_category == "S" else "")


def _columns(doc: InvoiceDocument) -> tuple[Column, ...]:
    """The columns of the lines table: the order invoice only on a summary, the discount only if a line has one."""
    summary, discounted = doc.kind == "summary", any(line.discount_minor for line in doc.lines)
    return tuple(Column(heading, css_class, text) for heading, css_class, text, shown in (
        ("#", "pos", lambda line, cur: str(line.position), True),
        ("Description", "description", lambda line, cur: line.description, True),
        ("Order invoice", "source", lambda line, cur: line.order_invoice_number or "", summary),
        ("Qty", "num", lambda line, cur: str(line.quantity), True),
        ("Unit price", "num", lambda line, cur: _money(line.unit_price_minor, cur), True),
        ("Discount", "num", lambda line, cur: f"−{_money(line.discount_minor, cur)}" if line.discount_minor else "",
         discounted),
        ("Net amount", "num", lambda line, cur: _money(line.net_minor, cur), True),
        ("Tax", "tax", _tax_text, True),
        ("Tax amount", "num", lambda line, cur: _money(line.tax_minor, cur), True)) if shown)


@dataclass(frozen=True)
class Page:
    """A page of a long document's lines, printed as one table row: per column one text, a line of text per
    printed line (see _plan), and the separators under its invoice lines as an SVG data: URL."""

    cells: tuple[str, ...]
    rules: str


@dataclass(frozen=True)
class Part:
    """A slice of a long document's pages; the first part carries the masthead, the last the totals and terms."""

    columns: tuple[Column, ...]
    pages: tuple[Page, ...]
    first: bool
    last: bool


def _annex(doc: InvoiceDocument) -> str:
    """A long document's line details as one text, printed after its totals: each line with details, then its
    details indented (the pages of lines print no details, see _plan)."""
    return "\n".join(f"{line.position}. {line.description}\n" + "\n".join(f"    {detail}" for detail in line.details)
                     for line in doc.lines if line.details)


def render_html(doc: InvoiceDocument, part: Part | None = None) -> str:
    """The invoice as the HTML page that becomes its PDF (or, with `part`, one slice of its pages: the last one
    ends with the annex of line details)."""
    return _templates().get_template("invoice.html").render(
        doc=doc, title=title(doc), part=part, columns=part.columns if part else _columns(doc),
        annex=_annex(doc) if part is not None and part.last else "")


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
        stylesheets=[_stylesheet(), CSS(string=css, url_fetcher=OfflineFetcher())], font_config=_font_config())
    if layout_only:
        return b"", len(document.pages)
    return document.write_pdf(pdf_variant=PDF_VARIANT), len(document.pages)


# What the stylesheet sets for the lines table of a long document's pages (.lines.blocks in invoice.css), in
# points: the printable width of a US Letter page, a cell's padding left and right, the height of a line of
# text (a normal row's: text, padding and separator), the font sizes of the cells and of the headings.
CONTENT_WIDTH = 8.5 * 72 - 2 * 16 * 72 / 25.4
CELL_PADDING = 1.2 * 72 / 25.4
LINE_HEIGHT = 20.0
RULE = 0.4  # the separator under an invoice line, as thick as a normal row's border
CELL_FONT_SIZE = 9.5
HEADING_FONT_SIZE = 8.0
FONT_FAMILIES = ("Liberation Sans", "DejaVu Sans", "sans-serif")
WIDTH_MARGIN = 1.05  # measured widths ignore kerning and hinting: leave room so the PDF never clips a value


@cache
def _advances(bold: bool) -> dict[int, float]:
    """The advance width, in em, of every character of the font fontconfig picks for the invoice (the one
    WeasyPrint prints with); empty when the font cannot be read, so every character counts as a full em."""
    try:
        from fontTools.ttLib import TTFont
        from weasyprint.text.ffi import ffi, fontconfig

        config = fontconfig.FcInitLoadConfigAndFonts()
        pattern = fontconfig.FcPatternCreate()
        for family in FONT_FAMILIES:
            fontconfig.FcPatternAddString(pattern, b"family", family.encode())
        if bold:
            fontconfig.FcPatternAddString(pattern, b"style", b"Bold")
        fontconfig.FcConfigSubstitute(config, pattern, 0)  # FcMatchPattern
        fontconfig.FcDefaultSubstitute(pattern)
        match = fontconfig.FcFontMatch(config, pattern, ffi.new("FcResult *"))
        file = ffi.new("FcChar8 **")
        found = match != ffi.NULL and fontconfig.FcPatternGetString(match, b"file", 0, file) == 0
        path = ffi.string(file[0]).decode() if found else None
        for owned in (match, pattern):
            if owned != ffi.NULL:
                fontconfig.FcPatternDestroy(owned)
        fontconfig.FcConfigDestroy(config)
        if path is None:
            return {}
        font = TTFont(path, lazy=True)
        em, metrics = font["head"].unitsPerEm, font["hmtx"].metrics
        return {code: metrics[glyph][0] / em for code, glyph in font.getBestCmap().items()}
    except Exception:  # noqa: BLE001 - any font trouble only makes the measure conservative
        return {}


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in points, never less than the PDF will print (characters the font lacks, printed in
    a fallback font, count as a full em)."""
    return size * WIDTH_MARGIN * sum(map(_advances(bold).get, map(ord, text), repeat(1.0))) + 1.0


def _wrap(text: str, width: float) -> list[str]:
    """`text` broken into lines no wider than `width` points: at spaces, and inside a word only when the word
    alone is wider than the column. Whitespace (line breaks included) collapses to single spaces, as the
    normal table prints it."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _text_width(candidate, CELL_FONT_SIZE) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for char in word:  # only a word wider than the column gets here with more than one line's worth
            if current and _text_width(current + char, CELL_FONT_SIZE) > width:
                lines.append(current)
                current = ""
            current += char
    return [*lines, current] if current or not lines else lines


def _sized(doc: InvoiceDocument, rows: list[tuple[str, ...]]) -> tuple[Column, ...]:
    """The columns with widths: each as wide as its widest value or heading, the description the rest."""
    columns = _columns(doc)
    widths = [max([_text_width(column.heading, HEADING_FONT_SIZE, bold=True)]
                  + [_text_width(row[i], CELL_FONT_SIZE) for row in rows]) + 2 * CELL_PADDING
              if column.css_class != "description" else 0.0 for i, column in enumerate(columns)]
    description = columns.index(next(c for c in columns if c.css_class == "description"))
    widths[description] = CONTENT_WIDTH - sum(widths)
    return tuple(replace(column, width=width) for column, width in zip(columns, widths, strict=True))


def _rules(line_counts: list[int]) -> str:
    """The separators under a page's invoice lines (`line_counts`: the lines of text each takes), as an SVG as
    wide as the table: one row background per page instead of a border per line."""
    bottoms = accumulate(line_counts)
    rects = "".join(f'<rect y="{bottom * LINE_HEIGHT - RULE:g}" width="{CONTENT_WIDTH:.2f}" height="{RULE}"/>'
                    for bottom in bottoms)
    height = sum(line_counts) * LINE_HEIGHT
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CONTENT_WIDTH:.2f}pt" height="{height:g}pt" '
           f'viewBox="0 0 {CONTENT_WIDTH:.2f} {height:g}" fill="#ccc">{rects}</svg>')
    return "data:image/svg+xml," + quote(svg)


def _plan(doc: InvoiceDocument) -> tuple[tuple[Column, ...], list[Page]] | None:
    """A long document's lines paginated: the columns, sized, and per page one text per column.

    Every invoice line takes the same number of text lines in every column: its description wrapped here to the
    column's width (the PDF never wraps it again: the cells print `white-space: pre`), the other values followed
    by as many blank lines. A page holds FIRST_PAGE_LINES text lines under the masthead, PAGE_LINES on every page
    after it, and never splits an invoice line. None when a description needs more lines than a page holds."""
    rows = [tuple(" ".join(column.text(line, doc.currency).split()) for column in _columns(doc))
            for line in doc.lines]
    columns = _sized(doc, rows)
    description = [column.css_class for column in columns].index("description")
    wrap_width = columns[description].width - 2 * CELL_PADDING
    if wrap_width < CELL_FONT_SIZE * 6:
        return None  # the numbers leave no room for the descriptions: print the normal table
    pages: list[tuple[list[list[str]], list[int]]] = [([[] for _ in columns], [])]
    capacity = FIRST_PAGE_LINES
    for row in rows:
        wrapped = _wrap(row[description], wrap_width)
        if len(wrapped) > PAGE_LINES:
            return None
        if sum(pages[-1][1]) + len(wrapped) > capacity:
            pages.append(([[] for _ in columns], []))
            capacity = PAGE_LINES
        cells, line_counts = pages[-1]
        for i, cell in enumerate(cells):
            cell.extend(wrapped if i == description else [row[i]] + [""] * (len(wrapped) - 1))
        line_counts.append(len(wrapped))
    return columns, [Page(tuple("\n".join(cell) for cell in cells), _rules(line_counts))
                     for cells, line_counts in pages]


def _print_paged(doc: InvoiceDocument, workers: int, part_pages: int | None = None) -> bytes | None:
    """A long document printed in parts, `workers` processes at once, and merged; None when its lines cannot be
    planned (see _plan) or a page did not hold the lines planned for it, so the caller prints it whole.

    Each page's lines are one table row of a few multi-line cells (see _plan): WeasyPrint lays out a line of
    text in about a third of the time it takes for a table cell. The lines are paginated here, so every page's
    number is known before WeasyPrint lays it out; only the last
    page's totals, terms and list of included invoices may run over, so that tail (the last page's lines and
    the closing) is laid out first to learn the page count, then every part is printed with its footer
    "Page X of Y" fixed."""
    plan = _plan(doc)
    if plan is None:
        return None
    columns, pages = plan
    body, tail_page = pages[:-1], pages[-1]
    tail_html = render_html(doc, Part(columns, (tail_page,), first=len(pages) == 1, last=True))
    _, tail_pages = _render_part(tail_html, _part_css(doc, len(body) + 1, 0), layout_only=True)
    total = len(body) + tail_pages
    size = part_pages or PART_PAGES
    jobs = [(render_html(doc, Part(columns, tuple(body[i:i + size]), first=i == 0, last=False)),
             _part_css(doc, i + 1, total), min(size, len(body) - i)) for i in range(0, len(body), size)]
    jobs.append((tail_html, _part_css(doc, len(body) + 1, total), tail_pages))
    if workers > 1 and len(jobs) > 1:
        # gc.freeze: a worker never collects what it inherited, so it neither walks nor copies the parent's heap
        # (after a big render, collecting its garbage in every worker cost about a second)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"), initializer=gc.freeze) as pool:
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
            metadata = {"author": doc.seller.name, "keywords": f"{HEADINGS[doc.kind]}, Factur-X", "title": pdf_title,
                        "subject": subject}
            return facturx.generate_from_binary(printed, xml, flavor="factur-x", level=FACTURX_LEVEL,
                                                check_xsd=False, pdf_metadata=metadata, lang="en-US",
                                                afrelationship="alternative")
    document = HTML(string=render_html(doc), url_fetcher=OfflineFetcher()).render(
        stylesheets=[_stylesheet()], font_config=_font_config())
    metadata = document.metadata
    metadata.title, metadata.description, metadata.authors = pdf_title, subject, [doc.seller.name]
    metadata.keywords, metadata.lang = [HEADINGS[doc.kind], "Factur-X"], "en-US"
    return document.write_pdf(pdf_variant=PDF_VARIANT, finisher=_FacturX(xml))
