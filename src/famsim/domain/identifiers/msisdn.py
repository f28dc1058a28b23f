"""MSISDN: the phone number of a mobile line, the number people dial to reach it.

Defined by ITU-T E.164: a country calling code of 1 to 3 digits and a national number, at
most 15 digits, written internationally as ``+`` and the digits (``+85291234567``).
Validation and formatting come from ``phonenumbers``, the Python port of Google's
libphonenumber, which knows each country's numbering plan. In famsim a line is one MSISDN,
however many devices (IMSIs) share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult

from famsim.domain.errors import InvalidIdentifier

KIND = "MSISDN"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short for its numbering plan",
    ValidationResult.TOO_LONG: "too long for its numbering plan",
    ValidationResult.INVALID_LENGTH: "no number in its numbering plan has this length",
}


def _read(text: str, region: str | None, value: str) -> PhoneNumber:
    """phonenumbers' parse, with its exception turned into a format failure naming *value*."""
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = str(exc.args[0]) if exc.args else str(exc)
        raise InvalidIdentifier(KIND, "format", value, reason) from exc


def _canonical(number: PhoneNumber, value: str) -> str:
    """The E.164 form of *number* once it passed the length and numbering-plan checks."""
    if number.extension:
        raise InvalidIdentifier(KIND, "format", value, "an MSISDN has no extension")
    if not phonenumbers.is_possible_number(number):
        result = phonenumbers.is_possible_number_with_reason(number)
        if result == ValidationResult.INVALID_COUNTRY_CODE:
            raise InvalidIdentifier(KIND, "unknown", value, "the country code is not assigned")
        reason = _LENGTH_REASONS.get(result, "impossible length for its numbering plan")
        raise InvalidIdentifier(KIND, "length", value, reason)
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(KIND, "unknown", value, "not a valid number in its numbering plan")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class Msisdn:
    """A valid MSISDN, held in E.164 form (``+85291234567``).

    Build one with :meth:`parse`; direct construction validates too and accepts only the
    canonical E.164 form, so an invalid MSISDN cannot exist. :meth:`trusted` reads back one
    famsim stored, checking its shape only.
    """

    e164: str

    def __post_init__(self) -> None:
        """Refuse any value that is not already canonical E.164 and valid."""
        if not isinstance(self.e164, str):
            raise InvalidIdentifier(KIND, "format", repr(self.e164), "must be a string")
        if not _E164.fullmatch(self.e164):
            raise InvalidIdentifier(
                KIND, "format", self.e164, "must be in E.164 form: '+' and up to 15 digits"
            )
        canonical = _canonical(_read(self.e164, None, self.e164), self.e164)
        if canonical != self.e164:
            raise InvalidIdentifier(
                KIND, "format", self.e164, f"not in canonical E.164 form, which is {canonical}"
            )

    @classmethod
    def parse(cls, text: str, region: str | None = None) -> Self:
        """Read a phone number as people write it, international or (given *region*) national.

        Without *region* the text must carry its country code (``+852 ...`` or ``00852
        ...``), since a national number means nothing on its own. *region* is an ISO 3166
        alpha-2 code such as ``"HK"``. Raises InvalidIdentifier naming the failed check
        and *text* as given.
        """
        compact = text.strip().replace(" ", "").replace("-", "")
        if region is None:
            if compact.startswith("00"):
                compact = "+" + compact[2:]
            elif not compact.startswith("+"):
                raise InvalidIdentifier(
                    KIND,
                    "format",
                    text,
                    "a country code is needed: write +<country code> or 00<country code>,"
                    " or give the region the number belongs to",
                )
        number = _read(compact, region.upper() if region else None, text)
        return cls(_canonical(number, text))

    @classmethod
    def trusted(cls, e164: str) -> Self:
        """An MSISDN famsim validated itself when it stored it, read back from its own store.

        Checks only the shape (``+``, a non-zero digit, then 1 to 14 digits) and raises the
        same InvalidIdentifier ``format`` failure as the constructor, but does not run the
        numbering-plan checks again. Two reasons: parsing and validating with phonenumbers
        costs up to about 0.1 ms per identifier on every load of every family, and a newer
        phonenumbers release that retires a numbering range must not make lines famsim
        already stores unreadable. Never use this for input from outside famsim's own
        store: that goes through :meth:`parse` or the constructor.
        """
        if not isinstance(e164, str):
            raise InvalidIdentifier(KIND, "format", repr(e164), "must be a string")
        if not _E164.fullmatch(e164):
            raise InvalidIdentifier(
                KIND, "format", e164, "must be in E.164 form: '+' and up to 15 digits"
            )
        made = object.__new__(cls)
        object.__setattr__(made, "e164", e164)
        return made

    def _number(self) -> PhoneNumber:
        """The phonenumbers object, rebuilt on demand (the dataclass keeps one field)."""
        return phonenumbers.parse(self.e164, None)

    @property
    def display(self) -> str:
        """International format for people, e.g. ``+852 9123 4567``."""
        return phonenumbers.format_number(self._number(), PhoneNumberFormat.INTERNATIONAL)

    @property
    def national(self) -> str:
        """National format, as dialled inside the country, e.g. ``(201) 555-0123``."""
        return phonenumbers.format_number(self._number(), PhoneNumberFormat.NATIONAL)

    @property
    def region(self) -> str:
        """ISO 3166 alpha-2 region such as ``HK`` (``001`` for non-geographic numbers)."""
        return phonenumbers.region_code_for_number(self._number()) or "ZZ"

    @property
    def country_code(self) -> int:
        """The E.164 country calling code, e.g. ``852``."""
        code = self._number().country_code
        assert code is not None  # always set for a parsed international number
        return code

    def __str__(self) -> str:
        """The canonical E.164 form, as stored and as sent to other systems."""
        return self.e164
