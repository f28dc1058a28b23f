"""Granting: the least of everything that limits a member's next units.

For one request (a resource in a zone, tethered or not, some units asked for or none), the
grant is the smallest of: the units asked for (or the configured quantum), the member's
quota left, its hard cap left, the pool left, the hotspot sub-quota left when tethered, and
(when the plan prices overage) the overage units still affordable under the family's and
the member's money caps. Units come from the pool first; only what the pool or the member's
quota cannot give is overage, and its price is reserved with the grant, so a money cap is
enforced before the spend, not reported after it.

``None`` stands for "no limit" throughout; every amount is an integer in base units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from famsim.domain.allocation import Allocation, ExhaustionAction
from famsim.domain.errors import InvalidAmount
from famsim.domain.money import Money
from famsim.domain.plan import Plan
from famsim.domain.units import HOME, Resource, Zone


class FinalUnitAction(StrEnum):
    """What the network does once the last granted units are used (RFC 4006 8.35)."""

    TERMINATE = "terminate"
    REDIRECT = "redirect"
    RESTRICT_ACCESS = "restrict_access"


FINAL_UNIT_ACTION: Mapping[ExhaustionAction, FinalUnitAction] = {
    ExhaustionAction.BLOCK: FinalUnitAction.TERMINATE,
    ExhaustionAction.THROTTLE: FinalUnitAction.RESTRICT_ACCESS,
    ExhaustionAction.REDIRECT: FinalUnitAction.REDIRECT,
}


class Denial(StrEnum):
    """Why a request gets no units at all; each maps to its own protocol answer."""

    SERVICE_NOT_ON_LINE = "service_not_on_line"
    """Voice or SMS on a data-only line."""
    ZONE_NOT_COVERED = "zone_not_covered"
    """The plan neither pools nor prices this resource in this zone."""
    ROAMING_NOT_ALLOWED = "roaming_not_allowed"
    """The member may not roam (the owner's switch, off by default for children)."""
    HOTSPOT_NOT_ALLOWED = "hotspot_not_allowed"
    """Tethered data where the plan or the member's allocation allows no hotspot."""
    LIMIT_REACHED = "limit_reached"
    """Quota, hard cap, pool, hotspot sub-quota or money cap: nothing is left."""
    QUIET_HOURS = "quiet_hours"
    """The member's quiet hours (school time, night) cover this resource now."""


@dataclass(frozen=True, slots=True)
class Quantum:
    """What to grant when the network asks for no amount, and for how long it is valid."""

    units: int
    validity_seconds: int

    def __post_init__(self) -> None:
        if self.units <= 0 or self.validity_seconds <= 0:
            raise InvalidAmount("a quantum needs positive units and a positive validity time")


DEFAULT_QUANTA: Mapping[Resource, Quantum] = {
    Resource.DATA: Quantum(10 * 10**6, 3600),  # 10 MB, re-asked at most hourly
    Resource.VOICE: Quantum(300, 3600),  # 5-minute slices of a call
    Resource.SMS: Quantum(1, 3600),
}


@dataclass(frozen=True, slots=True)
class Held:
    """Units committed (``used``) and granted but not yet reported (``reserved``)."""

    used: int = 0
    reserved: int = 0

    @property
    def total(self) -> int:
        return self.used + self.reserved


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the member and the family stand in the cycle, as the request arrives.

    ``pool`` is the family pool of the request's (resource, zone) with its ``pool_total``
    (None: unlimited). ``member_pool`` and ``member_overage`` are the member's units of that
    (resource, zone) drawn from the pool and bought as overage; ``member_tethered`` is the
    member's tethered data in the cycle (all zones). The money figures are overage spent or
    reserved in the cycle, by the whole family and by this member.
    """

    pool_total: int | None
    pool: Held
    member_pool: Held
    member_overage: Held
    member_tethered: Held
    family_overage_money: Money
    member_overage_money: Money


@dataclass(frozen=True, slots=True)
class GrantRequest:
    resource: Resource
    zone: Zone
    tethered: bool = False
    requested: int | None = None
    data_only_line: bool = False

    def __post_init__(self) -> None:
        if self.requested is not None and (
            isinstance(self.requested, bool) or not isinstance(self.requested, int)
        ):
            raise InvalidAmount(f"requested units must be a whole number, got {self.requested!r}")
        if self.requested is not None and self.requested <= 0:
            raise InvalidAmount("requested units must be positive (or absent for a quantum)")
        if self.tethered and self.resource is not Resource.DATA:
            raise InvalidAmount("only data can be tethered")


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to a request: units split into pool and overage, and what comes after.

    ``final_action`` is set when these are the last units available (the network applies it
    once they are used); a denial carries it too, so the gateway knows what to do now.
    """

    units: int
    from_pool: int
    from_overage: int
    overage_price: Money
    validity_seconds: int
    denial: Denial | None = None
    final_action: FinalUnitAction | None = None
    redirect_url: str | None = None
    limits: Mapping[str, int | None] = field(default_factory=dict)
    free: int = 0
    """Units at zero rate (an always-allowed destination): ``units`` = pool + overage + free."""

    @property
    def granted(self) -> bool:
        return self.denial is None


@dataclass(frozen=True, slots=True)
class ChargingRules:
    """Operator configuration for granting: quanta and validity per resource."""

    quanta: Mapping[Resource, Quantum] = field(default_factory=lambda: dict(DEFAULT_QUANTA))
    default_redirect_url: str | None = None


def decide(
    request: GrantRequest,
    *,
    plan: Plan,
    allocation: Allocation,
    family_money_cap: Money | None,
    standing: Standing,
    rules: ChargingRules,
) -> Grant:
    """How many units ``request`` may have now; see the module docstring for the rule."""
    zero = Money.zero(plan.currency)
    quantum = rules.quanta[request.resource]
    resource, zone = request.resource, request.zone

    def deny(reason: Denial, final: bool = False) -> Grant:
        action = FINAL_UNIT_ACTION[allocation.exhaustion] if final else None
        return Grant(
            units=0,
            from_pool=0,
            from_overage=0,
            overage_price=zero,
            validity_seconds=quantum.validity_seconds,
            denial=reason,
            final_action=action,
            redirect_url=_redirect(action, allocation, rules),
        )

    if request.data_only_line and resource is not Resource.DATA:
        return deny(Denial.SERVICE_NOT_ON_LINE)
    if not plan.covers(resource, zone):
        return deny(Denial.ZONE_NOT_COVERED)
    if zone != HOME and not allocation.roaming_allowed:
        return deny(Denial.ROAMING_NOT_ALLOWED)
    if request.tethered and (not plan.hotspot.allowed or allocation.hotspot_quota == 0):
        return deny(Denial.HOTSPOT_NOT_ALLOWED)

    limit = allocation.limit(resource, zone)
    quota_left = _left(limit.quota, standing.member_pool.total)
    pool_left = _left(standing.pool_total, standing.pool.total)
    pool_room = _least(quota_left, pool_left)
    rate = plan.overage.get((resource, zone))
    money_left = (
        None  # no cap at all, the common case: skip building Money to compare
        if family_money_cap is None and allocation.money_cap is None
        else _least_money(
            _money_left(family_money_cap, standing.family_overage_money),
            _money_left(allocation.money_cap, standing.member_overage_money),
        )
    )
    overage_room: int | None = 0
    if rate is not None:
        overage_room = (
            None
            if money_left is None or rate.price.minor == 0
            else rate.affordable_units(money_left)
        )
    cap_left = _left(limit.hard_cap, standing.member_pool.total + standing.member_overage.total)
    hotspot_left = None
    if request.tethered:
        hotspot_left = _least(
            _left(allocation.hotspot_quota, standing.member_tethered.total),
            _left(plan.hotspot.sub_quota, standing.member_tethered.total),
        )
    limits = {
        "quota": quota_left,
        "pool": pool_left,
        "overage": overage_room,
        "hard_cap": cap_left,
        "hotspot": hotspot_left,
    }
    available = _least(_plus(pool_room, overage_room), cap_left, hotspot_left)
    wanted = request.requested or quantum.units
    units = wanted if available is None else min(wanted, available)
    if units == 0:
        return deny(Denial.LIMIT_REACHED, final=True)
    from_pool = units if pool_room is None else min(units, pool_room)
    from_overage = units - from_pool
    price = rate.charge(from_overage) if rate is not None and from_overage else zero
    # Final when nothing would be left after this grant. "units == available" is not
    # enough: overage is priced rounded up, so a grant can spend the last money while
    # fewer units than the affordable count were given.
    overage_after: int | None = 0
    if rate is not None:
        overage_after = (
            None
            if overage_room is None or money_left is None
            else rate.affordable_units(money_left - price)
        )
    available_after = _least(
        _plus(_minus(pool_room, from_pool), overage_after),
        _minus(cap_left, units),
        _minus(hotspot_left, units),
    )
    final = available_after == 0
    action = FINAL_UNIT_ACTION[allocation.exhaustion] if final else None
    return Grant(
        units=units,
        from_pool=from_pool,
        from_overage=from_overage,
        overage_price=price,
        validity_seconds=quantum.validity_seconds,
        final_action=action,
        redirect_url=_redirect(action, allocation, rules),
        limits=limits,
    )


def decide_free(request: GrantRequest, *, plan: Plan, rules: ChargingRules) -> Grant:
    """The grant for an always-allowed destination: never denied by a limit, charged nothing.

    A guardian or an emergency number must get through whatever the quotas, caps, roaming
    switch or quiet hours say. Only what the line cannot carry at all is refused (voice or
    SMS on a data-only line).
    """
    quantum = rules.quanta[request.resource]
    zero = Money.zero(plan.currency)
    if request.data_only_line and request.resource is not Resource.DATA:
        return Grant(0, 0, 0, zero, quantum.validity_seconds, denial=Denial.SERVICE_NOT_ON_LINE)
    units = request.requested or quantum.units
    return Grant(units, 0, 0, zero, quantum.validity_seconds, free=units)


def _redirect(
    action: FinalUnitAction | None, allocation: Allocation, rules: ChargingRules
) -> str | None:
    if action is not FinalUnitAction.REDIRECT:
        return None
    return allocation.redirect_url or rules.default_redirect_url


def _left(limit: int | None, held: int) -> int | None:
    return None if limit is None else max(limit - held, 0)


def _least(*values: int | None) -> int | None:
    # A loop rather than min() over a filtered list: it runs several times per grant.
    least = None
    for value in values:
        if value is not None and (least is None or value < least):
            least = value
    return least


def _minus(a: int | None, b: int) -> int | None:
    return None if a is None else max(a - b, 0)


def _plus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _money_left(cap: Money | None, spent: Money) -> Money | None:
    if cap is None:
        return None
    left = cap - spent
    return left if not left.is_negative else Money.zero(cap.currency)


def _least_money(*values: Money | None) -> Money | None:
    bounded = [v for v in values if v is not None]
    return min(bounded) if bounded else None
