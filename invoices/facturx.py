"""The Factur-X XML of an invoice: UN/CEFACT CII D16B for the EN 16931 profile (urn:cen.eu:en16931:2017).

Every amount is written from the document's integer minor units, so the XML's totals are the PDF's totals: line
net amounts add up to the line total, the VAT breakdown (one per category and rate) adds up to the tax total,
and grand total less prepaid is the amount due.

A credit note is type code 381 with positive amounts (EN 16931 credits by the type code, never by negative
amounts), names the invoice it corrects (BG-3: BT-25 and its issue date BT-26) and states nothing due: its total
as settled (BT-113 = total, BT-115 = 0), since its credit is deducted from invoices, never paid out.

Prices: the line net amount is the exact `net_minor`. Where it divides evenly by the quantity the price is per
unit; otherwise the price is stated for the whole quantity (base quantity BT-149 = the quantity), so no
rounded unit price ever makes a line disagree with its amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

import facturx
from babel.numbers import get_currency_precision

from invoices.document import EXEMPT_CATEGORIES, DocumentLine, InvoiceDocument, Party

GUIDELINE_ID = "urn:cen.eu:en16931:2017"
FACTURX_LEVEL = "en16931"
COMMERCIAL_INVOICE = "380"  # UNTDID 1001
CREDIT_NOTE = "381"
UNIT = "C62"  # UN/ECE Recommendation 20: one (a unit)

_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
for _prefix, _uri in _NS.items():
    register_namespace(_prefix, _uri)


def _tag(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


def _sub(parent: Element, name: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, _tag(name), attributes)
    if text is not None:
        element.text = text
    return element


class _Amounts:
    """Writes minor units as the currency's decimal amounts ("1234" -> "12.34" for USD)."""

    def __init__(self, currency: str) -> None:
        self.places = get_currency_precision(currency)

    def __call__(self, minor: int) -> str:
        return f"{Decimal(minor).scaleb(-self.places):.{self.places}f}"


def _percent(rate_bp: int) -> str:
    return f"{Decimal(rate_bp).scaleb(-2):.2f}"


def _date(parent: Element, name: str, day: date) -> None:
    _sub(_sub(parent, name), "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _note(parent: Element, text: str, subject: str | None = None) -> None:
    note = _sub(parent, "ram:IncludedNote")
    _sub(note, "ram:Content", text)
    if subject:
        _sub(note, "ram:SubjectCode", subject)  # UNTDID 4451


def _party(parent: Element, name: str, party: Party) -> None:
    element = _sub(parent, name)
    _sub(element, "ram:Name", party.name)
    if party.legal_id:
        _sub(_sub(element, "ram:SpecifiedLegalOrganization"), "ram:ID", party.legal_id)
    address = _sub(element, "ram:PostalTradeAddress")
    if party.postal_code:
        _sub(address, "ram:PostcodeCode", party.postal_code)
    for line_name, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), party.address_lines, strict=False):
        _sub(address, line_name, line)
    if party.city:
        _sub(address, "ram:CityName", party.city)
    _sub(address, "ram:CountryID", party.country_code)
    if party.region:
        _sub(address, "ram:CountrySubDivisionName", party.region)
    if party.email:
        _sub(_sub(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    if party.tax_id:
        _sub(_sub(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.tax_id, schemeID=party.tax_id_scheme)


def _line_tax(parent: Element, category: str, rate_bp: int) -> Element:
    tax = _sub(parent, "ram:ApplicableTradeTax")
    _sub(tax, "ram:TypeCode", "VAT")
    _sub(tax, "ram:CategoryCode", category)
    if category != "O":  # BR-O-05: no rate where nothing is subject to tax
        _sub(tax, "ram:RateApplicablePercent", _percent(rate_bp))
    return tax


def _line(parent: Element, line: DocumentLine, amount: _Amounts) -> None:
    item = _sub(parent, "ram:IncludedSupplyChainTradeLineItem")
    document = _sub(item, "ram:AssociatedDocumentLineDocument")
    _sub(document, "ram:LineID", str(line.position))
    if line.order_invoice_number:
        _note(document, f"Order invoice {line.order_invoice_number}")
    _sub(_sub(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)

    agreement = _sub(item, "ram:SpecifiedLineTradeAgreement")
    per_unit = line.gross_minor % line.quantity == 0 and line.discount_minor % line.quantity == 0
    divisor, basis = (line.quantity, "1") if per_unit else (1, str(line.quantity))
    if line.discount_minor:
        gross = _sub(agreement, "ram:GrossPriceProductTradePrice")
        _sub(gross, "ram:ChargeAmount", amount(line.gross_minor // divisor))
        _sub(gross, "ram:BasisQuantity", basis, unitCode=UNIT)
        discount = _sub(gross, "ram:AppliedTradeAllowanceCharge")
        _sub(_sub(discount, "ram:ChargeIndicator"), "udt:Indicator", "false")
        _sub(discount, "ram:ActualAmount", amount(line.discount_minor // divisor))
    net = _sub(agreement, "ram:NetPriceProductTradePrice")
    _sub(net, "ram:ChargeAmount", amount(line.net_minor // divisor))
    _sub(net, "ram:BasisQuantity", basis, unitCode=UNIT)

    _sub(_sub(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", str(line.quantity), unitCode=UNIT)

    settlement = _sub(item, "ram:SpecifiedLineTradeSettlement")
    _line_tax(settlement, line.tax_category, line.tax_rate_bp)
    if line.period_start and line.period_end:  # BG-26: the service period the line pays for
        period = _sub(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", line.period_start)
        _date(period, "ram:EndDateTime", line.period_end)
    _sub(_sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
         amount(line.net_minor))


def _settlement(parent: Element, doc: InvoiceDocument, amount: _Amounts) -> None:
    settlement = _sub(parent, "ram:ApplicableHeaderTradeSettlement")
    _sub(settlement, "ram:PaymentReference", doc.number)
    _sub(settlement, "ram:InvoiceCurrencyCode", doc.currency)
    if doc.payment_means:
        means = _sub(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _sub(means, "ram:TypeCode", doc.payment_means.code)
        if doc.payment_means.information:
            _sub(means, "ram:Information", doc.payment_means.information)
        if doc.payment_means.account_id:
            account = _sub(means, "ram:PayeePartyCreditorFinancialAccount")
            if doc.payment_means.account_name:
                _sub(account, "ram:AccountName", doc.payment_means.account_name)
            _sub(account, "ram:ProprietaryID", doc.payment_means.account_id)
        if doc.payment_means.bank_id:
            _sub(_sub(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID",
                 doc.payment_means.bank_id)

    for group in doc.breakdown:
        tax = _sub(settlement, "ram:ApplicableTradeTax")
        _sub(tax, "ram:CalculatedAmount", amount(group.tax_minor))
        _sub(tax, "ram:TypeCode", "VAT")
        if group.category in EXEMPT_CATEGORIES:
            _sub(tax, "ram:ExemptionReason", doc.exemption_reason)
        _sub(tax, "ram:BasisAmount", amount(group.basis_minor))
        _sub(tax, "ram:CategoryCode", group.category)
        if group.category in EXEMPT_CATEGORIES and doc.exemption_reason_code:
            _sub(tax, "ram:ExemptionReasonCode", doc.exemption_reason_code)
        if group.category != "O":  # BR-O-14
            _sub(tax, "ram:RateApplicablePercent", _percent(group.rate_bp))

    if doc.period_start and doc.period_end:
        period = _sub(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", doc.period_start)
        _date(period, "ram:EndDateTime", doc.period_end)

    if doc.payment_terms or doc.due_date:
        terms = _sub(settlement, "ram:SpecifiedTradePaymentTerms")
        if doc.payment_terms:
            _sub(terms, "ram:Description", doc.payment_terms)
        if doc.due_date:
            _date(terms, "ram:DueDateDateTime", doc.due_date)

    totals = doc.totals
    summation = _sub(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summation, "ram:LineTotalAmount", amount(totals.net_minor))
    _sub(summation, "ram:TaxBasisTotalAmount", amount(totals.net_minor))
    _sub(summation, "ram:TaxTotalAmount", amount(totals.tax_minor), currencyID=doc.currency)
    _sub(summation, "ram:GrandTotalAmount", amount(totals.total_minor))
    if totals.paid_minor:
        _sub(summation, "ram:TotalPrepaidAmount", amount(totals.paid_minor))
    _sub(summation, "ram:DuePayableAmount", amount(totals.due_minor))
    if doc.corrects_number:  # BG-3: the invoice a credit note corrects (BT-25) and its issue date (BT-26)
        referenced = _sub(settlement, "ram:InvoiceReferencedDocument")
        _sub(referenced, "ram:IssuerAssignedID", doc.corrects_number)
        if doc.corrects_date:
            _sub(_sub(referenced, "ram:FormattedIssueDateTime"), "qdt:DateTimeString",
                 doc.corrects_date.strftime("%Y%m%d"), format="102")


def cii_xml(doc: InvoiceDocument) -> bytes:
    """The document as Factur-X EN 16931 CII XML (UTF-8, with declaration): what `render_pdf` embeds."""
    amount = _Amounts(doc.currency)
    root = Element(_tag("rsm:CrossIndustryInvoice"))
    context = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE_ID)

    header = _sub(root, "rsm:ExchangedDocument")
    _sub(header, "ram:ID", doc.number)
    _sub(header, "ram:TypeCode", CREDIT_NOTE if doc.is_credit_note else COMMERCIAL_INVOICE)
    _date(header, "ram:IssueDateTime", doc.issue_date)
    if doc.note:
        _note(header, doc.note, "AAI")  # general information
    if doc.included_invoices:
        _note(header, "Summary of order invoices " + ", ".join(doc.included_invoices) + ".", "AAI")
    if doc.credits:
        _note(header, ("Credit applied to invoice " if doc.is_credit_note else "Credit applied from credit note ")
              + ", ".join(f"{credit.number} ({amount(credit.amount_minor)} {doc.currency})" for credit in doc.credits)
              + ".", "AAI")

    transaction = _sub(root, "rsm:SupplyChainTradeTransaction")
    for line in doc.lines:
        _line(transaction, line, amount)
    agreement = _sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    if doc.buyer_reference:
        _sub(agreement, "ram:BuyerReference", doc.buyer_reference)  # BT-10
    _party(agreement, "ram:SellerTradeParty", doc.seller)
    _party(agreement, "ram:BuyerTradeParty", doc.buyer)
    if doc.order_number:  # BT-14, the sales order reference
        _sub(_sub(agreement, "ram:SellerOrderReferencedDocument"), "ram:IssuerAssignedID", doc.order_number)
    if doc.buyer_reference:  # BT-13, the purchase order reference: the buyer's PO number is both
        _sub(_sub(agreement, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID", doc.buyer_reference)
    # Licenses are delivered when ordered: an order invoice's issue date, the end of a summary's period.
    delivered = doc.period_end if doc.kind == "summary" and doc.period_end else doc.issue_date
    event = _sub(_sub(transaction, "ram:ApplicableHeaderTradeDelivery"), "ram:ActualDeliverySupplyChainEvent")
    _date(event, "ram:OccurrenceDateTime", delivered)
    _settlement(transaction, doc, amount)
    return tostring(root, encoding="UTF-8", xml_declaration=True)


def check_xsd(xml: bytes) -> None:
    """Raise unless `xml` is valid against the Factur-X EN 16931 XSD (the factur-x package's check)."""
    facturx.xml_check_xsd(xml, flavor="factur-x", level=FACTURX_LEVEL)
