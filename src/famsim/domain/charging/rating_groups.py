"""Which Rating-Group charges which resource, and whether it is tethered (hotspot) traffic.

This is operator configuration (``FAMSIM_RATING_GROUPS``), one table for every network
interface (Diameter Gy's Rating-Group, Nchf's ratingGroup): the gateway classifies traffic
and reports it per group; famsim needs to know what each group counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from famsim.domain.errors import InvalidInput
from famsim.domain.units import Resource

RatingGroups = Mapping[int, tuple[Resource, bool]]
"""Rating-Group -> (resource, tethered)."""

DEFAULT_RATING_GROUPS: RatingGroups = {
    10: (Resource.DATA, False),
    11: (Resource.DATA, True),
    20: (Resource.VOICE, False),
    30: (Resource.SMS, False),
}
"""10 data, 11 tethered (hotspot) data, 20 voice, 30 SMS."""

DEFAULT_RATING_GROUPS_TEXT = "10=data,11=data:tethered,20=voice,30=sms"


def parse_rating_groups(text: str) -> dict[int, tuple[Resource, bool]]:
    """``"10=data,11=data:tethered,20=voice,30=sms"`` as a mapping; every error named."""
    groups: dict[int, tuple[Resource, bool]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        group, sep, what = item.partition("=")
        resource_name, _, flag = what.strip().partition(":")
        if not sep or not group.strip().isdigit():
            raise InvalidInput(f"rating group {item!r} is not NUMBER=RESOURCE[:tethered]")
        number = int(group)
        if number >= 2**32:
            raise InvalidInput(f"rating group {number} does not fit in 32 bits")
        try:
            resource = Resource(resource_name.strip().lower())
        except ValueError:
            known = ", ".join(r.value for r in Resource)
            raise InvalidInput(
                f"rating group {number}: {resource_name.strip()!r} is not one of {known}"
            ) from None
        if flag.strip() not in ("", "tethered"):
            raise InvalidInput(f"rating group {number}: {flag.strip()!r} is not 'tethered'")
        tethered = flag.strip() == "tethered"
        if tethered and resource is not Resource.DATA:
            raise InvalidInput(f"rating group {number}: only data can be tethered")
        if number in groups:
            raise InvalidInput(f"rating group {number} is mapped twice")
        groups[number] = (resource, tethered)
    if not groups:
        raise InvalidInput("no rating groups configured")
    return groups
