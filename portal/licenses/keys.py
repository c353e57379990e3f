"""License keys: 120 random bits in Crockford base32, read aloud in groups of five, with a check character.

Format: XXXXX-XXXXX-XXXXX-XXXXX-XXXXC (24 random symbols, C the check symbol). The check symbol is the Luhn
mod 32 check over the same alphabet: any single mistyped symbol is caught, and so is nearly every swap of two
adjacent symbols. Parsing forgives case, spaces, hyphens, and I/L read as 1 and O as 0.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
N = len(ALPHABET)
RANDOM_SYMBOLS = 24  # 24 x 5 = 120 bits of entropy
GROUP = 5
_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})


class InvalidKey(ValueError):
    """The text is not a well-formed license key (wrong length, symbols, or check character)."""


def _luhn_sum(symbols: str, double_first: bool) -> int:
    total, double = 0, double_first
    for symbol in reversed(symbols):
        addend = ALPHABET.index(symbol) * (2 if double else 1)
        total += addend // N + addend % N
        double = not double
    return total


def check_symbol(symbols: str) -> str:
    """The Luhn mod 32 check symbol of `symbols`."""
    return ALPHABET[(N - _luhn_sum(symbols, double_first=True) % N) % N]


def _group(raw: str) -> str:
    return "-".join(raw[i:i + GROUP] for i in range(0, len(raw), GROUP))


def generate_key() -> str:
    """A new random license key, formatted for reading aloud."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    return _group(body + check_symbol(body))


def normalize_key(text: str) -> str:
    """The canonical form of a typed key, or InvalidKey if it is not one (including a failed check)."""
    raw = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_ALIASES)
    if len(raw) != RANDOM_SYMBOLS + 1:
        raise InvalidKey("A license key has 25 characters in five groups of five.")
    body, check = raw[:-1], raw[-1]
    if any(ch not in ALPHABET for ch in raw):
        raise InvalidKey("A license key uses only the digits 0-9 and the letters A-Z except I, L, O and U.")
    if _luhn_sum(raw, double_first=False) % N != 0 or check_symbol(body) != check:
        raise InvalidKey("That license key has a typing mistake: check it against the email or invoice.")
    return _group(raw)
