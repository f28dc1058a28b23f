"""Resources, zones and integer quantities.

Every quantity famsim counts is an integer in the resource's base unit: data in bytes,
voice in seconds, SMS in messages. Floats never enter a balance; human-friendly amounts
("20GB", "300min") are parsed here into those integers, once, at the edge.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NewType

from famsim.domain.errors import InvalidAmount

Zone = NewType("Zone", str)
"""A charging zone: ``home`` or the name of one of the plan's roaming zones."""

HOME = Zone("home")

_ZONE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def zone(name: str) -> Zone:
    """Validate a zone name: lower-case letters, digits, ``_`` and ``-``, at most 32."""
    if not _ZONE_NAME.fullmatch(name):
        raise InvalidAmount(
            f"invalid zone name {name!r}: use lower-case letters, digits, '_' or '-' "
            "(at most 32, starting with a letter)"
        )
    return Zone(name)


class Resource(StrEnum):
    """What a pool holds. The value is the name used in files, APIs and the database."""

    DATA = "data"
    VOICE = "voice"
    SMS = "sms"

    @property
    def unit(self) -> str:
        """The base unit every amount of this resource is counted in."""
        return _BASE_UNIT[self]


_BASE_UNIT = {Resource.DATA: "B", Resource.VOICE: "s", Resource.SMS: "sms"}

# Multipliers to the base unit. Decimal prefixes (kB, MB, GB) follow SI, as most
# operators' tariffs do; binary ones (KiB, MiB, GiB) are there for those that bill in them.
_UNITS: dict[Resource, dict[str, int]] = {
    Resource.DATA: {
        "b": 1,
        "kb": 10**3,
        "mb": 10**6,
        "gb": 10**9,
        "tb": 10**12,
        "kib": 2**10,
        "mib": 2**20,
        "gib": 2**30,
        "tib": 2**40,
    },
    Resource.VOICE: {"s": 1, "sec": 1, "min": 60, "h": 3600},
    Resource.SMS: {"": 1, "sms": 1},
}

_AMOUNT = re.compile(r"\s*([0-9]+)(?:\.([0-9]+))?\s*([a-zA-Z]*)\s*")


def parse_amount(resource: Resource, text: str | int) -> int:
    """Turn ``"20GB"``, ``"1.5GiB"``, ``"300min"`` or ``42`` into base units.

    A fractional amount is allowed only when it comes out as a whole number of base units
    ("1.5GB" is 1,500,000,000 bytes; "1.5s" is refused), so no rounding ever happens.
    """
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise InvalidAmount(f"invalid {resource} amount {text!r}: not a number")
    if isinstance(text, int):
        if text < 0:
            raise InvalidAmount(f"invalid {resource} amount {text}: must not be negative")
        return text
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise InvalidAmount(
            f"invalid {resource} amount {text!r}: expected a number and a unit, e.g. "
            f"{_example(resource)}"
        )
    whole: str = match.group(1)
    fraction: str = match.group(2) or ""
    unit: str = match.group(3).lower()
    multipliers = _UNITS[resource]
    if unit not in multipliers:
        units = ", ".join(u for u in multipliers if u) or "none"
        raise InvalidAmount(
            f"invalid {resource} amount {text!r}: unknown unit {unit!r} (use {units})"
        )
    scale: int = 10 ** len(fraction)
    numerator = int(whole + fraction) * multipliers[unit]
    if numerator % scale:
        raise InvalidAmount(
            f"invalid {resource} amount {text!r}: not a whole number of {resource.unit}"
        )
    return numerator // scale


def _example(resource: Resource) -> str:
    return {Resource.DATA: "'20GB'", Resource.VOICE: "'300min'", Resource.SMS: "'100'"}[resource]


def format_amount(resource: Resource, amount: int | None) -> str:
    """A short human reading of an amount for tables and logs (not locale-aware)."""
    if amount is None:
        return "unlimited"
    if resource is Resource.DATA:
        for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
            if amount >= size:
                whole, rest = divmod(amount, size)
                tenths = rest * 10 // size
                return f"{whole}.{tenths} {unit}" if tenths else f"{whole} {unit}"
        return f"{amount} B"
    if resource is Resource.VOICE:
        minutes, seconds = divmod(amount, 60)
        return f"{minutes} min" if not seconds else f"{minutes} min {seconds} s"
    return f"{amount} SMS"
