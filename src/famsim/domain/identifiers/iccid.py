"""ICCID: the Integrated Circuit Card Identifier of a SIM card or an eSIM profile.

Defined by ITU-T E.118: the telecommunications industry identifier ``89``, the country
calling code, the issuer identifier and the individual account number, closed by a Luhn
check digit; 19 or 20 digits in all. GSMA SGP.22 lets a 19-digit ICCID travel padded to
20 characters with a trailing ``F`` (ES2+ schema ``^[0-9]{19}[0-9F]?$``): famsim reads that
form but stores digits only. python-stdnum has no ICCID module, so this one is built on
:mod:`stdnum.luhn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from stdnum import luhn

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers.digits import is_ascii_digits

KIND = "ICCID"
PREFIX = "89"
LENGTHS = (19, 20)
BODY_LENGTHS = (18, 19)
_PAD = "F"


def _compact(text: str) -> str:
    """Undo the usual ways people write an ICCID: surrounding blanks, groups of digits."""
    compact = text.strip().replace(" ", "").replace("-", "")
    if len(compact) == LENGTHS[1] and compact[-1] in "Ff":
        return compact[:-1]  # the SGP.22 pad of a 19-digit ICCID
    return compact


def _validate(digits: str, value: str) -> None:
    """Raise for the first failed check (format, length, prefix, checksum), naming *value*."""
    if not is_ascii_digits(digits):
        reason = (
            "an F may only pad a 19-digit ICCID to 20 characters"
            if "F" in digits.upper()
            else "only the digits 0-9 are allowed"
        )
        raise InvalidIdentifier(KIND, "format", value, reason)
    if len(digits) not in LENGTHS:
        raise InvalidIdentifier(
            KIND, "length", value, f"has {len(digits)} digits, an ICCID has 19 or 20"
        )
    if not digits.startswith(PREFIX):
        raise InvalidIdentifier(
            KIND, "prefix", value, "must start with 89, the telecommunications industry code"
        )
    if not luhn.is_valid(digits):
        raise InvalidIdentifier(KIND, "checksum", value, "the Luhn check digit does not match")


@dataclass(frozen=True, slots=True)
class Iccid:
    """A valid ICCID, held as its 19 or 20 digits (never the ``F`` pad).

    Build one with :meth:`parse` (lenient, for input) or :meth:`from_body` (for
    generators); direct construction validates too, so an invalid ICCID cannot exist.
    """

    digits: str

    def __post_init__(self) -> None:
        """Refuse any value that is not already canonical and valid."""
        if not isinstance(self.digits, str):
            raise InvalidIdentifier(KIND, "format", repr(self.digits), "must be a string")
        _validate(self.digits, self.digits)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read an ICCID as people and SM-DP+ servers write it: spaced, hyphenated or F-padded.

        Raises InvalidIdentifier naming the failed check and *text* as given.
        """
        digits = _compact(text)
        _validate(digits, text)
        return cls(digits)

    @classmethod
    def trusted(cls, digits: str) -> Self:
        """An ICCID famsim validated itself when it stored it, read back from its own store.

        Checks only the shape (19 or 20 ASCII digits) and raises the constructor's
        ``format`` or ``length`` failure, but skips the prefix and Luhn checks: loading a
        batch of families reads tens of thousands of ICCIDs, and the Luhn digit is most of
        what the constructor costs. Never for input from outside famsim's own store.
        """
        if not isinstance(digits, str) or not is_ascii_digits(digits):
            raise InvalidIdentifier(KIND, "format", repr(digits), "only the digits 0-9")
        if len(digits) not in LENGTHS:
            raise InvalidIdentifier(
                KIND, "length", digits, f"has {len(digits)} digits, an ICCID has 19 or 20"
            )
        made = object.__new__(cls)
        object.__setattr__(made, "digits", digits)
        return made

    @classmethod
    def from_body(cls, body: str) -> Self:
        """Complete an 18- or 19-digit body starting with 89 with its Luhn check digit.

        For inventory generators and demos, which make up the account part and need a
        check digit that every parser will accept.
        """
        if not is_ascii_digits(body):
            raise InvalidIdentifier(KIND, "format", body, "a body has only the digits 0-9")
        if len(body) not in BODY_LENGTHS:
            raise InvalidIdentifier(
                KIND, "length", body, f"a body has 18 or 19 digits, not {len(body)}"
            )
        if not body.startswith(PREFIX):
            raise InvalidIdentifier(KIND, "prefix", body, "a body must start with 89")
        return cls(body + str(luhn.calc_check_digit(body)))

    @property
    def padded(self) -> str:
        """The 20-character form some SM-DP+ interfaces expect: a 19-digit ICCID plus ``F``."""
        return self.digits + _PAD if len(self.digits) == LENGTHS[0] else self.digits

    def __str__(self) -> str:
        """The canonical digits, as stored and as sent when no padding is asked for."""
        return self.digits
