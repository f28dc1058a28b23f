"""Money: integer minor units of an ISO 4217 currency, exact parsing, one-currency arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from famsim.domain.errors import InvalidAmount
from famsim.domain.money import Money, currency_exponent

pytestmark = pytest.mark.unit


# --- currencies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("HKD", 2), ("JPY", 0), ("BHD", 3), ("RUB", 2), ("USD", 2), ("KWD", 3), ("KRW", 0)],
)
def test_currency_exponent_from_iso_4217(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


def test_currency_exponent_accepts_lower_case_code() -> None:
    assert currency_exponent("hkd") == 2


@pytest.mark.parametrize("code", ["ZZZ", "ABC", "HK", "HKDD", ""])
def test_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(InvalidAmount):
        currency_exponent(code)


@pytest.mark.parametrize("code", ["XAU", "XAG", "XXX", "XDR"])
def test_currency_without_minor_unit_is_refused(code: str) -> None:
    with pytest.raises(InvalidAmount, match="no minor unit"):
        currency_exponent(code)
    with pytest.raises(InvalidAmount):
        Money(100, code)
    with pytest.raises(InvalidAmount):
        Money.parse("1", code)


# --- construction --------------------------------------------------------------------


def test_money_holds_minor_units() -> None:
    money = Money(12850, "HKD")
    assert money.minor == 12850
    assert money.currency == "HKD"
    assert money.exponent == 2


@pytest.mark.parametrize("minor", [1.5, 1.0, "100", None, True, False])
def test_money_refuses_anything_but_int_minor_units(minor: object) -> None:
    with pytest.raises(InvalidAmount, match="whole minor units"):
        Money(minor, "HKD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["hkd", "Hkd", "ZZZ", "HK", "XAU"])
def test_money_refuses_bad_currency_codes(code: str) -> None:
    with pytest.raises(InvalidAmount):
        Money(100, code)


def test_zero_upper_cases_its_currency() -> None:
    assert Money.zero("hkd") == Money(0, "HKD")


def test_money_is_immutable_and_hashable() -> None:
    money = Money(1, "HKD")
    with pytest.raises(AttributeError):
        money.minor = 2  # type: ignore[misc]
    assert {Money(1, "HKD"), Money(1, "HKD"), Money(1, "USD")} == {
        Money(1, "HKD"),
        Money(1, "USD"),
    }


# --- parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("128.5", "HKD", 12850),
        ("128.50", "HKD", 12850),
        ("128", "HKD", 12800),
        ("0.01", "HKD", 1),
        ("0", "HKD", 0),
        (" 398.00 ", "HKD", 39800),
        ("-0.05", "HKD", -5),
        ("-12", "HKD", -1200),
        ("1000", "JPY", 1000),
        ("1.250", "BHD", 1250),
        ("1.2", "BHD", 1200),
        ("0.001", "BHD", 1),
        ("1200.00", "RUB", 120000),
        ("60.00", "usd", 6000),
    ],
)
def test_parse_is_exact(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency.upper())


def test_parse_128_5_hkd_is_12850_minor() -> None:
    assert Money.parse("128.5", "HKD").minor == 12850


@pytest.mark.parametrize(
    ("text", "currency"),
    [("0.001", "HKD"), ("128.505", "HKD"), ("1.5", "JPY"), ("1.0", "JPY"), ("0.0001", "BHD")],
)
def test_more_decimals_than_the_currency_has_are_refused_not_rounded(
    text: str, currency: str
) -> None:
    with pytest.raises(InvalidAmount, match="decimal places"):
        Money.parse(text, currency)


@pytest.mark.parametrize(
    "text", ["", "abc", "1,50", "1.", ".5", "+1.00", "1e3", "1.2.3", "HKD 1.00", "--1", "- 1"]
)
def test_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "HKD")


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [(128, "HKD", 12800), (0, "HKD", 0), (-3, "HKD", -300), (500, "JPY", 500), (2, "BHD", 2000)],
)
def test_int_is_major_units(value: int, currency: str, minor: int) -> None:
    assert Money.parse(value, currency) == Money(minor, currency)


@pytest.mark.parametrize("value", [True, False])
def test_parse_refuses_bool(value: bool) -> None:
    with pytest.raises(InvalidAmount, match="not a number"):
        Money.parse(value, "HKD")


def test_parse_refuses_float() -> None:
    with pytest.raises((InvalidAmount, TypeError)):
        Money.parse(1.5, "HKD")  # type: ignore[arg-type]


def test_parse_refuses_unknown_currency() -> None:
    with pytest.raises(InvalidAmount, match="unknown currency"):
        Money.parse("1.00", "ZZZ")


# --- arithmetic ----------------------------------------------------------------------

HKD = "HKD"


def hkd(minor: int) -> Money:
    return Money(minor, HKD)


def test_add_sub_neg_mul_within_one_currency() -> None:
    assert hkd(150) + hkd(250) == hkd(400)
    assert hkd(150) - hkd(250) == hkd(-100)
    assert -hkd(150) == hkd(-150)
    assert hkd(150) * 3 == hkd(450)
    assert 3 * hkd(150) == hkd(450)
    assert hkd(150) * 0 == hkd(0)
    assert (hkd(150) - hkd(250)).is_negative
    assert not hkd(0).is_negative


def test_arithmetic_results_are_ints() -> None:
    assert isinstance((hkd(1) * 7 + hkd(3)).minor, int)


@pytest.mark.parametrize("factor", [1.5, 2.0, True, "2"])
def test_multiplying_by_anything_but_an_int_is_refused(factor: object) -> None:
    with pytest.raises(InvalidAmount, match="whole number"):
        hkd(100) * factor  # type: ignore[operator]


def test_mixing_currencies_is_refused() -> None:
    usd = Money(100, "USD")
    with pytest.raises(InvalidAmount, match="currencies differ"):
        hkd(100) + usd
    with pytest.raises(InvalidAmount, match="currencies differ"):
        hkd(100) - usd
    with pytest.raises(InvalidAmount, match="currencies differ"):
        _ = hkd(100) < usd
    with pytest.raises(InvalidAmount):
        _ = hkd(100) <= usd
    with pytest.raises(InvalidAmount):
        _ = hkd(100) > usd
    with pytest.raises(InvalidAmount):
        _ = hkd(100) >= usd
    with pytest.raises(InvalidAmount):
        sorted([hkd(1), usd])


def test_equality_across_currencies_is_false_not_an_error() -> None:
    assert Money(0, "HKD") != Money(0, "USD")
    assert Money(100, "HKD") != Money(100, "USD")


def test_ordering_within_one_currency() -> None:
    assert hkd(1) < hkd(2)
    assert hkd(2) > hkd(1)
    assert hkd(2) >= hkd(2)
    assert hkd(2) <= hkd(2)
    assert not hkd(2) < hkd(2)
    assert hkd(-5) < hkd(0)
    assert sorted([hkd(3), hkd(-1), hkd(2)]) == [hkd(-1), hkd(2), hkd(3)]
    assert max(hkd(3), hkd(7)) == hkd(7)


# --- text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(12850, "HKD"), "HKD 128.50"),
        (Money(5, "HKD"), "HKD 0.05"),
        (Money(-5, "HKD"), "HKD -0.05"),
        (Money(0, "HKD"), "HKD 0.00"),
        (Money(1000, "JPY"), "JPY 1000"),
        (Money(-1000, "JPY"), "JPY -1000"),
        (Money(1250, "BHD"), "BHD 1.250"),
        (Money(1, "BHD"), "BHD 0.001"),
        (Money(120000, "RUB"), "RUB 1200.00"),
    ],
)
def test_str_and_amount_text(money: Money, text: str) -> None:
    assert str(money) == text
    assert money.amount_text() == text.split(" ", 1)[1]


# --- property: parse(amount_text()) is the identity -----------------------------------

CURRENCIES = ["HKD", "JPY", "BHD", "RUB", "USD"]


@given(
    minor=st.integers(min_value=-(10**15), max_value=10**15), currency=st.sampled_from(CURRENCIES)
)
def test_parse_of_amount_text_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.amount_text(), currency) == money
    assert Money.parse(str(money).split(" ", 1)[1], currency.lower()) == money


@given(
    major=st.integers(min_value=-(10**12), max_value=10**12), currency=st.sampled_from(CURRENCIES)
)
def test_int_and_text_major_units_agree(major: int, currency: str) -> None:
    assert Money.parse(major, currency) == Money.parse(str(major), currency)
