"""Card numbers as typed at checkout: which brand (only AMEX, Visa and Mastercard are accepted), the length for
that brand, the Luhn check digit, and an expiry that is not in the past. The number itself is never stored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from portal.errors import RuleError
from portal.payments.models import CardBrand

_LENGTHS = {CardBrand.VISA: {13, 16, 19}, CardBrand.MASTERCARD: {16}, CardBrand.AMEX: {15}}


@dataclass(frozen=True)
class CardInput:
    number: str  # digits only
    brand: CardBrand
    exp_month: int
    exp_year: int
    holder_name: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


def brand_of(number: str) -> CardBrand | None:
    if number.startswith(("34", "37")):
        return CardBrand.AMEX
    if number.startswith("4"):
        return CardBrand.VISA
    prefix2, prefix4 = int(number[:2] or 0), int(number[:4] or 0)
    if 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720:
        return CardBrand.MASTERCARD
    return None


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def check_card(number: str, exp_month: int | None, exp_year: int | None, holder_name: str,
               today: date | None = None) -> CardInput:
    """A card that passes brand, length, Luhn and expiry checks; RuleError names the field otherwise."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not re.fullmatch(r"[0-9]+", digits):  # ASCII digits only: str.isdigit() also accepts "²" and "٤"
        raise RuleError("Type the card number using digits only.", field="card_number")
    brand = brand_of(digits)
    if brand is None:
        raise RuleError("We accept American Express, Visa and Mastercard.", field="card_number")
    if len(digits) not in _LENGTHS[brand]:
        article = "An" if brand.label[0] in "AEIOU" else "A"
        raise RuleError(f"{article} {brand.label} number has {' or '.join(map(str, sorted(_LENGTHS[brand])))} digits.",
                        field="card_number")
    if not luhn_valid(digits):
        raise RuleError("That card number has a typing mistake.", field="card_number")
    if exp_month is None or not 1 <= exp_month <= 12:
        raise RuleError("Choose the expiry month.", field="exp_month")
    today = today or date.today()
    if exp_year is None or (exp_year, exp_month) < (today.year, today.month):
        raise RuleError("This card has expired: check the expiry date.", field="exp_year")
    if exp_year > today.year + 20:
        raise RuleError("That expiry year is too far ahead: check the expiry date.", field="exp_year")
    if not holder_name.strip():
        raise RuleError("Type the name on the card.", field="holder_name")
    return CardInput(digits, brand, exp_month, exp_year, holder_name.strip())
