"""IMEI: the International Mobile Equipment Identity of a phone, watch or tablet.

Defined by 3GPP TS 23.003 (section 6.2): an 8-digit Type Allocation Code (TAC, the make and
model), a 6-digit serial number and a Luhn check digit, 15 digits in all. The 16-digit IMEISV
(software version instead of the check digit) and the bare 14-digit IMEI are not accepted:
famsim records the one form that can be checked. Built on :mod:`stdnum.luhn`, the checksum
:mod:`stdnum.imei` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from stdnum import luhn

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers.digits import is_ascii_digits

KIND = "IMEI"
LENGTH = 15
BODY_LENGTH = 14
TAC_LENGTH = 8
SERIAL_LENGTH = 6


def _compact(text: str) -> str:
    """Undo the usual ways people write an IMEI: surrounding blanks, ``AA-BBBBBB-CCCCCC-D``."""
    return text.strip().replace(" ", "").replace("-", "")


def _validate(digits: str, value: str) -> None:
    """Raise for the first failed check (format, length, checksum), naming *value*."""
    if not is_ascii_digits(digits):
        raise InvalidIdentifier(KIND, "format", value, "only the digits 0-9 are allowed")
    if len(digits) != LENGTH:
        raise InvalidIdentifier(
            KIND,
            "length",
            value,
            f"has {len(digits)} digits, an IMEI has {LENGTH} (TAC, serial, check digit)",
        )
    if not luhn.is_valid(digits):
        raise InvalidIdentifier(KIND, "checksum", value, "the Luhn check digit does not match")


@dataclass(frozen=True, slots=True)
class Imei:
    """A valid 15-digit IMEI.

    Build one with :meth:`parse` (lenient, for input) or :meth:`from_body` (for
    generators); direct construction validates too, so an invalid IMEI cannot exist.
    """

    digits: str

    def __post_init__(self) -> None:
        """Refuse any value that is not already canonical and valid."""
        if not isinstance(self.digits, str):
            raise InvalidIdentifier(KIND, "format", repr(self.digits), "must be a string")
        _validate(self.digits, self.digits)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read an IMEI as people copy it from ``*#06#`` or a box label, spaced or hyphenated.

        Raises InvalidIdentifier naming the failed check and *text* as given.
        """
        digits = _compact(text)
        _validate(digits, text)
        return cls(digits)

    @classmethod
    def from_body(cls, body: str) -> Self:
        """Complete a 14-digit body (TAC + serial) with its Luhn check digit.

        For device generators and demos, which pick a TAC and a serial and need a check
        digit that every parser will accept.
        """
        if not is_ascii_digits(body):
            raise InvalidIdentifier(KIND, "format", body, "a body has only the digits 0-9")
        if len(body) != BODY_LENGTH:
            raise InvalidIdentifier(
                KIND, "length", body, f"a body has {BODY_LENGTH} digits, not {len(body)}"
            )
        return cls(body + str(luhn.calc_check_digit(body)))

    @property
    def tac(self) -> str:
        """The Type Allocation Code: identifies the device make and model."""
        return self.digits[:TAC_LENGTH]

    @property
    def serial(self) -> str:
        """The serial number the manufacturer assigned within the TAC."""
        return self.digits[TAC_LENGTH : TAC_LENGTH + SERIAL_LENGTH]

    def __str__(self) -> str:
        """The canonical 15 digits."""
        return self.digits
