"""The invoice PDF: PDF/A-3b from WeasyPrint with the Factur-X XML embedded, numbered "Page X of Y".

Rendering costs a few tenths of a second, so each PDF here is rendered once per module."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import replace

import facturx
import pytest
from pypdf import PdfReader

from invoices.document import DocumentLine
from invoices.facturx import cii_xml
from invoices.pdf import PAGE_LINES, OfflineFetcher, _money, _plan, render_html, render_pdf
from tests.invoices_pkg.documents import order_paid_by_card, summary_of


@pytest.fixture(scope="module")
def card_invoice():
    doc = order_paid_by_card()
    return doc, render_pdf(doc)


@pytest.fixture(scope="module")
def long_summary():
    doc = summary_of(order_count=20, lines_per_order=3)  # 60 lines
    return doc, render_pdf(doc)


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def xmp(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()


def test_an_invoice_pdf_embeds_its_factur_x_xml(card_invoice):
    doc, pdf = card_invoice
    assert pdf.startswith(b"%PDF-")
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == cii_xml(doc)


def test_the_pdf_says_it_is_pdf_a_3b_and_factur_x_en16931(card_invoice):
    _, pdf = card_invoice
    metadata = xmp(pdf)
    # RDF allows a simple property as an element or as an attribute of its rdf:Description; readers take both.
    assert re.search(r'<pdfaid:part>3</pdfaid:part>|pdfaid:part="3"', metadata)
    assert re.search(r'<pdfaid:conformance>B</pdfaid:conformance>|pdfaid:conformance="B"', metadata)
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in metadata
    reader = PdfReader(io.BytesIO(pdf))
    (filespec,) = reader.trailer["/Root"]["/AF"]
    assert filespec.get_object()["/AFRelationship"] == "/Alternative"
    assert "/OutputIntents" in reader.trailer["/Root"]


def test_fonts_are_embedded(card_invoice):
    _, pdf = card_invoice
    reader = PdfReader(io.BytesIO(pdf))
    fonts = [font.get_object() for font in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        (descendant,) = font["/DescendantFonts"]
        descriptor = descendant.get_object()["/FontDescriptor"]
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_a_one_page_invoice_prints_its_parties_lines_taxes_and_totals(card_invoice):
    doc, pdf = card_invoice
    (text,) = page_texts(pdf)
    assert "Page 1 of 1" in text
    assert f"Invoice {doc.number}" in text
    for expected in (doc.seller.name, doc.buyer.name, "Issue date", "March 2, 2026", "Payment terms".upper(),
                     doc.payment_terms, doc.note, "S 8.25 %", "$381.23", "Amount due", "Paid"):
        assert expected in text, expected
    for line in doc.lines:
        assert line.description in text


def test_a_60_line_summary_runs_over_several_numbered_pages(long_summary):
    doc, pdf = long_summary
    texts = page_texts(pdf)
    count = len(texts)
    assert count >= 2
    assert "Page 1 of" in texts[0] and f"Page 2 of {count}" in texts[1]
    assert f"Page {count} of {count}" in texts[-1]
    assert all(f"Summary Invoice {doc.number}" in text for text in texts)
    assert "Net amount" in texts[1]  # the column headings repeat on every page
    everything = "\n".join(texts)
    assert all(line.description in everything for line in doc.lines)
    assert all(number in everything for number in doc.included_invoices)
    assert "$2,686.78" in texts[-1]  # the totals close the document
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    assert xml == cii_xml(doc)


def test_descriptions_are_escaped_not_markup():
    doc = order_paid_by_card()
    hostile = DocumentLine(9, '<img src="https://tracker.example/x.png">', 1, 0, 0, "S", 825, 0)
    html = render_html(replace(doc, lines=(*doc.lines, hostile), paid_minor=doc.totals.total_minor))
    assert "<img" not in html and "&lt;img" in html


def test_rendering_never_fetches_a_url():
    with pytest.raises(ValueError, match="offline"):
        OfflineFetcher().fetch("https://example.com/logo.png")


def test_the_embedded_file_is_the_xml_typed_and_sized(card_invoice):
    doc, pdf = card_invoice
    reader = PdfReader(io.BytesIO(pdf))
    names = reader.trailer["/Root"]["/Names"]["/EmbeddedFiles"]["/Names"]
    spec = names[1].get_object()
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/text/xml"
    assert stream["/Params"]["/Size"] == len(cii_xml(doc))
    assert stream.get_data() == cii_xml(doc)


def test_a_300_line_summary_is_printed_in_parts_numbered_as_one_document():
    doc = summary_of(order_count=150, lines_per_order=2)  # 300 lines: paginated here, printed in parts, merged
    pdf = render_pdf(doc, workers=2)
    texts = page_texts(pdf)
    count = len(texts)
    assert count >= 10
    assert "Page 1 of" in texts[0] and f"Page 1 of {count}" in texts[0]
    assert all(f"Page {number} of {count}" in text for number, text in enumerate(texts, start=1))
    assert all(f"Summary Invoice {doc.number}" in text for text in texts)
    assert doc.seller.name in texts[0] and "Net amount" in texts[-2]
    everything = "\n".join(texts)
    assert all(f"Order item {i + 1}.2" in everything for i in range(150))
    assert doc.totals.due_minor and "Amount due" in texts[-1]
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml" and xml == cii_xml(doc)
    metadata = xmp(pdf)
    assert "<pdfaid:part>3</pdfaid:part>" in metadata
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in metadata
    assert "/OutputIntents" in PdfReader(io.BytesIO(pdf)).trailer["/Root"]


def test_the_xmp_declares_the_factur_x_extension_schema_and_matches_the_document_info(card_invoice):
    """PDF/A allows no undeclared XMP property, so the fx properties come with their extension schema; the
    document information dictionary says what the XMP says."""
    from lxml import etree

    doc, pdf = card_invoice
    packet = xmp(pdf)
    root = etree.fromstring(packet.split("?>", 1)[1].rsplit("<?xpacket", 1)[0].encode())  # well-formed
    ns = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
          "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
          "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"}
    assert root.xpath("//pdfaSchema:namespaceURI/text()", namespaces=ns) == [ns["fx"]]
    assert root.xpath("//fx:DocumentFileName/text()", namespaces=ns) == ["factur-x.xml"]
    assert root.xpath("//fx:DocumentType/text()", namespaces=ns) == ["INVOICE"]
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info["/Title"] == f"{doc.seller.name}: Invoice {doc.number}" and info["/Title"] in packet
    assert info["/Author"] == doc.seller.name and info["/Keywords"] == "Invoice, Factur-X"


def positioned_lines(page) -> list[tuple[float, float, str]]:
    """The page's lines of text as (x, y, text), y growing down the page."""
    found = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x, y = tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((round(x, 1), round(-y, 1), text.strip()))

    page.extract_text(visitor_text=visit)
    return found


def test_a_2000_line_summary_prints_every_line_on_pages_numbered_as_one_document():
    doc = summary_of(order_count=1_000, lines_per_order=2)
    pdf = render_pdf(doc, workers=2)
    texts = page_texts(pdf)
    count = len(texts)
    assert count > 2_000 // PAGE_LINES
    assert all(f"Page {number} of {count}" in text for number, text in enumerate(texts, start=1))
    last_lines = next(i for i, text in enumerate(texts) if "Order item 1000.2" in text)
    assert "Net amount" in texts[1] and "Amount due" in "\n".join(texts[last_lines:])
    printed = "\n".join(texts).split("\n")
    assert all(f"Order item {i + 1}.{j + 1}" in printed for i in range(1_000) for j in range(2))
    amounts = Counter(printed)
    assert all(amounts[_money(line.net_minor, doc.currency)] >= 1 for line in doc.lines)
    for amount, lines in Counter(_money(line.tax_minor, doc.currency) for line in doc.lines).items():
        assert amounts[amount] >= lines, amount
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert xml == cii_xml(doc)


def test_long_descriptions_are_wrapped_beforehand_and_every_column_stays_aligned():
    words = "Annual maintenance renewal for Editor Pro with priority support and"
    base = summary_of(order_count=100, lines_per_order=2)
    lines = tuple(replace(line, description=f"Item {line.position}: " + " ".join([words] * (line.position % 4))
                          + (" Supercalifragilisticexpialidocious" * 12 if line.position % 25 == 0 else ""))
                  for line in base.lines)
    doc = replace(base, lines=lines)
    columns, pages = _plan(doc)
    wrapped = sum(page.cells[1].count("\n") + 1 for page in pages)
    assert wrapped > len(lines) * 1.5  # most descriptions take several lines
    for page in pages:
        counts = {cell.count("\n") for cell in page.cells}
        assert len(counts) == 1  # every column has a line of text per printed line
        assert sum(1 for _ in page.cells[1].split("\n")) <= PAGE_LINES
    pdf = render_pdf(doc, workers=2)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= len(pages)
    description_x = {x for page in reader.pages for x, _, text in positioned_lines(page) if text.startswith("Item ")}
    assert len(description_x) == 1  # the descriptions' column, left-aligned
    (left,) = description_x
    seen = 0
    for page in reader.pages:
        found = positioned_lines(page)
        rows = {int(text): y for x, y, text in found if x < left and text.isdigit()}  # the "#" column
        for x, y, text in found:
            if x == left and text.startswith("Item ") and text.split(":")[0][5:].isdigit():
                position = int(text.split(":")[0][5:])
                assert rows[position] == y, position  # a line's number and its description on one baseline
                seen += 1
        tax_amounts = [y for x, y, text in found if text.startswith("$") and x > left + 200]
        assert set(rows.values()) <= set(tax_amounts)  # the last column's values on the same baselines
    assert seen == len(lines)
    everything = " ".join(text for page in reader.pages for _, _, text in positioned_lines(page))
    assert all(line.description.split()[-1] in everything for line in lines)


def _with_products(doc, products_per_line: int = 2):
    """The summary with the products behind each of its lines, as the portal prints them under the line."""
    return replace(doc, lines=tuple(replace(line, details=tuple(f"Product {line.position}.{i} of "
                                                                f"{line.order_invoice_number}"
                                                                for i in range(1, products_per_line + 1)))
                                    for line in doc.lines))


def test_each_line_prints_its_details_under_it_and_the_header_its_order_currency_and_purchase_order():
    doc = replace(_with_products(summary_of(order_count=2, lines_per_order=1)), order_number="ORD-7QX3",
                  buyer_reference="PO-4711")
    text = " ".join(" ".join(page.split()) for page in page_texts(render_pdf(doc)))
    assert "Order item 1.1 Product 1.1 of INV-000200 Product 1.2 of INV-000200" in text
    assert "Order ORD-7QX3" in text and "Purchase order PO-4711" in text and "Currency USD" in text
    assert "ANNEX" not in text.upper()  # a short document prints the details under their lines


def test_a_long_summary_prints_the_products_of_each_order_invoice_in_an_annex():
    doc = _with_products(summary_of(order_count=160, lines_per_order=1))  # over PAGED_FROM: printed in parts
    texts = page_texts(render_pdf(doc, workers=2))
    annex_from = next(i for i, text in enumerate(texts) if "ANNEX: PRODUCTS OF EACH ORDER INVOICE" in text.upper())
    assert annex_from > 0 and "Product 1.1" not in "\n".join(texts[:annex_from])  # not among the paged lines
    annex = " ".join(" ".join(text.split()) for text in texts[annex_from:])
    for n, line in enumerate(doc.lines, start=1):  # (an entry may run over a page's footer)
        assert f"{n}. Order item {n}.1" in annex and f"Product {n}.2 of {line.order_invoice_number}" in annex
    count = len(texts)
    assert all(f"Page {number} of {count}" in text for number, text in enumerate(texts, start=1))
