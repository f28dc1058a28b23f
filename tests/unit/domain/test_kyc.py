"""KycData: names, ages for the role, and document numbers checked the way stdnum and the
Hong Kong check digit say."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from famsim.domain.kyc import DocumentType, InvalidKyc, KycData, age_on, hkid_check_digit
from famsim.domain.members import Role

TODAY = date(2026, 6, 15)


def cn_id(born: date, area: str = "110101", order: str = "123") -> str:
    """A valid Chinese resident ID for *born* (Beijing Dongcheng), with stdnum's check digit."""
    body = f"{area}{born:%Y%m%d}{order}"
    return body + ric.calc_check_digit(body + "0")


def kyc(
    born: date = date(1990, 3, 4),
    kind: DocumentType = DocumentType.PASSPORT,
    number: str = "K1234567",
    name: str = "Chan Tai Man",
) -> KycData:
    return KycData(name, born, kind, number)


def refused(data: KycData, role: Role = Role.ADULT) -> InvalidKyc:
    with pytest.raises(InvalidKyc) as caught:
        data.check(role, TODAY)
    return caught.value


# ------------------------------------------------------------------ Chinese resident ID
def test_a_valid_chinese_resident_id_is_accepted_and_compacted() -> None:
    born = date(1990, 3, 4)
    number = cn_id(born)
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
    checked = kyc(born, DocumentType.CN_RESIDENT_ID, spaced).check(Role.ADULT, TODAY)
    assert checked.document_number == number
    assert checked.number_last4 == number[-4:]


def test_a_resident_id_ending_in_x_is_accepted_in_either_case() -> None:
    for order in (f"{n:03d}" for n in range(1000)):
        number = cn_id(date(1985, 1, 2), order=order)
        if number.endswith("X"):
            break
    checked = kyc(date(1985, 1, 2), DocumentType.CN_RESIDENT_ID, number.lower()).check(
        Role.ADULT, TODAY
    )
    assert checked.document_number == number


@pytest.mark.parametrize(
    ("number", "check"),
    [
        ("11010119900304123", "length"),
        ("1101011990030412345", "length"),
        ("1101011990030412A4", "format"),
        ("110101199002301234", "checksum"),  # wrong check digit (and no 30 February)
    ],
)
def test_malformed_resident_ids_name_the_check(number: str, check: str) -> None:
    error = refused(kyc(date(1990, 3, 4), DocumentType.CN_RESIDENT_ID, number))
    assert error.field == "document_number"
    assert error.check == check


def test_a_wrong_check_digit_is_refused() -> None:
    number = cn_id(date(1990, 3, 4))
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    error = refused(kyc(date(1990, 3, 4), DocumentType.CN_RESIDENT_ID, wrong))
    assert (error.field, error.check) == ("document_number", "checksum")
    assert "document_number: checksum check failed" in str(error)


def test_an_impossible_date_inside_the_id_is_refused() -> None:
    body = "11010119900230123"  # 30 February 1990
    number = body + ric.calc_check_digit(body + "0")
    error = refused(kyc(date(1990, 3, 4), DocumentType.CN_RESIDENT_ID, number))
    assert error.check == "component"


def test_an_unknown_place_of_registration_is_refused() -> None:
    error = refused(
        kyc(date(1990, 3, 4), DocumentType.CN_RESIDENT_ID, cn_id(date(1990, 3, 4), "990000"))
    )
    assert error.check == "component"


def test_the_birth_date_in_the_id_must_be_the_date_of_birth() -> None:
    error = refused(kyc(date(1990, 3, 5), DocumentType.CN_RESIDENT_ID, cn_id(date(1990, 3, 4))))
    assert (error.field, error.check) == ("document_number", "birth_date")


# ------------------------------------------------------------------ Hong Kong ID
@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("A123456(3)", "A1234563"),  # the example printed in guides
        ("a123456 (3)", "A1234563"),
        ("G123456(A)", "G123456A"),  # sum 529, 529 mod 11 = 1, 11 - 1 = 10: A
        ("AB987654(3)", "AB9876543"),  # sum 371, 371 mod 11 = 8, 11 - 8 = 3
    ],
)
def test_valid_hong_kong_ids(written: str, stored: str) -> None:
    prefix = stored[:-7]
    assert hkid_check_digit(prefix, stored[-7:-1]) == stored[-1]
    checked = kyc(kind=DocumentType.HK_ID, number=written).check(Role.ADULT, TODAY)
    assert checked.document_number == stored


def test_two_letter_prefixes_and_the_check_letter_a() -> None:
    for digits in (f"{n:06d}" for n in range(0, 200)):
        if hkid_check_digit("XA", digits) == "A":
            break
    number = f"XA{digits}A"
    checked = kyc(kind=DocumentType.HK_ID, number=f"XA{digits}(A)").check(Role.ADULT, TODAY)
    assert checked.document_number == number


@pytest.mark.parametrize(
    ("number", "check"),
    [
        ("A123456(4)", "checksum"),
        ("A12345(3)", "format"),
        ("1234567(3)", "format"),
        ("ABC123456(3)", "format"),
        ("A123456(B)", "format"),
    ],
)
def test_bad_hong_kong_ids_name_the_check(number: str, check: str) -> None:
    error = refused(kyc(kind=DocumentType.HK_ID, number=number))
    assert (error.field, error.check) == ("document_number", check)


# ------------------------------------------------------------------ passports
def test_passport_numbers_are_letters_and_digits() -> None:
    assert kyc(number=" k 12345-67 ").check(Role.ADULT, TODAY).document_number == "K1234567"
    assert refused(kyc(number="K12")).check == "format"
    assert refused(kyc(number="K" * 21)).check == "format"
    assert refused(kyc(number="K12345_67")).check == "format"
    assert refused(kyc(number="  ")).check == "length"


# ------------------------------------------------------------------ ages
def test_age_is_counted_in_whole_years_and_leap_days_turn_on_the_first_of_march() -> None:
    assert age_on(date(2008, 6, 15), TODAY) == 18
    assert age_on(date(2008, 6, 16), TODAY) == 17
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_an_adult_is_eighteen_on_the_birthday_and_not_the_day_before() -> None:
    assert kyc(date(2008, 6, 15)).check(Role.ADULT, TODAY).date_of_birth == date(2008, 6, 15)
    assert kyc(date(2008, 6, 15)).check(Role.OWNER, TODAY)
    error = refused(kyc(date(2008, 6, 16)))
    assert (error.field, error.check) == ("date_of_birth", "age")
    assert refused(kyc(date(2008, 6, 16)), Role.OWNER).check == "age"


def test_a_child_is_under_eighteen_until_the_birthday() -> None:
    assert kyc(date(2008, 6, 16)).check(Role.CHILD, TODAY)
    error = refused(kyc(date(2008, 6, 15)), Role.CHILD)
    assert (error.field, error.check) == ("date_of_birth", "age")
    assert kyc(TODAY).check(Role.CHILD, TODAY)  # born today


def test_dates_of_birth_in_the_future_or_absurdly_long_ago_are_refused() -> None:
    assert refused(kyc(date(2026, 6, 16)), Role.CHILD).check == "range"
    assert refused(kyc(date(1890, 1, 1))).check == "range"
    assert kyc(date(1900, 1, 1)).check(Role.ADULT, TODAY)


# ------------------------------------------------------------------ names, types, bytes
def test_legal_names_are_cleaned_and_bounded() -> None:
    assert kyc(name="  Chan   Tai  Man ").check(Role.ADULT, TODAY).legal_name == "Chan Tai Man"
    assert refused(kyc(name="   ")).field == "legal_name"
    assert refused(kyc(name="x" * 101)).check == "length"
    assert kyc(name="x" * 100).check(Role.ADULT, TODAY)
    assert kyc(name="陳大文").check(Role.ADULT, TODAY).legal_name == "陳大文"


def test_an_unknown_document_type_is_refused() -> None:
    error = refused(KycData("Chan", date(1990, 1, 1), "driving_licence", "X12345"))  # type: ignore[arg-type]
    assert (error.field, error.check) == ("document_type", "known")


def test_round_trip_through_bytes() -> None:
    data = kyc(date(1990, 3, 4), DocumentType.CN_RESIDENT_ID, cn_id(date(1990, 3, 4)))
    checked = data.check(Role.ADULT, TODAY)
    assert KycData.from_bytes(checked.to_bytes()) == checked
