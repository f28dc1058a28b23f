"""Billing cycles and the pools they hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    carried: int = 0
    """Units the last cycle rolled over into this pool (part of ``total``)."""


@dataclass(slots=True)
class Cycle:
    """One billing period: ``start`` inclusive to ``end`` exclusive, on one plan."""

    number: int
    start: date
    end: date
    plan_code: str
    pools: dict[tuple[Resource, Zone], Pool] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        number: int,
        start: date,
        cycle_day: int,
        plan: Plan,
        carried: Mapping[tuple[Resource, Zone], int] | None = None,
    ) -> Cycle:
        """A fresh cycle with a pool for every (resource, zone) the plan covers; *carried*
        units (the last cycle's unused rollover) are added to their pools."""
        keys = list(plan.allowances) + [k for k in plan.overage if k not in plan.allowances]
        extra = dict(carried or {})
        pools = {}
        for key in keys:
            total = plan.allowance(*key)
            carry = extra.get(key, 0) if total is not None else 0
            pools[key] = Pool(key[0], key[1], None if total is None else total + carry, carry)
        return cls(number, start, next_cycle_start(start, cycle_day), plan.code, pools)

    def plan_in_force(self, plan: Plan) -> Plan:
        """*plan* with what rolled over into this cycle added to its allowances: the plan
        charging decides against (the catalog's plan as it is now, so a plan replaced
        mid-cycle still applies at once)."""
        grown: dict[tuple[Resource, Zone], int | None] = {}
        for key, pool in self.pools.items():
            allowance = plan.allowances.get(key)
            if pool.carried and allowance is not None:
                grown[key] = allowance + pool.carried
        if not grown:
            return plan
        return replace(plan, allowances={**plan.allowances, **grown})
