"""Numbers, money, dates and data sizes as a reader of each language expects them.

Everything stored is an integer (bytes, seconds, messages, minor units); this module is
the one place those integers become text, through Babel's CLDR data. Decimal, never
float, carries the fractions shown, so a figure on screen is the stored one rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

from famsim.domain.money import currency_exponent
from famsim.domain.units import Resource

# SI prefixes, as famsim parses them ("1.5GB" is 1,500,000,000 bytes; see domain.units).
_DATA_UNITS = (
    (10**12, "digital-terabyte"),
    (10**9, "digital-gigabyte"),
    (10**6, "digital-megabyte"),
    (10**3, "digital-kilobyte"),
)


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats for one locale (a CLDR id such as ``zh_Hant_HK``) and time zone."""

    locale: str
    time_zone: tzinfo | None = None

    def money(self, minor: int | None, currency: str) -> str:
        if minor is None:
            return "—"
        amount = Decimal(minor).scaleb(-currency_exponent(currency))
        return format_currency(amount, currency, locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def rate(self, per_second: float) -> str:
        """A rate to read (requests per second), one decimal."""
        return format_decimal(Decimal(str(per_second)).quantize(Decimal("0.1")), locale=self.locale)

    def percent(self, part: int, whole: int | None) -> str:
        if not whole:
            return "—"
        share = (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001"))
        return format_percent(share, locale=self.locale)

    def data(self, octets: int | None) -> str:
        """Bytes in the largest SI unit that keeps a whole number before the point."""
        if octets is None:
            return "∞"
        for size, unit in _DATA_UNITS:
            if abs(octets) >= size:
                shown = _one_decimal(Decimal(octets) / size)
                return format_unit(shown, unit, length="short", locale=self.locale)
        return format_unit(octets, "digital-byte", length="short", locale=self.locale)

    def amount(self, resource: Resource | str, units: int | None) -> str:
        """Units of a resource: data as sizes, voice as minutes, SMS as a count."""
        kind = Resource(resource)
        if units is None:
            return "∞"
        if kind is Resource.DATA:
            return self.data(units)
        if kind is Resource.VOICE:
            minutes = _one_decimal(Decimal(units) / 60)
            return format_unit(minutes, "duration-minute", length="short", locale=self.locale)
        return format_decimal(units, locale=self.locale)

    def day(self, value: date) -> str:
        return format_date(value, "medium", locale=self.locale)

    def moment(self, value: datetime) -> str:
        return format_datetime(value, "medium", tzinfo=self.time_zone, locale=self.locale)


def _one_decimal(value: Decimal) -> Decimal:
    shown = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    return shown.quantize(Decimal(1)) if shown == shown.to_integral_value() else shown


def editable(resource: Resource, units: int | None) -> str:
    """An amount as the owner would type it back, exactly (no rounding)."""
    if units is None:
        return ""
    if resource is Resource.DATA:
        for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
            if units and units % size == 0:
                return f"{units // size}{unit}"
        return f"{units}B"
    if resource is Resource.VOICE:
        return f"{units // 60}min" if units % 60 == 0 else f"{units}s"
    return str(units)
