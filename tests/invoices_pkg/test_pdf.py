"""The invoice PDF: PDF/A-3b from WeasyPrint with the Factur-X XML embedded, numbered "Page X of Y".

Rendering costs a few tenths of a second, so each PDF here is rendered once per module."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import facturx
import pytest
from pypdf import PdfReader

from invoices.document import DocumentLine
from invoices.facturx import cii_xml
from invoices.pdf import OfflineFetcher, render_html, render_pdf
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
