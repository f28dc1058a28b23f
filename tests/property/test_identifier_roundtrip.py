"""Round trips and error detection of the identifier types, over generated values."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers import Eid, Iccid, Imei, Msisdn

pytestmark = pytest.mark.unit

# No deadline: phonenumbers loads a region's metadata the first time it meets it, which
# would make the first example of a region look slow.
common = settings(deadline=None)


def digits(size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Strings of ASCII digits with a length between *size* and *max_size*."""
    return st.text(
        alphabet="0123456789", min_size=size, max_size=size if max_size is None else max_size
    )


iccid_bodies = digits(16, 17).map(lambda rest: "89" + rest)  # 18- or 19-digit bodies
eid_bodies = digits(28).map(lambda rest: "89" + rest)
imei_bodies = digits(14)


def other_digit(digit: str, shift: int) -> str:
    """A digit different from *digit* (shift is 1..9)."""
    return str((int(digit) + shift) % 10)


def changed(value: str, position: int, shift: int) -> str:
    """*value* with the digit at *position* replaced by a different one."""
    return value[:position] + other_digit(value[position], shift) + value[position + 1 :]


def spaced(value: str, cuts: list[int], separator: str) -> str:
    """*value* with *separator* inserted at the given cut points, as people group digits."""
    pieces, start = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(value[start:cut])
        start = cut
    pieces.append(value[start:])
    return separator.join(pieces)


# --- round trips -----------------------------------------------------------------------


@common
@given(iccid_bodies)
def test_iccid_from_body_round_trips(body: str) -> None:
    iccid = Iccid.from_body(body)
    assert iccid.digits.startswith(body)
    assert len(iccid.digits) == len(body) + 1
    assert Iccid.parse(str(iccid)) == iccid
    assert Iccid(iccid.digits) == iccid
    assert Iccid.parse(iccid.padded) == iccid
    assert Iccid.parse(iccid.padded.lower()) == iccid
    assert len(iccid.padded) == 20


@common
@given(iccid_bodies, st.lists(st.integers(1, 18), max_size=5), st.sampled_from([" ", "-"]))
def test_iccid_parse_ignores_grouping(body: str, cuts: list[int], separator: str) -> None:
    iccid = Iccid.from_body(body)
    assert Iccid.parse(f" {spaced(str(iccid), cuts, separator)}\t") == iccid


@common
@given(eid_bodies)
def test_eid_from_body_round_trips(body: str) -> None:
    eid = Eid.from_body(body)
    assert eid.digits.startswith(body)
    assert int(eid.digits) % 97 == 1
    assert Eid.parse(str(eid)) == eid
    assert Eid(eid.digits) == eid


@common
@given(eid_bodies, st.lists(st.integers(1, 31), max_size=8), st.sampled_from([" ", "-"]))
def test_eid_parse_ignores_grouping(body: str, cuts: list[int], separator: str) -> None:
    eid = Eid.from_body(body)
    assert Eid.parse(spaced(str(eid), cuts, separator)) == eid


@common
@given(imei_bodies)
def test_imei_from_body_round_trips(body: str) -> None:
    imei = Imei.from_body(body)
    assert Imei.parse(str(imei)) == imei
    assert Imei(imei.digits) == imei
    assert imei.tac + imei.serial == body
    assert Imei.parse(f"{imei.tac}-{imei.serial}-{imei.digits[-1]}") == imei


# --- every single-digit error is caught --------------------------------------------------


@common
@given(iccid_bodies, st.data(), st.integers(1, 9))
def test_iccid_single_digit_change_fails_checksum(
    body: str, data: st.DataObject, shift: int
) -> None:
    iccid = str(Iccid.from_body(body))
    position = data.draw(st.integers(2, len(iccid) - 1), label="position")
    wrong = changed(iccid, position, shift)
    with pytest.raises(InvalidIdentifier) as info:
        Iccid.parse(wrong)
    assert info.value.check == "checksum"
    assert repr(wrong) in str(info.value)


@common
@given(iccid_bodies, st.integers(0, 1), st.integers(1, 9))
def test_iccid_change_in_prefix_fails_prefix(body: str, position: int, shift: int) -> None:
    wrong = changed(str(Iccid.from_body(body)), position, shift)
    with pytest.raises(InvalidIdentifier) as info:
        Iccid.parse(wrong)
    assert info.value.check == "prefix"


@common
@given(imei_bodies, st.integers(0, 14), st.integers(1, 9))
def test_imei_single_digit_change_fails_checksum(body: str, position: int, shift: int) -> None:
    wrong = changed(str(Imei.from_body(body)), position, shift)
    with pytest.raises(InvalidIdentifier) as info:
        Imei.parse(wrong)
    assert info.value.check == "checksum"
    assert repr(wrong) in str(info.value)


@common
@given(eid_bodies, st.integers(2, 31), st.integers(1, 9))
def test_eid_single_digit_change_fails_checksum(body: str, position: int, shift: int) -> None:
    # d * 10**k is never a multiple of the prime 97, so MOD 97-10 catches any one digit.
    wrong = changed(str(Eid.from_body(body)), position, shift)
    with pytest.raises(InvalidIdentifier) as info:
        Eid.parse(wrong)
    assert info.value.check == "checksum"


# --- MSISDN: every region's example numbers ---------------------------------------------

NUMBER_TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]


@common
@given(
    st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)),
    st.sampled_from(NUMBER_TYPES),
)
def test_msisdn_round_trips_through_every_format(region: str, number_type: int) -> None:
    example = phonenumbers.example_number_for_type(region, number_type)
    assume(example is not None)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    msisdn = Msisdn.parse(e164)
    assert str(msisdn) == e164
    assert Msisdn(e164) == msisdn
    assert Msisdn.parse(msisdn.display) == msisdn
    assert Msisdn.parse("00" + e164[1:]) == msisdn
    assert Msisdn.parse(msisdn.national, region=region) == msisdn
    assert msisdn.country_code == example.country_code
    # Countries that share a plan (AX with FI, IM with GB) report the plan's main region.
    assert msisdn.region in phonenumbers.region_codes_for_country_code(msisdn.country_code)
