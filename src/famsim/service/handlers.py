"""One handler per command. Each runs in its own unit of work and commits once.

Handlers parse identifiers, load the aggregate for update, let the domain decide, and
check what only storage can know (a number used by another family). They return the id
of what they created, so callers can show or link it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from famsim.domain.allocation import Allocation
from famsim.domain.audit import AuditEvent
from famsim.domain.errors import RuleViolation
from famsim.domain.family import Family
from famsim.domain.identifiers import Eid, Iccid, Imei, Imsi, Msisdn
from famsim.domain.ids import FamilyId, LineId, MemberId, SubscriptionId, new_id
from famsim.domain.lines import Subscription
from famsim.domain.plan import Plan
from famsim.domain.safety import QuietHours
from famsim.service import commands as c
from famsim.service.ports import Clock, IdentifierTaken, PlanNotFound, UnitOfWork


def load_plans(cmd: c.LoadPlans, uow: UnitOfWork, clock: Clock) -> list[str]:
    """Add or replace plans. A plan keeps its currency for life: families' money caps and
    invoices are in it, so a plan for another market needs a new code."""
    with uow:
        for plan in cmd.plans:
            try:
                stored = uow.plans.get(plan.code)
            except PlanNotFound:
                stored = None
            if stored is not None and stored.currency != plan.currency:
                raise RuleViolation(
                    f"plan {plan.code!r} is billed in {stored.currency} and cannot change to "
                    f"{plan.currency}; give the new plan a new code"
                )
            uow.plans.save(plan)
        uow.commit()
        return [plan.code for plan in cmd.plans]


def create_family(cmd: c.CreateFamily, uow: UnitOfWork, clock: Clock) -> FamilyId:
    with uow:
        plan = uow.plans.get(cmd.plan_code)
        family = Family.create(
            name=cmd.name,
            plan=plan,
            owner_name=cmd.owner_name,
            today=clock.today(),
            money_cap=cmd.money_cap,
            oversubscription_allowed=cmd.oversubscription_allowed,
            time_zone=cmd.time_zone,
        )
        uow.families.add(family)
        uow.commit()
        return family.id


def add_member(cmd: c.AddMember, uow: UnitOfWork, clock: Clock) -> MemberId:
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        member = family.add_member(
            uow.plans.get(family.plan_code),
            name=cmd.name,
            role=cmd.role,
            today=clock.today(),
            guardian_id=cmd.guardian_id,
            next_plan=_next_plan(uow, family),
        )
        _audit(uow, family, cmd.actor, "member.added", member.id, role=member.role.value)
        uow.commit()
        return member.id


def remove_member(cmd: c.RemoveMember, uow: UnitOfWork, clock: Clock) -> MemberId:
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        member = family.member(cmd.member_id)
        family.remove_member(member.id, clock.today())
        _audit(uow, family, cmd.actor, "member.removed", member.id, role=member.role.value)
        uow.commit()
        return member.id


def assign_guardian(cmd: c.AssignGuardian, uow: UnitOfWork, clock: Clock) -> MemberId:
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        child = family.member(cmd.child_id)
        family.assign_guardian(child.id, cmd.guardian_id)
        _audit(uow, family, cmd.actor, "member.guardian", child.id, guardian=child.guardian_id)
        uow.commit()
        return child.id


def add_line(cmd: c.AddLine, uow: UnitOfWork, clock: Clock) -> LineId:
    msisdn = Msisdn.parse(cmd.msisdn)
    subscription = _subscription(cmd.subscription, primary=True)
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        _check_free_elsewhere(uow, family, subscription, msisdn)
        line = family.add_line(
            uow.plans.get(family.plan_code),
            member_id=cmd.member_id,
            msisdn=msisdn,
            primary=subscription,
            data_only=cmd.data_only,
            next_plan=_next_plan(uow, family),
            today=clock.today(),
        )
        uow.commit()
        return line.id


def add_companion(cmd: c.AddCompanion, uow: UnitOfWork, clock: Clock) -> SubscriptionId:
    msisdn = Msisdn.parse(cmd.msisdn)
    subscription = _subscription(cmd.subscription, primary=False)
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        _check_free_elsewhere(uow, family, subscription, None)
        family.add_companion(family.line_by_msisdn(msisdn).id, subscription, clock.today())
        uow.commit()
        return subscription.id


def set_allocation(cmd: c.SetAllocation, uow: UnitOfWork, clock: Clock) -> MemberId:
    allocation = Allocation(
        limits=dict(cmd.limits),
        hotspot_quota=cmd.hotspot_quota,
        exhaustion=cmd.exhaustion,
        redirect_url=cmd.redirect_url,
        money_cap=cmd.money_cap,
        roaming_allowed=cmd.roaming_allowed,
        always_allowed=frozenset(cmd.always_allowed),
        quiet_hours=tuple(QuietHours.parse(text) for text in cmd.quiet_hours),
    )
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        member = family.member(cmd.member_id)
        family.set_allocation(member.id, allocation, _plans_in_force(uow, family))
        limits = "; ".join(
            f"{r.value}/{z}: quota {limit.quota} cap {limit.hard_cap}"
            for (r, z), limit in sorted(cmd.limits.items())
        )
        _audit(
            uow,
            family,
            cmd.actor,
            "allocation.changed",
            member.id,
            limits=limits[:500],
            money_cap_minor=cmd.money_cap.minor if cmd.money_cap else None,
            roaming_allowed=cmd.roaming_allowed,
        )
        uow.commit()
        return member.id


def set_time_zone(cmd: c.SetTimeZone, uow: UnitOfWork, clock: Clock) -> str:
    """Change the family's time zone; returns it. Quiet hours keep their wall-clock times."""
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        family.set_time_zone(cmd.time_zone)
        _audit(uow, family, cmd.actor, "family.time_zone", family.id, time_zone=family.time_zone)
        uow.commit()
        return family.time_zone


def change_plan(cmd: c.ChangePlan, uow: UnitOfWork, clock: Clock) -> str | None:
    """Schedule the plan for the next cycle; returns it, or None when the family stays put
    (asking for the current plan cancels a scheduled change)."""
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        family.schedule_plan_change(uow.plans.get(family.plan_code), uow.plans.get(cmd.plan_code))
        _audit(uow, family, cmd.actor, "plan.change", family.id, plan=family.pending_plan_code)
        uow.commit()
        return family.pending_plan_code


def suspend_line(cmd: c.SuspendLine, uow: UnitOfWork, clock: Clock) -> LineId:
    msisdn = Msisdn.parse(cmd.msisdn)
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        line = family.suspend_line(family.line_by_msisdn(msisdn).id, cmd.reason)
        _audit(uow, family, cmd.actor, "line.suspended", msisdn.e164, reason=cmd.reason)
        uow.commit()
        return line.id


def resume_line(cmd: c.ResumeLine, uow: UnitOfWork, clock: Clock) -> LineId:
    msisdn = Msisdn.parse(cmd.msisdn)
    with uow:
        family = uow.families.get(cmd.family_id, for_update=True)
        line = family.resume_line(family.line_by_msisdn(msisdn).id)
        _audit(uow, family, cmd.actor, "line.resumed", msisdn.e164)
        uow.commit()
        return line.id


def _audit(
    uow: UnitOfWork,
    family: Family,
    actor: str,
    action: str,
    subject: str,
    **detail: str | int | bool | None,
) -> None:
    """A change to the family, in its append-only audit trail, in the same transaction.

    Stamped with the wall clock (the audit records when it really happened; the Clock port
    gives days, for cycles)."""
    uow.audit.record(AuditEvent(datetime.now(UTC), family.id, actor, action, subject, detail))


def _subscription(spec: c.SubscriptionSpec, *, primary: bool) -> Subscription:
    return Subscription(
        id=SubscriptionId(new_id()),
        iccid=Iccid.parse(spec.iccid),
        imsi=Imsi.parse(spec.imsi),
        sim_type=spec.sim_type,
        device_kind=spec.device_kind,
        primary=primary,
        eid=Eid.parse(spec.eid) if spec.eid else None,
        imei=Imei.parse(spec.imei) if spec.imei else None,
    )


def _check_free_elsewhere(
    uow: UnitOfWork, family: Family, subscription: Subscription, msisdn: Msisdn | None
) -> None:
    """Refuse identifiers another family holds; the database's unique keys back this up."""
    found = [
        ("ICCID", str(subscription.iccid), uow.families.owner_of_iccid(subscription.iccid)),
        ("IMSI", str(subscription.imsi), uow.families.owner_of_imsi(subscription.imsi)),
    ]
    if msisdn is not None:
        found.append(("number", msisdn.display, uow.families.owner_of_msisdn(msisdn)))
    for what, value, owner in found:
        if owner is not None and owner != family.id:
            raise IdentifierTaken(f"{what} {value} already belongs to another family")


def _next_plan(uow: UnitOfWork, family: Family) -> Plan | None:
    return uow.plans.get(family.pending_plan_code) if family.pending_plan_code else None


def _plans_in_force(uow: UnitOfWork, family: Family) -> list[Plan]:
    next_plan = _next_plan(uow, family)
    return [uow.plans.get(family.plan_code), *([next_plan] if next_plan else [])]


Handler = Callable[[Any, UnitOfWork, Clock], Any]

HANDLERS: dict[type[c.Command], Handler] = {
    c.LoadPlans: load_plans,
    c.CreateFamily: create_family,
    c.SetTimeZone: set_time_zone,
    c.AddMember: add_member,
    c.RemoveMember: remove_member,
    c.AssignGuardian: assign_guardian,
    c.AddLine: add_line,
    c.AddCompanion: add_companion,
    c.SetAllocation: set_allocation,
    c.ChangePlan: change_plan,
    c.SuspendLine: suspend_line,
    c.ResumeLine: resume_line,
}
