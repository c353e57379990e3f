"""Invoice documents and maths, free of Flask: summary arithmetic, Factur-X XML and PDF rendering.

The portal's billing feature calls into this package with plain data; nothing here imports Flask or the
portal's models, so it can be tested and reused (for example by a batch renderer) on its own. Importing
`invoices` itself loads nothing: take what you need from its modules (WeasyPrint loads only with `invoices.pdf`).

Money is integer minor units of the document's currency; tax rates are integer basis points (825 = 8.25 %).
Tax categories are EN 16931 codes: S standard rate, Z zero rated, E exempt, AE reverse charge, O not subject.

invoices.document: the plain data, frozen dataclasses checked when built (ValueError naming the EN 16931 rule)
    Party(name, address_lines=(), city="", postal_code="", country_code="US", region="", email="",
          tax_id=None, tax_id_scheme="VA" | "FC", legal_id=None)
        The seller needs legal_id or a VA tax_id (BR-CO-26), and a tax_id unless every line is O.
    DocumentLine(position, description, quantity, unit_price_minor, net_minor, tax_category, tax_rate_bp,
                 tax_minor, discount_minor=0, order_invoice_number=None)
        net_minor is after the discount; S has a rate > 0, the other categories rate 0 and tax 0.
    PaymentMeans(code, information="", account_id=None, account_name=None, bank_id=None)
        UNTDID 4461 code: "54" credit card, "30" wire/ACH (needs account_id), "20" check, ...
    InvoiceDocument(kind="order" | "summary" | "credit_note", number, issue_date, currency, seller, buyer,
                    lines, paid_minor=0, due_date=None, payment_terms="", payment_means=None, note="",
                    included_invoices=(), period_start=None, period_end=None,
                    exemption_reason="", exemption_reason_code=None, corrects_number="", corrects_date=None,
                    credits=())
        .totals -> Totals(net_minor, tax_minor, total_minor, paid_minor, due_minor), sums of the lines
        .breakdown -> tuple[TaxBreakdown(category, rate_bp, basis_minor, tax_minor), ...] per (category, rate)
        A summary lists included_invoices (its lines' order_invoice_number must be among them); E, AE and O
        lines need exemption_reason (BT-120); AE needs the buyer's tax_id; an amount due needs due_date or
        payment_terms. A credit note (type code 381, positive amounts) names the invoice it corrects and its
        date (BT-25, BT-26) and has nothing due (paid_minor = its total); credits: CreditLine(number,
        amount_minor), on an invoice the credit notes its prepaid amount consumed, on a credit note the invoices
        its credit paid when issued. note is printed and carried as BT-22 (e.g.
        portal.billing.models.SUMMARIZED_NOTE on an order invoice that waits for its summary).
    tax_breakdown(lines) -> tuple[TaxBreakdown, ...]   (anything with tax_category, tax_rate_bp, net_minor,
        tax_minor)

invoices.summary: the monthly summary's arithmetic
    summarize(order_invoices: Sequence[SummaryPart]) -> SummaryTotals
    SummaryPart(number, currency, amounts: tuple[TaxedAmount(tax_category, tax_rate_bp, net_minor,
                tax_minor), ...])
    SummaryTotals(currency, invoice_numbers, net_minor, tax_minor, breakdown, subtotals) .total_minor
        subtotals: one PartSubtotal(invoice_number, tax_category, tax_rate_bp, net_minor, tax_minor) per order
        invoice and (category, rate), ready to become the summary's lines if it has one line per part.

invoices.facturx: the XML
    cii_xml(doc: InvoiceDocument) -> bytes        Factur-X EN 16931 CII D16B (urn:cen.eu:en16931:2017)
    check_xsd(xml: bytes) -> None                 the factur-x package's XSD check; raises if invalid

invoices.pdf: the PDF
    render_pdf(doc: InvoiceDocument, workers=None) -> bytes
                                                  PDF/A-3b with factur-x.xml embedded (AFRelationship
                                                  /Alternative); fetches nothing; ~0.1 s a page. Over 150
                                                  lines it paginates itself (20 lines on page 1, 30 after),
                                                  prints parts of 8 pages in parallel processes and merges
    render_html(doc, part=None) -> str            the HTML the PDF is printed from (or one part of it)
    title(doc) -> str                             "Invoice INV-000001" / "Summary Invoice SUM-000001" /
                                                  "Credit note CRN-000001"

invoices.receipt: a payment's receipt (not an invoice: no lines, taxes or XML)
    ReceiptDocument(number, received_on, currency, amount_minor, method, seller: Party, payer: Party,
                    invoices: tuple[PaidInvoice(number, issue_date, amount_minor), ...])
        the amount is the sum of what it paid on each invoice (checked when built)
    render_pdf(doc: ReceiptDocument) -> bytes     PDF/A-3b with the invoices' stylesheet and fonts; fetches nothing
    render_html(doc) -> str, title(doc) -> str    "Receipt RCP-000001"
"""
