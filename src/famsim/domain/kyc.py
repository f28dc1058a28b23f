"""Identity verification (KYC): who a member is, checked before it joins a family.

A member's legal name, date of birth and identity document are checked here and then
only ever stored sealed (see ``famsim.service.invitations``); the family sees a display
name, never these. The checks are the ones a shop assistant would make: the age fits the
role (an adult is 18 or over, a child under 18) and the document number is well formed,
with its check digit verified wherever the format has one. python-stdnum knows the
Chinese resident identity number; it has no module for the Hong Kong identity card
(there is no ``stdnum.hk``), so that check digit is computed here by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Self

from stdnum.cn import ric
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from famsim.domain.errors import InvalidInput
from famsim.domain.members import Role

ADULT_AGE = 18
MAX_AGE = 130  # older than anyone alive: a typing mistake, not a customer
MAX_LEGAL_NAME = 100
PASSPORT = re.compile(r"[A-Z0-9]{5,20}")
HKID = re.compile(r"([A-Z]{1,2})([0-9]{6})([0-9A])")


class DocumentType(StrEnum):
    """The identity documents famsim accepts."""

    HK_ID = "hk_id"
    CN_RESIDENT_ID = "cn_resident_id"
    PASSPORT = "passport"


class InvalidKyc(InvalidInput):
    """One identity field failed one named check (``field`` and ``check`` say which)."""

    def __init__(self, field: str, check: str, reason: str) -> None:
        self.field = field
        self.check = check
        super().__init__(f"{field}: {check} check failed: {reason}")


def age_on(born: date, today: date) -> int:
    """Whole years from *born* to *today* (someone born on 29 February turns a year older
    on 1 March in other years)."""
    had_birthday = (today.month, today.day) >= (born.month, born.day)
    return today.year - born.year - (0 if had_birthday else 1)


def _compact(number: str) -> str:
    """The number as written on the document, without spaces, dashes or brackets."""
    return re.sub(r"[\s\-()/.]", "", number).upper()


def hkid_check_digit(prefix: str, digits: str) -> str:
    """The check character of a Hong Kong identity card number (0-9 or A).

    Hand-written because python-stdnum has no Hong Kong module: a one-letter prefix is
    padded with a space worth 36, letters count A=10..Z=35, the eight characters are
    weighted 9 down to 2, and the check is 11 minus the sum modulo 11 (10 is written A,
    11 is written 0).
    """
    padded = prefix.rjust(2)
    values = [36 if c == " " else ord(c) - ord("A") + 10 for c in padded]
    values += [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    check = 11 - total % 11
    return {10: "A", 11: "0"}.get(check, str(check))


def _check_hkid(number: str) -> str:
    match = HKID.fullmatch(number)
    if match is None:
        raise InvalidKyc(
            "document_number",
            "format",
            "a Hong Kong ID is one or two letters, six digits and a check digit or A",
        )
    prefix, digits, check = match.groups()
    if hkid_check_digit(prefix, digits) != check:
        raise InvalidKyc("document_number", "checksum", "the Hong Kong ID check digit is wrong")
    return number


_RIC_FAILURES: tuple[tuple[type[ValidationError], str, str], ...] = (
    (InvalidLength, "length", "a Chinese resident ID has 18 characters"),
    (InvalidFormat, "format", "a Chinese resident ID is 17 digits and a check digit or X"),
    (InvalidChecksum, "checksum", "the Chinese resident ID check digit is wrong"),
    (
        InvalidComponent,
        "component",
        "the Chinese resident ID names no real birth date or place of registration",
    ),
)


def _check_cn_resident_id(number: str, born: date) -> str:
    try:
        valid: str = ric.validate(number)
    except ValidationError as exc:
        for kind, check, reason in _RIC_FAILURES:
            if isinstance(exc, kind):
                raise InvalidKyc("document_number", check, reason) from None
        raise InvalidKyc("document_number", "format", str(exc)) from None
    if ric.get_birth_date(valid) != born:
        raise InvalidKyc(
            "document_number",
            "birth_date",
            "the birth date in the Chinese resident ID differs from the date of birth",
        )
    return valid


def _check_passport(number: str) -> str:
    if not PASSPORT.fullmatch(number):
        raise InvalidKyc(
            "document_number", "format", "a passport number is 5 to 20 letters or digits"
        )
    return number


@dataclass(frozen=True, slots=True)
class KycData:
    """A person's identity as given; :meth:`check` returns the cleaned, verified copy."""

    legal_name: str
    date_of_birth: date
    document_type: DocumentType
    document_number: str

    def check(self, role: Role, today: date) -> KycData:
        """The same identity, cleaned, once every rule holds for *role* on *today*.

        Raises :class:`InvalidKyc` naming the field and the failed check.
        """
        name = " ".join(self.legal_name.split())
        if not name:
            raise InvalidKyc("legal_name", "length", "the legal name must not be empty")
        if len(name) > MAX_LEGAL_NAME:
            raise InvalidKyc(
                "legal_name", "length", f"the legal name has at most {MAX_LEGAL_NAME} characters"
            )
        if any(not c.isprintable() for c in name):
            raise InvalidKyc("legal_name", "format", "the legal name has control characters")
        born = self.date_of_birth
        if born > today:
            raise InvalidKyc("date_of_birth", "range", "the date of birth is in the future")
        age = age_on(born, today)
        if age > MAX_AGE:
            raise InvalidKyc("date_of_birth", "range", f"nobody is older than {MAX_AGE}")
        if role is Role.CHILD and age >= ADULT_AGE:
            raise InvalidKyc(
                "date_of_birth", "age", f"a child is under {ADULT_AGE}; this person is {age}"
            )
        if role is not Role.CHILD and age < ADULT_AGE:
            raise InvalidKyc(
                "date_of_birth",
                "age",
                f"the {role.value} must be {ADULT_AGE} or over; this person is {age}",
            )
        try:
            kind = DocumentType(self.document_type)
        except ValueError:
            known = ", ".join(t.value for t in DocumentType)
            raise InvalidKyc(
                "document_type", "known", f"{self.document_type!r} is not one of {known}"
            ) from None
        number = _compact(self.document_number)
        if not number:
            raise InvalidKyc("document_number", "length", "the document number is empty")
        if kind is DocumentType.CN_RESIDENT_ID:
            number = _check_cn_resident_id(number, born)
        elif kind is DocumentType.HK_ID:
            number = _check_hkid(number)
        else:
            number = _check_passport(number)
        return KycData(name, born, kind, number)

    @property
    def number_last4(self) -> str:
        """The last four characters of the document number: enough to recognise it."""
        return self.document_number[-4:]

    def to_bytes(self) -> bytes:
        """JSON, to be sealed; never stored as it is."""
        return json.dumps(
            {
                "legal_name": self.legal_name,
                "date_of_birth": self.date_of_birth.isoformat(),
                "document_type": self.document_type.value,
                "document_number": self.document_number,
            },
            sort_keys=True,
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Read back what :meth:`to_bytes` wrote (after opening the seal)."""
        try:
            fields: dict[str, Any] = json.loads(data.decode("utf-8"))
            return cls(
                legal_name=str(fields["legal_name"]),
                date_of_birth=date.fromisoformat(fields["date_of_birth"]),
                document_type=DocumentType(fields["document_type"]),
                document_number=str(fields["document_number"]),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"stored identity data is unreadable: {exc}") from None
