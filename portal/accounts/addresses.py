"""Postal address rules shared by account details, checkout and transfers."""

from __future__ import annotations

import re

from babel import Locale

from portal.errors import RuleError

# ISO 3166 alpha-2 codes as Babel's CLDR data knows them (its other territories are numeric regions; ZZ unknown)
COUNTRY_CODES = frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha()) \
    - {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}  # unknown, unions and pseudo-regions

# "P.O. Box", "PO Box", "P O Box", "Post Office Box", "POB 12", "Postfach", "Box 123", "Boîte postale", "Apartado",
# and the Australian and New Zealand forms: "GPO Box", "Post Box", "Locked Bag", "Private Bag"
_PO_BOX = re.compile(
    r"""(?ix)
    \b(
        p\.?\s*o\.?\s*b(ox)?\.?\s*\#?\s*\d+ |
        g?\.?\s*p\.?\s*o\.?\s*box |
        post\s*box |
        (locked|private)\s+bag |
        post\s*office\s*box |
        postal\s*box |
        p\.?\s*o\.?\s*drawer |
        postfach |
        bo[iî]te\s+postale |
        apartado(\s+postal)? |
        ^\s*box\s*\#?\s*\d+
    )\b
    """
)


def is_po_box(line: str) -> bool:
    return bool(_PO_BOX.search(line or ""))


def refuse_po_box(line: str, field: str, what: str = "A billing address") -> None:
    """Raise RuleError when a billing (or shipping: `what`) address line is a P.O. box (DOMAIN §2: no P.O.
    boxes)."""
    if is_po_box(line):
        raise RuleError(f"{what} must be a street address, not a P.O. box.", field=field)
