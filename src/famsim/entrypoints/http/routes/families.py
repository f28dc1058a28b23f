"""Families as each caller may see them, members' allocations, usage by day, the audit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from famsim.domain.access import Scope
from famsim.domain.allocation import ExhaustionAction, Limit
from famsim.domain.errors import Forbidden
from famsim.domain.units import Resource, zone
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES
from famsim.service import views
from famsim.service.commands import SetAllocation

router = APIRouter(prefix="/v1/families", tags=["families"], responses=PROBLEM_RESPONSES)

FamilyId = Annotated[str, Path(min_length=1, max_length=64, description="The family's id.")]
MemberId = Annotated[str, Path(min_length=1, max_length=64, description="A member's id.")]
MAX_UNITS = 10**15


class FamilySummary(BaseModel):
    id: str
    name: str
    plan: str
    members: int = Field(description="Active members.")
    lines: int = Field(description="Lines (for a family user: the lines it may see).")


class LimitIn(BaseModel):
    resource: Resource
    zone: str = Field(default="home", min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    quota: int | None = Field(
        default=None, ge=0, le=MAX_UNITS, description="Units the member may use."
    )
    hard_cap: int | None = Field(default=None, ge=0, le=MAX_UNITS, description="Never beyond this.")


class AllocationIn(BaseModel):
    """A member's whole allocation (it replaces the current one). Units: bytes, seconds,
    messages; money in minor units of the family's currency."""

    limits: list[LimitIn] = Field(default_factory=list, max_length=64)
    hotspot_quota: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    exhaustion: Literal["block", "throttle", "redirect"] = "block"
    redirect_url: str | None = Field(default=None, max_length=2000)
    money_cap_minor: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    roaming_allowed: bool = True
    always_allowed: list[str] = Field(default_factory=list, max_length=50)
    quiet_hours: list[str] = Field(default_factory=list, max_length=20)


@router.get("", summary="Families the caller may see")
def list_families(caller: Caller, svc: Svc) -> list[FamilySummary]:
    if caller.is_staff:
        if not caller.has(Scope.FAMILIES_READ):
            raise Forbidden("this API key lacks the scope 'families:read'")
        rows = views.list_families(svc.famsim.uow())
    else:  # a family user sees its own family only: no need to list everyone's
        family = svc.reads.family(caller, caller.family_id or "")
        members = [m for m in family["members"] if m["status"] == "active"]
        lines = sum(len(m.get("lines", [])) for m in members)
        rows = [
            {
                "id": family["id"],
                "name": family["name"],
                "plan": family["plan"],
                "members": len(members),
                "lines": lines,
            }
        ]
    return [
        FamilySummary(
            id=r["id"], name=r["name"], plan=r["plan"], members=r["members"], lines=r["lines"]
        )
        for r in rows
    ]


@router.get("/{family_id}", summary="One family, filtered by what the caller may see")
def get_family(family_id: FamilyId, caller: Caller, svc: Svc) -> dict[str, Any]:
    family: dict[str, Any] = svc.reads.family(caller, family_id)
    return family


@router.get(
    "/{family_id}/members/{member_id}/usage/daily",
    summary="A member's usage this cycle by day (detail: own, ward, or shared by consent)",
)
def usage_by_day(
    family_id: FamilyId, member_id: MemberId, caller: Caller, svc: Svc
) -> list[dict[str, Any]]:
    days: list[dict[str, Any]] = svc.reads.usage_by_day(caller, family_id, member_id)
    return days


@router.get(
    "/{family_id}/usage/daily",
    summary="The family's usage this cycle by day, all members together (the pools' view)",
)
def pool_usage_by_day(family_id: FamilyId, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    days: list[dict[str, Any]] = svc.reads.pool_usage_by_day(caller, family_id)
    return days


@router.put(
    "/{family_id}/members/{member_id}/allocation",
    status_code=204,
    response_class=Response,
    summary="Replace a member's allocation (the owner)",
)
def put_allocation(
    family_id: FamilyId, member_id: MemberId, body: AllocationIn, caller: Caller, svc: Svc
) -> Response:
    limits = {
        (item.resource, zone(item.zone)): Limit(item.quota, item.hard_cap) for item in body.limits
    }
    command = SetAllocation(
        family_id=family_id,
        member_id=member_id,
        limits=limits,
        hotspot_quota=body.hotspot_quota,
        exhaustion=ExhaustionAction(body.exhaustion),
        redirect_url=body.redirect_url,
        roaming_allowed=body.roaming_allowed,
        always_allowed=tuple(body.always_allowed),
        quiet_hours=tuple(body.quiet_hours),
    )
    svc.writes.set_allocation(caller, command, money_cap_minor=body.money_cap_minor)
    return Response(status_code=204)


@router.get("/{family_id}/audit", summary="The family's audit trail (the owner)")
def get_audit(
    family_id: FamilyId,
    caller: Caller,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = svc.reads.audit(caller, family_id, limit)
    return events


@router.get("/{family_id}/notifications", summary="Alerts and lifecycle events (the owner)")
def get_notifications(
    family_id: FamilyId,
    caller: Caller,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = svc.reads.notifications(caller, family_id, limit)
    return events
