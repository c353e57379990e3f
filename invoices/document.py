"""An invoice as plain data: what the PDF prints and the Factur-X XML carries, checked once when it is built.

Amounts are integers in minor units of the document's currency (cents for USD); rates are integers in basis
points (825 = 8.25 %). Decimals appear only where the XML and the PDF write them out.

The checks are the EN 16931 rules a generator can get wrong by itself (rule ids in the messages): totals that are
sums of lines, a rate that fits its VAT category, an exemption reason where the category needs one, the seller's
tax identifier where a category needs it. A document that passes them gives XML that passes the XSD.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol, get_args

TaxCategory = Literal["S", "Z", "E", "AE", "O"]
"""EN 16931 VAT category codes (UNTDID 5305) the portal uses: standard rate, zero rated, exempt, reverse charge,
not subject to tax."""

InvoiceKind = Literal["order", "summary", "credit_note"]
"""An order invoice (renewal and service-charge invoices are order invoices too), a monthly summary invoice, or a
credit note (type code 381) correcting an issued invoice."""
TaxIdScheme = Literal["VA", "FC"]
"""VA: a VAT identifier (BT-31/BT-48); FC: a tax registration number such as a US EIN (BT-32)."""

PaymentMeansCode = Literal["10", "20", "30", "31", "42", "48", "54", "55", "57", "58", "59", "ZZZ"]
"""UNTDID 4461 codes: 10 cash, 20 check, 30 credit transfer (wire, ACH), 31 debit transfer, 42 payment to bank
account, 48 bank card, 54 credit card, 55 debit card, 57 standing agreement, 58 SEPA credit transfer, 59 SEPA
direct debit, ZZZ mutually defined."""

TAX_CATEGORIES: tuple[TaxCategory, ...] = get_args(TaxCategory)
EXEMPT_CATEGORIES: frozenset[str] = frozenset({"E", "AE", "O"})
"""Categories whose breakdown needs an exemption reason (BR-E-10, BR-AE-10, BR-O-10)."""
_RATED_CATEGORIES = frozenset({"S"})
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CREDIT_TRANSFER = frozenset({"30", "58"})  # BR-61: these need the account to pay into


class Taxed(Protocol):
    """Anything with a net amount taxed in one category at one rate (a document line, a summary part's line)."""

    @property
    def tax_category(self) -> str: ...
    @property
    def tax_rate_bp(self) -> int: ...
    @property
    def net_minor(self) -> int: ...
    @property
    def tax_minor(self) -> int: ...


@dataclass(frozen=True)
class TaxBreakdown:
    """The amounts of one VAT category and rate (EN 16931 BG-23): what was taxed and the tax on it."""

    category: TaxCategory
    rate_bp: int
    basis_minor: int
    tax_minor: int


def tax_breakdown(lines: Iterable[Taxed]) -> tuple[TaxBreakdown, ...]:
    """Group amounts by (category, rate), each basis and tax the exact sum of its lines; in category-code order
    (S, Z, E, AE, O), then by rate."""
    groups: dict[tuple[str, int], list[int]] = {}
    for line in lines:
        sums = groups.setdefault((line.tax_category, line.tax_rate_bp), [0, 0])
        sums[0] += line.net_minor
        sums[1] += line.tax_minor
    order = {code: i for i, code in enumerate(TAX_CATEGORIES)}
    return tuple(TaxBreakdown(category, rate, basis, tax)  # type: ignore[arg-type]
                 for (category, rate), (basis, tax) in sorted(groups.items(),
                                                              key=lambda kv: (order[kv[0][0]], kv[0][1])))


def check_tax(category: str, rate_bp: int, tax_minor: int, where: str) -> None:
    """Refuse a rate or tax that does not fit the category: S has a positive rate, the others tax nothing."""
    if category not in TAX_CATEGORIES:
        raise ValueError(f"{where}: tax category {category!r} is not one of {', '.join(TAX_CATEGORIES)}")
    if category in _RATED_CATEGORIES and rate_bp <= 0:
        raise ValueError(f"{where}: category S needs a rate above zero (BR-S-05)")
    if category not in _RATED_CATEGORIES and (rate_bp != 0 or tax_minor != 0):
        raise ValueError(f"{where}: category {category} is taxed at 0 % (BR-{category}-05, BR-{category}-09)")


@dataclass(frozen=True)
class Party:
    """A seller or buyer as printed and as EN 16931 names it (BG-4/BG-7, address BG-5/BG-8)."""

    name: str
    address_lines: tuple[str, ...] = ()  # street lines, at most three
    city: str = ""
    postal_code: str = ""
    country_code: str = "US"  # ISO 3166-1 alpha-2
    region: str = ""  # state or province
    email: str = ""
    tax_id: str | None = None
    tax_id_scheme: TaxIdScheme = "VA"
    legal_id: str | None = None  # company registration number (BT-30, BT-47), e.g. a US EIN

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", tuple(line for line in self.address_lines if line))
        if not self.name.strip():
            raise ValueError("a party has a name (BR-06, BR-07)")
        if len(self.address_lines) > 3:
            raise ValueError("an address has at most three street lines")
        if not _COUNTRY.fullmatch(self.country_code):
            raise ValueError(f"country code {self.country_code!r} is not ISO 3166-1 alpha-2 (BR-09, BR-11)")
        if self.tax_id_scheme not in get_args(TaxIdScheme):
            raise ValueError(f"tax id scheme {self.tax_id_scheme!r} is not VA or FC")

    @property
    def city_line(self) -> str:
        """City, region and postal code on one printed line."""
        return " ".join(part for part in (self.city + ("," if self.city and self.region else ""), self.region,
                                          self.postal_code) if part)


@dataclass(frozen=True)
class DocumentLine:
    """One invoice line as issued. `net_minor` is what is taxed, after `discount_minor` (the reseller discount);
    `unit_price_minor` is printed beside the quantity, while the XML states prices from the net amount and the
    discount, so they always multiply out to the line (a license's base price need not be quantity x unit).
    On a summary, `order_invoice_number` names the order invoice the line belongs to. `period_start` and
    `period_end` are the service period the line pays for (BG-26: BT-134, BT-135), such as a year of M&S.
    `details` are printed under the description (license keys and their customers, a summary's products) and
    are not part of the XML: the description (BT-153) is what the line is."""

    position: int
    description: str
    quantity: int
    unit_price_minor: int
    net_minor: int
    tax_category: TaxCategory
    tax_rate_bp: int
    tax_minor: int
    discount_minor: int = 0
    order_invoice_number: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    details: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"line {self.position}"
        object.__setattr__(self, "details", tuple(self.details))
        if not self.description.strip():
            raise ValueError(f"{where}: a line has a description (BR-25)")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError(f"{where}: a line's period has both a start and an end (BR-CO-20)")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError(f"{where}: a line's period ends after it starts (BR-30)")
        if self.quantity < 1:
            raise ValueError(f"{where}: the quantity is at least 1")
        if self.net_minor < 0 or self.discount_minor < 0 or self.unit_price_minor < 0:
            raise ValueError(f"{where}: prices and discounts are never negative (BR-27, BR-28)")
        check_tax(self.tax_category, self.tax_rate_bp, self.tax_minor, where)

    @property
    def gross_minor(self) -> int:
        """The line before its discount."""
        return self.net_minor + self.discount_minor

    @property
    def total_minor(self) -> int:
        return self.net_minor + self.tax_minor


@dataclass(frozen=True)
class PaymentMeans:
    """How the buyer pays (EN 16931 BG-16): a UNTDID 4461 code, words for it, and for a transfer the account
    to pay into (BT-84, an IBAN or a bank account number) at its bank (BT-86, the bank's SWIFT/BIC code).
    `bank_name` and `routing_number` (a US ABA routing number, for domestic wires and ACH) are printed for the
    payer; EN 16931 has no element for them, so the XML does not carry them."""

    code: PaymentMeansCode
    information: str = ""
    account_id: str | None = None
    account_name: str | None = None
    bank_id: str | None = None
    bank_name: str | None = None
    routing_number: str | None = None

    def __post_init__(self) -> None:
        if self.code not in get_args(PaymentMeansCode):
            raise ValueError(f"payment means {self.code!r} is not a code the portal uses")
        if self.code in _CREDIT_TRANSFER and not self.account_id:
            raise ValueError("a credit transfer names the account to pay into (BR-61)")


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True)
class Brand:
    """A seller's own look on its invoices (a reseller selling on its storefront): an accent colour (#rrggbb)
    and a logo (PNG, JPEG or WebP bytes), printed in the masthead. Not part of the XML."""

    accent_colour: str = ""
    logo: bytes | None = None
    logo_type: str = ""

    def __post_init__(self) -> None:
        if self.accent_colour and not _COLOUR.fullmatch(self.accent_colour):
            raise ValueError(f"accent colour {self.accent_colour!r} is not #rrggbb")
        if self.logo is not None and self.logo_type not in LOGO_TYPES:
            raise ValueError(f"logo type {self.logo_type!r} is not one of {', '.join(sorted(LOGO_TYPES))}")

    @property
    def logo_data_url(self) -> str:
        """The logo written into the page itself (the renderer fetches nothing else)."""
        if self.logo is None:
            return ""
        return f"data:{self.logo_type};base64,{base64.b64encode(self.logo).decode('ascii')}"


@dataclass(frozen=True)
class Annex:
    """A page after the totals listing what one line stands for, entry by entry: the customer accounts a
    reseller fee line charged. Printed only, never part of the Factur-X XML (the line's quantity is their count)."""

    title: str
    entries: tuple[str, ...]
    intro: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))


@dataclass(frozen=True)
class CreditLine:
    """Credit moved between a credit note and an invoice: on an invoice, a credit note's credit it consumed when
    issued (part of its prepaid amount, BT-113); on a credit note, an invoice its credit paid when issued."""

    number: str
    amount_minor: int

    def __post_init__(self) -> None:
        if not self.number.strip() or self.amount_minor <= 0:
            raise ValueError("a credit names its document and is above zero")


@dataclass(frozen=True)
class Totals:
    """The document's amounts, each the sum of its lines (BR-CO-10, BR-CO-14, BR-CO-15, BR-CO-16)."""

    net_minor: int
    tax_minor: int
    total_minor: int
    paid_minor: int
    due_minor: int


@dataclass(frozen=True)
class InvoiceDocument:
    """An order or summary invoice, ready for `invoices.facturx.cii_xml` and `invoices.pdf.render_pdf`.

    `paid_minor` is what was paid before the document was issued (all of it for a card order, else 0); the
    totals follow from the lines. `note` is printed and carried as the document's note (BT-22): for example
    DOMAIN §6's "This invoice will be summarized …" sentence. A summary lists the order invoices it includes
    and usually its billing period. `exemption_reason` (BT-120) explains any line in category E, AE or O, with
    an optional code (BT-121, e.g. "VATEX-EU-AE"). `order_number` is the portal's order the invoice bills (the
    sales order reference, BT-14) and `buyer_reference` the buyer's own purchase order number (BT-10 and BT-13).
    `details_note` is printed under the lines, saying when their `details` were true (a license's customer
    changes after the invoice is issued). `brand` is a reseller's accent colour and logo on its invoices to its
    storefront customers.

    A credit note (kind "credit_note", type code 381) carries positive amounts, names the invoice it corrects
    and that invoice's issue date (`corrects_number`, `corrects_date`: BT-25, BT-26) and has nothing due: its
    whole total is stated as settled (`paid_minor` = total, so BT-115 is 0), its `credits` the invoices its credit
    paid when it was issued; the rest is credit for the next invoices. On an invoice, `credits` are the credit
    notes whose credit it consumed when issued: part of `paid_minor` (BT-113), printed one per credit note."""

    kind: InvoiceKind
    number: str
    issue_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[DocumentLine, ...]
    paid_minor: int = 0
    # False for an order invoice paid through a monthly summary: the PDF prints its payment terms instead of an
    # amount due, while the XML still states BT-115 as total - paid (BR-CO-16) and says so in the terms (BT-20).
    payable_separately: bool = True
    due_date: date | None = None
    payment_terms: str = ""
    payment_means: PaymentMeans | None = None
    note: str = ""
    included_invoices: tuple[str, ...] = ()
    period_start: date | None = None
    period_end: date | None = None
    exemption_reason: str = ""
    exemption_reason_code: str | None = None
    order_number: str = ""
    buyer_reference: str = ""
    details_note: str = ""
    corrects_number: str = ""
    corrects_date: date | None = None
    credits: tuple[CreditLine, ...] = ()
    brand: Brand | None = None  # the seller's accent colour and logo (a reseller's invoice), printed only
    annexes: tuple[Annex, ...] = ()  # pages after the totals (the accounts of a reseller fee line), printed only
    breakdown: tuple[TaxBreakdown, ...] = field(init=False, repr=False, compare=False)
    totals: Totals = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "included_invoices", tuple(self.included_invoices))
        object.__setattr__(self, "credits", tuple(self.credits))
        object.__setattr__(self, "annexes", tuple(self.annexes))
        self._check_header()
        self._check_lines()
        breakdown = tax_breakdown(self.lines)
        net = sum(line.net_minor for line in self.lines)
        tax = sum(group.tax_minor for group in breakdown)
        if not 0 <= self.paid_minor <= max(net + tax, 0):
            raise ValueError(f"paid {self.paid_minor} is not between 0 and the total {net + tax}")
        object.__setattr__(self, "breakdown", breakdown)
        object.__setattr__(self, "totals", Totals(net, tax, net + tax, self.paid_minor, net + tax - self.paid_minor))
        credited = sum(credit.amount_minor for credit in self.credits)
        if self.is_credit_note:
            if self.paid_minor != net + tax:
                raise ValueError("a credit note has nothing due: its total is stated as settled")
            if credited > net + tax:
                raise ValueError("a credit note pays invoices with at most its total")
        elif credited > self.paid_minor:
            raise ValueError("the credit applied is part of what was paid before issue (BT-113)")
        self._check_taxes()
        if self.totals.due_minor > 0 and not (self.due_date or self.payment_terms.strip()):
            raise ValueError("an amount due comes with a due date or payment terms (BR-CO-25)")

    def _check_header(self) -> None:
        if self.kind not in get_args(InvoiceKind):
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(get_args(InvoiceKind))}")
        if not self.number.strip():
            raise ValueError("an invoice has a number (BR-02)")
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code (BR-05)")
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError("the due date is on or after the issue date")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("a billing period has both a start and an end")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("a billing period ends after it starts (BR-29)")
        # A summary may include no order invoice: a month of a reseller's fees alone (lines of its own).
        if self.kind != "summary" and self.included_invoices:
            raise ValueError("only a summary invoice includes other invoices")
        if self.is_credit_note != bool(self.corrects_number.strip() and self.corrects_date):
            raise ValueError("a credit note, and only a credit note, names the invoice it corrects and its issue "
                             "date (BR-55, BT-25, BT-26)")
        if self.corrects_date and self.corrects_date > self.issue_date:
            raise ValueError("a credit note corrects an invoice issued before it")

    def _check_lines(self) -> None:
        if not self.lines:
            raise ValueError("an invoice has at least one line (BR-16)")
        positions = [line.position for line in self.lines]
        if len(set(positions)) != len(positions):
            raise ValueError("line positions are unique (BR-21)")
        if self.kind == "summary":
            included = set(self.included_invoices)
            for line in self.lines:
                if line.order_invoice_number is not None and line.order_invoice_number not in included:
                    raise ValueError(f"line {line.position} names {line.order_invoice_number}, which the summary "
                                     "does not include")

    def _check_taxes(self) -> None:
        categories = {group.category for group in self.breakdown}
        if categories & EXEMPT_CATEGORIES and not self.exemption_reason.strip():
            raise ValueError("categories E, AE and O need an exemption reason (BR-E-10, BR-AE-10, BR-O-10)")
        if not self.seller.legal_id and not (self.seller.tax_id and self.seller.tax_id_scheme == "VA"):
            raise ValueError("the seller has a legal registration or VAT identifier (BR-CO-26)")
        if categories - {"O"} and not self.seller.tax_id:
            raise ValueError("the seller's tax identifier is needed unless every line is not subject to tax "
                             "(BR-S-02, BR-Z-02, BR-E-02, BR-AE-02)")
        if "AE" in categories and not self.buyer.tax_id:
            raise ValueError("reverse charge needs the buyer's tax identifier (BR-AE-02)")
        if "O" in categories:
            if categories != {"O"}:
                raise ValueError("a line not subject to tax cannot share an invoice with taxed lines (BR-O-11)")
            if "VA" in {party.tax_id_scheme for party in (self.seller, self.buyer) if party.tax_id}:
                raise ValueError("an invoice not subject to tax carries no VAT identifier (BR-O-02)")

    @property
    def is_credit_note(self) -> bool:
        return self.kind == "credit_note"

    @property
    def is_exempt(self) -> bool:
        """Whether some line is in a category that needs the exemption reason printed."""
        return any(group.category in EXEMPT_CATEGORIES for group in self.breakdown)
