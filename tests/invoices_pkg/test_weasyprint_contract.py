"""The parts of WeasyPrint that invoices/pdf.py relies on beyond its documented HTML -> PDF call, checked one by
one, so that a WeasyPrint upgrade that changes them fails here with the name of what changed instead of as a PDF
without its Factur-X XML, or as silently wider table columns:

- `Document.write_pdf(pdf_variant=..., finisher=...)` calls the finisher with the document and the pydyf.PDF
  about to be written; `_FacturX` adds objects to it and to its catalog (/Names, /AF), and edits the XMP packet
  WeasyPrint wrote for PDF/A-3b: the catalog's /Metadata reference, an object whose `stream` is a list of bytes
  holding one `</rdf:RDF>`;
- `weasyprint.text.ffi`'s cffi `ffi` and `fontconfig` library: `_advances` asks fontconfig, as WeasyPrint does,
  which font file it prints with, to measure the columns of long documents (any failure there only makes the
  measure conservative, so nothing else would notice);
- `weasyprint.urls.URLFetcher` (subclassed by `OfflineFetcher`), `weasyprint.text.fonts.FontConfiguration`, and
  the `DocumentMetadata` attributes `render_pdf` sets."""

from __future__ import annotations

import inspect
import io

import pydyf
import pytest
import weasyprint
from pypdf import PdfReader
from weasyprint import DEFAULT_OPTIONS, HTML
from weasyprint.document import Document, DocumentMetadata

from invoices import pdf

WHO = f"WeasyPrint {weasyprint.__version__}"


def _parameters(function) -> set[str]:
    return set(inspect.signature(function).parameters)


def test_write_pdf_still_takes_a_finisher_and_a_pdf_variant():
    assert "finisher" in _parameters(Document.write_pdf), (
        f"{WHO}: Document.write_pdf no longer takes finisher=; invoices/pdf.py embeds the Factur-X XML through it")
    assert "pdf_variant" in DEFAULT_OPTIONS, f"{WHO}: the pdf_variant option is gone (invoices print as PDF/A-3b)"
    assert "pdf/a-3b" in weasyprint.pdf.VARIANTS, f"{WHO}: no pdf/a-3b variant any more"


def test_the_finisher_gets_the_pdf_with_a_catalog_and_the_xmp_packet_as_invoices_pdf_edits_them():
    seen = {}

    def probe(document, written) -> None:
        seen["document"], seen["pdf"] = document, written
        assert isinstance(written, pydyf.PDF), f"{WHO}: the finisher's second argument is a {type(written)}"
        for name in ("add_object", "objects", "catalog"):
            assert hasattr(written, name), f"{WHO}: the finisher's pydyf.PDF has no {name}"
        reference = written.catalog.get("Metadata")
        assert isinstance(reference, bytes | str) and str(reference if isinstance(reference, str) else
                                                          reference.decode()).split()[0].isdigit(), (
            f"{WHO}: the catalog's /Metadata is {reference!r}, not an 'N 0 R' reference (_FacturX finds the XMP "
            "packet through it)")
        metadata = written.objects[int(reference.split()[0])]
        chunks = getattr(metadata, "stream", None)
        assert isinstance(chunks, list) and all(isinstance(c, bytes) for c in chunks), (
            f"{WHO}: the XMP object's stream is {type(chunks)}, not a list of bytes (_FacturX edits it)")
        assert b"".join(chunks).count(b"</rdf:RDF>") == 1, (
            f"{WHO}: the XMP packet has no single </rdf:RDF> for _FacturX to insert the Factur-X properties before")
        pdf._FacturX(b"<probe/>")(document, written)  # and the real finisher runs on it

    written = HTML(string="<p>probe</p>").render().write_pdf(pdf_variant=pdf.PDF_VARIANT, finisher=probe)

    assert "pdf" in seen, f"{WHO}: write_pdf did not call the finisher"
    reader = PdfReader(io.BytesIO(written))
    assert reader.attachments.get(pdf.FACTURX_FILENAME) == [b"<probe/>"], (
        f"{WHO}: what the finisher added to the PDF was not written")
    assert b"fx:DocumentType" in reader.xmp_metadata.stream.get_data(), (
        f"{WHO}: the XMP packet edited by the finisher was not the one written")


FONTCONFIG_CALLS = ("FcInitLoadConfigAndFonts", "FcPatternCreate", "FcPatternAddString", "FcConfigSubstitute",
                    "FcDefaultSubstitute", "FcFontMatch", "FcPatternGetString", "FcPatternDestroy", "FcConfigDestroy")


def test_the_fontconfig_bindings_measure_the_invoice_font():
    from weasyprint.text import ffi as bindings

    for name in ("ffi", "fontconfig"):
        assert hasattr(bindings, name), f"{WHO}: weasyprint.text.ffi has no {name} (invoices/pdf.py _advances)"
    missing = [name for name in FONTCONFIG_CALLS if not hasattr(bindings.fontconfig, name)]
    assert missing == [], f"{WHO}: weasyprint.text.ffi.fontconfig lacks {missing} (invoices/pdf.py _advances)"
    pdf._advances.cache_clear()

    widths = pdf._advances(False)

    assert widths, f"{WHO}: invoices/pdf.py _advances could not read the invoice font through WeasyPrint's fontconfig"
    assert widths[ord("M")] > widths[ord("i")] > 0  # real advance widths, in em


def test_the_url_fetcher_font_configuration_and_metadata_invoices_pdf_uses():
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    assert "fail_on_errors" in _parameters(URLFetcher.__init__), f"{WHO}: URLFetcher takes no fail_on_errors"
    assert {"url", "headers"} <= _parameters(URLFetcher.fetch), f"{WHO}: URLFetcher.fetch(url, headers) changed"
    assert "font_config" in _parameters(HTML.render), f"{WHO}: HTML.render takes no font_config"
    assert isinstance(pdf._font_config(), FontConfiguration)
    assert {"title", "description", "authors", "keywords", "lang"} <= _parameters(DocumentMetadata.__init__), (
        f"{WHO}: DocumentMetadata lost an attribute render_pdf sets")
    with pytest.raises(FatalURLFetchingError) as refused:  # fail_on_errors: a refused URL stops the rendering
        HTML(string='<img src="https://example.com/logo.png">', url_fetcher=pdf.OfflineFetcher()).render()
    assert "rendered offline" in str(refused.value.__cause__), f"{WHO}: OfflineFetcher.fetch was not consulted"
