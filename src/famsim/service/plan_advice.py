"""Plan advice for a family: which plan of the catalog would have cost least over its last
cycles, and what it would have saved (the rules: ``famsim.domain.billing.advice``).

The family's usage comes from the ledger (charged units: units minus free units), its
SIMs, lines and members from the family as it is now, the plans from the catalog. What
the family was invoiced is not read (invoices are not stored yet), so ``paid`` is None.

What is known only for the running cycle is assumed for the past ones: the plan each
cycle ran on is taken to be the current cycle's (the zone names of the usage records are
that plan's), and the SIMs, lines and members are today's. Past cycles are the ones
numbered below the current one; before the first cycle closes, the current cycle so far
is compared instead (its fees in full, its usage to date) and the answer says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from famsim.domain.billing.advice import Advice, CycleUse, PlanCost, advise
from famsim.domain.charging.ledger import UsageRecord
from famsim.domain.errors import InvalidInput
from famsim.domain.family import Family
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone
from famsim.service.ports import UnitOfWork

PAST_CYCLES = "past cycles"
CURRENT_SO_FAR = "current cycle so far"


def plan_advice(
    uow_factory: Callable[[], UnitOfWork],
    family_id: str,
    cycles: int = 3,
    tax_basis_points: int = 0,
) -> dict[str, Any]:
    """The advice over the family's last ``cycles`` closed cycles, JSON-ready.

    Raises FamilyNotFound for an unknown family and InvalidInput for ``cycles`` < 1 or a
    tax rate outside 0..10,000 basis points. Who may ask is the caller's to check (the
    family's owner and staff, as for the bill).
    """
    if cycles < 1:
        raise InvalidInput("advice needs at least one cycle")
    with uow_factory() as uow:
        family = uow.families.get(family_id)
        catalog = list(uow.plans.catalog())
        current = family.cycle.number
        numbers = list(range(max(1, current - cycles), current))
        basis = PAST_CYCLES if numbers else CURRENT_SO_FAR
        numbers = numbers or [current]
        usage = {n: _charged_usage(uow.ledgers.usage(family.id, n)) for n in numbers}
    cycle_plan = next((p for p in catalog if p.code == family.cycle.plan_code), None)
    uses = [_cycle_use(family, n, usage[n], cycle_plan) for n in numbers]
    advice = advise(uses, catalog, family.plan_code, tax_basis_points)
    return {
        "family": {"id": family.id, "name": family.name, "currency": family.currency},
        "basis": basis,
        "tax_basis_points": tax_basis_points,
        "current_plan": family.plan_code,
        "pending_plan": family.pending_plan_code,
        "cycles": [_cycle_json(use) for use in uses],
        **_advice_json(advice),
    }


def _charged_usage(records: Sequence[UsageRecord]) -> tuple[dict[tuple[Resource, Zone], int], int]:
    """Charged units per (resource, zone), and the charged units used through a hotspot."""
    usage: dict[tuple[Resource, Zone], int] = {}
    tethered = 0
    for record in records:
        charged = record.units - record.free
        key = (record.resource, record.zone)
        usage[key] = usage.get(key, 0) + charged
        if record.tethered:
            tethered += charged
    return usage, tethered


def _cycle_use(
    family: Family,
    number: int,
    usage: tuple[dict[tuple[Resource, Zone], int], int],
    cycle_plan: Plan | None,
) -> CycleUse:
    units, tethered = usage
    sims: dict[DeviceKind, int] = {}
    seen: set[str] = set()
    lines = family.counted_lines
    for line in lines:
        live = {s.id for s in line.subscriptions if s.state.is_live}
        for sub in line.subscriptions:
            if not sub.state.is_live or str(sub.iccid) in seen:
                continue
            if sub.replaces is not None and sub.replaces in live:
                continue  # a device change under way: one device, billed once
            seen.add(str(sub.iccid))
            sims[sub.device_kind] = sims.get(sub.device_kind, 0) + 1
    zone_mccs: dict[Zone, frozenset[str]] = {}
    if cycle_plan is not None:
        zone_mccs[HOME] = cycle_plan.home_mccs
        zone_mccs.update({z.name: z.mccs for z in cycle_plan.roaming_zones})
    return CycleUse(
        number=number,
        plan_code=family.cycle.plan_code,
        currency=family.currency,
        days=_cycle_days(family, number),
        usage=units,
        sims=sims,
        members=len(family.active_members),
        lines=len(lines),
        paid=None,
        tethered=tethered,
        zone_mccs=zone_mccs,
    )


def _cycle_days(family: Family, number: int) -> int:
    """How long cycle ``number`` lasted: cycles start on the family's cycle day each month,
    the first on the day the family was created."""
    start, end = family.cycle.start, family.cycle.end
    for _ in range(family.cycle.number - number):
        end = start
        year, month = (start.year - 1, 12) if start.month == 1 else (start.year, start.month - 1)
        start = date(year, month, family.cycle_day)
    if number == 1 and family.created_on < end:
        start = family.created_on
    return max((end - start).days, 1)


def _cost_json(cost: PlanCost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {
        "code": cost.code,
        "name": cost.name,
        "total_minor": cost.total,
        "per_cycle_minor": list(cost.per_cycle),
    }


def _cycle_json(use: CycleUse) -> dict[str, Any]:
    return {
        "number": use.number,
        "plan": use.plan_code,
        "days": use.days,
        "members": use.members,
        "lines": use.lines,
        "sims": {kind.value: use.sims[kind] for kind in DeviceKind if use.sims.get(kind)},
        "usage": [
            {"resource": resource.value, "zone": zone, "units": units}
            for (resource, zone), units in sorted(
                use.usage.items(), key=lambda i: (list(Resource).index(i[0][0]), i[0][1])
            )
        ],
        "tethered": use.tethered,
        "paid_minor": use.paid,
    }


def _advice_json(advice: Advice) -> dict[str, Any]:
    return {
        "current": _cost_json(advice.current),
        "advised": _cost_json(advice.advised),
        "change": advice.change,
        "saving_minor": {"total": advice.saving_total, "per_cycle": advice.saving_per_cycle},
        "reason": advice.reason,
        "plans": [_cost_json(cost) for cost in advice.plans],
        "refused": [
            {"code": r.code, "name": r.name, "cycle": r.cycle_number, "reason": r.reason}
            for r in advice.refused
        ],
        "paid_minor": advice.paid_total,
    }
