"""Billing cycles and the pools they hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from famsim.domain.plan import Plan
from famsim.domain.units import Resource, Zone

LAST_CYCLE_DAY = 28
"""Cycles start on day 1..28, so every month has the anchor day."""


def cycle_day_for(created: date) -> int:
    """The day of month a new family's cycles start on: its creation day, at most 28."""
    return min(created.day, LAST_CYCLE_DAY)


def next_cycle_start(after: date, cycle_day: int) -> date:
    """The first date strictly after ``after`` that falls on ``cycle_day``."""
    year, month = after.year, after.month
    if after.day >= cycle_day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, cycle_day)


@dataclass(frozen=True, slots=True)
class Pool:
    """The family's allowance of one resource in one zone for one cycle.

    ``total`` None means unlimited. What has been used or reserved from it lives in the
    charging ledger (famsim.domain.charging.ledger), the one record of usage.
    """

    resource: Resource
    zone: Zone
    total: int | None


@dataclass(slots=True)
class Cycle:
    """One billing period: ``start`` inclusive to ``end`` exclusive, on one plan."""

    number: int
    start: date
    end: date
    plan_code: str
    pools: dict[tuple[Resource, Zone], Pool] = field(default_factory=dict)

    @classmethod
    def open(cls, number: int, start: date, cycle_day: int, plan: Plan) -> Cycle:
        """A fresh cycle with a pool for every (resource, zone) the plan covers."""
        keys = list(plan.allowances) + [k for k in plan.overage if k not in plan.allowances]
        pools = {key: Pool(key[0], key[1], plan.allowance(*key)) for key in keys}
        return cls(number, start, next_cycle_start(start, cycle_day), plan.code, pools)
