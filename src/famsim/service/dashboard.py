"""What the web dashboard shows, read once per page through the privacy rules.

:class:`FamilyReads` already decides who sees what; this adds what a person looks at
on top of those figures: forecasts at the current pace, the cycle's usage as a series
to draw, the alerts, and the bill so far. Only data the caller may see goes in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from famsim.domain.access import Principal, Scope
from famsim.domain.billing.rating import Charge, ChargeKind, rate
from famsim.domain.errors import Forbidden
from famsim.domain.forecast import Forecast, at_pace
from famsim.domain.units import Resource
from famsim.service.access import (
    FamilyReads,
    Visibility,
    check_in_family,
    member_visibility,
)
from famsim.service.billing import cycle_facts
from famsim.service.ports import UnitOfWork


class Dashboard:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        reads: FamilyReads,
        now: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._reads = reads
        self._now = now

    def home(self, principal: Principal, family_id: str) -> dict[str, Any]:
        """The family as the caller may see it, with forecasts, the cycle's series per
        pool and (for the owner) the latest alerts."""
        family = self._reads.family(principal, family_id)
        start, end = cycle_bounds(family)
        now = self._now()
        family["now"] = now.isoformat()
        family["elapsed_days"] = max(0, (min(now, end) - start).days)
        family["days_left"] = max(0, (end - max(now, start)).days)
        if family["pools"] is not None:
            family["pools"].sort(key=_pool_order)
            days = self._reads.pool_usage_by_day(principal, family_id)
            for pool in family["pools"]:
                forecast = at_pace(pool["used"], pool["total"], start, end, now)
                pool["forecast"] = _forecast(forecast)
                pool["series"] = _cumulative(days, pool["resource"], pool["zone"])
        for member in family["members"]:
            member["meters"] = _meters(member, family["pools"], start, end, now)
        family["alerts"] = self._alerts(principal, family_id)
        return family

    def member(self, principal: Principal, family_id: str, member_id: str) -> dict[str, Any]:
        """One member's page: refused (Forbidden) unless the caller may see its detail."""
        check_in_family(principal, family_id, Scope.USAGE_READ)
        with self._uow() as uow:
            found = uow.families.get(family_id)
            target = found.member(member_id)
            seen = member_visibility(principal, found, target.id, uow.consents.granted)
        if seen < Visibility.DETAIL:
            raise Forbidden(f"{target.name} has not shared usage detail with you")
        family = self.home(principal, family_id)
        member = next(m for m in family["members"] if m["id"] == target.id)
        member["by_day"] = self._reads.usage_by_day(principal, family_id, target.id)
        return {"family": family, "member": member}

    def bill(self, principal: Principal, family_id: str) -> dict[str, Any]:
        """The cycle's charges so far, rated as the invoice will be (line fees for the
        days in service, overage used to date, money-cap credits; tax comes with the
        invoice); the owner's (and staff's) to read."""
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            if not principal.is_staff and principal.member_id != family.owner_id:
                raise Forbidden("the family's bill is shown to its owner")
            plan = uow.plans.get(family.cycle.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
        rated = rate(cycle_facts(family, plan, ledger))
        names: dict[str, str] = {m.id: m.name for m in family.members.values()}
        return {
            "family": {"id": family.id, "name": family.name, "currency": family.currency},
            "cycle": {
                "number": family.cycle.number,
                "start": family.cycle.start.isoformat(),
                "end": family.cycle.end.isoformat(),
            },
            "lines": [_estimate_line(charge, plan.name, names) for charge in rated.charges],
            "total_minor": rated.total,
            "money_cap_minor": family.money_cap.minor if family.money_cap else None,
            "invoices": [],  # issued at cycle close (billing); none before
        }

    def _alerts(self, principal: Principal, family_id: str) -> list[dict[str, Any]]:
        try:
            events = self._reads.notifications(principal, family_id, limit=50)
        except Forbidden:
            return []
        shown = {"threshold_crossed", "forecast.runs_out", "rebalanced", "invoice.issued"}
        return [e for e in reversed(events) if e["kind"] in shown][:8]


def cycle_bounds(family: dict[str, Any]) -> tuple[datetime, datetime]:
    """The cycle's start and end as instants: midnight in the family's time zone."""
    zone = ZoneInfo(family["time_zone"])
    start = date.fromisoformat(family["cycle"]["start"])
    end = date.fromisoformat(family["cycle"]["end"])
    return (
        datetime.combine(start, time(), zone).astimezone(UTC),
        datetime.combine(end, time(), zone).astimezone(UTC),
    )


def _forecast(forecast: Forecast | None) -> dict[str, Any] | None:
    if forecast is None:
        return None
    return {
        "projected": forecast.projected,
        "runs_out_at": forecast.runs_out_at.isoformat() if forecast.runs_out_at else None,
    }


def _cumulative(days: list[dict[str, Any]], resource: str, zone: str) -> list[tuple[str, int]]:
    running = 0
    series = []
    for row in days:
        if row["resource"] == resource and row["zone"] == zone:
            running += row["from_pool"]  # the pool's own figure, as its gauge counts
            series.append((row["day"], running))
    return series


def _meters(
    member: dict[str, Any],
    pools: list[dict[str, Any]] | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """One bar per resource and zone the member has a limit in or has used: used against
    its quota (or the pool when it has none), its hard cap, and the forecast."""
    if "usage" not in member:
        return []
    used = {
        (row["resource"], row["zone"]): row["from_pool"] + row["overage"] for row in member["usage"]
    }
    limits = {(row["resource"], row["zone"]): row for row in member["allocation"]["limits"]}
    totals = {(p["resource"], p["zone"]): p["total"] for p in pools or []}
    meters = []
    for key in sorted(set(used) | set(limits)):
        limit = limits.get(key, {})
        quota = limit.get("quota")
        cap = limit.get("hard_cap")
        bound = quota if quota is not None else cap if cap is not None else totals.get(key)
        units = used.get(key, 0)
        forecast = at_pace(units, cap if cap is not None else bound, start, end, now)
        meters.append(
            {
                "resource": key[0],
                "zone": key[1],
                "used": units,
                "quota": quota,
                "hard_cap": cap,
                "bound": bound,
                "forecast": _forecast(forecast),
            }
        )
    return meters


def _pool_order(pool: dict[str, Any]) -> tuple[int, bool, str]:
    """Data, voice, SMS; home before the roaming zones."""
    kinds = [resource.value for resource in Resource]
    return (kinds.index(pool["resource"]), pool["zone"] != "home", pool["zone"])


def _estimate_line(charge: Charge, plan_name: str, names: dict[str, str]) -> dict[str, Any]:
    """A rated charge as the bill page lists it."""
    member = names.get(charge.member_id or "", "")
    if charge.kind is ChargeKind.PLAN_FEE:
        return {"kind": "plan", "label": plan_name, "minor": charge.minor}
    if charge.kind is ChargeKind.MANAGEMENT_FEE:
        return {"kind": "management", "label": "", "minor": charge.minor}
    if charge.kind is ChargeKind.LINE_FEE:
        return {
            "kind": "line",
            "label": charge.detail["msisdn"],
            "device": charge.detail["device"],
            "member": member,
            "minor": charge.minor,
        }
    kind = "credit" if charge.kind is ChargeKind.CAP_CREDIT else "overage"
    return {"kind": kind, "label": member, "minor": charge.minor}
