"""Invoices, the bill's split, credit notes and closing cycles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.ids import MemberId
from famsim.domain.rebalance import Bounds, RebalancePolicy
from famsim.domain.units import Resource, Zone, zone
from famsim.entrypoints.http.deps import Caller, Svc
from famsim.entrypoints.http.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1", tags=["billing"], responses=PROBLEM_RESPONSES)

FamilyId = Annotated[str, Path(min_length=1, max_length=64, description="The family's id.")]
Number = Annotated[
    str, Path(min_length=1, max_length=20, pattern=r"^[A-Z]{2,3}-[0-9]{4}-[0-9]{6}$")
]
MAX_MINOR = 10**15


class SplitIn(BaseModel):
    rule: SplitRule
    custom: dict[str, int] | None = Field(
        default=None,
        max_length=16,
        description="For rule 'custom': member id -> basis points (10,000 is the whole bill).",
    )


class BoundIn(BaseModel):
    member_id: str = Field(min_length=1, max_length=64)
    resource: Resource
    zone: str = Field(default="home", min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    min_quota: int = Field(default=0, ge=0, le=MAX_MINOR)
    max_quota: int | None = Field(default=None, ge=0, le=MAX_MINOR)


class RebalancePolicyIn(BaseModel):
    enabled: bool = Field(description="Auto-rebalance on: unused quota moves by forecast.")
    bounds: list[BoundIn] = Field(default_factory=list, max_length=64)


class CreditIn(BaseModel):
    minor: int = Field(gt=0, le=MAX_MINOR, description="What to credit, in minor units.")
    reason: str = Field(min_length=1, max_length=500)


class CloseIn(BaseModel):
    family_id: str | None = Field(default=None, min_length=1, max_length=64)
    at: AwareDatetime | None = Field(default=None, description="Close as of (default: now).")

    @field_validator("at", mode="before")
    @classmethod
    def _written_as_text(cls, value: Any) -> Any:
        """An ISO 8601 date-time with its offset, as the schema says: not a number, which
        pydantic would otherwise read as seconds since 1970 (and close as of then)."""
        if value is not None and not isinstance(value, str):
            raise ValueError("write the date-time as ISO 8601 text with its offset")
        return value


@router.get("/families/{family_id}/invoices", summary="The family's invoices (members: their part)")
def invoices(family_id: FamilyId, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = svc.billing.invoices(caller, family_id)
    return found


@router.get("/families/{family_id}/invoices/{number}", summary="One invoice and its credit notes")
def invoice(family_id: FamilyId, number: Number, caller: Caller, svc: Svc) -> dict[str, Any]:
    found: dict[str, Any] = svc.billing.invoice(caller, family_id, number)
    return found


@router.get(
    "/families/{family_id}/plan-advice",
    summary="The cheapest plan for the family's past cycles, and the saving (the owner)",
)
def get_plan_advice(
    family_id: FamilyId,
    caller: Caller,
    svc: Svc,
    cycles: Annotated[int, Query(ge=1, le=24, description="Past cycles to weigh.")] = 3,
) -> dict[str, Any]:
    found: dict[str, Any] = svc.billing.plan_advice(caller, family_id, cycles)
    return found


@router.put(
    "/families/{family_id}/split",
    status_code=204,
    response_class=Response,
    summary="How the family shares its next invoices (the owner)",
)
def put_split(family_id: FamilyId, body: SplitIn, caller: Caller, svc: Svc) -> Response:
    svc.billing.set_split(caller, family_id, SplitPolicy(body.rule, body.custom))
    return Response(status_code=204)


@router.put(
    "/families/{family_id}/rebalance-policy",
    status_code=204,
    response_class=Response,
    summary="Turn auto-rebalance on or off, with bounds per member (the owner)",
)
def put_rebalance_policy(
    family_id: FamilyId, body: RebalancePolicyIn, caller: Caller, svc: Svc
) -> Response:
    bounds: dict[MemberId, dict[tuple[Resource, Zone], Bounds]] = {}
    for item in body.bounds:
        key = (item.resource, zone(item.zone))
        bounds.setdefault(MemberId(item.member_id), {})[key] = Bounds(
            item.min_quota, item.max_quota
        )
    policy = RebalancePolicy(body.enabled, bounds)
    svc.billing.set_rebalance_policy(caller, family_id, policy)
    return Response(status_code=204)


@router.post(
    "/families/{family_id}/rebalance",
    summary="Rebalance now within the stored bounds (the owner); the moves made",
)
def post_rebalance(family_id: FamilyId, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    moves: list[dict[str, Any]] = svc.billing.rebalance_now(caller, family_id)
    return moves


@router.post(
    "/invoices/{number}/credit-notes",
    status_code=201,
    summary="Credit an issued invoice (operator; a closed cycle is never re-rated)",
)
def post_credit(number: Number, body: CreditIn, caller: Caller, svc: Svc) -> dict[str, Any]:
    found: dict[str, Any] = svc.billing.credit(caller, number, body.minor, body.reason)
    return found


@router.post("/billing/close", summary="Close the cycles that have ended (operator; idempotent)")
def post_close(body: CloseIn, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    at: datetime | None = body.at
    found: list[dict[str, Any]] = svc.billing.close(caller, body.family_id, at)
    return found
