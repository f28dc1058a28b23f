"""Rating a cycle: the facts of a closed cycle turned into charges in minor units.

The rules, in the order the invoice shows them:

* **plan fee** and **management fee**: the plan's, once per cycle, the family's;
* **line fees**: one per SIM on a device, by device kind (a watch costs what the plan
  says a watch costs). A SIM that was in service for part of the cycle pays for the
  days it was (``fee x days / cycle days``, rounded half up to the minor unit);
* **overage** (home) and **roaming** (any other zone): per member, resource and zone, the
  plan's rate for the member's overage units of the cycle, rounded up once per zone:
  the same figure the charging engine checked money caps against;
* **money caps**: when a member's overage and roaming come to more than its money cap,
  a credit brings them down to the cap; then the same for the family's cap over all
  members. The engine enforces caps before the spend, so these credits only meet
  units used beyond a grant (overshoot): the family never pays more than its caps;
* **tax**: the configured rate (basis points: 2000 is 20 %) of the subtotal, rounded
  half up, once per invoice.

Everything is an integer; the one rounding of each kind above is the only rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from famsim.domain.errors import InvalidAmount
from famsim.domain.money import Money
from famsim.domain.plan import DeviceKind, Plan
from famsim.domain.units import HOME, Resource, Zone

TAX_BASIS = 10_000


class ChargeKind(StrEnum):
    PLAN_FEE = "plan_fee"
    MANAGEMENT_FEE = "management_fee"
    LINE_FEE = "line_fee"
    OVERAGE = "overage"
    ROAMING = "roaming"
    CAP_CREDIT = "cap_credit"
    TAX = "tax"


@dataclass(frozen=True, slots=True)
class BillableSim:
    """A SIM on a device during the cycle: from ``active_from`` (its first day in
    service) to ``active_until`` (exclusive; None: still in service)."""

    member_id: str
    msisdn: str
    device_kind: DeviceKind
    active_from: date
    active_until: date | None = None


@dataclass(frozen=True, slots=True)
class OverageUse:
    """A member's overage units of the cycle in one resource and zone."""

    member_id: str
    resource: Resource
    zone: Zone
    units: int


@dataclass(frozen=True, slots=True)
class CycleFacts:
    """What rating needs to know about a closed cycle."""

    family_id: str
    cycle_number: int
    start: date
    end: date  # exclusive
    plan: Plan
    members: Sequence[str]  # member ids in the family's order
    sims: Sequence[BillableSim] = ()
    overage: Sequence[OverageUse] = ()
    member_caps: Mapping[str, Money | None] = field(default_factory=dict)
    family_cap: Money | None = None
    tax_basis_points: int = 0


@dataclass(frozen=True, slots=True)
class Charge:
    kind: ChargeKind
    member_id: str | None  # None: the family's (fees, family credits, tax)
    minor: int
    detail: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RatedCycle:
    currency: str
    charges: tuple[Charge, ...]

    @property
    def subtotal(self) -> int:
        return sum(c.minor for c in self.charges if c.kind is not ChargeKind.TAX)

    @property
    def tax(self) -> int:
        return sum(c.minor for c in self.charges if c.kind is ChargeKind.TAX)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax

    def own_charges(self, member_id: str) -> int:
        """What a member's own lines and usage cost (the weights of a split by usage)."""
        return sum(c.minor for c in self.charges if c.member_id == member_id)


def rate(facts: CycleFacts) -> RatedCycle:
    """The cycle's charges, in invoice order (see the module docstring for the rules)."""
    plan = facts.plan
    days = (facts.end - facts.start).days
    if days <= 0:
        raise InvalidAmount("a cycle must end after it starts")
    if not 0 <= facts.tax_basis_points <= TAX_BASIS:
        raise InvalidAmount("a tax rate is between 0 and 10,000 basis points (100 %)")
    unknown = {s.member_id for s in facts.sims} | {o.member_id for o in facts.overage}
    unknown -= set(facts.members)
    if unknown:
        raise InvalidAmount(f"charges for members not in the family: {sorted(unknown)}")
    charges = [Charge(ChargeKind.PLAN_FEE, None, plan.monthly_fee.minor, {"plan": plan.code})]
    if plan.management_fee.minor:
        charges.append(Charge(ChargeKind.MANAGEMENT_FEE, None, plan.management_fee.minor))
    overage_total = 0
    for member in facts.members:
        charges.extend(_line_fees(facts, member, days))
        usage = _overage(facts, member)
        charges.extend(usage)
        spent = sum(c.minor for c in usage)
        cap = facts.member_caps.get(member)
        if cap is not None and spent > cap.minor:
            charges.append(
                Charge(ChargeKind.CAP_CREDIT, member, cap.minor - spent, {"cap": cap.minor})
            )
            spent = cap.minor
        overage_total += spent
    if facts.family_cap is not None and overage_total > facts.family_cap.minor:
        family_cap = facts.family_cap.minor
        credit = family_cap - overage_total
        charges.append(Charge(ChargeKind.CAP_CREDIT, None, credit, {"cap": family_cap}))
    subtotal = sum(c.minor for c in charges)
    tax = _half_up(subtotal * facts.tax_basis_points, TAX_BASIS)
    if facts.tax_basis_points:
        charges.append(Charge(ChargeKind.TAX, None, tax, {"basis_points": facts.tax_basis_points}))
    return RatedCycle(plan.currency, tuple(charges))


def _line_fees(facts: CycleFacts, member: str, days: int) -> list[Charge]:
    fees = []
    sims = sorted(
        (s for s in facts.sims if s.member_id == member),
        key=lambda s: (s.msisdn, _DEVICE_ORDER[s.device_kind], s.active_from),
    )
    for sim in sims:
        fee = facts.plan.line_fees.get(sim.device_kind)
        if fee is None or not fee.minor:
            continue
        first = max(sim.active_from, facts.start)
        last = min(sim.active_until or facts.end, facts.end)
        served = (last - first).days
        if served <= 0:
            continue
        minor = fee.minor if served >= days else _half_up(fee.minor * served, days)
        if not minor:
            continue  # a day of a tiny fee rounds to nothing: no empty line on the bill
        detail: dict[str, str | int] = {
            "msisdn": sim.msisdn,
            "device": sim.device_kind.value,
            "days": min(served, days),
            "of_days": days,
        }
        fees.append(Charge(ChargeKind.LINE_FEE, member, minor, detail))
    return fees


def _overage(facts: CycleFacts, member: str) -> list[Charge]:
    units: dict[tuple[Resource, Zone], int] = {}
    for use in facts.overage:
        if use.member_id == member:
            if use.units < 0:
                raise InvalidAmount("overage units cannot be negative")
            units[(use.resource, use.zone)] = units.get((use.resource, use.zone), 0) + use.units
    charges = []
    for (resource, zone), used in sorted(units.items(), key=_key_order):
        rate = facts.plan.overage.get((resource, zone))
        if rate is None or not used:
            continue
        kind = ChargeKind.OVERAGE if zone == HOME else ChargeKind.ROAMING
        detail: dict[str, str | int] = {"resource": resource.value, "zone": zone, "units": used}
        charges.append(Charge(kind, member, rate.charge(used).minor, detail))
    return charges


def _key_order(item: tuple[tuple[Resource, Zone], int]) -> tuple[int, bool, str]:
    (resource, zone), _ = item
    return (_RESOURCE_ORDER[resource], zone != HOME, zone)


_DEVICE_ORDER = {kind: position for position, kind in enumerate(DeviceKind)}
_RESOURCE_ORDER = {resource: position for position, resource in enumerate(Resource)}
"""Declaration order, the order of lines on an invoice (looked up, not searched: rating
runs for every family at a cycle's close)."""


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)
