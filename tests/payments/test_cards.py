"""Cards typed at checkout (DOMAIN §6): only American Express, Visa and Mastercard, the right length for the brand,
the Luhn check digit, an expiry not in the past and the holder's name. Each refusal names the field to fix."""

from __future__ import annotations

from datetime import date

import pytest

from portal.errors import RuleError
from portal.payments.cards import check_card
from portal.payments.models import CardBrand

TODAY = date(2026, 3, 15)


def _with_check_digit(partial: str) -> str:
    """`partial` completed with the digit that makes it pass the Luhn check (computed here independently)."""
    for digit in "0123456789":
        number = partial + digit
        total = sum(int(ch) if i % 2 == 0 else sum(divmod(2 * int(ch), 10))
                    for i, ch in enumerate(reversed(number)))
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


def _check(number: str, exp_month: int | None = 12, exp_year: int | None = 2028, holder_name: str = "Ada Lovelace"):
    return check_card(number, exp_month, exp_year, holder_name, today=TODAY)


def _refusal(number: str, **kwargs) -> RuleError:
    with pytest.raises(RuleError) as refused:
        _check(number, **kwargs)
    return refused.value


# ---------------------------------------------------------------- brands


@pytest.mark.parametrize(("number", "brand"), [
    ("4242424242424242", CardBrand.VISA),
    (_with_check_digit("422222222222"), CardBrand.VISA),         # 13 digits
    (_with_check_digit("4" + "1" * 17), CardBrand.VISA),         # 19 digits
    ("5555555555554444", CardBrand.MASTERCARD),
    (_with_check_digit("51" + "0" * 13), CardBrand.MASTERCARD),  # 51 …
    (_with_check_digit("55" + "9" * 13), CardBrand.MASTERCARD),  # … to 55
    ("2221000000000009", CardBrand.MASTERCARD),                  # 2221 …
    (_with_check_digit("2720" + "9" * 11), CardBrand.MASTERCARD),  # … to 2720
    ("378282246310005", CardBrand.AMEX),
    ("371449635398431", CardBrand.AMEX),
    (_with_check_digit("34" + "0" * 12), CardBrand.AMEX),
])
def test_visa_mastercard_and_american_express_are_accepted(number, brand):
    card = _check(number)
    assert (card.brand, card.number, card.last4) == (brand, number, number[-4:])


@pytest.mark.parametrize("number", [
    "6011111111111117",                   # Discover
    "3530111333300000",                   # JCB
    "30569309025904",                     # Diners Club
    "6200000000000005",                   # UnionPay
    _with_check_digit("2220" + "0" * 11),  # just below the Mastercard 2-series
    _with_check_digit("2721" + "0" * 11),  # just above it
    _with_check_digit("50" + "0" * 13),
    _with_check_digit("56" + "0" * 13),
])
def test_other_brands_are_refused_on_the_card_number(number):
    refusal = _refusal(number)
    assert refusal.field == "card_number"
    assert refusal.message == "We accept American Express, Visa and Mastercard."


@pytest.mark.parametrize(("number", "says"), [
    (_with_check_digit("4" * 14), "Visa number has 13 or 16 or 19 digits"),          # 15 digits
    (_with_check_digit("5555" + "4" * 10), "Mastercard number has 16 digits"),      # 15 digits
    (_with_check_digit("5555" + "4" * 12), "Mastercard number has 16 digits"),      # 17 digits
    (_with_check_digit("37" + "0" * 13), "American Express number has 15 digits"),  # 16 digits
])
def test_each_brand_has_its_own_lengths(number, says):
    refusal = _refusal(number)
    assert refusal.field == "card_number"
    assert says in refusal.message


@pytest.mark.parametrize("number", ["4242424242424241", "5555555555554445", "378282246310006"])
def test_a_mistyped_digit_fails_the_luhn_check(number):
    refusal = _refusal(number)
    assert (refusal.field, refusal.message) == ("card_number", "That card number has a typing mistake.")


@pytest.mark.parametrize("number", ["4242 4242 4242 4242", "4242-4242-4242-4242", " 4242424242424242 ",
                                    "3782 822463 10005", "5555 5555-5555 4444"])
def test_spaces_and_hyphens_in_the_number_are_accepted(number):
    card = _check(number)
    assert card.number == "".join(ch for ch in number if ch.isdigit())


@pytest.mark.parametrize("number", ["", "   ", "4242 4242 4242 424a", "4242.4242.4242.4242", "+4242424242424242"])
def test_a_number_with_anything_but_digits_is_refused(number):
    refusal = _refusal(number)
    assert (refusal.field, refusal.message) == ("card_number", "Type the card number using digits only.")


@pytest.mark.parametrize("number", ["4242 4242 4242 424\u00b2", "4" + "\u0662\u0664" * 7 + "\u0662",
                                    "\uff14\uff12\uff14\uff12" * 4],
                         ids=["superscript-two", "arabic-indic-digits", "fullwidth-digits"])
def test_a_number_with_non_ascii_digits_is_refused_or_read_as_ascii(number):
    try:
        card = _check(number)
    except RuleError as refusal:
        assert refusal.field == "card_number"
    else:
        assert card.number.isascii() and card.number.isdigit()


# ---------------------------------------------------------------- expiry and holder


@pytest.mark.parametrize(("month", "year"), [(3, 2026), (4, 2026), (1, 2027), (12, 2046)])
def test_a_card_expiring_this_month_or_later_is_accepted(month, year):
    card = _check("4242424242424242", exp_month=month, exp_year=year)
    assert (card.exp_month, card.exp_year) == (month, year)


@pytest.mark.parametrize(("month", "year"), [(2, 2026), (12, 2025), (3, 2025)])
def test_a_card_that_expired_is_refused_on_the_expiry_year(month, year):
    refusal = _refusal("4242424242424242", exp_month=month, exp_year=year)
    assert refusal.field == "exp_year"
    assert "expired" in refusal.message


@pytest.mark.parametrize("year", [None, 2047])
def test_a_missing_or_implausible_expiry_year_is_refused(year):
    assert _refusal("4242424242424242", exp_month=1, exp_year=year).field == "exp_year"


@pytest.mark.parametrize("month", [None, 0, 13])
def test_the_expiry_month_must_be_a_month(month):
    refusal = _refusal("4242424242424242", exp_month=month)
    assert (refusal.field, refusal.message) == ("exp_month", "Choose the expiry month.")


def test_the_expiry_is_checked_against_today_when_no_date_is_given():
    today = date.today()
    assert check_card("4242424242424242", today.month, today.year, "Ada Lovelace").exp_year == today.year
    last_month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    with pytest.raises(RuleError):
        check_card("4242424242424242", last_month[1], last_month[0], "Ada Lovelace")


@pytest.mark.parametrize("holder_name", ["", "   "])
def test_the_name_on_the_card_is_required(holder_name):
    refusal = _refusal("4242424242424242", holder_name=holder_name)
    assert (refusal.field, refusal.message) == ("holder_name", "Type the name on the card.")


def test_the_name_on_the_card_is_trimmed():
    assert _check("4242424242424242", holder_name="  Ada Lovelace ").holder_name == "Ada Lovelace"


def test_messages_read_well_for_every_brand_and_a_far_expiry_is_not_called_expired():
    with pytest.raises(RuleError, match="^An American Express number has 15 digits"):
        check_card("3782 8224 6310 0052", 12, 2030, "A", today=date(2026, 11, 21))
    with pytest.raises(RuleError, match="too far ahead"):
        check_card("4242 4242 4242 4242", 12, 2060, "A", today=date(2026, 11, 21))
