"""Where usage is heading by the end of the cycle, at the pace seen so far.

A straight line through the cycle's usage to date: simple, explainable to a family
("at this pace"), and honest early in a cycle only as far as the pace is. Issue 7's
forecasts add past cycles; this is the pace alone. Integer arithmetic throughout (units
and seconds), rounding up, so a forecast never promises more room than there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_ELAPSED_S = 3_600
"""Below an hour into a cycle, a pace is noise: no forecast is made."""


@dataclass(frozen=True, slots=True)
class Forecast:
    projected: int
    """Units used by the cycle's end at the current pace."""
    runs_out_at: datetime | None
    """When the allowance is used up at that pace; None if it lasts the cycle (or is
    unlimited)."""


def at_pace(
    used: int, total: int | None, start: datetime, end: datetime, now: datetime
) -> Forecast | None:
    """The forecast of a counter that began the cycle at zero (None too early to tell)."""
    elapsed = int((min(now, end) - start).total_seconds())
    length = int((end - start).total_seconds())
    if elapsed < MIN_ELAPSED_S or length <= 0:
        return None
    projected = -(-used * length // elapsed)  # ceil(used * length / elapsed)
    runs_out = None
    if total is not None and used > 0 and projected > total:
        if used >= total:
            runs_out = min(now, end)
        else:
            seconds = -(-total * elapsed // used)
            runs_out = start + timedelta(seconds=seconds)
    return Forecast(projected, runs_out)
