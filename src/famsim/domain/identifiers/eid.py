"""EID: the eUICC Identifier, the serial number of the embedded chip that holds eSIM profiles.

Defined by GSMA SGP.29 (EID definition and assignment): 32 decimal digits starting with
``89`` (the telecommunications industry identifier, as in E.118), the last two of which are
check digits per ISO/IEC 7064 MOD 97-10, so that the whole number modulo 97 equals 1. Only
eSIM-capable devices have one. python-stdnum has no EID module, so this one is built on
:mod:`stdnum.iso7064.mod_97_10`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from stdnum.iso7064 import mod_97_10

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers.digits import is_ascii_digits

KIND = "EID"
PREFIX = "89"
LENGTH = 32
BODY_LENGTH = 30


def _compact(text: str) -> str:
    """Undo the usual ways people write an EID: surrounding blanks, groups of digits."""
    return text.strip().replace(" ", "").replace("-", "")


def _validate(digits: str, value: str) -> None:
    """Raise for the first failed check (format, length, prefix, checksum), naming *value*."""
    if not is_ascii_digits(digits):
        raise InvalidIdentifier(KIND, "format", value, "only the digits 0-9 are allowed")
    if len(digits) != LENGTH:
        raise InvalidIdentifier(
            KIND, "length", value, f"has {len(digits)} digits, an EID has {LENGTH}"
        )
    if not digits.startswith(PREFIX):
        raise InvalidIdentifier(
            KIND, "prefix", value, "must start with 89, the telecommunications industry code"
        )
    if not mod_97_10.is_valid(digits):
        raise InvalidIdentifier(
            KIND, "checksum", value, "the ISO 7064 MOD 97-10 check digits do not match"
        )


@dataclass(frozen=True, slots=True)
class Eid:
    """A valid EID, held as its 32 digits.

    Build one with :meth:`parse` (lenient, for input) or :meth:`from_body` (for
    generators); direct construction validates too, so an invalid EID cannot exist.
    """

    digits: str

    def __post_init__(self) -> None:
        """Refuse any value that is not already canonical and valid."""
        if not isinstance(self.digits, str):
            raise InvalidIdentifier(KIND, "format", repr(self.digits), "must be a string")
        _validate(self.digits, self.digits)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read an EID as people write it, e.g. in groups of four from a device's About screen.

        Raises InvalidIdentifier naming the failed check and *text* as given.
        """
        digits = _compact(text)
        _validate(digits, text)
        return cls(digits)

    @classmethod
    def from_body(cls, body: str) -> Self:
        """Complete a 30-digit body starting with 89 with its two MOD 97-10 check digits.

        For device generators and demos, which make up the chip serial number and need
        check digits that every parser will accept.
        """
        if not is_ascii_digits(body):
            raise InvalidIdentifier(KIND, "format", body, "a body has only the digits 0-9")
        if len(body) != BODY_LENGTH:
            raise InvalidIdentifier(
                KIND, "length", body, f"a body has {BODY_LENGTH} digits, not {len(body)}"
            )
        if not body.startswith(PREFIX):
            raise InvalidIdentifier(KIND, "prefix", body, "a body must start with 89")
        return cls(body + str(mod_97_10.calc_check_digits(body)))

    def __str__(self) -> str:
        """The canonical 32 digits (the ES2+ schema form ``^[0-9]{32}$``)."""
        return self.digits
