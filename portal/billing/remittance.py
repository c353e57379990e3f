"""Who issues the invoices and where their payments go: printed on every invoice and on the Pay invoice page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Seller:
    name: str
    address_lines: tuple[str, ...]
    city: str
    region: str
    postal_code: str
    country: str
    email: str
    legal_id: str  # US Employer Identification Number (EN 16931 BT-30)
    tax_id: str  # sales tax registration (seller's permit), a tax registration number (BT-32)


@dataclass(frozen=True)
class BankAccount:
    bank: str
    account_name: str
    account_number: str
    routing_number: str  # ABA routing number, for wires and ACH
    swift: str


SELLER = Seller(name="Vendor Software, Inc.", address_lines=("500 Market Street", "Suite 1200"),
                city="San Francisco", region="CA", postal_code="94105", country="US",
                email="billing@vendor.example.com", legal_id="94-1234567", tax_id="CA-SR-102-345678")
BANK = BankAccount(bank="First Example Bank, N.A.", account_name="Vendor Software, Inc.",
                   account_number="000123456789", routing_number="121000358", swift="FEXBUS33")
CHECK_ADDRESS = ("Vendor Software, Inc.", "Attn: Accounts Receivable", "500 Market Street, Suite 1200",
                 "San Francisco, CA 94105")
