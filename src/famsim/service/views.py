"""Read-side queries: what the command line and the API show about families and plans.

They return plain dictionaries of JSON-ready values (integers, strings, lists), so every
entrypoint renders the same facts, as a table for people or as JSON for scripts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from famsim.domain.allocation import Allocation
from famsim.domain.charging.ledger import Counter, FamilyLedger
from famsim.domain.cycle import Pool
from famsim.domain.errors import RuleViolation
from famsim.domain.family import Family
from famsim.domain.money import Money
from famsim.domain.plan import Plan
from famsim.domain.units import HOME, Resource
from famsim.service.ports import FamilyNotFound, UnitOfWork


def _money(value: Money | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"minor": value.minor, "currency": value.currency, "text": str(value)}


def plan_view(plan: Plan) -> dict[str, Any]:
    return {
        "code": plan.code,
        "name": plan.name,
        "currency": plan.currency,
        "monthly_fee": _money(plan.monthly_fee),
        "management_fee": _money(plan.management_fee),
        "line_fees": {kind.value: _money(fee) for kind, fee in plan.line_fees.items()},
        "allowances": [
            {"resource": r.value, "zone": z, "amount": amount}
            for (r, z), amount in plan.allowances.items()
        ],
        "overage": [
            {"resource": r.value, "zone": z, "price": _money(rate.price), "per": rate.per}
            for (r, z), rate in plan.overage.items()
        ],
        "zones": {"home": sorted(plan.home_mccs)}
        | {zone.name: sorted(zone.mccs) for zone in plan.roaming_zones},
        "hotspot": {"allowed": plan.hotspot.allowed, "sub_quota": plan.hotspot.sub_quota},
        "max_members": plan.max_members,
        "max_lines": plan.max_lines,
        "emergency_numbers": sorted(plan.emergency_numbers),
        "time_zone": plan.time_zone,
    }


def list_plans(uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [plan_view(plan) for plan in uow.plans.catalog()]


def list_families(uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [
            {
                "id": s.id,
                "name": s.name,
                "plan": s.plan_code,
                "owner": s.owner_name,
                "members": s.members,
                "lines": s.lines,
                "created_on": s.created_on.isoformat(),
            }
            for s in uow.families.summaries()
        ]


def family_detail(uow: UnitOfWork, family_id: str) -> dict[str, Any]:
    with uow:
        family = uow.families.get(family_id)
        plan = uow.plans.get(family.plan_code)
        ledger = uow.ledgers.get(family.id, family.cycle.number, plan)
        return family_view(family, ledger, plan)


def family_view(
    family: Family, ledger: FamilyLedger | None = None, plan: Plan | None = None
) -> dict[str, Any]:
    """Everything about a family, as the owner (or the operator) sees it.

    Pool usage comes from the charging ledger (the one record of usage) when given. With
    the plan, each member also shows every number they may always call (``always_allowed``
    in the allocation is only the owner's list; guardians and emergency numbers add to it).
    """
    members = []
    for member in family.members.values():
        allocation = family.allocation(member.id)
        everyone = (
            sorted(family.always_allowed(member.id, plan))
            if plan is not None and member.is_active
            else None
        )
        members.append(
            {
                "id": member.id,
                "name": member.name,
                "role": member.role.value,
                "status": member.status.value,
                "guardian_id": member.guardian_id,
                "joined_on": member.joined_on.isoformat(),
                "removed_on": member.removed_on.isoformat() if member.removed_on else None,
                "allocation": {
                    "limits": [
                        {
                            "resource": r.value,
                            "zone": z,
                            "quota": limit.quota,
                            "hard_cap": limit.hard_cap,
                        }
                        for (r, z), limit in allocation.limits.items()
                    ],
                    "hotspot_quota": allocation.hotspot_quota,
                    "exhaustion": allocation.exhaustion.value,
                    "redirect_url": allocation.redirect_url,
                    "money_cap": _money(allocation.money_cap),
                    "roaming_allowed": allocation.roaming_allowed,
                    "always_allowed": sorted(allocation.always_allowed),
                    "quiet_hours": [str(window) for window in allocation.quiet_hours],
                },
                "always_allowed_all": everyone,
            }
        )
    lines = [
        {
            "id": line.id,
            "msisdn": line.msisdn.e164,
            "display": line.msisdn.display,
            "member_id": line.member_id,
            "member": family.members[line.member_id].name,
            "data_only": line.data_only,
            "status": line.status.value,
            "suspended_reason": line.suspended_reason,
            "subscriptions": [
                {
                    "id": sub.id,
                    "iccid": str(sub.iccid),
                    "imsi": str(sub.imsi),
                    "sim_type": sub.sim_type.value,
                    "device_kind": sub.device_kind.value,
                    "primary": sub.primary,
                    "eid": str(sub.eid) if sub.eid else None,
                    "imei": str(sub.imei) if sub.imei else None,
                    "state": sub.state.value,
                    "state_changed_at": _time(sub.state_changed_at),
                    "profile_type": sub.profile_type,
                    "order_expires_at": _time(sub.order_expires_at),
                    "replaces": sub.replaces,
                    "in_service_on": _day(sub.in_service_on),
                    "out_of_service_on": _day(sub.out_of_service_on),
                }
                for sub in line.subscriptions
            ],
            "closed_on": line.closed_on.isoformat() if line.closed_on else None,
        }
        for line in family.lines.values()
    ]
    cycle = family.cycle
    return {
        "id": family.id,
        "name": family.name,
        "plan": family.plan_code,
        "pending_plan": family.pending_plan_code,
        "currency": family.currency,
        "owner_id": family.owner_id,
        "money_cap": _money(family.money_cap),
        "oversubscription_allowed": family.oversubscription_allowed,
        "time_zone": family.time_zone,
        "created_on": family.created_on.isoformat(),
        "cycle": {
            "number": cycle.number,
            "start": cycle.start.isoformat(),
            "end": cycle.end.isoformat(),
            "plan": cycle.plan_code,
            "pools": [
                {
                    "resource": pool.resource.value,
                    "zone": pool.zone,
                    "total": pool.total,
                    "used": _pool_counter(ledger, pool).used,
                    "reserved": _pool_counter(ledger, pool).reserved,
                }
                for pool in sorted(cycle.pools.values(), key=_pool_order)
            ],
        },
        "members": members,
        "lines": lines,
    }


def esim_history(uow: UnitOfWork, family_id: str, iccid: str | None = None) -> list[dict[str, Any]]:
    """The family's eSIM and line steps from the audit trail (one SIM's, with *iccid*)."""
    events = uow.audit.for_family(family_id, limit=1000)
    return [
        {
            "at": _time(e.at),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": dict(e.detail),
        }
        for e in events
        if iccid is None or e.subject == iccid or iccid in e.detail.values()
    ]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def current_allocation(uow: UnitOfWork, family_id: str, member: str) -> tuple[str, Allocation]:
    """A member's allocation as it stands, so a caller can change part of it."""
    with uow:
        family = uow.families.get(family_id)
        found = family.member(member)
        return found.id, family.allocation(found.id)


def resolve_family(uow: UnitOfWork, ref: str) -> str:
    """A family id from an id or, for people typing commands, an exact family name."""
    with uow:
        summaries = uow.families.summaries()
    if any(s.id == ref for s in summaries):
        return ref
    named = [s.id for s in summaries if s.name.casefold() == " ".join(ref.split()).casefold()]
    if len(named) == 1:
        return named[0]
    if named:
        raise RuleViolation(f"several families are called {ref!r}: use the family id")
    raise FamilyNotFound(f"no family {ref!r}")


def plan_currency(uow: UnitOfWork, plan_code: str) -> str:
    with uow:
        return uow.plans.get(plan_code).currency


def family_currency(uow: UnitOfWork, family_id: str) -> str:
    with uow:
        return uow.families.get(family_id).currency


def _pool_counter(ledger: FamilyLedger | None, pool: Pool) -> Counter:
    if ledger is None:
        return Counter()
    return ledger.pools.get((pool.resource, pool.zone), Counter())


def _pool_order(pool: Pool) -> tuple[int, bool, str]:
    return (list(Resource).index(pool.resource), pool.zone != HOME, pool.zone)
