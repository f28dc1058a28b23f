"""Identifier value types: real-world valid values, and each named check failing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from famsim.domain.errors import InvalidIdentifier, InvalidInput
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn

pytestmark = pytest.mark.unit


def _luhn_ok(digits: str) -> bool:
    """Independent Luhn check, so the examples do not rest on stdnum alone."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _fails(parse: Callable[[str], object], text: str, check: str) -> InvalidIdentifier:
    """Assert *parse* rejects *text* with *check*, naming the value as given."""
    with pytest.raises(InvalidIdentifier) as info:
        parse(text)
    err = info.value
    assert err.check == check, str(err)
    assert err.value == text
    assert repr(text) in str(err)
    return err


# --- ICCID ---------------------------------------------------------------------------

ICCID_20 = "89014103211118510720"  # a widely quoted 20-digit ICCID (country code 1)
ICCID_19_BODY = "891004234814455936"
ICCID_19 = "8910042348144559361"  # from_body(ICCID_19_BODY), Luhn digit 1


def test_iccid_examples_pass_an_independent_luhn() -> None:
    assert _luhn_ok(ICCID_20)
    assert _luhn_ok(ICCID_19)
    assert not _luhn_ok(ICCID_20[:-1] + "1")


def test_iccid_parse_20_digits() -> None:
    iccid = Iccid.parse(ICCID_20)
    assert iccid.digits == ICCID_20
    assert str(iccid) == ICCID_20
    assert iccid.padded == ICCID_20


@pytest.mark.parametrize(
    "text",
    [
        "  89014103211118510720\n",
        "8901 4103 2111 1851 0720",
        "8901-4103-2111-1851-0720",
    ],
)
def test_iccid_parse_is_lenient_about_spacing(text: str) -> None:
    assert Iccid.parse(text) == Iccid(ICCID_20)


def test_iccid_19_digits_and_padded_form() -> None:
    iccid = Iccid.from_body(ICCID_19_BODY)
    assert iccid.digits == ICCID_19
    assert iccid.padded == ICCID_19 + "F"
    assert Iccid.parse(ICCID_19) == iccid
    assert Iccid.parse(ICCID_19 + "F") == iccid
    assert Iccid.parse(ICCID_19 + "f") == iccid
    assert Iccid.parse(ICCID_19[:4] + " " + ICCID_19[4:] + "F") == iccid
    assert str(Iccid.parse(ICCID_19 + "F")) == ICCID_19  # stored without the pad


def test_iccid_from_body_20_digits() -> None:
    assert Iccid.from_body(ICCID_20[:-1]) == Iccid(ICCID_20)


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("890141032111185107", "length"),  # 18 digits
        ("890141032111185107201", "length"),  # 21 digits
        ("", "length"),
        ("89014103211118510721", "checksum"),  # last digit flipped
        ("8901410321111851072O", "format"),  # letter O for zero
        ("letters", "format"),
        ("8901410321111F510720", "format"),  # F in the middle
        ("891004234814455936F1", "format"),  # F not at the end
        ("890141032111185107F", "format"),  # F after 18 digits is no pad
        ("８９014103211118510720", "format"),  # full-width digits
        ("79014103211118510720", "prefix"),
        ("12345678901234567890", "prefix"),  # wrong Luhn too: prefix is checked first
    ],
)
def test_iccid_rejects(text: str, check: str) -> None:
    _fails(Iccid.parse, text, check)


def test_iccid_prefix_fails_even_with_a_valid_luhn_digit() -> None:
    assert _luhn_ok("12345678901234567894")
    assert _luhn_ok("99014103211118510728")
    _fails(Iccid.parse, "12345678901234567894", "prefix")
    _fails(Iccid.parse, "99014103211118510728", "prefix")


def test_iccid_f_in_the_middle_explains_padding() -> None:
    err = _fails(Iccid.parse, "8901410321111F510720", "format")
    assert "pad" in err.reason


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("8901410321111851", "length"),
        ("89014103211118510720", "length"),
        ("8901410321111851x7", "format"),
        ("990141032111185107", "prefix"),
    ],
)
def test_iccid_from_body_rejects(body: str, check: str) -> None:
    _fails(Iccid.from_body, body, check)


@pytest.mark.parametrize(
    "digits",
    [
        "89014103211118510721",  # bad checksum
        "8901 4103 2111 1851 0720",  # not canonical
        ICCID_19 + "F",  # the pad is not stored
    ],
)
def test_iccid_direct_construction_validates(digits: str) -> None:
    with pytest.raises(InvalidIdentifier):
        Iccid(digits)


def test_iccid_is_frozen_and_hashable() -> None:
    iccid = Iccid(ICCID_20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        iccid.digits = ICCID_19  # type: ignore[misc]
    assert {iccid, Iccid.parse(ICCID_20)} == {iccid}


def test_invalid_identifier_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        Iccid.parse("nope")


# --- EID -------------------------------------------------------------------------------

EID_BODY = "890490320000010000000000000000"
EID = "89049032000001000000000000000074"  # EID_BODY + check digits 74


def test_eid_from_body_and_whole_number_mod_97() -> None:
    eid = Eid.from_body(EID_BODY)
    assert eid.digits == EID
    assert int(EID) % 97 == 1
    assert Eid.parse(EID) == eid
    assert str(eid) == EID


def test_eid_parse_is_lenient_about_spacing() -> None:
    grouped = " ".join(EID[i : i + 4] for i in range(0, 32, 4))
    assert Eid.parse(f"  {grouped} ") == Eid(EID)


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("89049032000001000000000000000000", "checksum"),  # plausible-looking, not valid
        ("89049032000001000000000000000075", "checksum"),  # check digits off by one
        ("89049032000001000000000000000047", "checksum"),  # check digits swapped
        (EID[:-1], "length"),  # 31 digits
        (EID + "0", "length"),  # 33 digits
        ("8904903200000100000000000000007A", "format"),
        ("letters", "format"),
        ("12049032000001000000000000000074", "prefix"),
    ],
)
def test_eid_rejects(text: str, check: str) -> None:
    _fails(Eid.parse, text, check)


@pytest.mark.parametrize(
    ("body", "check"),
    [(EID_BODY[:-1], "length"), (EID, "length"), ("x" * 30, "format"), ("1" * 30, "prefix")],
)
def test_eid_from_body_rejects(body: str, check: str) -> None:
    _fails(Eid.from_body, body, check)


def test_eid_direct_construction_validates() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Eid("89049032000001000000000000000000")
    assert info.value.check == "checksum"


# --- IMEI ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tac", "serial"),
    [
        ("490154203237518", "49015420", "323751"),
        ("356938035643809", "35693803", "564380"),
        ("49-015420-323751-8", "49015420", "323751"),
        (" 35 693803 564380 9 ", "35693803", "564380"),
    ],
)
def test_imei_parse(text: str, tac: str, serial: str) -> None:
    imei = Imei.parse(text)
    assert _luhn_ok(imei.digits)
    assert imei.tac == tac
    assert imei.serial == serial
    assert str(imei) == tac + serial + imei.digits[-1]


def test_imei_from_body() -> None:
    assert Imei.from_body("49015420323751") == Imei("490154203237518")
    assert Imei.from_body("35693803564380") == Imei("356938035643809")


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("490154203237519", "checksum"),
        ("356938035643800", "checksum"),
        ("49015420323751", "length"),  # 14 digits: no check digit
        ("4901542032375101", "length"),  # 16 digits: an IMEISV
        ("49015420323751X", "format"),
        ("letters", "format"),
    ],
)
def test_imei_rejects(text: str, check: str) -> None:
    _fails(Imei.parse, text, check)


@pytest.mark.parametrize(
    ("body", "check"), [("490154203237518", "length"), ("4901542032375X", "format")]
)
def test_imei_from_body_rejects(body: str, check: str) -> None:
    _fails(Imei.from_body, body, check)


# --- IMSI ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mcc", "mnc", "msin"),
    [
        ("454001234567890", "454", "00", "1234567890"),  # Hong Kong, CSL
        ("250011234567890", "250", "01", "1234567890"),  # Russia, MTS
        ("310260123456789", "310", "260", "123456789"),  # US, T-Mobile: 3-digit MNC
        ("454-00-1234567890", "454", "00", "1234567890"),
        (" 310 260 123456789 ", "310", "260", "123456789"),
        ("45400123456", "454", "00", "123456"),  # shorter than 15 digits
        ("250011", "250", "01", "1"),  # the shortest: 6 digits
    ],
)
def test_imsi_parse_and_split(text: str, mcc: str, mnc: str, msin: str) -> None:
    imsi = Imsi.parse(text)
    assert (imsi.mcc, imsi.mnc, imsi.msin) == (mcc, mnc, msin)
    assert imsi.plmn == mcc + mnc
    assert str(imsi) == mcc + mnc + msin
    assert Imsi(str(imsi)) == imsi


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("4540012345678901", "length"),  # 16 digits
        ("45400", "length"),
        ("", "length"),
        ("45400123456789O", "format"),
        ("letters", "format"),
        ("439011234567890", "unknown"),  # MCC 439 is not assigned
        ("000001234567890", "unknown"),
        ("454991234567890", "unknown"),  # MCC 454 has no MNC 99 or 991
        ("310260", "length"),  # 3-digit MNC leaves no MSIN
    ],
)
def test_imsi_rejects(text: str, check: str) -> None:
    _fails(Imsi.parse, text, check)


def test_imsi_direct_construction_validates() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Imsi("454-00-1234567890")
    assert info.value.check == "format"


# --- MSISDN ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164", "display", "region", "country_code"),
    [
        ("+85291234567", "+85291234567", "+852 9123 4567", "HK", 852),
        ("+852 9123 4567", "+85291234567", "+852 9123 4567", "HK", 852),
        ("0085291234567", "+85291234567", "+852 9123 4567", "HK", 852),
        ("+79161234567", "+79161234567", "+7 916 123-45-67", "RU", 7),
        ("+7 (916) 123-45-67", "+79161234567", "+7 916 123-45-67", "RU", 7),
        ("+12015550123", "+12015550123", "+1 201-555-0123", "US", 1),
    ],
)
def test_msisdn_parse_international(
    text: str, e164: str, display: str, region: str, country_code: int
) -> None:
    msisdn = Msisdn.parse(text)
    assert msisdn.e164 == e164
    assert str(msisdn) == e164
    assert msisdn.display == display
    assert msisdn.region == region
    assert msisdn.country_code == country_code
    assert Msisdn(e164) == msisdn


@pytest.mark.parametrize(
    ("text", "region", "e164", "national"),
    [
        ("9123 4567", "HK", "+85291234567", "9123 4567"),
        ("8 916 123-45-67", "RU", "+79161234567", "8 (916) 123-45-67"),
        ("(201) 555-0123", "US", "+12015550123", "(201) 555-0123"),
        ("201-555-0123", "us", "+12015550123", "(201) 555-0123"),
        ("+852 9123 4567", "US", "+85291234567", "9123 4567"),  # explicit code wins
    ],
)
def test_msisdn_parse_national_with_region(
    text: str, region: str, e164: str, national: str
) -> None:
    msisdn = Msisdn.parse(text, region=region)
    assert msisdn.e164 == e164
    assert msisdn.national == national
    assert Msisdn.parse(msisdn.national, region=msisdn.region) == msisdn


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("91234567", "format"),  # no country code and no region
        ("2015550123", "format"),
        ("+85", "format"),
        ("+", "format"),
        ("not a number", "format"),
        ("+1 201 555 0123 ext. 5", "format"),
        ("+852 912", "length"),  # too short
        ("+852 9123 4567 8901", "length"),  # too long
        ("+852 1234 5678", "unknown"),  # right length, but no HK number starts with 1
        ("+1 011 555 0123", "unknown"),  # US area codes never start with 0
    ],
)
def test_msisdn_rejects(text: str, check: str) -> None:
    _fails(Msisdn.parse, text, check)


def test_msisdn_missing_country_code_says_so() -> None:
    err = _fails(Msisdn.parse, "9123 4567", "format")
    assert "country code" in err.reason


def test_msisdn_unknown_region_is_a_format_error() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Msisdn.parse("9123 4567", region="XX")
    assert info.value.check == "format"
    assert "9123 4567" in str(info.value)


@pytest.mark.parametrize(
    ("e164", "check"),
    [
        ("+852 9123 4567", "format"),  # not canonical
        ("85291234567", "format"),  # no plus
        ("+85212345678", "unknown"),
        ("+852912", "length"),
    ],
)
def test_msisdn_direct_construction_validates(e164: str, check: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        Msisdn(e164)
    assert info.value.check == check
    assert repr(e164) in str(info.value)
