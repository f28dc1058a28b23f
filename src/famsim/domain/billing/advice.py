"""Plan advice: the cheapest plan of the catalog that would have carried a family's past
cycles, and what it would have saved.

Each past cycle is summed up as a :class:`CycleUse` (the family's charged usage per
resource and zone, its SIMs by device kind, members and lines) and priced again on every
plan of the catalog in the family's currency, the current plan included, by the same
rules, so the comparison is fair:

* **cannot carry**: a plan is out for the whole comparison when, in any cycle, the family
  had more members or lines than it allows, was priced in another currency, tethered
  on a plan without hotspot, used a resource in a zone the plan does not cover (roaming
  it does not reach), or used more than a pool the plan sells no overage for (the
  network would have refused those units);
* **cost**: plan fee + management fee + the line fee of every SIM by device kind (a whole
  cycle each) + overage + tax. Overage is, per resource and zone, the family's usage
  beyond the plan's pool (an unlimited pool: none) priced with the plan's overage rate,
  rounded up once per zone (as :meth:`OverageRate.charge`); tax is the basis points of
  the subtotal, rounded half up once per cycle (as rating does);
* **advice**: the plan with the lowest total over the cycles (ties by code); a tie with
  the current plan keeps the current plan. The saving is the current plan's total minus
  the advised one's, in total and per cycle on average (rounded down: never overstated).

**The simplification.** Overage here is the *family's* usage beyond the *pool*. The
charging engine also moves a member into overage when the member's own quota is spent
while the pool still has room; those quotas are the owner's choice and move with the
plan, so advice prices the family as if quotas were set to fit the pool. For the current
plan this can come out lower than the invoice (which is why it is recomputed, not read
from the invoice). Money caps are left out for the same reason: they are the owner's.

Zones are named by each plan. When a cycle's use says which MCCs each of its zones holds
(``zone_mccs``, from the plan the cycle ran on), a zone is carried by another plan only if
every one of those MCCs falls in one and the same zone of that plan (usage records do not
say which country a unit was used in, so a zone split over two of the plan's zones, or
reaching beyond them, cannot be priced); without MCCs, zones are matched by name.

Everything is an integer: units, counts, minor units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

TAX_BASIS = 10_000

Key = tuple[Resource, Zone]


@dataclass(frozen=True, slots=True)
class CycleUse:
    """One past cycle of a family, as advice needs it.

    ``usage``: the family's charged units per (resource, zone), that is units minus free
    units (always-allowed destinations cost nothing on any plan); ``tethered``: the
    charged data units used through a hotspot; ``sims``: the SIMs billed, counted by
    device kind; ``members`` and ``lines``: active members and open lines; ``paid``: what
    the family actually paid for the cycle in minor units (None: not known);
    ``zone_mccs``: the MCCs of each zone of ``usage`` on the plan the cycle ran on.
    """

    number: int
    plan_code: str
    currency: str
    days: int
    usage: Mapping[Key, int]
    sims: Mapping[DeviceKind, int]
    members: int
    lines: int
    paid: int | None = None
    tethered: int = 0
    zone_mccs: Mapping[Zone, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.number < 1:
            raise InvalidInput(f"cycle numbers start at 1, not {self.number}")
        if self.days < 1:
            raise InvalidInput(f"cycle {self.number} must last at least a day")
        counts = [self.members, self.lines, self.tethered, *self.sims.values()]
        if any(n < 0 for n in counts) or any(n < 0 for n in self.usage.values()):
            raise InvalidAmount(f"cycle {self.number}: counts and units cannot be negative")
        if self.paid is not None and self.paid < 0:
            raise InvalidAmount(f"cycle {self.number}: what was paid cannot be negative")
        if any(not mccs for mccs in self.zone_mccs.values()):
            raise InvalidInput(f"cycle {self.number}: a zone's MCCs cannot be empty")


@dataclass(frozen=True, slots=True)
class PlanCost:
    """What a plan would have cost over the cycles (``per_cycle`` in the advice's order)."""

    code: str
    name: str
    total: int
    per_cycle: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A plan that could not have carried the family, and the first cycle that shows it."""

    code: str
    name: str
    cycle_number: int
    reason: str


@dataclass(frozen=True, slots=True)
class Advice:
    """The comparison: every plan that could carry every cycle, cheapest first (then by
    code), the plans that could not, and the advised plan.

    ``current`` is None when the current plan is not in the catalog (in the family's
    currency) or could not have carried the use as priced here; then ``saving_total``
    and ``saving_per_cycle`` are None too. ``reason`` says why the advice is to stay
    (or why there is no advice); it is None when another plan is cheaper.
    """

    currency: str
    cycles: tuple[int, ...]
    current_plan_code: str
    current: PlanCost | None
    plans: tuple[PlanCost, ...]
    refused: tuple[Refusal, ...]
    advised: PlanCost | None
    saving_total: int | None
    saving_per_cycle: int | None
    reason: str | None
    paid_total: int | None = None

    @property
    def change(self) -> bool:
        """True when the advice is to move to another plan."""
        return self.advised is not None and self.advised.code != self.current_plan_code


class _CannotCarry(Exception):
    """Why a plan could not carry a cycle (internal: never leaves this module)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def cost_on(plan: Plan, use: CycleUse, tax_basis_points: int = 0) -> int | None:
    """What the cycle would have cost on ``plan`` in minor units, tax included; None when
    the plan could not have carried the family (see :func:`refusal` for why)."""
    _check_tax(tax_basis_points)
    try:
        return _cost(plan, use, tax_basis_points)
    except _CannotCarry:
        return None


def refusal(plan: Plan, use: CycleUse) -> str | None:
    """Why ``plan`` could not have carried the cycle; None when it could."""
    try:
        _cost(plan, use, 0)
    except _CannotCarry as exc:
        return exc.reason
    return None


def advise(
    uses: Sequence[CycleUse],
    catalog: Sequence[Plan],
    current_plan_code: str,
    tax_basis_points: int = 0,
) -> Advice:
    """Compare every plan of ``catalog`` in the family's currency over ``uses``."""
    _check_tax(tax_basis_points)
    if not uses:
        raise InvalidInput("advice needs at least one cycle")
    currencies = {use.currency for use in uses}
    if len(currencies) > 1:
        raise InvalidAmount(f"the cycles are in several currencies: {sorted(currencies)}")
    ordered = sorted(uses, key=lambda u: u.number)
    numbers = tuple(use.number for use in ordered)
    if len(set(numbers)) != len(numbers):
        raise InvalidInput("each cycle can be counted only once")
    currency = ordered[0].currency
    plans = sorted((p for p in catalog if p.currency == currency), key=lambda p: p.code)
    codes = [p.code for p in plans]
    if len(set(codes)) != len(codes):
        raise InvalidInput("the catalog lists a plan code twice")

    costs: list[PlanCost] = []
    refused: list[Refusal] = []
    for plan in plans:
        per_cycle: list[int] = []
        try:
            for use in ordered:
                per_cycle.append(_cost(plan, use, tax_basis_points))
        except _CannotCarry as exc:
            refused.append(
                Refusal(plan.code, plan.name, ordered[len(per_cycle)].number, exc.reason)
            )
            continue
        costs.append(PlanCost(plan.code, plan.name, sum(per_cycle), tuple(per_cycle)))
    costs.sort(key=lambda c: (c.total, c.code))

    current = next((c for c in costs if c.code == current_plan_code), None)
    advised: PlanCost | None = costs[0] if costs else None
    if current is not None and advised is not None and current.total <= advised.total:
        advised = current  # a tie keeps the current plan
    saving_total = saving_per_cycle = None
    if current is not None and advised is not None:
        saving_total = current.total - advised.total
        saving_per_cycle = saving_total // len(ordered)
    paid = [use.paid for use in ordered]
    return Advice(
        currency=currency,
        cycles=numbers,
        current_plan_code=current_plan_code,
        current=current,
        plans=tuple(costs),
        refused=tuple(refused),
        advised=advised,
        saving_total=saving_total,
        saving_per_cycle=saving_per_cycle,
        reason=_reason(current_plan_code, currency, plans, costs, refused, current, advised),
        paid_total=None if None in paid else sum(p for p in paid if p is not None),
    )


def _reason(
    current_code: str,
    currency: str,
    plans: Sequence[Plan],
    costs: Sequence[PlanCost],
    refused: Sequence[Refusal],
    current: PlanCost | None,
    advised: PlanCost | None,
) -> str | None:
    if current is None:
        why = next((r for r in refused if r.code == current_code), None)
        if why is not None:
            stay = f"the current plan could not have carried this use (cycle {why.cycle_number}"
            stay += f": {why.reason})"
        else:
            stay = f"the current plan {current_code!r} is not in the catalog in {currency}"
        if advised is None:
            return f"{stay}, and no plan in {currency} could have"
        return stay
    if advised is None or advised.code != current.code:
        return None
    others = [p for p in plans if p.code != current_code]
    if not others:
        return f"the catalog has no other plan in {currency}"
    if len(costs) == 1:
        return f"no other plan in {currency} could have carried the family"
    tied = [c.code for c in costs if c.code != current_code and c.total == current.total]
    if tied:
        return f"{', '.join(tied)} would have cost the same: the current plan stays"
    return "the current plan is the cheapest for this use"


def _check_tax(tax_basis_points: int) -> None:
    if not 0 <= tax_basis_points <= TAX_BASIS:
        raise InvalidAmount("a tax rate is between 0 and 10,000 basis points (100 %)")


def _cost(plan: Plan, use: CycleUse, tax_basis_points: int) -> int:
    """The cycle's total on ``plan``, tax included; raises _CannotCarry."""
    if plan.currency != use.currency:
        raise _CannotCarry(f"priced in {plan.currency}, the family pays in {use.currency}")
    if use.members > plan.max_members:
        raise _CannotCarry(f"{use.members} members, the plan allows {plan.max_members}")
    if use.lines > plan.max_lines:
        raise _CannotCarry(f"{use.lines} lines, the plan allows {plan.max_lines}")
    if use.tethered and not plan.hotspot.allowed:
        raise _CannotCarry("the family used a hotspot, which the plan does not allow")
    usage: dict[Key, int] = {}
    for (resource, zone), units in sorted(use.usage.items(), key=_key_order):
        if not units:
            continue
        target = _zone_on(plan, zone, use.zone_mccs.get(zone))
        if not plan.covers(resource, target):
            where = zone if target == zone else f"{zone} ({target} on this plan)"
            raise _CannotCarry(f"the plan does not cover {resource.value} in {where}")
        usage[(resource, target)] = usage.get((resource, target), 0) + units
    subtotal = plan.monthly_fee.minor + plan.management_fee.minor
    for kind, count in sorted(use.sims.items(), key=lambda item: list(DeviceKind).index(item[0])):
        subtotal += count * plan.line_fee(kind).minor
    for (resource, zone), units in sorted(usage.items(), key=_key_order):
        pool = plan.allowance(resource, zone)
        if pool is None or units <= pool:
            continue
        rate = plan.overage.get((resource, zone))
        if rate is None:
            raise _CannotCarry(
                f"{units - pool} {resource.unit} of {resource.value} in {zone} beyond the pool, "
                "which the plan sells no overage for: the network would have refused them"
            )
        subtotal += rate.charge(units - pool).minor
    return subtotal + _half_up(subtotal * tax_basis_points, TAX_BASIS)


def _zone_on(plan: Plan, zone: Zone, mccs: frozenset[str] | None) -> Zone:
    """The plan's zone that carries usage recorded in ``zone`` (whose MCCs are ``mccs``)."""
    if mccs is None:
        if zone not in plan.zones:
            raise _CannotCarry(f"the plan has no zone {zone}")
        return zone
    found = {mcc: plan.zone_for_mcc(mcc) for mcc in mccs}
    outside = sorted(mcc for mcc, target in found.items() if target is None)
    if outside:
        raise _CannotCarry(f"the plan does not reach {zone} (MCC {', '.join(outside)})")
    targets = sorted({target for target in found.values() if target is not None})
    if len(targets) > 1:
        raise _CannotCarry(
            f"{zone} spans the plan's zones {', '.join(targets)}; "
            "where each unit was used is not recorded"
        )
    return targets[0]


def _key_order(item: tuple[Key, int]) -> tuple[int, bool, str]:
    (resource, zone), _ = item
    return (list(Resource).index(resource), zone != HOME, zone)


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)
