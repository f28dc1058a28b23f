"""IMSI: the International Mobile Subscriber Identity that a SIM or eSIM profile presents.

Defined by 3GPP TS 23.003 (section 2.2): a 3-digit Mobile Country Code (MCC, ITU-T E.212),
a 2- or 3-digit Mobile Network Code (MNC) and the Mobile Subscription Identification Number
(MSIN), at most 15 digits in all. Whether an MNC has 2 or 3 digits is not visible in the
number itself; it depends on the MCC and the network, so the split uses python-stdnum's
database of assigned codes (:func:`stdnum.imsi.split`). A shared line gives each device its
own IMSI while the network maps them all to one MSISDN.

The database lookup costs tens of microseconds, and every subscriber of a network shares
its MCC and MNC, so the lookup is cached by the leading digits that decide the MNC (six for
almost every MCC) and the MSIN is whatever follows: a new IMSI of a known network costs a
dictionary hit, not a database walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Self

from stdnum import numdb
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from famsim.domain.errors import InvalidIdentifier
from famsim.domain.identifiers.digits import is_ascii_digits

KIND = "IMSI"
MIN_LENGTH = 6  # MCC (3) + MNC (2 or 3) + at least one MSIN digit
MAX_LENGTH = 15
MCC_LENGTH = 3

# python-stdnum's exceptions, translated into the check names InvalidIdentifier uses.
_STDNUM_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (InvalidFormat, "format"),
    (InvalidLength, "length"),
    (InvalidChecksum, "checksum"),
    (InvalidComponent, "unknown"),
)


def _compact(text: str) -> str:
    """Undo the usual ways people write an IMSI: surrounding blanks, ``MCC-MNC-MSIN``."""
    return text.strip().replace(" ", "").replace("-", "")


def _translate(exc: Exception, value: str) -> InvalidIdentifier:
    """Turn a python-stdnum validation error into famsim's error, keeping the check's meaning."""
    for stdnum_error, check in _STDNUM_CHECKS:
        if isinstance(exc, stdnum_error):
            return InvalidIdentifier(KIND, check, value, str(exc))
    return InvalidIdentifier(KIND, "format", value, str(exc))


def _deciding_lengths() -> dict[str, int]:
    """For each MCC in stdnum's database, how many leading digits decide its MNC.

    That is the MCC's 3 digits plus its longest MNC entry: 5 or 6 for most, 8 where the
    database lists 5-digit codes (France's ``208 50144`` and the like). ``numdb`` matches
    the shortest entry that fits, so a prefix that long meets exactly the entries the
    whole number meets. The walk relies on the database's shape (3-digit MCCs, MNCs with
    no further split); a release shaped otherwise gets an empty table, and every IMSI is
    then looked up by all its digits, as before the cache was keyed by prefix.
    """
    lengths: dict[str, int] = {}
    for length, low, high, _props, mncs in numdb.get("imsi").prefixes:
        if length != MCC_LENGTH or any(entry[4] for entry in mncs):
            return {}
        deciding = max(MIN_LENGTH, MCC_LENGTH + max((entry[0] for entry in mncs), default=0))
        for code in range(int(low), int(high) + 1):
            mcc = f"{code:0{MCC_LENGTH}d}"
            lengths[mcc] = max(lengths.get(mcc, 0), deciding)
    return lengths


_DECIDING_LENGTHS = _deciding_lengths()
# With an empty table (a database of another shape) the key is the whole IMSI.
_UNKNOWN_MCC_LENGTH = MIN_LENGTH if _DECIDING_LENGTHS else MAX_LENGTH


@lru_cache(maxsize=4096)
def _stdnum_split(digits: str) -> tuple[tuple[str, bool], ...]:
    """Each part stdnum finds, with whether its database knows that part (cached: pure).

    Called with the leading digits that decide the MNC, so one entry serves every
    subscriber of a network.
    """
    return tuple((str(part), bool(props)) for part, props in numdb.get("imsi").info(digits))


def _split(digits: str, value: str) -> tuple[str, str, str]:
    """MCC, MNC and MSIN of a digit string of valid length, or raise naming *value*.

    The same parts, checks and messages as splitting all the digits with stdnum: only the
    leading digits that decide the MNC are looked up, and the MSIN is the rest. *digits*
    has passed :func:`_check_shape`, so it needs no ``stdnum.imsi.compact`` (which would
    cost more than the cached lookup).
    """
    key = digits[: _DECIDING_LENGTHS.get(digits[:MCC_LENGTH], _UNKNOWN_MCC_LENGTH)]
    try:
        parts = _stdnum_split(key)
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
    msin = digits[len(mcc) + len(mnc) :]
    if not msin:
        raise InvalidIdentifier(
            KIND, "length", value, f"no digits are left for the MSIN after {mcc}-{mnc}"
        )
    return mcc, mnc, msin


def _check_shape(digits: str, value: str) -> None:
    """Raise for the first failed cheap check (format, length), naming *value*."""
    if not is_ascii_digits(digits):
        raise InvalidIdentifier(KIND, "format", value, "only the digits 0-9 are allowed")
    if not MIN_LENGTH <= len(digits) <= MAX_LENGTH:
        raise InvalidIdentifier(
            KIND,
            "length",
            value,
            f"has {len(digits)} digits, an IMSI has {MIN_LENGTH} to {MAX_LENGTH}",
        )


def _validate(digits: str, value: str) -> tuple[str, str, str]:
    """Run the checks (format, length, unknown code) and return the MCC, MNC and MSIN."""
    _check_shape(digits, value)
    return _split(digits, value)


@dataclass(frozen=True, slots=True)
class Imsi:
    """A valid IMSI whose MCC and MNC are assigned, held as its digits.

    Build one with :meth:`parse`; direct construction validates too, so an invalid IMSI
    cannot exist. :meth:`trusted` reads back one famsim stored, checking its shape only.
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

    @classmethod
    def trusted(cls, digits: str) -> Self:
        """An IMSI famsim validated itself when it stored it, read back from its own store.

        Checks only the shape (ASCII digits, 6 to 15 of them) and raises the same
        InvalidIdentifier ``format`` or ``length`` failure as the constructor, but does not
        look the MCC and MNC up again. Two reasons: re-validating costs up to about 0.1 ms
        per identifier on every load of every family (a database walk for each network
        not yet cached), and a newer python-stdnum release that drops a network code must
        not make lines famsim already stores unreadable. :attr:`mcc`, :attr:`mnc`,
        :attr:`msin` and :attr:`plmn` still consult the installed database, so on such an
        IMSI they raise the ``unknown`` failure. Never use this for input from outside
        famsim's own store: that goes through :meth:`parse` or the constructor.
        """
        if not isinstance(digits, str):
            raise InvalidIdentifier(KIND, "format", repr(digits), "must be a string")
        _check_shape(digits, digits)
        made = object.__new__(cls)
        object.__setattr__(made, "digits", digits)
        return made

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
