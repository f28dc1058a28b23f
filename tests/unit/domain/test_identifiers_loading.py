"""Identifiers read back from famsim's store: the IMSI split cached by prefix, and ``trusted``.

The IMSI split looks up only the leading digits that decide the MNC; the tests here hold it
to exactly what python-stdnum's database gives for all the digits (parts, failed check and
message), over every entry of the installed database and over Hypothesis' examples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum import numdb

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers import Iccid, Imsi, Msisdn
from famsim.domain.identifiers import imsi as imsi_module
from famsim.domain.identifiers.digits import is_ascii_digits

pytestmark = pytest.mark.unit

Outcome = tuple[str, str, str]  # ("ok", "mcc|mnc", msin) or ("fail", check, message)


def _stdnum_reference(digits: str) -> Outcome:
    """The split as famsim did it before the prefix cache: stdnum's info on all the digits."""
    parts = [(str(part), bool(props)) for part, props in numdb.get("imsi").info(digits)]
    if len(parts) < 2:
        return _failure(digits, "unknown", f"mobile country code {digits[:3]} is not assigned")
    mcc, (mnc, mnc_known) = parts[0][0], parts[1]
    if not mnc_known:
        reason = f"MCC {mcc} has no mobile network code {mnc[:2]} or {mnc[:3]}"
        return _failure(digits, "unknown", reason)
    if len(parts) < 3 or not parts[2][0]:
        return _failure(digits, "length", f"no digits are left for the MSIN after {mcc}-{mnc}")
    return ("ok", f"{mcc}|{mnc}", parts[2][0])


def _failure(digits: str, check: str, reason: str) -> Outcome:
    """The outcome of a failed check: its name and the whole message, value included."""
    return ("fail", check, str(InvalidIdentifier("IMSI", check, digits, reason)))


def _famsim(digits: str) -> Outcome:
    """The split as famsim does it now, through the public constructor and properties."""
    try:
        found = Imsi(digits)
    except InvalidIdentifier as err:
        return ("fail", err.check, str(err))
    assert found.plmn == found.mcc + found.mnc
    assert found.mcc + found.mnc + found.msin == digits
    return ("ok", f"{found.mcc}|{found.mnc}", found.msin)


_FILLERS = ("0000000000000", "9999999999999", "1234567890123")


def _heads() -> Iterator[str]:
    """MCC and MCC+MNC strings at and just beside every range bound of the database."""
    for length, low, high, _props, mncs in numdb.get("imsi").prefixes:
        for mcc in {low, high}:
            yield mcc
            for mnc_length, mnc_low, mnc_high, _mnc_props, _children in mncs:
                for bound in {int(mnc_low) - 1, int(mnc_low), int(mnc_high), int(mnc_high) + 1}:
                    if 0 <= bound < 10**mnc_length:
                        yield mcc + f"{bound:0{mnc_length}d}"
        assert length == 3  # the shape famsim's table relies on


def _sweep() -> list[str]:
    """Every database bound with MSINs of none to the full length, and every MCC 000-999."""
    cases: set[str] = set()
    for head in _heads():
        for filler in _FILLERS:
            whole = (head + filler)[:15]
            for total in {6, 7, 8, len(head), len(head) + 1, 15}:
                if 6 <= total <= 15:
                    cases.add(whole[:total])
    for code in range(1000):
        for filler in _FILLERS[:2]:
            cases.add((f"{code:03d}" + filler)[:6])
            cases.add((f"{code:03d}" + filler)[:15])
    return sorted(cases)


def test_prefix_split_equals_stdnum_over_every_database_bound() -> None:
    expected = {digits: _stdnum_reference(digits) for digits in _sweep()}
    kinds = {outcome[:2] for outcome in expected.values()}
    assert {("fail", "unknown"), ("fail", "length")} <= kinds
    assert any(kind == "ok" and len(plmn) == 9 for kind, plmn in kinds)  # a 5-digit MNC
    assert any(kind == "ok" and len(plmn) == 7 for kind, plmn in kinds)  # a 3-digit MNC
    differ = {d: (_famsim(d), want) for d, want in expected.items() if _famsim(d) != want}
    assert differ == {}


_DIGIT_TEXT = st.text(alphabet="0123456789", min_size=0, max_size=15)
_KNOWN_HEADS = sorted(set(_heads()))


@st.composite
def _imsi_like(draw: st.DrawFn) -> str:
    """6 to 15 digits: random, or starting at a database bound so known codes come up often."""
    head = draw(st.one_of(st.just(""), st.sampled_from(_KNOWN_HEADS)))
    tail = draw(_DIGIT_TEXT)
    total = draw(st.integers(min_value=6, max_value=15))
    return (head + tail + "0" * 15)[:total]


@settings(max_examples=1000)
@given(_imsi_like())
@example("208501441234567")  # a 5-digit MNC, beyond the usual 6-digit key
@example("2085014")  # its first digits only: no MNC fits
@example("310260")  # a 3-digit MNC and no MSIN
@example("454991234567890")  # an unknown MNC
@example("439011234567890")  # an unknown MCC
def test_prefix_split_equals_stdnum(digits: str) -> None:
    assert _famsim(digits) == _stdnum_reference(digits)


def test_a_new_imsi_of_a_known_network_reuses_the_lookup() -> None:
    imsi_module._stdnum_split.cache_clear()
    first = Imsi("454011234567890")
    second = Imsi("454011876543210")  # the same first six digits: the key
    assert (first.msin, second.msin) == ("1234567890", "1876543210")
    assert imsi_module._stdnum_split.cache_info().misses == 1


def test_a_five_digit_mnc_is_split_as_stdnum_does() -> None:
    found = Imsi("208501441234567")
    assert (found.mcc, found.mnc, found.msin) == ("208", "50144", "1234567")


# --- trusted ---------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["454001234567890", "310260123456789", "250011"])
def test_imsi_trusted_equals_and_hashes_like_the_constructor(digits: str) -> None:
    trusted, built = Imsi.trusted(digits), Imsi(digits)
    assert type(trusted) is Imsi
    assert trusted == built
    assert hash(trusted) == hash(built)
    assert {trusted, built} == {built}
    assert repr(trusted) == repr(built)
    assert str(trusted) == digits
    assert (trusted.mcc, trusted.mnc, trusted.msin) == (built.mcc, built.mnc, built.msin)


@pytest.mark.parametrize("e164", ["+85291234567", "+79161234567", "+12015550123"])
def test_msisdn_trusted_equals_and_hashes_like_the_constructor(e164: str) -> None:
    trusted, built = Msisdn.trusted(e164), Msisdn(e164)
    assert type(trusted) is Msisdn
    assert trusted == built
    assert hash(trusted) == hash(built)
    assert {trusted, built} == {built}
    assert repr(trusted) == repr(built)
    assert str(trusted) == e164
    assert (trusted.display, trusted.region) == (built.display, built.region)


def test_trusted_instances_stay_frozen() -> None:
    imsi, msisdn = Imsi.trusted("454001234567890"), Msisdn.trusted("+85291234567")
    with pytest.raises(dataclasses.FrozenInstanceError):
        imsi.digits = "454001234567891"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        msisdn.e164 = "+85291234568"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        ("439011234567890", "unknown"),  # MCC 439 is not assigned
        ("454991234567890", "unknown"),  # MCC 454 has no MNC 99 or 991
        ("310260", "length"),  # a 3-digit MNC leaves no MSIN
    ],
)
def test_imsi_trusted_skips_the_database(digits: str, check: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Imsi(digits)
    assert info.value.check == check
    kept = Imsi.trusted(digits)
    assert kept.digits == digits
    with pytest.raises(InvalidIdentifier) as info:
        _ = kept.plmn  # the parts still come from the installed database
    assert info.value.check == check


@pytest.mark.parametrize(
    ("e164", "check"),
    [
        ("+85212345678", "unknown"),  # no HK number starts with 1
        ("+10115550123", "unknown"),  # US area codes never start with 0
        ("+852912", "length"),  # too short for the HK plan
    ],
)
def test_msisdn_trusted_skips_the_numbering_plan(e164: str, check: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Msisdn(e164)
    assert info.value.check == check
    assert Msisdn.trusted(e164).e164 == e164


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        ("45400", "length"),
        ("4540012345678901", "length"),
        ("", "length"),
        ("45400123456789O", "format"),
        ("454-00-1234567890", "format"),
        (" 454001234567890", "format"),
        ("４54001234567890", "format"),  # a full-width digit
        ("454001234567²", "format"),
    ],
)
def test_imsi_trusted_refuses_a_wrong_shape_as_the_constructor_does(
    digits: str, check: str
) -> None:
    with pytest.raises(InvalidIdentifier) as built:
        Imsi(digits)
    with pytest.raises(InvalidIdentifier) as trusted:
        Imsi.trusted(digits)
    assert trusted.value.check == built.value.check == check
    assert str(trusted.value) == str(built.value)


@pytest.mark.parametrize(
    "e164",
    [
        "85291234567",
        "+852 9123 4567",
        "+085291234567",
        "+8",
        "+",
        "",
        "+1234567890123456",  # 16 digits
        "＋85291234567",  # full-width plus
        "+８5291234567",  # full-width digit
        "+85291234567\n",
    ],
)
def test_msisdn_trusted_refuses_a_wrong_shape_as_the_constructor_does(e164: str) -> None:
    with pytest.raises(InvalidIdentifier) as built:
        Msisdn(e164)
    with pytest.raises(InvalidIdentifier) as trusted:
        Msisdn.trusted(e164)
    assert trusted.value.check == built.value.check == "format"
    assert str(trusted.value) == str(built.value)


@pytest.mark.parametrize("value", [454001234567890, None, b"454001234567890"])
def test_trusted_refuses_a_non_string(value: object) -> None:
    with pytest.raises(InvalidIdentifier) as imsi_info:
        Imsi.trusted(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifier) as msisdn_info:
        Msisdn.trusted(value)  # type: ignore[arg-type]
    assert imsi_info.value.check == msisdn_info.value.check == "format"
    assert imsi_info.value.value == msisdn_info.value.value == repr(value)


def test_iccid_trusted_equals_and_hashes_like_the_constructor() -> None:
    for digits in ("8985201000000000003", "89852010000000000012"):
        built = Iccid.from_body(digits[:-1])
        trusted = Iccid.trusted(built.digits)
        assert type(trusted) is Iccid
        assert trusted == built
        assert hash(trusted) == hash(built)
        assert repr(trusted) == repr(built)
        assert trusted.padded == built.padded


def test_iccid_trusted_skips_the_prefix_and_luhn_checks() -> None:
    wrong_check_digit = "8985201000000000004"
    with pytest.raises(InvalidIdentifier) as info:
        Iccid(wrong_check_digit)
    assert info.value.check == "checksum"
    assert Iccid.trusted(wrong_check_digit).digits == wrong_check_digit


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        ("898520100000000000", "length"),  # 18 digits
        ("898520100000000000123", "length"),  # 21 digits
        ("898520100000000000F", "format"),
        ("８985201000000000003", "format"),  # a full-width digit
    ],
)
def test_iccid_trusted_refuses_a_wrong_shape(digits: str, check: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Iccid.trusted(digits)
    assert info.value.check == check


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0123456789", True),
        ("", True),  # the length checks say what is wrong with an empty value
        ("12a4", False),
        ("12 4", False),
        ("²", False),  # superscript two: str.isdigit says yes
        ("４5", False),  # full-width four
        ("٣", False),  # Arabic-Indic three
    ],
)
def test_only_ascii_digits_are_digits(text: str, expected: bool) -> None:
    assert is_ascii_digits(text) is expected
