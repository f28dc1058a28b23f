"""Who may see and change what, decided here in the service layer (not in the routes).

The rules, from the family's point of view:

* the **owner** sees every member's totals and manages allocations; a child's detail too;
  an adult's detail only if that adult consented;
* an **adult** sees its own detail and the pool totals, a ward's (a child it is guardian
  of) detail, and another adult's detail only if that adult consented;
* a **child** sees its own detail, nothing of anyone else, not even the pools;
* **operator staff** see what their API key's scopes allow, in every family.

"Totals" are a member's usage and allocation per resource and zone; "detail" adds what
reveals a life: lines and devices, usage by day. Someone outside the family learns
nothing, not even that the family exists (404, like a family that does not exist).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from enum import IntEnum
from typing import Any

from famsim.domain.access import Principal, Scope
from famsim.domain.charging.ledger import FamilyLedger, UsageRecord
from famsim.domain.errors import Forbidden
from famsim.domain.family import Family
from famsim.domain.members import Role
from famsim.domain.money import Money
from famsim.domain.units import Resource
from famsim.service.commands import SetAllocation
from famsim.service.ports import FamilyNotFound, UnitOfWork


class Visibility(IntEnum):
    NONE = 0
    TOTALS = 1
    DETAIL = 2


FAMILY_EVENT_KINDS = frozenset(
    {
        "threshold_crossed",
        "esim.state_changed",
        "invoice.issued",
        "rebalanced",
        "forecast.runs_out",
    }
)
"""Outbox events a family sees (not ``notification``: those carry codes for invitees)."""

Consented = Callable[[str, str], bool]
"""``consented(grantor, grantee)``: has the member *grantor* let *grantee* see its detail."""


def check_in_family(principal: Principal, family_id: str, scope: Scope) -> None:
    """The caller belongs to the family, or is staff holding *scope*; else refused.

    Staff without the scope get 403 (they know families exist); anyone else outside the
    family gets the same 404 as for a family that does not exist.
    """
    if principal.is_staff:
        if not principal.has(scope):
            raise Forbidden(f"this API key lacks the scope {scope.value!r}")
        return
    if principal.family_id != family_id:
        raise FamilyNotFound(f"no family {family_id!r}")


def check_scope(principal: Principal, scope: Scope) -> None:
    """An operator-only action: staff whose key holds *scope*; family users never."""
    if not principal.has(scope):
        raise Forbidden(f"this needs an operator API key with the scope {scope.value!r}")


def member_visibility(
    principal: Principal, family: Family, target_id: str, consented: Consented
) -> Visibility:
    """How much of member *target_id* the caller may see (see the module docstring)."""
    if principal.is_staff:
        if principal.has(Scope.USAGE_READ):
            return Visibility.DETAIL
        return Visibility.TOTALS if principal.has(Scope.FAMILIES_READ) else Visibility.NONE
    if principal.family_id != family.id or principal.member_id is None:
        return Visibility.NONE
    if principal.member_id == target_id:
        return Visibility.DETAIL
    me = family.members.get(principal.member_id)  # type: ignore[call-overload]
    target = family.members.get(target_id)  # type: ignore[call-overload]
    if me is None or target is None or not me.is_active:
        return Visibility.NONE
    if me.role is Role.CHILD:
        return Visibility.NONE
    if target.role is Role.CHILD and (me.role is Role.OWNER or target.guardian_id == me.id):
        return Visibility.DETAIL
    if consented(target.id, me.id):
        return Visibility.DETAIL
    return Visibility.TOTALS if me.role is Role.OWNER else Visibility.NONE


def sees_pools(principal: Principal, family: Family) -> bool:
    if principal.is_staff:
        return principal.has(Scope.FAMILIES_READ) or principal.has(Scope.USAGE_READ)
    me = family.members.get(principal.member_id or "")  # type: ignore[call-overload]
    return me is not None and me.is_active and me.role is not Role.CHILD


def check_manages(principal: Principal, family: Family) -> None:
    """Allocations and members are managed by the owner (or staff with families:write)."""
    if principal.is_staff:
        if not principal.has(Scope.FAMILIES_WRITE):
            raise Forbidden("this API key lacks the scope 'families:write'")
        return
    if principal.member_id != family.owner_id:
        raise Forbidden("only the family's owner may change this")


def check_audit(principal: Principal, family: Family) -> None:
    """The family's audit trail is the owner's to read (and staff with audit:read)."""
    if principal.is_staff:
        if not principal.has(Scope.AUDIT_READ):
            raise Forbidden("this API key lacks the scope 'audit:read'")
        return
    if principal.member_id != family.owner_id:
        raise Forbidden("only the family's owner may read its audit trail")


class FamilyReads:
    """Role-filtered reads of a family: what each caller may see, nothing more."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def family(self, principal: Principal, family_id: str) -> dict[str, Any]:
        """The family as *principal* may see it: members (names and roles to everyone in
        the family), each member's allocation and usage by visibility, pools if allowed."""
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            plan = uow.plans.get(family.plan_code)
            ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
            consented = _consents_of(uow, family)
        members = []
        for member in family.members.values():
            seen = member_visibility(principal, family, member.id, consented)
            entry: dict[str, Any] = {
                "id": member.id,
                "name": member.name,
                "role": member.role.value,
                "status": member.status.value,
                "visibility": seen.name.lower(),
            }
            if seen >= Visibility.TOTALS:
                entry["usage"] = _member_usage(ledger, member.id)
                entry["allocation"] = _allocation(family, member.id)
            if seen >= Visibility.DETAIL:
                entry["lines"] = _lines(family, member.id)
            members.append(entry)
        return {
            "id": family.id,
            "name": family.name,
            "plan": family.plan_code,
            "currency": family.currency,
            "time_zone": family.time_zone,
            "cycle": {
                "number": family.cycle.number,
                "start": family.cycle.start.isoformat(),
                "end": family.cycle.end.isoformat(),
            },
            "pools": _pools(family, ledger) if sees_pools(principal, family) else None,
            "members": members,
        }

    def usage_by_day(
        self, principal: Principal, family_id: str, member_id: str
    ) -> list[dict[str, Any]]:
        """One member's usage this cycle by day, resource and zone: detail, so only for
        callers who may see that member's detail."""
        check_in_family(principal, family_id, Scope.USAGE_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            member = family.member(member_id)
            if member_visibility(principal, family, member.id, uow.consents.granted) < 2:
                raise Forbidden(f"{member.name} has not shared usage detail with you")
            records = uow.ledgers.usage(family.id, family.cycle.number)
        return _by_day(r for r in records if r.member_id == member.id)

    def pool_usage_by_day(self, principal: Principal, family_id: str) -> list[dict[str, Any]]:
        """The family's usage this cycle by day, resource and zone, all members together:
        what the pools show, so for whoever may see the pools (not per member)."""
        check_in_family(principal, family_id, Scope.FAMILIES_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            if not sees_pools(principal, family):
                raise Forbidden("the family's pools are not shown to you")
            records = uow.ledgers.usage(family.id, family.cycle.number)
        return _by_day(records)

    def notifications(
        self, principal: Principal, family_id: str, limit: int
    ) -> list[dict[str, Any]]:
        """The family's alerts and lifecycle events (the owner's, like the audit); codes
        sent to invitees are theirs alone and never listed."""
        check_in_family(principal, family_id, Scope.AUDIT_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            check_audit(principal, family)
            events = uow.outbox.for_family(family.id, limit=limit)
        return [
            {"id": e.id, "kind": e.kind, "created_at": _time(e.created_at), "payload": e.payload}
            for e in events
            if e.kind in FAMILY_EVENT_KINDS
        ]

    def audit(self, principal: Principal, family_id: str, limit: int) -> list[dict[str, Any]]:
        check_in_family(principal, family_id, Scope.AUDIT_READ)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            check_audit(principal, family)
            events = uow.audit.for_family(family.id, limit=limit)
            names = _names(uow, family)
        return [
            {
                "at": _time(e.at),
                "actor": e.actor,
                "actor_name": _name_of(e.actor, names),
                "action": e.action,
                "subject": e.subject,
                "subject_name": _name_of(e.subject, names),
                "detail": dict(e.detail),
            }
            for e in events
        ]


def _names(uow: UnitOfWork, family: Family) -> dict[str, str]:
    """Member and account ids of the family -> the member's name, for people to read."""
    names: dict[str, str] = {}
    for member in family.members.values():
        names[member.id] = member.name
        account = uow.accounts.by_member(member.id)
        if account is not None:
            names[account.id] = member.name
    return names


def _name_of(party: str, names: dict[str, str]) -> str | None:
    """The name behind an audit actor or subject (``member:<account>`` or a bare id)."""
    return names.get(party.rpartition(":")[2])


def _by_day(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    """Units per UTC day, resource and zone; ``from_pool`` is the part the family's pool
    paid (the rest was overage or free), what a pool's own figures count."""
    days: dict[tuple[str, str, str], tuple[int, int]] = {}
    for record in records:
        key = (record.at.date().isoformat(), record.resource.value, record.zone)
        units, from_pool = days.get(key, (0, 0))
        days[key] = (units + record.units, from_pool + record.from_pool)
    return [
        {"day": day, "resource": resource, "zone": zone, "units": units, "from_pool": pooled}
        for (day, resource, zone), (units, pooled) in sorted(days.items())
    ]


def _consents_of(uow: UnitOfWork, family: Family) -> Consented:
    """Every consent among the family's members, read once (a family is small)."""
    pairs = {
        (grantor, grantee)
        for grantor in family.members
        for grantee in uow.consents.grantees(grantor)
    }
    return lambda grantor, grantee: (grantor, grantee) in pairs


def _time(value: datetime) -> str:
    return value.isoformat()


def _pools(family: Family, ledger: FamilyLedger) -> list[dict[str, Any]]:
    return [
        {
            "resource": pool.resource.value,
            "zone": pool.zone,
            "total": pool.total,
            "used": ledger.pool((pool.resource, pool.zone)).used,
            "reserved": ledger.pool((pool.resource, pool.zone)).reserved,
        }
        for pool in family.cycle.pools.values()
    ]


def _member_usage(ledger: FamilyLedger, member_id: str) -> list[dict[str, Any]]:
    member = ledger.members.get(member_id)  # type: ignore[call-overload]
    if member is None:
        return []
    keys = sorted(set(member.pool) | set(member.overage), key=lambda k: (k[0].value, k[1]))
    return [
        {
            "resource": resource.value,
            "zone": zone,
            "from_pool": member.pool[(resource, zone)].used
            if (resource, zone) in member.pool
            else 0,
            "overage": member.overage[(resource, zone)].used
            if (resource, zone) in member.overage
            else 0,
        }
        for resource, zone in keys
    ]


def _allocation(family: Family, member_id: str) -> dict[str, Any]:
    allocation = family.allocation(member_id)  # type: ignore[arg-type]
    return {
        "limits": [
            {"resource": r.value, "zone": z, "quota": limit.quota, "hard_cap": limit.hard_cap}
            for (r, z), limit in allocation.limits.items()
        ],
        "hotspot_quota": allocation.hotspot_quota,
        "roaming_allowed": allocation.roaming_allowed,
        "exhaustion": allocation.exhaustion.value,
        "money_cap_minor": allocation.money_cap.minor if allocation.money_cap else None,
    }


def _lines(family: Family, member_id: str) -> list[dict[str, Any]]:
    return [
        {
            "number": line.msisdn.e164,
            "status": line.status.value,
            "data_only": line.data_only,
            "devices": [
                {
                    "iccid": str(s.iccid),
                    "kind": s.device_kind.value,
                    "sim_type": s.sim_type.value,
                    "primary": s.primary,
                    "state": s.state.value,
                    "replaces": s.replaces is not None,
                }
                for s in line.subscriptions
            ],
        }
        for line in family.lines.values()
        if line.member_id == member_id and not line.is_closed
    ]


class FamilyWrites:
    """Changes to a family, each checked against the caller first (then the usual command)."""

    def __init__(self, uow: Callable[[], UnitOfWork], handle: Callable[[Any], Any]) -> None:
        self._uow = uow
        self._handle = handle

    def allocation(self, principal: Principal, family_id: str, member_id: str) -> dict[str, Any]:
        """A member's whole allocation as the owner edits it (the owner's, or staff with
        families:write): the member, the allocation, the pools it may limit, the
        currency of its money cap."""
        check_in_family(principal, family_id, Scope.FAMILIES_WRITE)
        with self._uow() as uow:
            family = uow.families.get(family_id)
            check_manages(principal, family)
            member = family.member(member_id)
            plan = uow.plans.get(family.plan_code)
        pools = sorted(family.cycle.pools, key=_pool_key)
        return {
            "family": {"id": family.id, "name": family.name, "currency": family.currency},
            "member": {"id": member.id, "name": member.name, "role": member.role.value},
            "allocation": family.allocation(member.id),
            "pools": pools,
            "hotspot_allowed": plan.hotspot.allowed,
        }

    def set_allocation(
        self, principal: Principal, command: SetAllocation, *, money_cap_minor: int | None = None
    ) -> Any:
        """Replace a member's allocation: the owner's (or staff with families:write) call.

        *money_cap_minor* is in the family's currency (callers need not know it).
        """
        check_in_family(principal, command.family_id, Scope.FAMILIES_WRITE)
        with self._uow() as uow:
            family = uow.families.get(command.family_id)
        check_manages(principal, family)
        if money_cap_minor is not None:
            command = replace(command, money_cap=Money(money_cap_minor, family.currency))
        return self._handle(replace(command, actor=f"{principal.kind.value}:{principal.id}"))


def _pool_key(key: tuple[Resource, str]) -> tuple[int, bool, str]:
    """Data, voice, SMS; home first in each."""
    return (list(Resource).index(key[0]), key[1] != "home", key[1])
