"""Money as integer minor units of an ISO 4217 currency.

The minor-unit exponent comes from the ISO 4217 table shipped by the ``iso4217`` package
(the published list, not a locale database), so JPY has 0 decimals and BHD has 3.
Arithmetic is only defined between amounts of the same currency; nothing here ever
produces a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, total_ordering

from iso4217 import Currency as _IsoCurrency

from famsim.domain.errors import InvalidAmount

_DECIMAL = re.compile(r"\s*(-?)([0-9]+)(?:\.([0-9]+))?\s*")
_ZEROS: dict[str, Money] = {}
"""Zero of each currency (by the code as asked for), built once: see :meth:`Money.zero`."""


@cache
def currency_exponent(code: str) -> int:
    """The number of minor-unit digits of an ISO 4217 currency, e.g. 2 for HKD.

    Cached: money is built on every charging request, and the table never changes.
    """
    try:
        entry = _IsoCurrency(code.upper())
    except ValueError:
        raise InvalidAmount(f"unknown currency {code!r}: not an ISO 4217 code") from None
    exponent = entry.exponent
    if exponent is None:
        raise InvalidAmount(f"currency {code!r} has no minor unit: it is not money for a bill")
    return int(exponent)


@total_ordering
@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` units (cents, kopecks) of ``currency``."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidAmount(f"money must be whole minor units, got {self.minor!r}")
        if self.currency != self.currency.upper() or len(self.currency) != 3:
            raise InvalidAmount(f"currency must be an upper-case ISO 4217 code: {self.currency!r}")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        # Shared, not rebuilt: Money is immutable, and the granting rule asks for a zero
        # of the plan's currency several times per charging request.
        found = _ZEROS.get(currency)
        if found is None or type(found) is not cls:
            found = _ZEROS[currency] = cls(0, currency.upper())
        return found

    @classmethod
    def parse(cls, text: str | int, currency: str) -> Money:
        """Read ``"128.50"`` (major units, a dot as decimal mark) exactly.

        More decimals than the currency has are refused instead of rounded.
        An ``int`` is taken as major units (``128`` HKD is 12800 minor units).
        """
        code = currency.upper()
        exponent = currency_exponent(code)
        if isinstance(text, bool) or not isinstance(text, int | str):
            raise InvalidAmount(f"invalid amount {text!r} {code}: not a number")
        if isinstance(text, int):
            return cls(text * 10**exponent, code)
        match = _DECIMAL.fullmatch(text)
        if not match:
            raise InvalidAmount(f"invalid amount {text!r} {code}: expected e.g. '128.50'")
        sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
        if len(fraction) > exponent:
            raise InvalidAmount(
                f"invalid amount {text!r} {code}: {code} has {exponent} decimal places"
            )
        minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
        return cls(-minor if sign else minor, code)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise InvalidAmount(
                f"cannot combine {self.currency} and {other.currency}: currencies differ"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise InvalidAmount("money can only be multiplied by a whole number")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    @property
    def is_negative(self) -> bool:
        return self.minor < 0

    def amount_text(self) -> str:
        """The amount in major units with exactly the currency's decimals: ``"128.50"``."""
        exponent = self.exponent
        sign = "-" if self.minor < 0 else ""
        whole, fraction = divmod(abs(self.minor), 10**exponent)
        return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"

    def __str__(self) -> str:
        return f"{self.currency} {self.amount_text()}"
