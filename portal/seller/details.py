"""Who issues the invoices and where their payments go: the seller and bank details staff set at /admin/settings.

The details live in one row (`SellerSettings`, id 1, seeded by migration 0006). Every invoice keeps a copy of them
as they were when it was issued (`Invoice.seller`): its page, its PDF, its Factur-X XML and its Pay page print
that copy (`invoice_seller`), so changing the settings changes the invoices issued from then on, never one
already issued.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from email.utils import parseaddr

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from portal.audit.services import Actor, record
from portal.billing.models import Invoice
from portal.db_types import utcnow
from portal.errors import RuleError
from portal.extensions import db
from portal.seller.models import SellerSettings

SETTINGS_ID = 1


@dataclass(frozen=True)
class SellerDetails:
    """The seller and its bank account, as the settings hold them and as an invoice keeps them (field names are
    the snapshot's keys and SellerSettings' columns)."""

    legal_name: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    email: str
    tax_id: str  # sales tax / VAT registration (EN 16931 BT-31/BT-32)
    registration_id: str  # company registration number, e.g. a US EIN (BT-30)
    bank_name: str
    account_name: str
    account_number: str
    routing_number: str  # ABA routing number, for wires and ACH within the US
    swift_bic: str  # for international wires (BT-86)

    @classmethod
    def of(cls, source: SellerSettings | dict) -> SellerDetails:
        """From the settings row or an invoice's snapshot (a key it lacks reads as empty)."""
        get = source.get if isinstance(source, dict) else lambda name, default: getattr(source, name, default)
        return cls(**{f.name: str(get(f.name, "") or "") for f in fields(cls)})

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def address_lines(self) -> tuple[str, ...]:
        return tuple(line for line in (self.address_line1, self.address_line2) if line)

    @property
    def city_line(self) -> str:
        return " ".join(part for part in (self.city + ("," if self.city and self.region else ""), self.region,
                                          self.postal_code) if part)

    @property
    def check_address(self) -> tuple[str, ...]:
        """Whom a check is payable to, then where to mail it (Accounts Receivable at the seller's address)."""
        return (self.legal_name, "Attn: Accounts Receivable", ", ".join(self.address_lines), self.city_line)


SELLER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SellerDetails))

# The details the portal printed before staff could set them: migration 0006 seeds the settings row with them and
# stored them on every invoice issued until then. A database whose row is missing (one made without the seed)
# issues with them too, until staff save the settings.
ORIGINAL_SELLER = SellerDetails(
    legal_name="Vendor Software, Inc.", address_line1="500 Market Street", address_line2="Suite 1200",
    city="San Francisco", region="CA", postal_code="94105", country="US", email="billing@vendor.example.com",
    tax_id="CA-SR-102-345678", registration_id="94-1234567", bank_name="First Example Bank, N.A.",
    account_name="Vendor Software, Inc.", account_number="000123456789", routing_number="121000358",
    swift_bic="FEXBUS33",
)


def support_address() -> str:
    """Where a user contacts the vendor (a device nobody authorized, a plan change that is not self-service):
    SUPPORT_EMAIL if set, else the portal's sender address."""
    return current_app.config.get("SUPPORT_EMAIL") or parseaddr(current_app.config["MAIL_FROM"])[1]


def current_seller() -> SellerDetails:
    """The seller and bank details invoices are issued with from now on."""
    row = db.session.get(SellerSettings, SETTINGS_ID)
    return SellerDetails.of(row) if row is not None else ORIGINAL_SELLER


def seller_snapshot() -> dict[str, str]:
    """What an invoice being issued stores in `Invoice.seller`."""
    return current_seller().as_dict()


def invoice_seller(invoice: Invoice) -> SellerDetails:
    """The seller and bank details `invoice` was issued with (never the current settings)."""
    return SellerDetails.of(invoice.seller) if invoice.seller else ORIGINAL_SELLER


# ---------------------------------------------------------------- the rules staff's changes meet

_REQUIRED = {
    "legal_name": "Enter the seller's legal name, as invoices print it.",
    "address_line1": "Enter the street address.",
    "city": "Enter the city.",
    "postal_code": "Enter the postal code.",
    "country": "Enter the country as its 2-letter code, such as US.",
    "email": "Enter the billing email address printed on invoices.",
    "tax_id": "Enter the tax ID: invoices with taxed lines must state it (EN 16931 BR-S-02).",
    "registration_id": "Enter the registration number (such as the EIN): every invoice states it (BR-CO-26).",
    "bank_name": "Enter the bank's name.",
    "account_name": "Enter the name on the account.",
    "account_number": "Enter the account number payments go to.",
    "swift_bic": "Enter the SWIFT/BIC code, for wires from abroad.",
}
_MAX_LENGTHS = {name: SellerSettings.__table__.c[name].type.length for name in SELLER_FIELDS}
_SWIFT_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_ACCOUNT_NUMBER = re.compile(r"[A-Z0-9]{4,34}")  # a US account number (up to 17 digits) or an IBAN


def _countries() -> frozenset[str]:
    return frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha())


def _aba_checksum_ok(number: str) -> bool:
    """The ABA routing number's check digit: 3, 7, 1 weights over the nine digits sum to a multiple of 10."""
    digits = [int(d) for d in number]
    return sum(w * d for w, d in zip((3, 7, 1) * 3, digits, strict=True)) % 10 == 0


def clean_seller(values: dict) -> dict[str, str]:
    """The submitted details trimmed, codes upper-cased and spaces taken out of numbers."""
    cleaned = {name: str(values.get(name) or "").strip() for name in SELLER_FIELDS}
    for name in ("country", "swift_bic"):
        cleaned[name] = cleaned[name].upper().replace(" ", "")
    for name in ("account_number", "routing_number"):
        cleaned[name] = re.sub(r"[\s-]", "", cleaned[name]).upper()
    return cleaned


def seller_errors(values: dict) -> dict[str, str]:
    """What is wrong with the details, a message per field (empty when they may be saved). `values` as
    `clean_seller` returns them."""
    errors = {name: message for name, message in _REQUIRED.items() if not values.get(name)}
    country = values.get("country", "")
    if country and "country" not in errors and country not in _countries():
        errors["country"] = "Enter the country as its ISO 3166 2-letter code, such as US or CA."
    if values.get("email") and "email" not in errors:
        try:
            validate_email(values["email"], check_deliverability=False)
        except EmailNotValidError as exc:
            errors["email"] = str(exc)
    swift = values.get("swift_bic", "")
    if swift and "swift_bic" not in errors and not _SWIFT_BIC.fullmatch(swift):
        errors["swift_bic"] = "A SWIFT/BIC code has 8 or 11 letters and digits, such as FEXBUS33."
    account = values.get("account_number", "")
    if account and "account_number" not in errors and not _ACCOUNT_NUMBER.fullmatch(account):
        errors["account_number"] = "An account number has 4 to 34 letters and digits."
    routing = values.get("routing_number", "")
    if country == "US" and not routing:
        errors["routing_number"] = "Enter the ABA routing number (9 digits): US wires and ACH need it."
    elif routing and country == "US" and not (re.fullmatch(r"\d{9}", routing) and _aba_checksum_ok(routing)):
        errors["routing_number"] = "An ABA routing number has 9 digits, the last a check digit; check it."
    elif routing and not re.fullmatch(r"[A-Z0-9]{1,32}", routing):
        errors["routing_number"] = "A routing or bank code has letters and digits only."
    for name, limit in _MAX_LENGTHS.items():
        if name not in errors and len(values.get(name, "")) > limit:
            errors[name] = f"At most {limit} characters."
    return errors


def update_seller(values: dict, actor: Actor) -> SellerDetails:
    """Save the seller and bank details invoices are issued with from now on (issued invoices keep theirs), with
    an audit entry naming what changed. RuleError beside the first field that is wrong; nothing is changed."""
    cleaned = clean_seller(values)
    errors = seller_errors(cleaned)
    if errors:
        name, message = next(iter(errors.items()))
        raise RuleError(message, field=name)
    row = db.session.get(SellerSettings, SETTINGS_ID)
    before = SellerDetails.of(row).as_dict() if row is not None else ORIGINAL_SELLER.as_dict()
    if row is None:
        row = SellerSettings(id=SETTINGS_ID)
        db.session.add(row)
    changed = {name: [before[name], cleaned[name]] for name in SELLER_FIELDS if before[name] != cleaned[name]}
    for name in SELLER_FIELDS:
        setattr(row, name, cleaned[name])
    if changed:
        row.updated_at = utcnow()
        record(actor, "seller_settings.updated", row, None, changed=changed)
    db.session.flush()
    return SellerDetails.of(row)
