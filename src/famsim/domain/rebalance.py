"""Forecast-driven rebalancing: unused quota moves to the members who will run out.

With the owner's auto-rebalance policy on, quota moves within one (resource, zone) from
members forecast to use less than their quota (donors) to members forecast to use more
(receivers). The rules, all in whole base units:

- A member takes part only where it has a quota (a member without one already draws on the
  pool freely) and once there is a forecast (not in a cycle's first hour, see
  :func:`famsim.domain.forecast.at_pace`).
- A donor keeps at least the most of: its forecast, what it has drawn from the pool so far
  plus its live reservations, and the owner's minimum for it. What lies above is spare.
- A receiver asks for its forecast less its quota, never beyond the owner's maximum for it
  nor its hard cap (a quota above the hard cap could never be used).
- ``min(total spare, total need)`` moves: receivers are served in the order they run out
  (earliest first; ties: the larger need, then the member id), donors give in the order of
  their spare (largest first; ties: the member id). Deterministic, and no member both gives
  and receives in one (resource, zone).
- The sum of quotas of every (resource, zone) is unchanged, so a family that kept its
  quotas within the pool still does.

See docs/rebalancing.md for the reasoning and an example.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from famsim.domain.allocation import Allocation, Limit
from famsim.domain.charging.ledger import MemberLedger
from famsim.domain.errors import InvalidAmount, InvalidInput, RuleViolation
from famsim.domain.forecast import at_pace
from famsim.domain.ids import MemberId
from famsim.domain.units import Resource, Zone

Key = tuple[Resource, Zone]
PastCycle = Mapping[MemberId, Mapping[Key, int]]
"""One earlier cycle: per member, the units it used in each (resource, zone), pool and
overage together. A member missing from a cycle did not count in it (not a member yet, or
nothing recorded); a member present without a key used none of it."""


def _check_units(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidAmount(f"{name} must be a whole non-negative amount, got {value!r}")


# ------------------------------------------------------------------------------ policy
@dataclass(frozen=True, slots=True)
class Bounds:
    """The owner's bounds on one member's quota in one (resource, zone).

    Rebalancing never takes the quota below ``min_quota`` nor raises it above
    ``max_quota`` (None: no maximum but the member's hard cap). A quota already outside
    the bounds is not pulled into them: rebalancing only moves spare to need.
    """

    min_quota: int = 0
    max_quota: int | None = None

    def __post_init__(self) -> None:
        _check_units("a minimum quota", self.min_quota)
        if self.max_quota is not None:
            _check_units("a maximum quota", self.max_quota)
            if self.max_quota < self.min_quota:
                raise InvalidAmount(
                    f"the maximum quota {self.max_quota:,} is below the minimum {self.min_quota:,}"
                )


NO_BOUNDS = Bounds()


@dataclass(frozen=True, slots=True)
class RebalancePolicy:
    """The owner's auto-rebalance switch and bounds per member and (resource, zone).

    ``bounds[member_id][(resource, zone)]``; a member or pair without bounds may go down
    to zero (less never than it has used and reserved, nor its forecast) and up to its
    hard cap.
    """

    enabled: bool = False
    bounds: Mapping[MemberId, Mapping[Key, Bounds]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise InvalidInput(f"enabled must be true or false, got {self.enabled!r}")
        frozen: dict[MemberId, Mapping[Key, Bounds]] = {}
        for member_id, pairs in self.bounds.items():
            for key, bounds in pairs.items():
                if not isinstance(bounds, Bounds):
                    raise InvalidInput(f"bounds of {member_id} for {key} are not Bounds")
            frozen[member_id] = MappingProxyType(dict(pairs))
        object.__setattr__(self, "bounds", MappingProxyType(frozen))

    def bounds_for(self, member_id: MemberId, resource: Resource, zone: Zone) -> Bounds:
        return self.bounds.get(member_id, {}).get((resource, zone), NO_BOUNDS)


# ---------------------------------------------------------------------------- forecasts
@dataclass(frozen=True, slots=True)
class MemberForecast:
    """Where one member's quota in one (resource, zone) is heading by the cycle's end.

    ``used`` and ``reserved`` are the member's units drawn from the pool (what counts
    against the quota) and held by live grants. ``projected`` is what the quota would have
    to hold by the cycle's end: ``used`` plus the forecast of the rest of the cycle (the
    rate counts all the member's use, paid overage included: that is its demand).
    ``runs_out_at`` is when the quota is used up at that rate (None: it lasts the cycle).
    """

    member_id: MemberId
    resource: Resource
    zone: Zone
    used: int
    reserved: int
    quota: int
    hard_cap: int | None
    projected: int
    runs_out_at: datetime | None

    def __post_init__(self) -> None:
        for name in ("used", "reserved", "quota", "projected"):
            _check_units(name, getattr(self, name))
        if self.hard_cap is not None:
            _check_units("hard cap", self.hard_cap)

    @property
    def key(self) -> Key:
        return (self.resource, self.zone)

    @property
    def held(self) -> int:
        """Used plus reserved: the least the quota may ever be taken down to."""
        return self.used + self.reserved


def forecast_members(
    allocations: Mapping[MemberId, Allocation],
    ledgers: Mapping[MemberId, MemberLedger],
    start: datetime,
    end: datetime,
    now: datetime,
    past: Sequence[PastCycle] = (),
) -> list[MemberForecast]:
    """A forecast for every member and (resource, zone) with a quota, in a stable order.

    ``allocations`` are the members taking part (the caller leaves removed members out),
    ``ledgers`` their counters this cycle (``FamilyLedger.members``), ``start`` and ``end``
    the cycle's instants. Nothing is forecast in the cycle's first hour (see
    :func:`at_pace`).

    Without ``past`` cycles the rest of the cycle goes at this cycle's pace. With them the
    rate of the rest blends this cycle's rate and the past cycles' mean rate, each weighted
    by its share of the cycle: elapsed for this cycle's, remaining for the past's. Early in
    a cycle the past dominates, late in it the present:

        rest = remaining * (w * used / elapsed + (1 - w) * mean / length),  w = elapsed / length

    rounded up, so a forecast never promises more room than there is.
    """
    elapsed = int((min(now, end) - start).total_seconds())
    length = int((end - start).total_seconds())
    remaining = length - elapsed
    at = min(now, end)
    forecasts = []
    for member_id in sorted(allocations):
        member = ledgers.get(member_id)
        for key in sorted(allocations[member_id].limits):
            limit = allocations[member_id].limits[key]
            if limit.quota is None:
                continue
            pool = member.pool.get(key) if member is not None else None
            overage = member.overage.get(key) if member is not None else None
            used = pool.used if pool is not None else 0
            reserved = pool.reserved if pool is not None else 0
            consumed = used + (overage.used if overage is not None else 0)
            pace = at_pace(consumed, limit.quota, start, end, now)
            if pace is None:
                continue  # too early in the cycle to tell
            history = [cycle[member_id].get(key, 0) for cycle in past if member_id in cycle]
            if history:
                n, total = len(history), sum(history)
                rest = -(
                    -remaining * (consumed * length * n + remaining * total) // (length**2 * n)
                )
            else:
                rest = pace.projected - consumed
            projected = used + rest
            forecasts.append(
                MemberForecast(
                    member_id=member_id,
                    resource=key[0],
                    zone=key[1],
                    used=used,
                    reserved=reserved,
                    quota=limit.quota,
                    hard_cap=limit.hard_cap,
                    projected=projected,
                    runs_out_at=_runs_out(used, limit.quota, rest, remaining, at),
                )
            )
    return forecasts


def _runs_out(used: int, quota: int, rest: int, remaining: int, at: datetime) -> datetime | None:
    """When ``used`` reaches ``quota`` if ``rest`` more units come evenly over ``remaining``
    seconds from ``at``; None if the quota lasts."""
    if used + rest <= quota:
        return None
    if used >= quota:
        return at
    return at + timedelta(seconds=-(-(quota - used) * remaining // rest))


# -------------------------------------------------------------------------------- moves
@dataclass(frozen=True, slots=True)
class Move:
    """``units`` of quota from one member to another in one (resource, zone)."""

    from_member: MemberId
    to_member: MemberId
    resource: Resource
    zone: Zone
    units: int

    def __post_init__(self) -> None:
        _check_units("units moved", self.units)
        if self.units == 0:
            raise InvalidAmount("a move carries at least one unit")
        if self.from_member == self.to_member:
            raise InvalidInput("a member cannot move quota to itself")

    def to_dict(self) -> dict[str, str | int]:
        """The move as JSON-ready data."""
        return {
            "from_member": self.from_member,
            "to_member": self.to_member,
            "resource": self.resource.value,
            "zone": self.zone,
            "units": self.units,
        }


def spare(forecast: MemberForecast, bounds: Bounds) -> int:
    """Units a member can give: its quota above its forecast, its used plus reserved and
    its minimum (0 when there is none)."""
    keep = max(forecast.projected, forecast.held, bounds.min_quota)
    return max(forecast.quota - keep, 0)


def need(forecast: MemberForecast, bounds: Bounds) -> int:
    """Units a member is forecast to lack, up to its maximum and hard cap (0: none)."""
    ceiling = min(
        v for v in (forecast.projected, bounds.max_quota, forecast.hard_cap) if v is not None
    )
    return max(ceiling - forecast.quota, 0)


def plan_moves(forecasts: Iterable[MemberForecast], policy: RebalancePolicy) -> list[Move]:
    """The moves that bring quota to the members who will run out (see the module's rules).

    Nothing when the policy is off. Moves come grouped by (resource, zone) in sorted order,
    and within one by receiver in the order served.
    """
    if not policy.enabled:
        return []
    groups: dict[Key, dict[MemberId, MemberForecast]] = {}
    for forecast in forecasts:
        group = groups.setdefault(forecast.key, {})
        if forecast.member_id in group:
            raise InvalidInput(
                f"two forecasts of member {forecast.member_id} for "
                f"{forecast.resource.value} in {forecast.zone}"
            )
        group[forecast.member_id] = forecast
    moves: list[Move] = []
    for key in sorted(groups):
        receivers: list[tuple[MemberForecast, int]] = []
        donors: list[tuple[MemberForecast, int]] = []
        for forecast in groups[key].values():
            bounds = policy.bounds_for(forecast.member_id, *key)
            wanted, free = need(forecast, bounds), spare(forecast, bounds)
            if wanted:
                receivers.append((forecast, wanted))
            elif free:
                donors.append((forecast, free))
        receivers.sort(key=_urgency)
        donors.sort(key=lambda item: (-item[1], item[0].member_id))
        moves.extend(_match(key, receivers, donors))
    return moves


def _urgency(item: tuple[MemberForecast, int]) -> tuple[bool, float, int, str]:
    forecast, wanted = item
    runs_out = forecast.runs_out_at
    return (
        runs_out is None,
        runs_out.timestamp() if runs_out else 0.0,
        -wanted,
        forecast.member_id,
    )


def _match(
    key: Key,
    receivers: list[tuple[MemberForecast, int]],
    donors: list[tuple[MemberForecast, int]],
) -> list[Move]:
    moves = []
    left = [free for _, free in donors]
    d = 0
    for receiver, wanted in receivers:
        while wanted and d < len(donors):
            units = min(wanted, left[d])
            moves.append(Move(donors[d][0].member_id, receiver.member_id, *key, units))
            wanted -= units
            left[d] -= units
            if not left[d]:
                d += 1
    return moves


def apply(
    allocations: Mapping[MemberId, Allocation], moves: Iterable[Move]
) -> dict[MemberId, Allocation]:
    """The allocations after ``moves``: new quotas, hard caps and everything else unchanged.

    Refused (RuleViolation, InvalidAmount) if a move names a member or pair without a quota,
    takes a quota below zero or lifts it above the hard cap.
    """
    deltas: dict[MemberId, dict[Key, int]] = {}
    for move in moves:
        key = (move.resource, move.zone)
        giver = deltas.setdefault(move.from_member, {})
        giver[key] = giver.get(key, 0) - move.units
        taker = deltas.setdefault(move.to_member, {})
        taker[key] = taker.get(key, 0) + move.units
    result = dict(allocations)
    for member_id, changes in deltas.items():
        allocation = allocations.get(member_id)
        if allocation is None:
            raise RuleViolation(f"member {member_id} has no allocation to rebalance")
        limits = dict(allocation.limits)
        for key, delta in changes.items():
            limit = limits.get(key)
            if limit is None or limit.quota is None:
                raise RuleViolation(
                    f"member {member_id} has no quota for {key[0].value} in {key[1]}"
                )
            limits[key] = Limit(quota=limit.quota + delta, hard_cap=limit.hard_cap)
        result[member_id] = replace(allocation, limits=limits)
    return result
