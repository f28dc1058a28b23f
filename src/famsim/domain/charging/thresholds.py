"""Usage thresholds: which alert levels a counter has reached.

The rule answers "which levels are reached now", not "which were just crossed": the
engine keeps the levels it already alerted, so a retransmitted request, a crash and replay,
or two sessions crossing together can never alert the same level twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from famsim.domain.errors import InvalidAmount
from famsim.domain.ids import FamilyId, MemberId
from famsim.domain.units import Resource, Zone

DEFAULT_LEVELS: tuple[int, ...] = (50, 80, 100)


def check_levels(levels: Iterable[int]) -> tuple[int, ...]:
    """Sorted, distinct percentages in 1..100."""
    given = list(levels)
    if not given or any(
        isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= 100 for x in given
    ):
        raise InvalidAmount("alert levels are whole percentages from 1 to 100")
    return tuple(sorted(set(given)))


def levels_reached(used: int, total: int | None, levels: Sequence[int]) -> tuple[int, ...]:
    """The levels (percent) that ``used`` has reached of ``total``; none for no limit."""
    if total is None or total <= 0:
        return ()
    return tuple(level for level in levels if used * 100 >= level * total)


def new_alerts(
    used: int, total: int | None, levels: Sequence[int], alerted: Iterable[int]
) -> tuple[int, ...]:
    """Levels reached and not yet alerted."""
    done = set(alerted)
    return tuple(level for level in levels_reached(used, total, levels) if level not in done)


@dataclass(frozen=True, slots=True)
class ThresholdCrossed:
    """A domain event: a pool (member None) or a member's quota reached a level."""

    KIND: ClassVar[str] = "threshold_crossed"

    family_id: FamilyId
    member_id: MemberId | None
    resource: Resource
    zone: Zone
    level: int
    used: int
    total: int
    cycle_number: int
    at: datetime

    def payload(self) -> dict[str, object]:
        """The event as JSON-ready data, for the outbox and its consumers."""
        return {
            "family_id": self.family_id,
            "member_id": self.member_id,
            "resource": self.resource.value,
            "zone": self.zone,
            "level": self.level,
            "used": self.used,
            "total": self.total,
            "cycle_number": self.cycle_number,
            "at": self.at.isoformat(),
        }
