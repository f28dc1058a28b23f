"""The operator's catalog entry a family subscribes to.

A plan is an immutable value: the family keeps the code of its plan and, for the running
cycle, pools sized from that plan's allowances. Plan rules that can be checked without a
family (currencies agree, zones exist and do not overlap) are checked here, once, when the
plan is built, so a bad catalog can never reach charging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from famsim.domain.errors import InvalidAmount, InvalidInput
from famsim.domain.money import Money
from famsim.domain.safety import check_time_zone, normalize_numbers
from famsim.domain.units import HOME, Resource, Zone

_MCC = re.compile(r"[0-9]{3}")
_PLAN_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class InvalidPlan(InvalidInput):
    """A plan contradicts itself; the message names the part at fault."""


class DeviceKind(StrEnum):
    """What a subscription's device is: it decides the line fee and companion rules."""

    PHONE = "phone"
    WATCH = "watch"
    TABLET = "tablet"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class RoamingZone:
    """A named set of countries (by MCC) charged alike when a line roams there."""

    name: Zone
    mccs: frozenset[str]

    def __post_init__(self) -> None:
        if self.name == HOME:
            raise InvalidPlan("a roaming zone cannot be called 'home'")
        if not self.mccs:
            raise InvalidPlan(f"roaming zone {self.name!r} lists no MCC")
        for mcc in self.mccs:
            if not _MCC.fullmatch(mcc):
                raise InvalidPlan(f"roaming zone {self.name!r}: MCC {mcc!r} is not 3 digits")


@dataclass(frozen=True, slots=True)
class OverageRate:
    """The price of usage beyond the pool: ``price`` for every ``per`` units, rounded up."""

    price: Money
    per: int

    def __post_init__(self) -> None:
        if self.per <= 0:
            raise InvalidAmount("an overage rate must be per a positive number of units")
        if self.price.is_negative:
            raise InvalidAmount("an overage price cannot be negative")

    def charge(self, units: int) -> Money:
        """What ``units`` of overage cost, rounded up to the next minor unit."""
        if units < 0:
            raise InvalidAmount(f"cannot charge a negative number of units ({units})")
        return Money(-(-units * self.price.minor // self.per), self.price.currency)

    def affordable_units(self, budget: Money) -> int:
        """The most units whose charge stays within ``budget`` (how far a money cap reaches)."""
        if budget.currency != self.price.currency:
            raise InvalidAmount(
                f"a budget in {budget.currency} cannot buy usage priced in {self.price.currency}"
            )
        if self.price.minor == 0:
            raise InvalidAmount("a free overage rate has no affordable limit")
        return max(budget.minor, 0) * self.per // self.price.minor


@dataclass(frozen=True, slots=True)
class HotspotRule:
    """Whether tethering is allowed and, if so, how many bytes per member it may use."""

    allowed: bool
    sub_quota: int | None = None

    def __post_init__(self) -> None:
        if self.sub_quota is not None and self.sub_quota < 0:
            raise InvalidPlan("the hotspot sub-quota cannot be negative")
        if not self.allowed and self.sub_quota:
            raise InvalidPlan("a hotspot sub-quota makes no sense when hotspot is not allowed")


@dataclass(frozen=True, slots=True)
class Plan:
    """A family plan: pooled allowances per (resource, zone), fees, overage and limits.

    ``allowances`` maps (resource, zone) to bytes / seconds / messages per cycle, or to
    ``None`` for unlimited. A (resource, zone) absent from both allowances and overage is
    not covered by the plan at all.

    ``emergency_numbers`` (canonical short codes or E.164 numbers) are always allowed for
    every member of every family on the plan: which numbers reach the emergency services is
    the operator's knowledge of its market, not the family's. ``time_zone`` (IANA) is the
    default time zone of families opened on the plan, in which quiet hours are read.
    """

    code: str
    name: str
    currency: str
    home_mccs: frozenset[str]
    monthly_fee: Money
    management_fee: Money
    line_fees: Mapping[DeviceKind, Money]
    allowances: Mapping[tuple[Resource, Zone], int | None]
    overage: Mapping[tuple[Resource, Zone], OverageRate] = field(default_factory=dict)
    roaming_zones: tuple[RoamingZone, ...] = ()
    hotspot: HotspotRule = HotspotRule(allowed=True)
    max_members: int = 5
    max_lines: int = 10
    emergency_numbers: frozenset[str] = frozenset()
    time_zone: str = "UTC"
    rollover: frozenset[Resource] = frozenset()
    """Resources whose unused home pool carries into the next cycle (up to one cycle's
    allowance, so carried units never pile up; an unlimited pool has nothing to carry)."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "emergency_numbers", normalize_numbers(self.emergency_numbers))
            check_time_zone(self.time_zone)
        except InvalidInput as exc:
            raise InvalidPlan(f"plan {self.code!r}: {exc}") from None
        if not _PLAN_CODE.fullmatch(self.code):
            raise InvalidPlan(
                f"plan code {self.code!r}: use lower-case letters, digits, '.', '_' or '-'"
            )
        if not self.name.strip():
            raise InvalidPlan(f"plan {self.code!r} has no name")
        for mcc in self.home_mccs:
            if not _MCC.fullmatch(mcc):
                raise InvalidPlan(f"plan {self.code!r}: home MCC {mcc!r} is not 3 digits")
        if not self.home_mccs:
            raise InvalidPlan(f"plan {self.code!r} lists no home MCC")
        self._check_currencies()
        self._check_zones()
        if self.max_members < 1 or self.max_lines < 1:
            raise InvalidPlan(f"plan {self.code!r}: max members and max lines must be >= 1")
        if set(self.line_fees) != set(DeviceKind):
            missing = sorted(set(DeviceKind) - set(self.line_fees))
            raise InvalidPlan(f"plan {self.code!r}: line fee missing for {', '.join(missing)}")

    def _check_currencies(self) -> None:
        prices = [self.monthly_fee, self.management_fee, *self.line_fees.values()]
        prices += [rate.price for rate in self.overage.values()]
        for price in prices:
            if price.currency != self.currency:
                raise InvalidPlan(
                    f"plan {self.code!r} is in {self.currency} but has a price in {price.currency}"
                )
            if price.is_negative:
                raise InvalidPlan(f"plan {self.code!r} has a negative price {price}")

    def _check_zones(self) -> None:
        seen: dict[str, Zone] = dict.fromkeys(self.home_mccs, HOME)
        names = {HOME}
        for roaming in self.roaming_zones:
            if roaming.name in names:
                raise InvalidPlan(f"plan {self.code!r}: zone {roaming.name!r} defined twice")
            names.add(roaming.name)
            for mcc in roaming.mccs:
                if mcc in seen:
                    raise InvalidPlan(
                        f"plan {self.code!r}: MCC {mcc} is in both {seen[mcc]!r} "
                        f"and {roaming.name!r}"
                    )
                seen[mcc] = roaming.name
        for (resource, zone_name), amount in self.allowances.items():
            if zone_name not in names:
                raise InvalidPlan(
                    f"plan {self.code!r}: {resource} allowance for unknown zone {zone_name!r}"
                )
            if amount is not None and amount < 0:
                raise InvalidPlan(f"plan {self.code!r}: negative {resource} allowance")
        for resource, zone_name in self.overage:
            if zone_name not in names:
                raise InvalidPlan(
                    f"plan {self.code!r}: {resource} overage rate for unknown zone {zone_name!r}"
                )

    @property
    def zones(self) -> tuple[Zone, ...]:
        """Home first, then the roaming zones in catalog order."""
        return (HOME, *(z.name for z in self.roaming_zones))

    def zone_for_mcc(self, mcc: str) -> Zone | None:
        """The zone a serving network's MCC falls in, or None if the plan does not cover it."""
        if mcc in self.home_mccs:
            return HOME
        for roaming in self.roaming_zones:
            if mcc in roaming.mccs:
                return roaming.name
        return None

    def covers(self, resource: Resource, zone_name: Zone) -> bool:
        """True when usage of ``resource`` in ``zone_name`` can be granted at all."""
        key = (resource, zone_name)
        return key in self.allowances or key in self.overage

    def allowance(self, resource: Resource, zone_name: Zone) -> int | None:
        """The pooled amount per cycle; None means unlimited, 0 means pay-as-you-go only."""
        key = (resource, zone_name)
        if key not in self.allowances:
            return 0
        return self.allowances[key]

    def line_fee(self, kind: DeviceKind) -> Money:
        return self.line_fees[kind]
