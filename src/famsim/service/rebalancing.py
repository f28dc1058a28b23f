"""Forecasts per member and the auto-rebalance run (rules: famsim.domain.rebalance).

:func:`rebalance` reads the family, its plan and the current cycle's ledger (and a few
earlier cycles' ledgers, to blend into the forecast), plans the moves, and applies each
member's new quota with a :class:`SetAllocation` through the message bus, so every family
rule and the ``allocation.changed`` audit apply as for an owner's edit. Members whose quota
goes down are changed first: the quotas never add up to more than before, even between two
commands. Then one unit of work records an ``allocation.rebalanced`` audit event and a
``rebalanced`` outbox event (the family's notification) per move.

The policy is an argument for now; storing it per family comes later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from famsim.domain.allocation import Allocation
from famsim.domain.audit import AuditEvent
from famsim.domain.charging.ledger import Counter
from famsim.domain.errors import FamsimError
from famsim.domain.family import Family
from famsim.domain.ids import MemberId
from famsim.domain.rebalance import (
    Key,
    MemberForecast,
    PastCycle,
    RebalancePolicy,
    apply,
    forecast_members,
    plan_moves,
)
from famsim.service.background import Repeater
from famsim.service.commands import Command, SetAllocation
from famsim.service.ports import UnitOfWork

log = logging.getLogger("famsim.rebalance")
RUNS_OUT = "forecast.runs_out"
_ALERT_KEY = ("member_id", "resource", "zone", "cycle", "runs_out_on")
REBALANCED = "rebalanced"
"""The outbox kind of one move (one event per move)."""
AUDIT_ACTION = "allocation.rebalanced"
DEFAULT_ACTOR = "famsim:rebalance"
HISTORY_CYCLES = 3
"""Earlier cycles blended into a forecast, when the family has them."""


def rebalance(
    uow_factory: Callable[[], UnitOfWork],
    handle: Callable[[Command], Any],
    family_id: str,
    policy: RebalancePolicy,
    now: datetime,
    actor: str = DEFAULT_ACTOR,
    *,
    history: int = HISTORY_CYCLES,
) -> list[dict[str, Any]]:
    """Move unused quota to the members forecast to run out; returns the moves made.

    ``handle`` is the message bus's ``handle``. Nothing is read or changed when the policy
    is off. Each move is a dict: ``from_member``, ``to_member``, ``resource``, ``zone``,
    ``units``.
    """
    if not policy.enabled:
        return []
    family, found = _read(uow_factory, family_id, now, history)
    moves = plan_moves(found, policy)
    if not moves:
        return []
    allocations = _taking_part(family)
    after = apply(allocations, moves)
    for member_id, allocation in _in_safe_order(allocations, after):
        handle(_set_allocation(family.id, member_id, allocation, actor))
    by_member = {(f.member_id, f.key): f for f in found}
    with uow_factory() as uow:
        for move in moves:
            key = (move.resource, move.zone)
            giver, taker = by_member[(move.from_member, key)], by_member[(move.to_member, key)]
            detail: dict[str, str | int | None] = {
                **move.to_dict(),
                "cycle_number": family.cycle.number,
                "from_projected": giver.projected,
                "to_projected": taker.projected,
                "to_runs_out_at": _iso(taker.runs_out_at),
                "as_of": now.isoformat(),
            }
            # The wall clock, as every audit event (``as_of`` is the forecast's instant).
            uow.audit.record(
                AuditEvent(
                    datetime.now(UTC), family.id, actor, AUDIT_ACTION, move.to_member, detail
                )
            )
            payload = {
                **move.to_dict(),
                "family_id": family.id,
                "cycle_number": family.cycle.number,
                "from_quota": _quota(after[move.from_member], key),
                "to_quota": _quota(after[move.to_member], key),
                "to_runs_out_at": _iso(taker.runs_out_at),
                "at": now.isoformat(),
            }
            uow.outbox.add(family.id, REBALANCED, payload, now)
        uow.commit()
    return [move.to_dict() for move in moves]


def forecasts(
    uow_factory: Callable[[], UnitOfWork],
    family_id: str,
    now: datetime,
    *,
    history: int = HISTORY_CYCLES,
) -> list[dict[str, Any]]:
    """Every active member's forecast per (resource, zone) with a quota, JSON-ready:
    ``member_id``, ``resource``, ``zone``, ``used``, ``reserved``, ``quota``, ``hard_cap``,
    ``projected`` and ``runs_out_at`` (ISO 8601, None if the quota lasts): "will run out
    on day D". Empty in the cycle's first hour. No privacy rules here: the caller decides
    who may see whose."""
    _, found = _read(uow_factory, family_id, now, history)
    return [
        {
            "member_id": f.member_id,
            "resource": f.resource.value,
            "zone": f.zone,
            "used": f.used,
            "reserved": f.reserved,
            "quota": f.quota,
            "hard_cap": f.hard_cap,
            "projected": f.projected,
            "runs_out_at": _iso(f.runs_out_at),
        }
        for f in found
    ]


def cycle_instants(family: Family) -> tuple[datetime, datetime]:
    """The current cycle's start and end: midnight in the family's time zone, in UTC."""
    zone = ZoneInfo(family.time_zone)
    return (
        datetime.combine(family.cycle.start, time(), zone).astimezone(UTC),
        datetime.combine(family.cycle.end, time(), zone).astimezone(UTC),
    )


def _read(
    uow_factory: Callable[[], UnitOfWork], family_id: str, now: datetime, history: int
) -> tuple[Family, list[MemberForecast]]:
    """The family and its members' forecasts, read in one unit of work (no lock held:
    the commands that follow take it)."""
    with uow_factory() as uow:
        family = uow.families.get(family_id)
        plan = uow.plans.get(family.plan_code)
        current = family.cycle.number
        ledger = uow.ledgers.get(family.id, current, plan)
        past: list[PastCycle] = []
        for number in range(current - 1, max(current - 1 - history, 0), -1):
            earlier = uow.ledgers.get(family.id, number, plan)
            past.append(
                {
                    member_id: _consumed(member.pool, member.overage)
                    for member_id, member in earlier.members.items()
                }
            )
    start, end = cycle_instants(family)
    found = forecast_members(_taking_part(family), ledger.members, start, end, now, past)
    return family, found


def _consumed(pool: Mapping[Key, Counter], overage: Mapping[Key, Counter]) -> dict[Key, int]:
    """Units used per (resource, zone) in a cycle, from the pool and as overage."""
    totals: dict[Key, int] = {}
    for table in (pool, overage):
        for key, counter in table.items():
            totals[key] = totals.get(key, 0) + counter.used
    return totals


def _taking_part(family: Family) -> dict[MemberId, Allocation]:
    """Active members' allocations: removed members' quotas count for nothing."""
    return {m.id: family.allocation(m.id) for m in family.active_members}


def _in_safe_order(
    before: Mapping[MemberId, Allocation], after: Mapping[MemberId, Allocation]
) -> list[tuple[MemberId, Allocation]]:
    """The allocations to set, every lowered quota before any raised one.

    A member may give in one (resource, zone) and receive in another: it is set twice,
    first with only its lowered quotas. So each command's check sees every (resource,
    zone) adding up to no more than before.
    """
    lowered: list[tuple[MemberId, Allocation]] = []
    raised: list[tuple[MemberId, Allocation]] = []
    for member_id in sorted(after):
        old, new = before[member_id], after[member_id]
        if new == old:
            continue
        limits = {
            key: replace(limit, quota=min(limit.quota or 0, old.limit(*key).quota or 0))
            if limit.quota is not None
            else limit
            for key, limit in new.limits.items()
        }
        step = replace(new, limits=limits)
        if step != old:
            lowered.append((member_id, step))
        if new != step:
            raised.append((member_id, new))
    return lowered + raised


def _set_allocation(
    family_id: str, member_id: MemberId, allocation: Allocation, actor: str
) -> SetAllocation:
    """The command that sets ``allocation`` whole (everything but the quotas as it was)."""
    return SetAllocation(
        family_id=family_id,
        member_id=member_id,
        limits=dict(allocation.limits),
        hotspot_quota=allocation.hotspot_quota,
        exhaustion=allocation.exhaustion,
        redirect_url=allocation.redirect_url,
        money_cap=allocation.money_cap,
        roaming_allowed=allocation.roaming_allowed,
        always_allowed=tuple(sorted(allocation.always_allowed)),
        quiet_hours=tuple(str(window) for window in allocation.quiet_hours),
        actor=actor,
    )


def _quota(allocation: Allocation, key: Key) -> int | None:
    return allocation.limit(*key).quota


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


class AutoRebalance:
    """The owners' auto-rebalance policies at work: each pass rebalances every family
    whose owner turned it on (a server runs :meth:`scheduled`)."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        handle: Callable[[Command], Any],
        now: Callable[[], datetime],
    ) -> None:
        self._uow = uow_factory
        self._handle = handle
        self._now = now

    def alert_due(self) -> list[dict[str, Any]]:
        """ "Will run out on day D": one ``forecast.runs_out`` event per member, quota,
        cycle and day forecast (a new day when the pace changes it), for every family.
        Quotas running out only after the cycle's end say nothing."""
        with self._uow() as uow:
            families = [s.id for s in uow.families.summaries()]
        sent: list[dict[str, Any]] = []
        for family_id in families:
            try:
                sent += self._alert(family_id)
            except FamsimError:
                log.exception("forecast alerts of family %s failed; retried next pass", family_id)
        return sent

    def _alert(self, family_id: str) -> list[dict[str, Any]]:
        now = self._now()
        found = forecasts(self._uow, family_id, now)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            _, end = cycle_instants(family)
            zone = ZoneInfo(family.time_zone)
            said = {
                tuple(e.payload.get(k) for k in _ALERT_KEY)
                for e in uow.outbox.for_family(family.id, limit=500)
                if e.kind == RUNS_OUT
            }
            sent = []
            for f in found:
                if f["runs_out_at"] is None:
                    continue
                day = datetime.fromisoformat(f["runs_out_at"])
                if day >= end:
                    continue
                payload = {
                    "member_id": f["member_id"],
                    "resource": f["resource"],
                    "zone": f["zone"],
                    "cycle": family.cycle.number,
                    "runs_out_on": day.astimezone(zone).date().isoformat(),
                    "quota": f["quota"],
                    "projected": f["projected"],
                }
                if tuple(payload.get(k) for k in _ALERT_KEY) in said:
                    continue
                uow.outbox.add(family.id, RUNS_OUT, payload, now)
                sent.append(payload)
            uow.commit()
        return sent

    def run_due(self) -> list[dict[str, Any]]:
        """One pass; a family that fails (a rule, a busy database) is logged and left for
        the next pass, never stopping the others."""
        with self._uow() as uow:
            policies = {
                f: uow.billing.rebalance_policy(f) for f in uow.billing.rebalancing_families()
            }
        moves: list[dict[str, Any]] = []
        for family_id, policy in policies.items():
            try:
                moves += rebalance(self._uow, self._handle, family_id, policy, self._now())
            except FamsimError:
                log.exception("auto-rebalance of family %s failed; retried next pass", family_id)
        return moves

    def scheduled(self, every_s: float) -> Repeater:
        """A server's pass: forecast alerts for every family, then the rebalancing."""

        def one_pass() -> None:
            self.alert_due()
            self.run_due()

        return Repeater("famsim-rebalance", one_pass, self._now, every_s)
