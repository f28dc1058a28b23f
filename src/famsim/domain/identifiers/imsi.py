"""IMSI: the International Mobile Subscriber Identity that a SIM or eSIM profile presents.

Defined by 3GPP TS 23.003 (section 2.2): a 3-digit Mobile Country Code (MCC, ITU-T E.212),
a 2- or 3-digit Mobile Network Code (MNC) and the Mobile Subscription Identification Number
(MSIN), at most 15 digits in all. Whether an MNC has 2 or 3 digits is not visible in the
number itself; it depends on the MCC and the network, so the split uses python-stdnum's
database of assigned codes (:func:`stdnum.imsi.split`). A shared line gives each device its
own IMSI while the network maps them all to one MSISDN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Self

from stdnum import imsi, numdb
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from famsim.domain.errors import InvalidIdentifier

KIND = "IMSI"
MIN_LENGTH = 6  # MCC (3) + MNC (2 or 3) + at least one MSIN digit
MAX_LENGTH = 15
MCC_LENGTH = 3
_DIGITS = frozenset("0123456789")

# python-stdnum's exceptions, translated into the check names InvalidIdentifier uses.
_STDNUM_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (InvalidFormat, "format"),
    (InvalidLength, "length"),
    (InvalidChecksum, "checksum"),
    (InvalidComponent, "unknown"),
)


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` would also let through Unicode digits like ``²``."""
    return all(char in _DIGITS for char in text)


def _compact(text: str) -> str:
    """Undo the usual ways people write an IMSI: surrounding blanks, ``MCC-MNC-MSIN``."""
    return text.strip().replace(" ", "").replace("-", "")


def _translate(exc: Exception, value: str) -> InvalidIdentifier:
    """Turn a python-stdnum validation error into famsim's error, keeping the check's meaning."""
    for stdnum_error, check in _STDNUM_CHECKS:
        if isinstance(exc, stdnum_error):
            return InvalidIdentifier(KIND, check, value, str(exc))
    return InvalidIdentifier(KIND, "format", value, str(exc))


@lru_cache(maxsize=4096)
def _stdnum_split(digits: str) -> tuple[tuple[str, bool], ...]:
    """Each part stdnum finds, with whether its database knows that part (cached: pure)."""
    return tuple((str(part), bool(props)) for part, props in numdb.get("imsi").info(digits))


def _split(digits: str, value: str) -> tuple[str, str, str]:
    """MCC, MNC and MSIN of a digit string of valid length, or raise naming *value*."""
    try:
        parts = _stdnum_split(imsi.compact(digits))
    except ValidationError as exc:  # defensive: stdnum's splitter does not raise today
        raise _translate(exc, value) from exc
    if len(parts) < 2:
        raise InvalidIdentifier(
            KIND, "unknown", value, f"mobile country code {digits[:MCC_LENGTH]} is not assigned"
        )
    mcc, (mnc, mnc_known) = parts[0][0], parts[1]
    if not mnc_known:
        raise InvalidIdentifier(
            KIND, "unknown", value, f"MCC {mcc} has no mobile network code {mnc[:2]} or {mnc[:3]}"
        )
    if len(parts) < 3 or not parts[2][0]:
        raise InvalidIdentifier(
            KIND, "length", value, f"no digits are left for the MSIN after {mcc}-{mnc}"
        )
    return mcc, mnc, parts[2][0]


def _validate(digits: str, value: str) -> tuple[str, str, str]:
    """Run the checks (format, length, unknown code) and return the MCC, MNC and MSIN."""
    if not _is_digits(digits):
        raise InvalidIdentifier(KIND, "format", value, "only the digits 0-9 are allowed")
    if not MIN_LENGTH <= len(digits) <= MAX_LENGTH:
        raise InvalidIdentifier(
            KIND,
            "length",
            value,
            f"has {len(digits)} digits, an IMSI has {MIN_LENGTH} to {MAX_LENGTH}",
        )
    return _split(digits, value)


@dataclass(frozen=True, slots=True)
class Imsi:
    """A valid IMSI whose MCC and MNC are assigned, held as its digits.

    Build one with :meth:`parse`; direct construction validates too, so an invalid IMSI
    cannot exist.
    """

    digits: str

    def __post_init__(self) -> None:
        """Refuse any value that is not already canonical and valid."""
        if not isinstance(self.digits, str):
            raise InvalidIdentifier(KIND, "format", repr(self.digits), "must be a string")
        _validate(self.digits, self.digits)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read an IMSI as operators write it, whole or as ``MCC-MNC-MSIN``.

        Raises InvalidIdentifier naming the failed check and *text* as given; a country
        or network code that python-stdnum does not know fails the ``unknown`` check.
        """
        digits = _compact(text)
        _validate(digits, text)
        return cls(digits)

    @property
    def mcc(self) -> str:
        """The Mobile Country Code (3 digits), e.g. ``454`` for Hong Kong."""
        return _split(self.digits, self.digits)[0]

    @property
    def mnc(self) -> str:
        """The Mobile Network Code (2 or 3 digits) of the home network."""
        return _split(self.digits, self.digits)[1]

    @property
    def msin(self) -> str:
        """The subscription number within the home network."""
        return _split(self.digits, self.digits)[2]

    @property
    def plmn(self) -> str:
        """The home network (PLMN) identity: MCC followed by MNC, e.g. ``45400``."""
        mcc, mnc, _ = _split(self.digits, self.digits)
        return mcc + mnc

    def __str__(self) -> str:
        """The canonical digits."""
        return self.digits
