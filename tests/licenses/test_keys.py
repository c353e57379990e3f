"""License keys (DOMAIN §4): read aloud in five groups of five, impossible to guess, and forgiving of how people
type them, while any single mistyped symbol, and nearly any swap of two neighbours, is caught before a lookup."""

from __future__ import annotations

import math
import re

import pytest

from portal.licenses.keys import ALPHABET, RANDOM_SYMBOLS, InvalidKey, check_symbol, generate_key, normalize_key

KEY_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$")  # Crockford: no I, L, O, U


def _raw(key: str) -> str:
    return key.replace("-", "")


def _grouped(raw: str) -> str:
    return "-".join(raw[i:i + 5] for i in range(0, len(raw), 5))


def _key_from(body: str) -> str:
    """A well-formed key with the given 24 random symbols."""
    assert len(body) == RANDOM_SYMBOLS
    return _grouped(body + check_symbol(body))


def _is_accepted(raw: str) -> bool:
    try:
        normalize_key(raw)
    except InvalidKey:
        return False
    return True


# ---------------------------------------------------------------- shape and entropy


def test_a_key_has_25_symbols_in_five_groups_of_five():
    for _ in range(200):
        key = generate_key()
        assert KEY_FORMAT.match(key), key
        assert len(_raw(key)) == 25


def test_the_alphabet_is_crockford_base32_without_look_alike_letters():
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_a_key_carries_at_least_100_bits_of_entropy():
    assert RANDOM_SYMBOLS == 24
    assert RANDOM_SYMBOLS * math.log2(len(ALPHABET)) >= 100  # 24 x 5 = 120 bits


def test_every_random_position_uses_the_whole_alphabet():
    """The 120 bits are real: each of the 24 random positions takes all 32 symbols (a stuck position would not)."""
    bodies = [_raw(generate_key())[:RANDOM_SYMBOLS] for _ in range(3_000)]
    for position in range(RANDOM_SYMBOLS):
        assert {body[position] for body in bodies} == set(ALPHABET), f"position {position}"


def test_ten_thousand_keys_are_all_different():
    keys = [generate_key() for _ in range(10_000)]
    assert len(set(keys)) == len(keys)


def test_a_generated_key_is_already_in_its_canonical_form():
    key = generate_key()
    assert normalize_key(key) == key


# ---------------------------------------------------------------- typing a key


def test_a_key_may_be_typed_in_lowercase():
    key = generate_key()
    assert normalize_key(key.lower()) == key


@pytest.mark.parametrize("spacing", [
    lambda raw: raw,                                          # no hyphens at all
    lambda raw: " ".join(raw[i:i + 5] for i in range(0, 25, 5)),  # spaces instead of hyphens
    lambda raw: "  " + " - ".join(raw[i:i + 5] for i in range(0, 25, 5)) + " ",
    lambda raw: "\t".join(raw[i:i + 5] for i in range(0, 25, 5)),
    lambda raw: raw[:3] + "-" + raw[3:17] + "--" + raw[17:],  # hyphens in the wrong places
])
def test_a_key_may_be_typed_with_spaces_or_without_hyphens(spacing):
    key = generate_key()
    assert normalize_key(spacing(_raw(key))) == key


def test_i_and_l_are_read_as_one_and_o_as_zero():
    key = _key_from("1100" + "ABCDEFGHJKMN" + "PQRS" + "TV10")
    typed = key.replace("1", "I", 2).replace("1", "l", 1).replace("0", "O", 1).replace("0", "o", 1)
    assert typed != key and set("IlOo") <= set(typed)
    assert normalize_key(typed) == key


@pytest.mark.parametrize("text", ["", "ABCDE-FGHJK", "ABCDE-FGHJK-MNPQR-STVWX-YZ0123"])
def test_a_key_of_the_wrong_length_is_refused(text):
    with pytest.raises(InvalidKey, match="25 characters in five groups of five"):
        normalize_key(text)


@pytest.mark.parametrize("intruder", ["U", "_", "*", "É"])
def test_a_key_with_a_symbol_outside_the_alphabet_is_refused(intruder):
    raw = _raw(generate_key())
    with pytest.raises(InvalidKey, match="except I, L, O and U"):
        normalize_key(intruder + raw[1:])


# ---------------------------------------------------------------- typing mistakes


@pytest.mark.parametrize("key", [generate_key(), generate_key(), _key_from("0" * 24), _key_from("Z" * 24)],
                         ids=["random", "another-random", "all-0", "all-Z"])
def test_every_single_mistyped_symbol_is_caught(key):
    """Exhaustive: each of the 25 positions replaced by each of the 31 other symbols."""
    raw = _raw(key)
    slipped = []
    for position, original in enumerate(raw):
        for symbol in ALPHABET:
            if symbol != original and _is_accepted(raw[:position] + symbol + raw[position + 1:]):
                slipped.append((position, original, symbol))
    assert slipped == []


def test_a_typing_mistake_is_named_as_such():
    raw = _raw(generate_key())
    wrong = ("1" if raw[7] != "1" else "2")
    with pytest.raises(InvalidKey, match="typing mistake"):
        normalize_key(raw[:7] + wrong + raw[8:])


def _adjacent_swaps() -> list[tuple[int, str, str, bool]]:
    """Every swap of two different neighbours: each ordered pair of symbols at each of the 24 adjacent
    positions, the last one being the check symbol. Returns (position, left, right, caught)."""
    filler = "7K3QX9B1MZ5D0HW2TC8RJ4NV"
    swaps = []
    for position in range(RANDOM_SYMBOLS):
        for left in ALPHABET:
            for right in ALPHABET:
                if left == right:
                    continue
                if position < RANDOM_SYMBOLS - 1:
                    body = filler[:position] + left + right + filler[position + 2:]
                    raw = body + check_symbol(body)
                else:  # the last random symbol and the check symbol: the check is not ours to choose
                    body = filler[:position] + left
                    if check_symbol(body) != right:
                        continue
                    raw = body + right
                swapped = raw[:position] + right + left + raw[position + 2:]
                swaps.append((position, left, right, not _is_accepted(swapped)))
    return swaps


def test_nearly_every_swap_of_two_neighbours_is_caught(record_property):
    """Luhn mod 32 does not catch every transposition. Measured here: 99.80 % of 22,846 swaps are caught; the 46
    it misses are all swaps of 0 and Z."""
    swaps = _adjacent_swaps()
    rate = sum(caught for *_, caught in swaps) / len(swaps)
    record_property("adjacent_transposition_detection_rate", f"{rate:.4%} of {len(swaps)} swaps")
    assert len(swaps) > 22_000
    assert rate > 0.99


def test_the_only_swaps_the_check_misses_are_of_0_and_z():
    """Luhn mod N's known blind spot: the first and last symbols of the alphabet, 0 and Z, swap unseen."""
    missed = {(left, right) for _, left, right, caught in _adjacent_swaps() if not caught}
    assert missed == {("0", "Z"), ("Z", "0")}


def test_random_keys_catch_nearly_every_swap_of_two_neighbours():
    keys = [_raw(generate_key()) for _ in range(2_000)]
    swaps = [raw[:i] + raw[i + 1] + raw[i] + raw[i + 2:] for raw in keys for i in range(24) if raw[i] != raw[i + 1]]
    caught = sum(not _is_accepted(swapped) for swapped in swaps)
    assert caught / len(swaps) > 0.90
